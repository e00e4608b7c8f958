"""The :class:`Clients` bundle: one client per service, built from the active profile.

The app, the ``status`` command and the tests all receive a bundle, so a test can hand the app
any mix of backends (a sandbox, a real service, or a client that fails on purpose). A service
without a backend in this profile is ``None`` and its reason is in :attr:`Clients.missing`; its
tab shows that reason instead of rows. Services are built on first use.

This module is the composition root: only it (and the sandbox modules themselves) builds
sandbox backends — :func:`build_clients`, :func:`start_sandbox_storage` (the loopback VOSpace
service and its client) and :func:`build_archive` (the CADC archive of the profile). A real
profile's VOSpace is :func:`build_real_storage` (CADC's vault through the user's registry).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from canfar_tui.clients.base import (
    ClientError,
    CloudClient,
    CredentialsClient,
    QueueClient,
    StorageClient,
)
from canfar_tui.clients.faults import plan_from_env, wrap_service
from canfar_tui.config import Profile, Settings

if TYPE_CHECKING:
    from canfar_tui.clients.archive.base import ArchiveClient
    from canfar_tui.clients.storage.vospace import VOSpaceStorage

SERVICES = ("cloud", "queue", "storage", "credentials")


#: A client, or a function that builds it on first use.
ClientSource = object | Callable[[], object] | None


class Clients:
    """The clients of one session.

    Each service is given as a client or as a zero-argument factory; a factory runs on the
    first access, so the first screen pays only for the services it shows. A factory that
    fails with a ClientError or OSError leaves the service ``None`` with the reason in
    :attr:`missing`.
    """

    def __init__(
        self,
        profile_name: str,
        *,
        cloud: CloudClient | Callable[[], CloudClient] | None = None,
        queue: QueueClient | Callable[[], QueueClient] | None = None,
        storage: StorageClient | Callable[[], StorageClient] | None = None,
        credentials: CredentialsClient | Callable[[], CredentialsClient] | None = None,
        archive: ArchiveClient | Callable[[], ArchiveClient] | None = None,
        missing: Mapping[str, str] | None = None,
        mode_label: str | None = None,
    ) -> None:
        self.profile_name = profile_name
        self.missing: dict[str, str] = dict(missing or {})
        #: Services whose factory failed (their reason is in :attr:`missing`): configured, but
        #: unusable — ``status`` reports them as failures, not as "not configured".
        self.failed: set[str] = set()
        self._mode_label = mode_label
        self._sources: dict[str, ClientSource] = {
            "cloud": cloud,
            "queue": queue,
            "storage": storage,
            "credentials": credentials,
            "archive": archive,
        }
        self._built: dict[str, object | None] = {}

    def _get(self, service: str) -> object | None:
        if service not in self._built:
            source = self._sources[service]
            if callable(source) and not hasattr(source, "backend_label"):
                try:
                    source = source()
                except (ClientError, OSError) as error:
                    reason = error.message if isinstance(error, ClientError) else str(error)
                    self.missing[service] = f"The {service} service could not start: {reason}"
                    self.failed.add(service)
                    source = None
            self._built[service] = source
        return self._built[service]

    @property
    def cloud(self) -> CloudClient | None:
        return cast("CloudClient | None", self._get("cloud"))

    @property
    def queue(self) -> QueueClient | None:
        return cast("QueueClient | None", self._get("queue"))

    @property
    def storage(self) -> StorageClient | None:
        return cast("StorageClient | None", self._get("storage"))

    @property
    def credentials(self) -> CredentialsClient | None:
        return cast("CredentialsClient | None", self._get("credentials"))

    @property
    def archive(self) -> ArchiveClient | None:
        """The CADC archive (file fetches); not one of the tabbed :data:`SERVICES`."""
        return cast("ArchiveClient | None", self._get("archive"))

    @property
    def mode_label(self) -> str:
        """The header badge: SANDBOX, or the cloud's name for a real profile."""
        if self._mode_label is not None:
            return self._mode_label
        for service in SERVICES:
            client = self._get(service)
            if client is not None:
                return str(getattr(client, "backend_label", self.profile_name.upper()))
        return self.profile_name.upper()

    def why_missing(self, service: str) -> str:
        return self.missing.get(service, f"No {service} service is configured in this profile.")

    async def aclose(self) -> None:
        """Close the clients built so far; errors while closing are ignored (we are leaving)."""
        for client in self._built.values():
            if client is not None:
                with contextlib.suppress(ClientError, OSError):
                    await cast("CloudClient", client).aclose()


