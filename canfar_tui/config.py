"""Settings: a TOML file under the XDG config dir, profiles, and command-line overrides.

The file is optional. With no file (or no profile named), the ``sandbox`` profile is used: a
simulated CANFAR on this machine. A file looks like::

    default_profile = "arbutus"
    read_only = false
    theme = "textual-dark"

    [refresh]            # seconds
    instances = 5
    queue = 2

    [keymap]             # binding id = keys (see the help screen, `?`, for the ids)
    "app.tab_queue" = "f5"

    [profiles.arbutus]
    kind = "canfar"
    username = "jdoe"                   # the CADC username (OpenStack and VOSpace)
    cloud = "arbutus-canfar"            # a clouds.yaml entry, or (not both):
    openrc = "~/canfar-batch-openrc.sh" # an OpenStack RC file (its password is asked, never stored)
    vospace = "vos:jdoe"                # the VOSpace home (or a project space, vos:project/)
    certificate = "~/.ssl/cadcproxy.pem"
    ssh_options = ["Port=22"]           # extra `ssh -o` options for the VMs (optional)

A real profile with neither ``cloud`` nor ``openrc`` uses an OpenStack RC file already sourced
in the shell (``OS_AUTH_URL`` … or ``OS_CLOUD`` in the environment), as the seed's
``. [project]-openrc.sh`` leaves it.

Secrets are never read from or written to this file: passwords are asked once per run and
held in memory only. Wrong types give a one-line :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

APP_NAME = "canfar-tui"
SANDBOX = "sandbox"
ProfileKind = Literal["sandbox", "canfar"]

DEFAULT_VOSPACE = "ivo://cadc.nrc.ca/vault"

#: Keys that must never appear in the config file.
SECRET_KEYS = frozenset({"password", "os_password", "token", "secret", "api_key"})

DEFAULT_REFRESH: dict[str, float] = {
    "projects": 30.0,
    "instances": 5.0,
    "floating_ips": 10.0,
    "snapshots": 10.0,
    "queue": 2.0,
    "vospace": 30.0,
    "credentials": 60.0,
}


class ConfigError(Exception):
    """The configuration is unusable; the message is one line naming the file and key."""


@dataclass(frozen=True, slots=True)
class Paths:
    """Where canfar-tui keeps its files (XDG base directories)."""

    config_file: Path
    data_dir: Path
    state_dir: Path

    @property
    def log_file(self) -> Path:
        return self.state_dir / "canfar-tui.log"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env
        home = Path(env.get("HOME") or Path.home())

        def base(variable: str, default: str) -> Path:
            value = env.get(variable, "")
            return Path(value) if value and Path(value).is_absolute() else home / default

        return cls(
            config_file=base("XDG_CONFIG_HOME", ".config") / APP_NAME / "config.toml",
            data_dir=base("XDG_DATA_HOME", ".local/share") / APP_NAME,
            state_dir=base("XDG_STATE_HOME", ".local/state") / APP_NAME,
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """Which services a session talks to."""

    name: str
    kind: ProfileKind = "sandbox"
    cloud: str | None = None
    openrc: Path | None = None
    project: str | None = None
    schedd: str | None = None
    #: The CADC username (the OpenStack user on CANFAR too); None: from the certificate.
    username: str | None = None
    vospace: str = DEFAULT_VOSPACE
    certificate: Path = field(default_factory=lambda: Path("~/.ssl/cadcproxy.pem").expanduser())
    verify_tls: bool = True
    #: Extra ``ssh -o`` options (``Port=2222``, ``ProxyJump=bastion``) for the instances.
    ssh_options: tuple[str, ...] = ()

    @property
    def is_sandbox(self) -> bool:
        return self.kind == "sandbox"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app needs to start, after the file and the command line are merged."""

    profile: Profile
    paths: Paths
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    read_only: bool = False
    theme: str = "textual-dark"
    refresh: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_REFRESH))
    keymap: Mapping[str, str] = field(default_factory=dict)

    def refresh_interval(self, area: str) -> float:
        return float(self.refresh.get(area, DEFAULT_REFRESH.get(area, 5.0)))

    def with_profile(self, name: str) -> Settings:
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigError(f"unknown profile '{name}' (profiles: {known})")
        return replace(self, profile=self.profiles[name])


def _expect(value: object, kinds: type | tuple[type, ...], where: str, what: str) -> None:
    if isinstance(value, bool) and kinds in (int, float, (int, float)):
        raise ConfigError(f"{where}: {what} must be {_kind_name(kinds)}, got {value!r}")
    if not isinstance(value, kinds):
        raise ConfigError(f"{where}: {what} must be {_kind_name(kinds)}, got {value!r}")


def _kind_name(kinds: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "a number", float: "a number"}
    if isinstance(kinds, tuple):
        return " or ".join(dict.fromkeys(names.get(kind, kind.__name__) for kind in kinds))
    return names.get(kinds, "a table" if kinds is dict else kinds.__name__)


def _expect_ssh_options(value: object, where: str, dotted: str) -> None:
    from canfar_tui.ssh import validate_ssh_option

    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(
            f'{where}: {dotted} must be a list of strings like ["Port=2222"], got {value!r}'
        )
    for item in value:
        try:
            validate_ssh_option(item)
        except ValueError as error:
            raise ConfigError(f"{where}: {dotted}: {error}") from None


