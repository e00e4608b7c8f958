"""The :class:`Clients` bundle: one client per service, built from the active profile.

The app, the ``status`` command and the tests all receive a bundle, so a test can hand the app
any mix of backends (a sandbox, a real service, or a client that fails on purpose). A service
without a backend in this profile is ``None`` and its reason is in :attr:`Clients.missing`; its
tab shows that reason instead of rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from canfar_tui.clients.base import (
    ClientError,
    CloudClient,
    CredentialsClient,
    QueueClient,
    StorageClient,
)
from canfar_tui.config import Settings

SERVICES = ("cloud", "queue", "storage", "credentials")


@dataclass(slots=True)
class Clients:
    """The clients of one session."""

    profile_name: str
    cloud: CloudClient | None = None
    queue: QueueClient | None = None
    storage: StorageClient | None = None
    credentials: CredentialsClient | None = None
    missing: Mapping[str, str] = field(default_factory=dict)

    @property
    def mode_label(self) -> str:
        """The header badge: SANDBOX, or the cloud's name for a real profile."""
        for client in (self.cloud, self.queue, self.storage, self.credentials):
            if client is not None:
                return client.backend_label
        return self.profile_name.upper()

    def why_missing(self, service: str) -> str:
        return self.missing.get(service, f"No {service} service is configured in this profile.")

    async def aclose(self) -> None:
        """Close every client; errors while closing are ignored (we are leaving anyway)."""
        for client in (self.cloud, self.queue, self.storage, self.credentials):
            if client is not None:
                with contextlib.suppress(ClientError, OSError):
                    await client.aclose()


def build_clients(settings: Settings) -> Clients:
    """Build the bundle for ``settings.profile``. Cheap: no SDK is imported here."""
    profile = settings.profile
    if profile.is_sandbox:
        from canfar_tui.clients.credentials import CadcCredentials
        from canfar_tui.clients.sandbox.cloud import SandboxCloud
        from canfar_tui.clients.vospace import VOSpaceStorage

        sandbox_dir = settings.paths.data_dir / "sandbox"
        return Clients(
            profile_name=profile.name,
            cloud=SandboxCloud(sandbox_dir / "cloud.sqlite"),
            storage=VOSpaceStorage.start_sandbox(sandbox_dir),
            credentials=CadcCredentials.for_sandbox(
                sandbox_dir / "credentials", initial_validity=timedelta(days=10)
            ),
            missing={
                "queue": "The local batch executor is not part of this version yet.",
            },
        )
    return Clients(
        profile_name=profile.name,
        missing={
            "cloud": "The OpenStack backend is not part of this version yet.",
            "queue": "The HTCondor backend is not part of this version yet.",
            "storage": "The VOSpace backend is not part of this version yet.",
            "credentials": "CADC credentials are not part of this version yet.",
        },
    )