def start_sandbox_storage(
    data_dir: Path, *, quota_bytes: int | None = None, **options: Any
) -> VOSpaceStorage:
    """Start the loopback VOSpace service over ``data_dir/vospace``; a backend that owns it.

    Cheap (a socket and a thread; ``vos`` is not imported). The client's registry, which
    names this process's port, lives in a private temporary directory: a shared one would
    be rewritten by every other process serving the same sandbox (batch jobs uploading,
    a second dashboard) and point this one at a service that has stopped. Closing the
    backend stops the service and removes that directory; such directories left by processes
    that were killed are removed here. The service's URL holds a random secret, so only this
    user's clients (which read the 0700 registry) can use it. ``options`` go to
    :class:`~canfar_tui.clients.storage.vospace.VOSpaceStorage` (retries, timeouts...).
    """
    from canfar_tui.clients.storage.loopback import private_client_home, start_server
    from canfar_tui.clients.storage.vospace import VOSpaceStorage

    server = start_server(data_dir / "vospace", quota_bytes=quota_bytes)
    try:
        config_home = private_client_home()
    except BaseException:
        server.stop()
        raise
    try:
        return VOSpaceStorage.for_sandbox(
            server, config_home, owns_server=True, owns_config_home=True, **options
        )
    except BaseException:
        server.stop()
        shutil.rmtree(config_home, ignore_errors=True)
        raise


def build_real_storage(profile: Profile, *, home: Path | None = None) -> VOSpaceStorage:
    """CADC's VOSpace (vault) for a real profile, on the real ``vos`` client. Cheap: no import.

    The home is the profile's ``vospace`` (``vos:jdoe``, ``vault:jdoe``, a project space
    ``vos:project/``) or, for the legacy ``ivo://cadc.nrc.ca/vault`` and for none,
    ``vos:<username>`` — the profile's username, else the certificate's CN. Authentication is
    the profile's proxy certificate (checked before every call: a missing or expired one is a
    one-line :class:`AuthError` saying how to get one), with its TLS setting. The service is
    found through the user's own registry cache, ``$HOME/.config/cadc-registry`` (``home``),
    as the ``vos`` commands find it — never the sandbox's.

    Raises :class:`InvalidInput` for a ``vospace`` setting that names no folder and
    :class:`AuthError` when the username is needed and no certificate tells it.
    """
    from canfar_tui.clients.base import AuthError, InvalidInput
    from canfar_tui.clients.storage.vospace import VOSpaceStorage
    from canfar_tui.clients.storage.vospace_certificate import (
        certificate_problem,
        certificate_user,
    )
    from canfar_tui.clients.storage.vospace_uris import vospace_home

    username = profile.username or certificate_user(profile.certificate)
    try:
        home_uri = vospace_home(profile.vospace, username)
    except ValueError as error:
        if username is None:
            raise AuthError(
                certificate_problem(profile.certificate)
                or f"{error}: set username in profile {profile.name}"
            ) from None
        raise InvalidInput(f"Profile {profile.name}: {error}") from None
    return VOSpaceStorage(
        home_uri,
        certificate=profile.certificate,
        verify_tls=profile.verify_tls,
        config_home=home or Path.home(),
        label="CADC VOSpace",
    )


def build_archive(settings: Settings) -> ArchiveClient:
    """The archive of the active profile: the sandbox folder, or CADC. Cheap: no SDK import."""
    profile = settings.profile
    if profile.is_sandbox:
        from canfar_tui.clients.archive.sandbox import SandboxArchive

        return SandboxArchive(settings.paths.data_dir / "sandbox" / "archive")
    from canfar_tui.clients.archive.cadc import CadcArchive

    return CadcArchive(certificate=profile.certificate, verify_tls=profile.verify_tls)


