"""Which snapshots and flavors a batch can use, and which to offer first.

A batch VM boots from an *active* image or instance snapshot (your own snapshots first: they
hold your software) and runs on a flavor with scratch disk (``c…``; persistent ``p…`` flavors
have none). The remembered "use for batch" snapshot (:mod:`canfar_tui.preferences`) is
the default when it is still there; otherwise the newest snapshot, then the first image.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from canfar_tui.models import CredentialStatus, Flavor, Image, ImageKind

__all__ = [
    "DEFAULT_FLAVOR",
    "DEFAULT_IMAGE",
    "batch_flavors",
    "batch_images",
    "batch_proxy",
    "default_flavor",
    "default_image",
    "find_flavor",
    "find_image",
]

#: The flavor the Batch Quick Start uses.
DEFAULT_FLAVOR: Final = "c2-7.5gb-30"
#: The image the Batch Quick Start starts from (offered first among the images).
DEFAULT_IMAGE: Final = "canfar-ubuntu-20.04"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _created(image: Image) -> datetime:
    created = image.created_at
    if created is None:
        return _EPOCH
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


def batch_images(images: Iterable[Image]) -> list[Image]:
    """Active images a batch can boot: snapshots (newest first), then images.

    Among the images, the Quick Start's ``canfar-ubuntu-20.04`` comes first, then by name.
    """
    active = [image for image in images if image.status.lower() == "active"]
    snapshots = sorted(
        (image for image in active if image.kind is ImageKind.SNAPSHOT),
        key=lambda image: (_created(image), image.name),
        reverse=True,
    )
    others = sorted(
        (image for image in active if image.kind is not ImageKind.SNAPSHOT),
        key=lambda image: (image.name != DEFAULT_IMAGE, image.name),
    )
    return snapshots + others


def batch_flavors(flavors: Iterable[Flavor]) -> list[Flavor]:
    """Flavors with scratch disk first (by size), then the persistent ones."""
    return sorted(
        flavors,
        key=lambda flavor: (flavor.is_persistent, flavor.vcpus, flavor.ram_mb, flavor.name),
    )


def find_image(images: Iterable[Image], wanted: str) -> Image | None:
    """The image whose name or id is ``wanted`` (a name may match several: the first)."""
    candidates = list(images)
    for image in candidates:
        if image.id == wanted:
            return image
    for image in candidates:
        if image.name == wanted:
            return image
    return None


def find_flavor(flavors: Iterable[Flavor], wanted: str) -> Flavor | None:
    """The flavor whose name or id is ``wanted``."""
    candidates = list(flavors)
    for flavor in candidates:
        if flavor.name == wanted or flavor.id == wanted:
            return flavor
    return None


def default_image(images: Sequence[Image], preference: str | None) -> Image | None:
    """The remembered batch snapshot when it is among ``images``, else the first of them."""
    if preference:
        preferred = find_image(images, preference)
        if preferred is not None:
            return preferred
    return images[0] if images else None


def default_flavor(flavors: Sequence[Flavor]) -> Flavor | None:
    """The Quick Start's ``c2-7.5gb-30`` when offered, else the first flavor with scratch."""
    found = find_flavor(flavors, DEFAULT_FLAVOR)
    if found is not None:
        return found
    scratch = [flavor for flavor in flavors if not flavor.is_persistent]
    if scratch:
        return scratch[0]
    return flavors[0] if flavors else None


def batch_proxy(
    status: CredentialStatus | None, now: datetime | None = None
) -> tuple[Path | None, str | None]:
    """The proxy certificate to name in ``x509userproxy``, and why not when there is none.

    An expired certificate is still named (the jobs would carry it) but comes with a
    problem: ``vcp`` in the jobs would fail until it is renewed.
    """
    if status is None:
        return None, None
    path = status.certificate_path
    if path is None or not path.is_file():
        return None, (
            "no CADC proxy certificate: the jobs cannot write to VOSpace "
            "(get one with cadc-get-cert -n, or c on the dashboard)."
        )
    left = status.time_left_seconds(now or datetime.now(UTC))
    if left is not None and left <= 0:
        return path, f"the proxy certificate {path} has expired: renew it before submitting."
    if left is not None and left < 24 * 3600:
        return path, (
            f"the proxy certificate {path} expires in {int(left // 3600)} h: jobs that run "
            "later cannot write to VOSpace."
        )
    return path, None
