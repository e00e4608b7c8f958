"""Logging in to a CANFAR account: what ``canfar-tui login`` and the login screen share.

:func:`login` takes a CADC username and password (held in memory for this call only) and:

1. finds the ways into OpenStack on this machine (:func:`discover`): ``~/*-openrc.sh`` files
   (one profile per project, as on the batch host), an ``OS_*`` environment sourced in the
   shell (the seed's ``. [project]-openrc.sh``) and ``clouds.yaml`` clouds; a local schedd
   and ``canfar_submit`` on ``PATH``;
2. plans the profiles and checks that the config file takes them (a profile of the same name
   is refused unless ``force``) — before CADC is asked anything;
3. gets a proxy certificate like ``cadc-get-cert -n`` (10 days by default) from the credential
   service found through the CADC registry, and, when asked (``netrc``), the hosts the CADC
   clients look up in ``~/.netrc`` (:func:`~canfar_tui.clients.credentials.registry_netrc_hosts`);
4. only then writes: the certificate (0600, atomically), the opt-in netrc entry (0600) and the
   profiles (:func:`~canfar_tui.config.save_profiles`). A wrong password or an unreachable
   service raises :class:`~canfar_tui.clients.base.ClientError` (one line) with nothing
   written; the config file is unchanged whenever the login failed.

The result has one line per service (:class:`LoginLine`), saying what was found and what is
missing (a partial success, e.g. a certificate but no OpenStack project, is a success with a
warning line). No Textual here; the password never reaches a log, argv or a file other than
the opt-in netrc.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from canfar_tui.clients.base import ClientError, InvalidInput, Unavailable
from canfar_tui.clients.cloud.openrc import discover_openrc_files, load_openrc
from canfar_tui.clients.credentials import (
    MAX_DAYS_VALID,
    CadcCredentials,
    CdpIssuer,
    certificate_expiry,
    map_issue_error,
)
from canfar_tui.clients.files import UnreadableFile, atomic_write, read_bounded
from canfar_tui.config import Profile, save_profiles

__all__ = [
    "CloudChoice",
    "Discovery",
    "LoginLine",
    "LoginRequest",
    "LoginResult",
    "discover",
    "login",
    "plan_profiles",
]

T = TypeVar("T")

DEFAULT_DAYS = 10
_PROFILE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class CloudChoice:
    """One way into an OpenStack project found on this machine."""

    #: The profile name it suggests (the project's name).
    name: str
    #: Where it was found, for the result line.
    source: str
    openrc: Path | None = None
    cloud: str | None = None
    #: True for an ``OS_*`` environment already sourced (a profile naming neither file nor cloud).
    environment: bool = False


@dataclass(frozen=True, slots=True)
class Discovery:
    """What this machine offers besides CADC."""

    clouds: tuple[CloudChoice, ...] = ()
    #: One line on the local schedd, None when there is none.
    schedd: str | None = None
    #: One line on ``canfar_submit``, None when it is not on PATH.
    canfar_submit: str | None = None
    #: Files that were found but could not be used (one line each).
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoginRequest:
    """What the user typed; ``password`` lives in memory for the login only."""

    username: str
    password: str = field(repr=False)
    days: int = DEFAULT_DAYS
    netrc: bool = False
    vospace: str | None = None
    profile_name: str | None = None
    force: bool = False


@dataclass(frozen=True, slots=True)
class LoginLine:
    """One service's line of the result: ``ok`` (True), a warning (None) or a failure."""

    service: str
    ok: bool | None
    detail: str

    def text(self) -> str:
        mark = {True: "ok  ", None: "warn", False: "FAIL"}[self.ok]
        return f"  {mark} {self.service:<12} {self.detail}"


@dataclass(frozen=True, slots=True)
class LoginResult:
    profiles: tuple[Profile, ...]
    default: str
    lines: tuple[LoginLine, ...]


@dataclass(frozen=True, slots=True)
class Places:
    """Where the login reads and writes (the user's home by default)."""

    home: Path
    config_file: Path
    certificate: Path
    netrc: Path

    @classmethod
    def for_home(cls, home: Path, config_file: Path) -> Places:
        return cls(
            home=home,
            config_file=config_file,
            certificate=home / ".ssl" / "cadcproxy.pem",
            netrc=home / ".netrc",
        )


