"""The :class:`Clients` bundle: one client per service, built from the active profile.

The app, the ``status`` command and the tests all receive a bundle, so a test can hand the app
any mix of backends (a sandbox, a real service, or a client that fails on purpose). A service
without a backend in this profile is ``None`` and its reason is in :attr:`Clients.missing`; its
tab shows that reason instead of rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
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


def build_clients(
    settings: Settings, *, password_provider: Callable[[], str] | None = None
) -> Clients:
    """Build the bundle for ``settings.profile``. Cheap: no SDK is imported here.

    ``password_provider`` is called (from a worker thread, once per run) when a real cloud
    needs a password that no file holds: the dashboard shows a prompt, the CLI asks on the
    terminal. Raises :class:`InvalidInput` (one line) for an unusable openrc file.
    """
    profile = settings.profile
    if profile.is_sandbox:
        from canfar_tui.clients.credentials import CadcCredentials
        from canfar_tui.clients.sandbox.cloud import SandboxCloud
        from canfar_tui.clients.sandbox.queue import SandboxQueue
        from canfar_tui.clients.vospace import VOSpaceStorage

        sandbox_dir = settings.paths.data_dir / "sandbox"
        return Clients(
            profile_name=profile.name,
            cloud=SandboxCloud(sandbox_dir / "cloud.sqlite"),
            # Jobs keep running when the dashboard quits; the next start adopts them.
            queue=SandboxQueue(sandbox_dir / "queue", keep_running=True),
            storage=VOSpaceStorage.start_sandbox(sandbox_dir),
            credentials=CadcCredentials.for_sandbox(
                sandbox_dir / "credentials", initial_validity=timedelta(days=10)
            ),
        )

    from canfar_tui.clients.credentials import CadcCredentials
    from canfar_tui.clients.openstack import OpenStackCloud

    missing = {
        "queue": "The HTCondor backend for real profiles is not part of this version yet.",
        "storage": "The VOSpace backend for real profiles is not part of this version yet.",
    }
    cloud: CloudClient | None = None
    if profile.openrc is not None:
        cloud = OpenStackCloud.from_openrc(profile.openrc, password_provider=password_provider)
    elif profile.cloud:
        cloud = OpenStackCloud.from_cloud(profile.cloud, password_provider=password_provider)
    else:
        missing["cloud"] = (
            f"Profile {profile.name} names no cloud: set cloud (clouds.yaml) or openrc."
        )
    return Clients(
        profile_name=profile.name,
        cloud=cloud,
        credentials=CadcCredentials(certificate=profile.certificate),
        missing=missing,
    )
