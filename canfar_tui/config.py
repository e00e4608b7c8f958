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

:func:`save_profiles` (``canfar-tui login``) adds profiles and sets ``default_profile``,
keeping the user's other settings, atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast

from canfar_tui.clients.files import UnreadableFile, atomic_write, read_bounded

APP_NAME = "canfar-tui"
SANDBOX = "sandbox"
ProfileKind = Literal["sandbox", "canfar"]

DEFAULT_VOSPACE = "ivo://cadc.nrc.ca/vault"

#: Keys that must never appear in the config file.
SECRET_KEYS = frozenset({"password", "os_password", "token", "secret", "api_key"})
#: Words that make a key look like a secret, in any table (``db_password``, ``api-token``).
_SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "secret", "token", "apikey"})

#: Largest config file read (a hand-written one is a few kB).
MAX_CONFIG_BYTES = 1024 * 1024

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


def looks_secret(key: str) -> bool:
    """Whether a config key names a secret (``password``, ``os_password``, ``api-token``)."""
    last = key.lower().replace("-", "_").rsplit(".", 1)[-1]
    if last in SECRET_KEYS or "api_key" in last or "private_key" in last:
        return True
    return any(word in _SECRET_WORDS for word in last.split("_"))


def _refuse_secrets(value: object, where: str, dotted: str = "") -> None:
    """Refuse a secret-looking key anywhere in the document, without ever showing its value."""
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{dotted}.{key}" if dotted else str(key)
            if looks_secret(str(key)):
                raise ConfigError(
                    f"{where}: {name} looks like a secret; canfar-tui asks for passwords and "
                    "never reads them from a file (remove it; its value is not shown)"
                )
            _refuse_secrets(item, where, name)
    elif isinstance(value, list):
        for item in value:
            _refuse_secrets(item, where, dotted)