# --------------------------------------------------------------------------- discovery


def profile_name_for(text: str) -> str:
    """A profile name from a project name or file stem (letters, digits, ``_ . -``)."""
    return _PROFILE_NAME.sub("-", text).strip("-.") or "canfar"


def _openrc_choices(home: Path, problems: list[str]) -> list[CloudChoice]:
    choices: list[CloudChoice] = []
    for path in discover_openrc_files(home):
        try:
            parsed = load_openrc(path)
        except ClientError as error:
            problems.append(error.message)
            continue
        project = parsed.variables.get("OS_PROJECT_NAME") or parsed.variables.get("OS_TENANT_NAME")
        stem = path.name.removesuffix(".sh").removesuffix("-openrc")
        choices.append(
            CloudChoice(
                name=profile_name_for(project or stem),
                source=f"{_shown(path, home)}",
                openrc=path,
            )
        )
    return choices


#: Largest clouds.yaml read (real ones are a few kB).
MAX_CLOUDS_YAML_BYTES = 1024 * 1024


def _clouds_yaml_files(home: Path, env: Mapping[str, str]) -> list[Path]:
    files = []
    if env.get("OS_CLIENT_CONFIG_FILE"):
        files.append(Path(env["OS_CLIENT_CONFIG_FILE"]).expanduser())
    files += [home / ".config" / "openstack" / "clouds.yaml", Path("/etc/openstack/clouds.yaml")]
    return files


def _cloud_choices(home: Path, env: Mapping[str, str], problems: list[str]) -> list[CloudChoice]:
    choices: list[CloudChoice] = []
    for path in _clouds_yaml_files(home, env):
        try:
            text = read_bounded(path, MAX_CLOUDS_YAML_BYTES, "clouds.yaml").decode("utf-8")
        except UnreadableFile as error:
            if not error.missing:
                problems.append(str(error))
            continue
        except UnicodeDecodeError:
            problems.append(f"{path} is not UTF-8 text")
            continue
        try:
            import yaml

            document = yaml.safe_load(text)
        except ImportError:  # pragma: no cover - openstacksdk brings PyYAML
            continue
        except Exception as error:
            problems.append(f"{path} is not valid YAML ({type(error).__name__})")
            continue
        clouds = document.get("clouds") if isinstance(document, dict) else None
        if not isinstance(clouds, dict):
            continue
        for cloud in clouds:
            if isinstance(cloud, str) and cloud:
                choices.append(
                    CloudChoice(
                        name=profile_name_for(cloud),
                        source=f"cloud {cloud} in {_shown(path, home)}",
                        cloud=cloud,
                    )
                )
    return choices


def _environment_choice(env: Mapping[str, str]) -> CloudChoice | None:
    if env.get("OS_CLOUD"):
        cloud = env["OS_CLOUD"]
        return CloudChoice(name=profile_name_for(cloud), source=f"OS_CLOUD={cloud}", cloud=cloud)
    if not env.get("OS_AUTH_URL"):
        return None
    project = env.get("OS_PROJECT_NAME") or env.get("OS_TENANT_NAME") or "openstack"
    return CloudChoice(
        name=profile_name_for(project),
        source="the OS_* environment sourced in this shell",
        environment=True,
    )


def _schedd_line(env: Mapping[str, str]) -> str | None:
    condor_q = shutil.which("condor_q", path=env.get("PATH"))
    config = env.get("CONDOR_CONFIG")
    if config and Path(config).is_file():
        return f"a local schedd (CONDOR_CONFIG={config})"
    if condor_q:
        return f"a local schedd ({condor_q})"
    if Path("/etc/condor/condor_config").is_file():
        return "a local schedd (/etc/condor/condor_config)"
    return None