def _parse_profile(name: str, raw: object, where: str) -> Profile:
    _expect(raw, dict, where, f"profiles.{name}")
    assert isinstance(raw, dict)
    known = {
        "kind",
        "username",
        "cloud",
        "openrc",
        "project",
        "schedd",
        "vospace",
        "certificate",
        "verify_tls",
        "ssh_options",
    }
    for key, value in raw.items():
        dotted = f"profiles.{name}.{key}"
        if key.lower() in SECRET_KEYS:
            raise ConfigError(
                f"{where}: {dotted} looks like a secret; canfar-tui asks for passwords and "
                "never reads them from a file"
            )
        if key not in known:
            raise ConfigError(f"{where}: unknown key {dotted}")
        if key == "ssh_options":
            _expect_ssh_options(value, where, dotted)
            continue
        _expect(value, bool if key == "verify_tls" else str, where, dotted)
    kind = raw.get("kind", "canfar" if name != SANDBOX else "sandbox")
    if kind not in ("sandbox", "canfar"):
        raise ConfigError(f"{where}: profiles.{name}.kind must be 'sandbox' or 'canfar'")
    if raw.get("cloud") and raw.get("openrc"):
        raise ConfigError(
            f"{where}: profiles.{name} sets both cloud and openrc; keep one "
            "(a clouds.yaml entry or an OpenStack RC file)"
        )

    def path(key: str) -> Path | None:
        value = raw.get(key)
        return Path(value).expanduser() if isinstance(value, str) and value else None

    profile = Profile(
        name=name,
        kind=kind,
        cloud=raw.get("cloud") or None,
        openrc=path("openrc"),
        project=raw.get("project") or None,
        schedd=raw.get("schedd") or None,
        username=raw.get("username") or None,
        vospace=raw.get("vospace", DEFAULT_VOSPACE),
        verify_tls=raw.get("verify_tls", True),
        ssh_options=tuple(raw.get("ssh_options", ())),
    )
    certificate = path("certificate")
    return replace(profile, certificate=certificate) if certificate else profile


def parse_config(data: Mapping[str, object], where: str, paths: Paths) -> Settings:
    """Validate a parsed TOML document and build Settings (profile not yet chosen)."""
    known = {"default_profile", "read_only", "theme", "refresh", "keymap", "profiles"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{key}'")
    profiles: dict[str, Profile] = {SANDBOX: Profile(name=SANDBOX)}
    raw_profiles = data.get("profiles", {})
    _expect(raw_profiles, dict, where, "profiles")
    assert isinstance(raw_profiles, dict)
    for name, raw in raw_profiles.items():
        profiles[name] = _parse_profile(name, raw, where)

    refresh = dict(DEFAULT_REFRESH)
    raw_refresh = data.get("refresh", {})
    _expect(raw_refresh, dict, where, "refresh")
    assert isinstance(raw_refresh, dict)
    for area, seconds in raw_refresh.items():
        _expect(seconds, (int, float), where, f"refresh.{area}")
        if area not in DEFAULT_REFRESH:
            raise ConfigError(
                f"{where}: unknown refresh area '{area}' (areas: {', '.join(DEFAULT_REFRESH)})"
            )
        if not 0.2 <= float(seconds) <= 3600:
            raise ConfigError(f"{where}: refresh.{area} must be between 0.2 and 3600 seconds")
        refresh[area] = float(seconds)

    keymap: dict[str, str] = {}
    raw_keymap = data.get("keymap", {})
    _expect(raw_keymap, dict, where, "keymap")
    assert isinstance(raw_keymap, dict)
    for binding_id, keys in raw_keymap.items():
        _expect(keys, str, where, f"keymap.{binding_id}")
        keymap[binding_id] = keys

    read_only = data.get("read_only", False)
    _expect(read_only, bool, where, "read_only")
    theme = data.get("theme", "textual-dark")
    _expect(theme, str, where, "theme")
    default_profile = data.get("default_profile", SANDBOX)
    _expect(default_profile, str, where, "default_profile")
    assert isinstance(default_profile, str)
    settings = Settings(
        profile=profiles[SANDBOX],
        paths=paths,
        profiles=profiles,
        read_only=bool(read_only),
        theme=str(theme),
        refresh=refresh,
        keymap=keymap,
    )
    try:
        return settings.with_profile(default_profile)
    except ConfigError as error:
        raise ConfigError(f"{where}: default_profile: {error}") from None


def load_settings(
    *,
    config_file: Path | None = None,
    profile: str | None = None,
    openrc: Path | None = None,
    read_only: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read the config file (if any) and apply command-line overrides."""
    paths = Paths.from_env(env)
    if config_file is not None:
        paths = replace(paths, config_file=config_file)
    where = str(paths.config_file)
    data: Mapping[str, object] = {}
    try:
        with paths.config_file.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if config_file is not None:
            raise ConfigError(f"{where}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML ({error})") from None
    except OSError as error:
        raise ConfigError(f"{where}: cannot read ({error.strerror})") from None
    settings = parse_config(data, where, paths)
    if profile is not None:
        settings = settings.with_profile(profile)
    if openrc is not None:
        # An openrc on the command line makes an ad-hoc real profile.
        chosen = settings.profile
        base = chosen if not chosen.is_sandbox else Profile(name=openrc.stem)
        settings = replace(
            settings, profile=replace(base, kind="canfar", openrc=openrc.expanduser(), cloud=None)
        )
    if read_only is not None:
        settings = replace(settings, read_only=read_only or settings.read_only)
    return settings
