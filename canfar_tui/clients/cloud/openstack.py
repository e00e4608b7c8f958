"""The openstacksdk backend: a real OpenStack cloud (arbutus-canfar) behind the CloudClient API.

:class:`OpenStackCloud` implements :class:`~canfar_tui.clients.base.CloudClient` and
:class:`~canfar_tui.clients.base.SupportsConsoleLog` with openstacksdk. It authenticates from
one of:

* a ``clouds.yaml`` cloud name (:meth:`OpenStackCloud.from_cloud`; a file can be given);
* ``OS_*`` environment variables (:meth:`OpenStackCloud.from_environment`; ``OS_CLOUD`` too);
* an ``*-openrc.sh`` file, parsed, never executed (:meth:`OpenStackCloud.from_openrc`);
* a username and password typed in a login screen (:meth:`OpenStackCloud.from_password`).

When none of these holds a password (Horizon's openrc files never do), the ``password_provider``
callback is called once per run, in a worker thread, the first time the cloud is needed; the
password is then held in this object's memory only (never logged, never in argv, never on
disk). It is asked again only after the cloud refused it.

Rules of this boundary:

* openstacksdk is imported lazily, in a worker thread, on the first call (it costs ~0.4 s);
* every SDK call runs in one bounded thread pool with a timeout (``call_timeout``; the HTTP
  session gets the same ``api_timeout``) through
  :func:`~canfar_tui.clients._blocking.run_blocking`, so the event loop never blocks;
* SDK and keystoneauth exceptions become :class:`~canfar_tui.clients.base.ClientError`
  subclasses at that one call and nowhere else
  (:func:`~canfar_tui.clients.cloud.openstack_errors.map_sdk_error`): 401 → AuthError,
  404 → NotFound, "Quota exceeded" (403/409/413 from Nova or Neutron) → QuotaExceeded, 409 and
  policy refusals → Conflict, other 400s → InvalidInput, connection failures, timeouts and
  5xx → Unavailable;
* everything is scoped to the current project: switching re-scopes the connection (a new
  project-scoped token), and floating IPs of another project are "not found".

Floating IPs shown on instances come from Neutron (as Horizon does), so they are right the
moment they change rather than when Nova's network cache catches up.

Logging in is in :mod:`~canfar_tui.clients.cloud.openstack_login`, turning SDK resources into
models in :mod:`~canfar_tui.clients.cloud.openstack_convert`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from canfar_tui.clients._blocking import run_blocking
from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    Unavailable,
)
from canfar_tui.clients.cloud.names import check_keypair_name, check_name
from canfar_tui.clients.cloud.openrc import (
    APPLICATION_CREDENTIAL,
    OpenRC,
    OpenStackCredentials,
    credentials_from_variables,
    load_openrc,
)
from canfar_tui.clients.cloud.openstack_convert import (
    GONE_IMAGE_STATES,
    POWER_STATES,
    UNCOUNTED_STATES,
    as_text,
    device_of,
    flavor_name,
    one_line,
    parse_time,
    server_addresses,
    short_id,
    to_flavor,
    to_image,
    to_keypair,
)
from canfar_tui.clients.cloud.openstack_errors import map_sdk_error
from canfar_tui.clients.cloud.openstack_login import (
    cloud_region,
    clouds_yaml_login,
    connect,
    default_label,
    user_projects,
)
from canfar_tui.clients.cloud.quotas import (
    EXTERNAL_NETWORK,
    QUOTA_CORES,
    QUOTA_FLOATING_IPS,
    QUOTA_INSTANCES,
    QUOTA_RAM,
)
from canfar_tui.clients.cloud.sshkeys import normalize_public_key, parse_public_key
from canfar_tui.logs import get_logger
from canfar_tui.models import (
    Flavor,
    FloatingIP,
    Image,
    ImageKind,
    Instance,
    KeyPair,
    LaunchRequest,
    Project,
    Quota,
    QuotaUsage,
)

__all__ = ["DEFAULT_CALL_TIMEOUT", "OpenStackCloud", "PasswordProvider"]

_T = TypeVar("_T")

#: Returns the user's password; called at most once per run unless the cloud refuses it.
PasswordProvider = Callable[[], str]

#: Seconds one SDK call may take before it counts as Unavailable.
DEFAULT_CALL_TIMEOUT: Final = 60.0

_log = get_logger("openstack")

# An SDK connection and its resources are dynamic objects; they never leave the openstack*
# modules.
_Conn = Any


# --------------------------------------------------------------------------- the client


class OpenStackCloud:
    """A real OpenStack cloud as a :class:`~canfar_tui.clients.base.CloudClient`.

    Give either ``credentials`` (from OS_* variables, an openrc file or a login screen) or
    ``cloud`` (a clouds.yaml entry; ``clouds_yaml`` names the file, else openstacksdk's usual
    places are searched). ``password_provider`` supplies the password when the source has
    none. ``label`` overrides the header badge (default: the cloud name, else the first part
    of the Keystone host name, else the region). ``external_network`` is where floating IPs
    come from. Nothing is imported, read or contacted before the first call.
    """

    def __init__(
        self,
        credentials: OpenStackCredentials | None = None,
        *,
        cloud: str | None = None,
        clouds_yaml: Path | None = None,
        password_provider: PasswordProvider | None = None,
        label: str | None = None,
        external_network: str = EXTERNAL_NETWORK,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        max_workers: int = 4,
        verify_tls: bool = True,
    ) -> None:
        if (credentials is None) == (cloud is None):
            raise ValueError("give exactly one of credentials or cloud")
        self._credentials = credentials
        self._cloud = cloud
        self._clouds_yaml = Path(clouds_yaml).expanduser() if clouds_yaml else None
        self._password_provider = password_provider
        self._password: str | None = (credentials.password or None) if credentials else None
        self._password_from_provider = False
        self._external_network_name = external_network
        self._call_timeout = float(call_timeout)
        self._max_workers = max(1, max_workers)
        #: False (the profile's ``verify_tls = false``) turns certificate checks off even when
        #: the openrc file or clouds.yaml asks for them; True leaves their choice in force.
        self._verify_tls = verify_tls
        self._label = label or cloud or default_label(credentials)
        self._user_label = credentials.user_label if credentials else "?"
        self.openrc_warnings: tuple[str, ...] = ()

        self._executor: ThreadPoolExecutor | None = None
        self._lock: asyncio.Lock | None = None
        self._conn: _Conn | None = None
        self._project: Project | None = None
        self._projects: dict[str, Project] = {}
        self._closed = False
        # Caches filled by worker threads (dict operations are atomic).
        self._image_names: dict[str, str] = {}
        self._flavor_names: dict[str, str] = {}
        self._network_names: dict[str, str] = {}
        self._external_id: str | None = None

    # ----------------------------------------------------------------- constructors

    @classmethod
    def from_cloud(
        cls,
        name: str,
        *,
        clouds_yaml: Path | None = None,
        password_provider: PasswordProvider | None = None,
        **options: Any,
    ) -> OpenStackCloud:
        """A ``clouds.yaml`` cloud (the password may be in it, in secure.yaml, or asked)."""
        return cls(
            cloud=name, clouds_yaml=clouds_yaml, password_provider=password_provider, **options
        )

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        password_provider: PasswordProvider | None = None,
        **options: Any,
    ) -> OpenStackCloud:
        """``OS_CLOUD`` (a clouds.yaml cloud) or ``OS_AUTH_URL``, ``OS_USERNAME``, … variables.

        Raises InvalidInput when neither is set.
        """
        variables = os.environ if environ is None else environ
        cloud = (variables.get("OS_CLOUD") or "").strip()
        if cloud and not (variables.get("OS_AUTH_URL") or "").strip():
            config = (variables.get("OS_CLIENT_CONFIG_FILE") or "").strip()
            return cls.from_cloud(
                cloud,
                clouds_yaml=Path(config) if config else None,
                password_provider=password_provider,
                **options,
            )
        credentials = credentials_from_variables(variables)
        return cls(credentials, password_provider=password_provider, **options)

    @classmethod
    def from_openrc(
        cls,
        path: Path | str,
        *,
        password_provider: PasswordProvider | None = None,
        username: str | None = None,
        **options: Any,
    ) -> OpenStackCloud:
        """An ``*-openrc.sh`` file, parsed without running it.

        The lines it ignored are in :attr:`openrc_warnings`. A file that asks for the user
        name (``OS_USERNAME=$OS_USERNAME_INPUT``) takes ``username`` (the CADC username, on
        CANFAR). Raises InvalidInput when the file cannot be read or lacks the Keystone URL
        or the user.
        """
        openrc: OpenRC = load_openrc(Path(path))
        if openrc.username_prompted:
            if not username:
                raise InvalidInput(
                    f"{openrc.source} asks for the user name: set username in the profile "
                    "(your CADC username)."
                )
            openrc = openrc.with_username(username)
        client = cls(openrc.credentials(), password_provider=password_provider, **options)
        client.openrc_warnings = openrc.warnings
        for warning in openrc.warnings:
            _log.warning("openrc %s: %s", openrc.source, warning)
        return client

    @classmethod
    def from_password(
        cls,
        auth_url: str,
        username: str,
        password: str,
        *,
        project_name: str | None = None,
        project_id: str | None = None,
        user_domain_name: str = "Default",
        project_domain_name: str = "Default",
        region_name: str | None = None,
        **options: Any,
    ) -> OpenStackCloud:
        """Username and password, as typed in a login screen (CANFAR: the CADC ones).

        Without a project, the first of the user's projects (by name) is chosen.
        """
        credentials = OpenStackCredentials(
            auth_url=auth_url,
            username=username,
            password=password,
            project_name=project_name,
            project_id=project_id,
            user_domain_name=user_domain_name,
            project_domain_name=project_domain_name,
            region_name=region_name,
        )
        return cls(credentials, **options)

    # ----------------------------------------------------------------- basics

    @property
    def backend_label(self) -> str:
        return self._label

    def __repr__(self) -> str:
        source = f"cloud={self._cloud!r}" if self._cloud else f"user={self._user_label!r}"
        return f"OpenStackCloud({source}, label={self._label!r})"

    async def __aenter__(self) -> OpenStackCloud:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if conn is not None:
            with contextlib.suppress(Exception):
                await run_blocking(conn.close, timeout=5.0, executor=executor)
        executor.shutdown(wait=False, cancel_futures=True)

    # ----------------------------------------------------------------- the boundary

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix="openstack"
            )
        return self._executor

    async def _in_thread(
        self,
        what: str,
        function: Callable[[], _T],
        *,
        quota_message: str | None = None,
    ) -> _T:
        """Run ``function`` in the pool with the timeout; map its errors to ClientError."""
        if self._closed:
            raise Unavailable(f"The connection to {self._label} is closed.")
        try:
            return await run_blocking(
                function,
                timeout=self._call_timeout,
                timeout_message=(
                    f"{self._label} did not answer within {self._call_timeout:.0f} s ({what})."
                ),
                executor=self._pool(),
                on_timeout=lambda: _log.warning(
                    "%s: no answer within %.0f s", what, self._call_timeout
                ),
            )
        except ClientError:
            raise
        except TimeoutError:  # the SDK's own (a socket's), not the call's timeout
            _log.warning("%s: no answer within %.0f s", what, self._call_timeout)
            raise Unavailable(
                f"{self._label} did not answer within {self._call_timeout:.0f} s ({what})."
            ) from None
        except Exception as error:
            mapped = self._map_error(error, what, quota_message=quota_message)
            if mapped is None:
                raise
            if isinstance(mapped, AuthError):
                self._forget_login()
            # What the user asked for and the cloud refused is routine; the rest is not.
            routine = isinstance(mapped, (NotFound, Conflict, InvalidInput, QuotaExceeded))
            _log.log(logging.INFO if routine else logging.WARNING, "%s: %s", what, mapped.message)
            raise mapped from error

    def _map_error(
        self, error: BaseException, what: str, *, quota_message: str | None = None
    ) -> ClientError | None:
        """The ClientError for an SDK, keystoneauth or requests exception (None: not ours)."""
        return map_sdk_error(
            error,
            what,
            label=self._label,
            user_label=self._user_label,
            quota_message=quota_message,
        )

    def _forget_login(self) -> None:
        """After the cloud refused the credentials: log in again, and ask again, next time."""
        self._conn = None
        if self._password_from_provider:
            self._password = None
            self._password_from_provider = False

    # ----------------------------------------------------------------- logging in

    async def _connection(self) -> _Conn:
        if self._closed:
            raise Unavailable(f"The connection to {self._label} is closed.")
        if self._conn is not None:
            return self._conn
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._conn is not None:
                return self._conn
            needs_password = await self._in_thread(
                f"Reading the {self._label} configuration", self._needs_password
            )
            if needs_password and self._password is None:
                self._password = await self._ask_password()
                self._password_from_provider = True
            password = self._password
            wanted = self._project.id if self._project is not None else None
            conn, project = await self._in_thread(
                f"Logging in to {self._label}", lambda: self._open(password, wanted)
            )
            self._conn = conn
            self._project = self._projects.get(project.id, project)
            _log.info(
                "logged in to %s as %s, project %s", self._label, self._user_label, project.name
            )
            return conn

    async def _ask_password(self) -> str:
        if self._password_provider is None:
            raise AuthError(
                f"No password for '{self._user_label}' on {self._label}: "
                "set OS_PASSWORD or log in with a password."
            )
        try:
            password = await run_blocking(self._password_provider)
        except ClientError:
            raise
        except Exception as error:
            raise AuthError(f"No password was given for {self._label}.") from error
        if not password:
            raise AuthError(f"No password was given for {self._label}.")
        return password

    def _cloud_config(self, auth: Mapping[str, Any]) -> Any:
        """openstacksdk's CloudRegion for our source, with ``auth`` options overriding."""
        return cloud_region(
            credentials=self._credentials,
            cloud=self._cloud,
            clouds_yaml=self._clouds_yaml,
            verify_tls=self._verify_tls,
            api_timeout=self._call_timeout,
            auth=auth,
        )

    def _needs_password(self) -> bool:
        """Whether nothing in the source supplies a password (worker thread)."""
        if self._credentials is not None:
            return self._credentials.auth_type != APPLICATION_CREDENTIAL and self._password is None
        needs_password, self._user_label = clouds_yaml_login(self._cloud, self._clouds_yaml)
        return needs_password

    def _open(self, password: str | None, project_id: str | None) -> tuple[_Conn, Project]:
        """Authenticate and return a project-scoped connection (worker thread)."""
        auth: dict[str, Any] = {}
        if password is not None:
            auth["password"] = password
        application_credential = (
            self._credentials is not None and self._credentials.auth_type == APPLICATION_CREDENTIAL
        )
        if project_id is not None and not application_credential:  # those are project-bound
            auth.update(project_id=project_id, project_name="", tenant_id="", tenant_name="")
        conn, project = connect(self._cloud_config(auth))
        if project is not None:
            return conn, project
        # Unscoped (no project given): take the user's first project, as Horizon does.
        projects = self._fetch_projects(conn)
        if not projects:
            conn.close()
            raise AuthError(f"'{self._user_label}' is a member of no project on {self._label}.")
        conn.close()
        return self._open(password, projects[0].id)

    def _fetch_projects(self, conn: _Conn) -> list[Project]:
        """The user's projects (``GET /v3/auth/projects``, what Horizon's menu shows)."""
        projects = user_projects(conn)
        self._projects = {project.id: project for project in projects}
        return projects

    async def _call(
        self, what: str, function: Callable[[_Conn], _T], *, quota_message: str | None = None
    ) -> _T:
        conn = await self._connection()
        return await self._in_thread(what, lambda: function(conn), quota_message=quota_message)

    def _project_id(self) -> str:
        assert self._project is not None
        return self._project.id

    # ----------------------------------------------------------------- projects

    async def list_projects(self) -> Sequence[Project]:
        return await self._call("Listing your projects", self._fetch_projects)

    async def current_project(self) -> Project | None:
        await self._connection()
        if self._project is None:
            return None
        return self._projects.get(self._project.id, self._project)

    async def switch_project(self, project_id: str) -> Project:
        projects = {project.id: project for project in await self.list_projects()}
        target = projects.get(project_id)
        if target is None:
            raise NotFound(f"Project {project_id} not found (or you are not a member).")
        await self._connection()
        if self._project is not None and self._project.id == project_id:
            self._project = target
            return target
        assert self._lock is not None
        async with self._lock:
            password = self._password
            conn, _ = await self._in_thread(
                f"Switching to project {target.name}", lambda: self._open(password, project_id)
            )
            old, self._conn = self._conn, conn
            self._project = target
            self._external_id = None
        if old is not None:
            with contextlib.suppress(Exception):
                await self._in_thread("Closing the previous project's session", old.close)
        _log.info("switched to project %s on %s", target.name, self._label)
        return target

    async def get_quota(self) -> Quota:
        def fetch(conn: _Conn) -> Quota:
            project_id = self._project_id()
            limits = conn.compute.get_limits().absolute
            # Nova counts an instance only once it reaches a cell: one launched a moment ago
            # (still scheduling) is missing from its usage. Count the listed servers too.
            instances, cores, ram = self._counted_servers(conn)
            fips_used, fips_limit = self._floating_ip_quota(conn, project_id)
            return Quota(
                project_id=project_id,
                usages=(
                    QuotaUsage(
                        QUOTA_INSTANCES,
                        max(limits.instances_used or 0, instances),
                        limits.instances,
                    ),
                    QuotaUsage(
                        QUOTA_CORES,
                        max(limits.total_cores_used or 0, cores),
                        limits.total_cores,
                        "vCPU",
                    ),
                    QuotaUsage(
                        QUOTA_RAM, max(limits.total_ram_used or 0, ram), limits.total_ram, "MB"
                    ),
                    QuotaUsage(QUOTA_FLOATING_IPS, fips_used, fips_limit),
                ),
            )

        return await self._call("Reading the project's quotas", fetch)

    @staticmethod
    def _counted_servers(conn: _Conn) -> tuple[int, int, int]:
        """Instances, vCPUs and RAM (MB) of the project's servers that hold resources."""
        instances = cores = ram = 0
        for server in conn.compute.servers(details=True):
            if (server.status or "").upper() in UNCOUNTED_STATES:
                continue
            instances += 1
            flavor = server.flavor
            cores += int(getattr(flavor, "vcpus", None) or 0)
            ram += int(getattr(flavor, "ram", None) or 0)
        return instances, cores, ram

    @staticmethod
    def _floating_ip_quota(conn: _Conn, project_id: str) -> tuple[int, int]:
        from openstack import exceptions as sdk

        try:
            detail = conn.network.get_quota(project_id, details=True).floating_ips
            if isinstance(detail, Mapping):
                return int(detail.get("used") or 0), int(detail.get("limit", -1))
        except (sdk.NotFoundException, sdk.ForbiddenException):
            pass
        # A cloud whose policy hides quota details: count, and call the limit unknown.
        used = sum(1 for _ in conn.network.ips(project_id=project_id))
        limit = conn.network.get_quota(project_id).floating_ips
        return used, int(limit if limit is not None else -1)

    # ----------------------------------------------------------------- catalogue

    async def list_flavors(self) -> Sequence[Flavor]:
        def fetch(conn: _Conn) -> list[Flavor]:
            flavors = [to_flavor(flavor) for flavor in conn.compute.flavors(details=True)]
            self._flavor_names.update((flavor.id, flavor.name) for flavor in flavors)
            return sorted(flavors, key=lambda f: (f.vcpus, f.ram_mb, f.name))

        return await self._call("Listing flavors", fetch)

    def _fetch_images(self, conn: _Conn) -> list[Image]:
        images = [
            to_image(image)
            for image in conn.image.images()
            if (image.status or "") not in GONE_IMAGE_STATES
        ]
        self._image_names.update((image.id, image.name) for image in images)
        kinds = {ImageKind.IMAGE: 0, ImageKind.SNAPSHOT: 1}
        return sorted(
            images,
            key=lambda image: (kinds[image.kind], image.name, image.created_at or datetime.min),
        )

    async def list_images(self) -> Sequence[Image]:
        return await self._call("Listing images", self._fetch_images)

    async def delete_image(self, image_id: str) -> None:
        def delete(conn: _Conn) -> None:
            from openstack import exceptions as sdk

            try:
                image = conn.image.get_image(image_id)
            except sdk.NotFoundException:
                raise NotFound(f"Image {image_id} not found.") from None
            name = as_text(image.name) or image_id
            if image.owner and image.owner != self._project_id():
                raise Conflict(f"{name} is a shared image; only its owner can delete it.")
            users = sorted(
                as_text(server.name) or server.id
                for server in conn.compute.servers(image=image_id)
                if server.task_state != "deleting"
            )
            if users:
                shown = ", ".join(users[:3]) + ("…" if len(users) > 3 else "")
                raise Conflict(
                    f"Snapshot {name} is in use by instance(s) {shown}; delete them first."
                )
            try:
                conn.image.delete_image(image_id, ignore_missing=False)
            except sdk.NotFoundException:
                raise NotFound(f"Image {image_id} not found.") from None
            self._image_names.pop(image_id, None)

        await self._call(f"Deleting image {short_id(image_id)}", delete)

    # ----------------------------------------------------------------- key pairs

    async def list_keypairs(self) -> Sequence[KeyPair]:
        def fetch(conn: _Conn) -> list[KeyPair]:
            return sorted((to_keypair(kp) for kp in conn.compute.keypairs()), key=lambda k: k.name)

        return await self._call("Listing key pairs", fetch)

    async def import_keypair(self, name: str, public_key: str) -> KeyPair:
        check_keypair_name(name)
        key = normalize_public_key(public_key)
        info = parse_public_key(key)

        def create(conn: _Conn) -> KeyPair:
            from openstack import exceptions as sdk

            try:
                created = conn.compute.create_keypair(name=name, public_key=key)
            except sdk.ConflictException:
                raise Conflict(f"A key pair named '{name}' already exists.") from None
            keypair = to_keypair(created)
            if not keypair.fingerprint:
                keypair = KeyPair(name, info.fingerprint_md5, key, keypair.key_type)
            return keypair

        return await self._call(f"Importing key pair '{name}'", create)

    async def delete_keypair(self, name: str) -> None:
        def delete(conn: _Conn) -> None:
            from openstack import exceptions as sdk

            try:
                conn.compute.delete_keypair(name, ignore_missing=False)
            except sdk.NotFoundException:
                raise NotFound(f"Key pair '{name}' not found.") from None

        await self._call(f"Deleting key pair '{name}'", delete)

    # ----------------------------------------------------------------- floating IPs

    def _network_name(self, conn: _Conn, network_id: str | None) -> str:
        if not network_id:
            return ""
        if network_id not in self._network_names:
            from openstack import exceptions as sdk

            try:
                self._network_names[network_id] = as_text(conn.network.get_network(network_id).name)
            except sdk.NotFoundException:
                self._network_names[network_id] = ""
        return self._network_names[network_id] or network_id

    def _fip(self, conn: _Conn, ip: Any, instance_id: str | None = None) -> FloatingIP:
        device = instance_id if instance_id is not None else device_of(ip)
        if device is None and ip.port_id and not isinstance(ip.port_details, Mapping):
            # A Neutron without the fip-port-details extension: ask the port.
            from openstack import exceptions as sdk

            with contextlib.suppress(sdk.NotFoundException):
                port = conn.network.get_port(ip.port_id)
                if as_text(port.device_owner).startswith("compute:"):
                    device = port.device_id or None
        return FloatingIP(
            id=str(ip.id),
            address=as_text(ip.floating_ip_address),
            status=as_text(ip.status) or ("ACTIVE" if ip.port_id else "DOWN"),
            network=self._network_name(conn, ip.floating_network_id),
            fixed_address=ip.fixed_ip_address or None,
            instance_id=device if ip.port_id else None,
        )

    def _get_fip(self, conn: _Conn, floating_ip_id: str) -> Any:
        from openstack import exceptions as sdk

        try:
            ip = conn.network.get_ip(floating_ip_id)
        except sdk.NotFoundException:
            ip = None
        if ip is None or (ip.project_id and ip.project_id != self._project_id()):
            raise NotFound(f"Floating IP {floating_ip_id} not found in this project.")
        return ip

    def _get_server(self, conn: _Conn, instance_id: str) -> Any:
        from openstack import exceptions as sdk

        try:
            return conn.compute.get_server(instance_id)
        except sdk.NotFoundException:
            raise NotFound(f"Instance {instance_id} not found.") from None

    async def list_floating_ips(self) -> Sequence[FloatingIP]:
        def fetch(conn: _Conn) -> list[FloatingIP]:
            ips = conn.network.ips(project_id=self._project_id())
            return sorted((self._fip(conn, ip) for ip in ips), key=lambda f: f.address)

        return await self._call("Listing floating IPs", fetch)

    def _external(self, conn: _Conn) -> str:
        if self._external_id is None:
            networks = list(conn.network.networks(is_router_external=True))
            named = [net for net in networks if net.name == self._external_network_name]
            chosen = (named or networks or [None])[0]
            if chosen is None:
                raise Conflict(f"{self._label} has no external network for floating IPs.")
            self._external_id = str(chosen.id)
            self._network_names[self._external_id] = as_text(chosen.name)
        return self._external_id

    async def allocate_floating_ip(self) -> FloatingIP:
        project = self._project.name if self._project else "the project"

        def allocate(conn: _Conn) -> FloatingIP:
            ip = conn.network.create_ip(floating_network_id=self._external(conn))
            return self._fip(conn, ip)

        return await self._call(
            "Allocating a floating IP",
            allocate,
            quota_message=(
                f"Quota exceeded: {project} has no floating IP left; release one or ask "
                "CANFAR support for more."
            ),
        )

    async def associate_floating_ip(self, floating_ip_id: str, instance_id: str) -> FloatingIP:
        def associate(conn: _Conn) -> FloatingIP:
            from openstack import exceptions as sdk

            ip = self._get_fip(conn, floating_ip_id)
            server = self._get_server(conn, instance_id)
            name = as_text(server.name) or instance_id
            if server.task_state == "deleting":
                raise Conflict(f"Instance '{name}' is being deleted.")
            holder = self._fip(conn, ip).instance_id
            if holder == instance_id:
                return self._fip(conn, ip, instance_id)
            if ip.port_id:
                other = holder or ip.port_id
                with contextlib.suppress(ClientError):
                    other = as_text(self._get_server(conn, other).name) or other
                raise Conflict(
                    f"Floating IP {ip.floating_ip_address} is already associated with "
                    f"instance '{other}'; disassociate it first."
                )
            ports = list(conn.network.ports(device_id=instance_id))
            if not ports:
                raise Conflict(f"Instance '{name}' has no network port yet; wait until it runs.")
            for port in ports:
                for current in conn.network.ips(port_id=port.id):
                    raise Conflict(
                        f"Instance '{name}' already has floating IP {current.floating_ip_address}."
                    )
            try:
                updated = conn.network.update_ip(ip, port_id=ports[0].id)
            except sdk.NotFoundException as error:
                # e.g. "External network … is not reachable from subnet …" (no router).
                raise Conflict(
                    f"Cannot associate {ip.floating_ip_address} with '{name}': "
                    f"{one_line(str(error.details or error), 200)}"
                ) from None
            return self._fip(conn, updated, instance_id)

        return await self._call("Associating the floating IP", associate)

    async def disassociate_floating_ip(self, floating_ip_id: str) -> FloatingIP:
        def disassociate(conn: _Conn) -> FloatingIP:
            ip = self._get_fip(conn, floating_ip_id)
            if ip.port_id:
                ip = conn.network.update_ip(ip, port_id=None)
            return self._fip(conn, ip)

        return await self._call("Disassociating the floating IP", disassociate)

    async def release_floating_ip(self, floating_ip_id: str) -> None:
        def release(conn: _Conn) -> None:
            from openstack import exceptions as sdk

            ip = self._get_fip(conn, floating_ip_id)
            try:
                conn.network.delete_ip(ip, ignore_missing=False)
            except sdk.NotFoundException:
                raise NotFound(f"Floating IP {floating_ip_id} not found in this project.") from None

        await self._call("Releasing the floating IP", release)

    # ----------------------------------------------------------------- instances

    def _instances(self, conn: _Conn, servers: Sequence[Any]) -> list[Instance]:
        """Instances from Nova servers, with Neutron's floating IPs and the image names."""
        floating: dict[str, str] = {}
        for ip in conn.network.ips(project_id=self._project_id()):
            device = device_of(ip) if ip.port_id else None
            if device is None and ip.port_id:
                device = self._fip(conn, ip).instance_id
            if device:
                floating[device] = as_text(ip.floating_ip_address)
        image_ids = {str(server.image.id) for server in servers if server.image and server.image.id}
        if image_ids - self._image_names.keys():
            self._fetch_images(conn)
            for missing in image_ids - self._image_names.keys():
                self._image_names[missing] = ""
        result = []
        for server in servers:
            image_id = str(server.image.id) if server.image and server.image.id else ""
            fip = floating.get(str(server.id))
            addresses = server_addresses(server)
            if fip:
                addresses.append(fip)
            result.append(
                Instance(
                    id=str(server.id),
                    name=as_text(server.name),
                    status=(as_text(server.status) or "UNKNOWN").upper(),
                    power_state=POWER_STATES.get(int(server.power_state or 0), "No State"),
                    task_state=server.task_state or None,
                    addresses=tuple(dict.fromkeys(addresses)),
                    floating_ip=fip,
                    flavor_name=flavor_name(server, self._flavor_names),
                    image_name=self._image_names.get(image_id, ""),
                    image_id=image_id,
                    key_name=server.key_name or None,
                    created_at=parse_time(server.created_at),
                    project_id=as_text(server.project_id),
                )
            )
        return result

    async def list_instances(self) -> Sequence[Instance]:
        def fetch(conn: _Conn) -> list[Instance]:
            servers = list(conn.compute.servers(details=True))
            instances = self._instances(conn, servers)
            return sorted(instances, key=lambda i: (i.created_at or datetime.min, i.name, i.id))

        return await self._call("Listing instances", fetch)

    async def get_instance(self, instance_id: str) -> Instance:
        def fetch(conn: _Conn) -> Instance:
            return self._instances(conn, [self._get_server(conn, instance_id)])[0]

        return await self._call(f"Reading instance {short_id(instance_id)}", fetch)

    def _private_network(self, conn: _Conn) -> str | None:
        """The project's own network to boot on (Nova refuses to guess among several)."""
        candidates = [
            net
            for net in conn.network.networks(project_id=self._project_id())
            if not net.is_router_external
        ]
        candidates.sort(key=lambda net: (as_text(net.name), str(net.id)))
        return str(candidates[0].id) if candidates else None

    async def launch_instance(self, request: LaunchRequest) -> Instance:
        check_name("instance", request.name)
        if request.count < 1:
            raise InvalidInput("Launch at least one instance.")
        if request.key_name is not None:
            check_keypair_name(request.key_name)

        def launch(conn: _Conn) -> Instance:
            attrs: dict[str, Any] = {
                "name": request.name,
                "image_id": request.image_id,
                "flavor_id": request.flavor_id,
            }
            network = self._private_network(conn)
            if network is not None:
                attrs["networks"] = [{"uuid": network}]
            if request.key_name:
                attrs["key_name"] = request.key_name
            if request.count > 1:
                attrs["min_count"] = attrs["max_count"] = request.count
            server = conn.compute.create_server(**attrs)
            return self._instances(conn, [self._get_server(conn, server.id)])[0]

        return await self._call(f"Launching '{request.name}'", launch)

    async def _action(self, what: str, instance_id: str, act: Callable[[_Conn], None]) -> None:
        def run(conn: _Conn) -> None:
            from openstack import exceptions as sdk

            try:
                act(conn)
            except sdk.NotFoundException:
                raise NotFound(f"Instance {instance_id} not found.") from None

        await self._call(what, run)

    async def start_instance(self, instance_id: str) -> None:
        await self._action(
            "Cannot start the instance",
            instance_id,
            lambda conn: conn.compute.start_server(instance_id),
        )

    async def stop_instance(self, instance_id: str) -> None:
        await self._action(
            "Cannot stop the instance",
            instance_id,
            lambda conn: conn.compute.stop_server(instance_id),
        )

    async def reboot_instance(self, instance_id: str, *, hard: bool = False) -> None:
        kind = "HARD" if hard else "SOFT"
        await self._action(
            "Cannot reboot the instance",
            instance_id,
            lambda conn: conn.compute.reboot_server(instance_id, kind),
        )

    async def delete_instance(self, instance_id: str) -> None:
        await self._action(
            "Cannot delete the instance",
            instance_id,
            lambda conn: conn.compute.delete_server(instance_id, ignore_missing=False),
        )

    async def create_snapshot(self, instance_id: str, name: str) -> Image:
        check_name("snapshot", name)

        def snapshot(conn: _Conn) -> Image:
            from openstack import exceptions as sdk
            from openstack.compute.v2.server import Server

            try:
                image_id = Server.existing(id=instance_id).create_image(conn.compute, name)
            except sdk.NotFoundException:
                raise NotFound(f"Instance {instance_id} not found.") from None
            image = to_image(conn.image.get_image(image_id))
            self._image_names[image.id] = image.name
            return image

        return await self._call("Cannot snapshot the instance", snapshot)

    async def console_log(self, instance_id: str, *, lines: int = 200) -> str:
        lines = max(1, lines)

        def fetch(conn: _Conn) -> str:
            from openstack import exceptions as sdk

            try:
                output = conn.compute.get_server_console_output(instance_id, length=lines)
            except sdk.NotFoundException:
                raise NotFound(f"Instance {instance_id} not found.") from None
            text = as_text(output.get("output") if isinstance(output, Mapping) else output)
            return "\n".join(text.splitlines()[-lines:])

        return await self._call("Reading the console log", fetch)