def discover(home: Path, env: Mapping[str, str] | None = None) -> Discovery:
    """Blocking: the ways into OpenStack, the schedd and ``canfar_submit`` on this machine.

    One choice per project: an openrc file wins over a sourced environment of the same
    project (the file outlives the shell), and a name is used once.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    ordered: list[CloudChoice] = []
    sourced = _environment_choice(env)
    files = _openrc_choices(home, problems)
    if sourced is not None and sourced.environment:
        # The project the user sourced comes first (it becomes the default), from its file
        # when there is one.
        same = [choice for choice in files if choice.name == sourced.name]
        ordered.append(same[0] if same else sourced)
    elif sourced is not None:
        ordered.append(sourced)
    ordered += files + _cloud_choices(home, env, problems)
    seen: set[str] = set()
    clouds: list[CloudChoice] = []
    for choice in ordered:
        if choice.name not in seen:
            seen.add(choice.name)
            clouds.append(choice)
    canfar_submit: str | None = None
    try:
        from canfar_tui.batch.canfar_submit import detect_canfar_submit

        found = detect_canfar_submit(search_path=env.get("PATH"))
    except (OSError, ValueError):
        found = None
    if found is not None:
        canfar_submit = found.describe()
    return Discovery(
        clouds=tuple(clouds),
        schedd=_schedd_line(env),
        canfar_submit=canfar_submit,
        problems=tuple(problems),
    )


# --------------------------------------------------------------------------- planning


def _shown(path: Path, home: Path) -> str:
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return str(path)


def check_vospace(uri: str) -> str:
    """A VOSpace home: ``vos:<user>`` or a project space ``vos:<project>/`` (``vault:`` too)."""
    uri = uri.strip()
    scheme, _, rest = uri.partition(":")
    if scheme not in ("vos", "vault") or not rest.strip("/") or any(ch.isspace() for ch in uri):
        raise InvalidInput(
            f"{uri or 'An empty URI'} is not a VOSpace URI (vos:<username> or vos:<project>/)"
        )
    return uri


def plan_profiles(
    request: LoginRequest, discovery: Discovery, certificate: Path
) -> tuple[tuple[Profile, ...], str]:
    """The profiles to write and the default's name.

    One profile per OpenStack project found; the first (the sourced project, else the first
    openrc file, else the first cloud) is the default and takes ``--profile-name`` when given.
    With no project, one profile for CADC alone, named after ``--profile-name`` or the user.
    """
    vospace = check_vospace(request.vospace) if request.vospace else f"vos:{request.username}"
    base = Profile(
        name=request.username,
        kind="canfar",
        username=request.username,
        vospace=vospace,
        certificate=certificate,
    )
    profiles: list[Profile] = []
    for index, choice in enumerate(discovery.clouds):
        name = choice.name
        if index == 0 and request.profile_name:
            name = request.profile_name
        profiles.append(replace(base, name=name, openrc=choice.openrc, cloud=choice.cloud))
    if not profiles:
        profiles.append(replace(base, name=request.profile_name or request.username))
    names = [profile.name for profile in profiles]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InvalidInput(
            f"Two profiles would be named {duplicated[0]}: choose another --profile-name"
        )
    for profile in profiles:
        if not profile.name or profile_name_for(profile.name) != profile.name:
            raise InvalidInput(
                f"{profile.name!r} cannot name a profile (letters, digits, _ . - only)"
            )
    return tuple(profiles), profiles[0].name


def check_request(request: LoginRequest) -> None:
    """One-line InvalidInput for a username, password or day count CADC would refuse."""
    if not request.username.strip() or any(ch.isspace() for ch in request.username):
        raise InvalidInput("The CADC username must be one word")
    if not request.password or "\n" in request.password or "\r" in request.password:
        raise InvalidInput("The password must be one non-empty line")
    if not 1 <= request.days <= MAX_DAYS_VALID:
        raise InvalidInput(f"A certificate can be valid 1 to {MAX_DAYS_VALID} days")
    if request.vospace:
        check_vospace(request.vospace)


# --------------------------------------------------------------------------- login


async def _in_thread(function: Callable[..., T], *args: Any, seconds: float, what: str) -> T:
    try:
        return await asyncio.wait_for(asyncio.to_thread(function, *args), seconds)
    except TimeoutError:
        raise Unavailable(f"{what} did not answer within {seconds:.0f} s") from None


def _issue(issuer: CdpIssuer, request: LoginRequest) -> bytes:
    try:
        pem = issuer.issue_with_password(request.days, request.username, request.password)
        certificate_expiry(pem)
    except ClientError:
        raise
    except Exception as error:
        raise map_issue_error(error, typed_password=True) from error
    return pem


async def login(
    request: LoginRequest,
    places: Places,
    *,
    env: Mapping[str, str] | None = None,
    verify_tls: bool = True,
    issuer: CdpIssuer | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109 - each blocking step gets it on its own
) -> LoginResult:
    """Log in (see the module docstring). Raises ClientError or ConfigError (one line)."""
    check_request(request)
    discovery = await _in_thread(discover, places.home, env, seconds=timeout, what="Discovery")
    profiles, default = plan_profiles(request, discovery, places.certificate)
    # Refuse a clash with the config file before CADC is asked anything.
    save_profiles(
        places.config_file,
        profiles,
        default=default,
        force=request.force,
        home=places.home,
        write=False,
    )
    issuer = issuer or CdpIssuer(places.netrc, verify_tls=verify_tls)
    pem = await _in_thread(
        _issue, issuer, request, seconds=timeout, what="The CADC credential service"
    )
    hosts: tuple[str, ...] = ()
    if request.netrc:
        try:
            hosts = await _in_thread(issuer.netrc_hosts, seconds=timeout, what="The CADC registry")
        except ClientError:
            raise
        except Exception as error:
            raise map_issue_error(error) from error
        if not hosts:
            raise Unavailable("The CADC registry names no host to write a netrc entry for")
    # Everything is known: write the certificate, the netrc entry, the profiles.
    credentials = CadcCredentials(
        certificate=places.certificate, netrc_path=places.netrc, hosts=hosts, issuer=issuer
    )
    try:
        await _in_thread(
            _write_certificate, places.certificate, pem, seconds=timeout, what="Writing"
        )
    except OSError as error:
        raise InvalidInput(f"Cannot write {places.certificate}: {error.strerror}") from error
    if request.netrc:
        await credentials.save_netrc_entry(request.username, request.password)
    save_profiles(
        places.config_file, profiles, default=default, force=request.force, home=places.home
    )
    lines = _result_lines(request, places, pem, hosts, discovery, profiles, default)
    return LoginResult(profiles=profiles, default=default, lines=tuple(lines))


def _write_certificate(path: Path, pem: bytes) -> None:
    atomic_write(path, pem, mode=0o600, folder_mode=0o700)


def _result_lines(
    request: LoginRequest,
    places: Places,
    pem: bytes,
    hosts: Sequence[str],
    discovery: Discovery,
    profiles: Sequence[Profile],
    default: str,
) -> list[LoginLine]:
    expires, common_name = certificate_expiry(pem)
    days = (expires - datetime.now(UTC)).total_seconds() / 86400
    home = places.home
    lines = [
        LoginLine(
            "certificate",
            True,
            f"{common_name or request.username}, valid {days:.0f} days, "
            f"{_shown(places.certificate, home)} (0600)",
        )
    ]
    if request.netrc:
        lines.append(
            LoginLine("netrc", True, f"{', '.join(hosts)} in {_shown(places.netrc, home)} (0600)")
        )
    else:
        lines.append(LoginLine("netrc", None, "not written (--netrc saves one for batch jobs)"))
    if discovery.clouds:
        found = "; ".join(
            f"{profile.name} ({choice.source})"
            for profile, choice in zip(profiles, discovery.clouds, strict=False)
        )
        lines.append(LoginLine("cloud", True, found))
    else:
        lines.append(
            LoginLine(
                "cloud",
                None,
                "no OpenStack project found (no ~/*-openrc.sh, no sourced OS_* environment, "
                "no clouds.yaml); profile without a cloud",
            )
        )
    for problem in discovery.problems:
        lines.append(LoginLine("cloud", None, problem))
    lines.append(
        LoginLine("queue", True, discovery.schedd)
        if discovery.schedd
        else LoginLine("queue", None, "no local schedd (condor_q) on this machine")
    )
    lines.append(
        LoginLine("batch", True, discovery.canfar_submit)
        if discovery.canfar_submit
        else LoginLine("batch", None, "canfar_submit is not on PATH (run jobs from the batch host)")
    )
    lines.append(LoginLine("storage", True, f"VOSpace home {profiles[0].vospace}"))
    names = ", ".join(profile.name for profile in profiles)
    lines.append(
        LoginLine(
            "profile",
            True,
            f"{names} in {_shown(places.config_file, home)}; default {default}",
        )
    )
    return lines