def _shown(value: object) -> str:
    """A wrong value as it may appear in an error: a table or list of tables is not shown."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        return "a list of tables"
    return repr(value)


def _expect(value: object, kinds: type | tuple[type, ...], where: str, what: str) -> None:
    if isinstance(value, bool) and kinds in (int, float, (int, float)):
        raise ConfigError(f"{where}: {what} must be {_kind_name(kinds)}, got {_shown(value)}")
    if not isinstance(value, kinds):
        raise ConfigError(f"{where}: {what} must be {_kind_name(kinds)}, got {_shown(value)}")


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
    _refuse_secrets(data, where)
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
        text = read_bounded(paths.config_file, MAX_CONFIG_BYTES, "configuration file")
        data = tomllib.loads(text.decode("utf-8"))
    except UnreadableFile as error:
        if not error.missing:
            raise ConfigError(str(error)) from None
        if config_file is not None:
            raise ConfigError(f"{where}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not valid TOML (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML ({error})") from None
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


# --------------------------------------------------------------------------- writing profiles

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TABLE_HEADER = re.compile(r"^\s*\[")


def profile_table(profile: Profile, home: Path | None = None) -> dict[str, str | bool]:
    """The ``[profiles.NAME]`` table of ``profile``: what it names, never a secret.

    Paths under ``home`` are written ``~/…`` (the file stays valid if HOME moves).
    """

    def shown(path: Path) -> str:
        if home is not None:
            with contextlib.suppress(ValueError):
                return "~/" + path.relative_to(home).as_posix()
        return str(path)

    table: dict[str, str | bool] = {"kind": profile.kind}
    for key in ("username", "cloud", "project", "schedd"):
        value = getattr(profile, key)
        if value:
            table[key] = str(value)
    if profile.openrc is not None:
        table["openrc"] = shown(profile.openrc)
    table["vospace"] = profile.vospace
    table["certificate"] = shown(profile.certificate)
    if not profile.verify_tls:
        table["verify_tls"] = False
    return table


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item, where) for item in value) + "]"
    raise ConfigError(f"{where}: cannot write a value of type {type(value).__name__}")


def dump_toml(data: Mapping[str, object], where: str = "config") -> str:
    """A small TOML writer for the config file: strings, numbers, booleans, lists, tables."""
    lines: list[str] = []

    def table(prefix: tuple[str, ...], values: Mapping[str, object]) -> None:
        scalars = [(key, value) for key, value in values.items() if not isinstance(value, dict)]
        tables = [(key, value) for key, value in values.items() if isinstance(value, dict)]
        if prefix and (scalars or not tables):
            if lines:
                lines.append("")
            lines.append("[" + ".".join(_toml_key(part) for part in prefix) + "]")
        for key, value in scalars:
            lines.append(f"{_toml_key(key)} = {_toml_value(value, where)}")
        for key, value in tables:
            assert isinstance(value, dict)
            table((*prefix, key), value)

    table((), data)
    return "\n".join(lines) + "\n"


def _remove_table(text: str, dotted: tuple[str, str]) -> str:
    """``text`` without the ``[a.b]`` table (its header up to the next header)."""
    first, second = (re.escape(part) for part in dotted)
    header = re.compile(
        rf'^\s*\[\s*(?:{first}|"{first}")\s*\.\s*(?:{second}|"{second}")\s*\]\s*(?:#.*)?$'
    )
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if header.match(line):
            skipping = True
            continue
        if skipping and _TABLE_HEADER.match(line):
            skipping = False
        if not skipping:
            kept.append(line)
    return "".join(kept)


def _set_top_level(text: str, key: str, value: str) -> str:
    """``text`` with the top-level ``key = value`` line replaced, or added first."""
    lines = text.splitlines(keepends=True)
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for index, line in enumerate(lines):
        if _TABLE_HEADER.match(line):
            break
        if pattern.match(line):
            lines[index] = f"{key} = {value}\n"
            return "".join(lines)
    return f"{key} = {value}\n" + text


def _edited_config(
    text: str,
    data: Mapping[str, object],
    tables: Mapping[str, Mapping[str, object]],
    default: str | None,
) -> str:
    """The new file: the user's text edited in place (comments kept) when that parses to
    exactly the expected document, else the expected document written afresh."""
    expected: dict[str, object] = {key: value for key, value in data.items()}
    profiles = dict(cast("dict[str, object]", expected.get("profiles", {})))
    profiles.update({name: dict(table) for name, table in tables.items()})
    expected["profiles"] = profiles
    if default is not None:
        expected["default_profile"] = default
    edited = text
    for name in tables:
        edited = _remove_table(edited, ("profiles", name))
    if default is not None:
        edited = _set_top_level(edited, "default_profile", _toml_value(default, "config"))
    if edited and not edited.endswith("\n"):
        edited += "\n"
    for name, table in tables.items():
        edited += "\n" + dump_toml({"profiles": {name: dict(table)}})
    with contextlib.suppress(tomllib.TOMLDecodeError):
        if tomllib.loads(edited) == expected:
            return edited
    return dump_toml(expected)


def save_profiles(
    config_file: Path,
    profiles: Sequence[Profile],
    *,
    default: str | None = None,
    force: bool = False,
    home: Path | None = None,
    write: bool = True,
) -> str:
    """Add ``profiles`` to the config file, make ``default`` the default; return the new text.

    The user's other settings (and, where the file allows, its comments) are kept; the file is
    replaced atomically. A profile that exists already is refused (one-line
    :class:`ConfigError`) unless ``force``. The result is checked to load before anything is
    written. ``write=False`` only checks and returns the text (to refuse early).
    """
    where = str(config_file)
    try:
        text = read_bounded(config_file, MAX_CONFIG_BYTES, "configuration file").decode("utf-8")
    except UnreadableFile as error:
        if not error.missing:
            raise ConfigError(str(error)) from None
        text = ""
    except UnicodeDecodeError as error:
        raise ConfigError(f"{where}: cannot read ({error})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML ({error}); fix it first") from None
    existing = data.get("profiles", {})
    if not isinstance(existing, dict):
        raise ConfigError(f"{where}: profiles must be a table")
    tables: dict[str, dict[str, object]] = {}
    for profile in profiles:
        if profile.name == SANDBOX or profile.is_sandbox:
            raise ConfigError(f"{where}: the {SANDBOX} profile is built in; choose another name")
        if profile.name in existing and not force:
            raise ConfigError(
                f"{where}: a profile named {profile.name} exists already "
                "(--force replaces it, --profile-name chooses another name)"
            )
        tables[profile.name] = dict(profile_table(profile, home))
    new_text = _edited_config(text, data, tables, default)
    parse_config(tomllib.loads(new_text), where, Paths.from_env())  # it must load
    if write:
        try:
            atomic_write(config_file, new_text, folder_mode=0o700)
        except OSError as error:
            raise ConfigError(f"{where}: cannot write ({error.strerror or error})") from None
    return new_text