def build_clients(
    settings: Settings, *, password_provider: Callable[[], str] | None = None
) -> Clients:
    """Build the bundle for ``settings.profile``. Cheap: no SDK is imported here.

    ``password_provider`` is called (from a worker thread, once per run) when a real cloud
    needs a password that no file holds: the dashboard shows a prompt, the CLI asks on the
    terminal. Raises :class:`InvalidInput` (one line) for an unusable openrc file.
    """
    profile = settings.profile
    # CANFAR_TUI_FAULTS="latency=0.2,error_rate=0.1,seed=1" injects faults (tests, demos).
    plan = plan_from_env(os.environ)
    if profile.is_sandbox:
        from canfar_tui.clients.cloud.sandbox import SandboxCloud

        sandbox_dir = settings.paths.data_dir / "sandbox"

        def sandbox_queue() -> QueueClient:
            from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
            from canfar_tui.clients.storage.loopback.paths import DEFAULT_USERNAME

            # Jobs keep running when the dashboard quits; the next start adopts them. They
            # belong to the sandbox's user, the one VOSpace and the cloud name (not the uid).
            return SandboxQueue(sandbox_dir / "queue", keep_running=True, owner=DEFAULT_USERNAME)

        def sandbox_storage() -> StorageClient:
            return start_sandbox_storage(sandbox_dir)

        def sandbox_credentials() -> CredentialsClient:
            from canfar_tui.clients.credentials import CadcCredentials

            return CadcCredentials.for_sandbox(
                sandbox_dir / "credentials", initial_validity=timedelta(days=10)
            )

        return Clients(
            profile.name,
            cloud=wrap_service(SandboxCloud(sandbox_dir / "cloud.sqlite"), plan, "cloud"),
            queue=wrap_service(sandbox_queue, plan, "queue"),
            storage=wrap_service(sandbox_storage, plan, "storage"),
            credentials=wrap_service(sandbox_credentials, plan, "credentials"),
            archive=lambda: build_archive(settings),
            mode_label="SANDBOX",
        )

    from canfar_tui.clients.cloud.openstack import OpenStackCloud
    from canfar_tui.clients.credentials import CadcCredentials

    missing: dict[str, str] = {}

    def condor_queue() -> QueueClient:
        from canfar_tui.clients.queue.condor.client import CondorQueue

        # The schedd and collector come from CONDOR_CONFIG, as for condor_q.
        return CondorQueue(schedd_name=profile.schedd)

    cloud: CloudClient | None = None
    verify = profile.verify_tls  # False: no certificate checks (the app warns at start)
    if profile.openrc is not None:
        cloud = OpenStackCloud.from_openrc(
            profile.openrc,
            password_provider=password_provider,
            username=profile.username,
            verify_tls=verify,
        )
    elif profile.cloud:
        cloud = OpenStackCloud.from_cloud(
            profile.cloud, password_provider=password_provider, verify_tls=verify
        )
    elif os.environ.get("OS_AUTH_URL") or os.environ.get("OS_CLOUD"):
        # The seed's `. [project]-openrc.sh`: an OpenStack RC file already sourced.
        cloud = OpenStackCloud.from_environment(
            password_provider=password_provider, verify_tls=verify
        )
    else:
        missing["cloud"] = (
            f"Profile {profile.name} names no cloud: set cloud (clouds.yaml) or openrc, "
            "or source your project's openrc file before starting canfar-tui."
        )
    return Clients(
        profile.name,
        cloud=wrap_service(cloud, plan, "cloud"),
        queue=wrap_service(condor_queue, plan, "queue"),
        storage=wrap_service(lambda: build_real_storage(profile), plan, "storage"),
        credentials=wrap_service(
            lambda: CadcCredentials(certificate=profile.certificate, verify_tls=verify),
            plan,
            "credentials",
        ),
        archive=lambda: build_archive(settings),
        missing=missing,
    )
