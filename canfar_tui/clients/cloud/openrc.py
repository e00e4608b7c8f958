"""OpenStack credentials from an ``*-openrc.sh`` file or ``OS_*`` variables, without a shell.

Horizon's "OpenStack RC file" (Project > API Access on arbutus-canfar) is a bash script that
exports ``OS_*`` variables and then *asks* for the password (``read -sr OS_PASSWORD_INPUT``).
canfar-tui never runs it: :func:`parse_openrc` reads its ``export OS_NAME=value`` lines with a
small parser of shell quoting, and skips the rest:

* the lines Horizon writes around them (comments, ``echo``, ``read``, ``unset``, the
  ``if [ -z "$OS_…" ]; then unset OS_…; fi`` guards) are recognised and ignored quietly;
* any other line is ignored and reported in :attr:`OpenRC.warnings` (by line number and first
  word only, since a line could hold a secret);
* ``$NAME`` / ``${NAME}`` expand to ``OS_*`` values set earlier in the file; command
  substitution (``$(…)``, backticks) is never executed: such a value is dropped with a warning.

``export OS_PASSWORD=$OS_PASSWORD_INPUT`` (what Horizon writes) means "ask the user": the result
has no password and :attr:`OpenRC.password_prompted` is true; the backend then calls its
``password_provider`` once per run. A literal ``OS_PASSWORD`` in the file is kept in memory.
Some sites' files ask for the user name the same way (``export OS_USERNAME=$OS_USERNAME_INPUT``
after a ``read``): :attr:`OpenRC.username_prompted` is then true and the caller supplies the name
(the CADC username, on CANFAR) with :meth:`OpenRC.with_username`.

Application-credential files (``OS_AUTH_TYPE=v3applicationcredential`` with
``OS_APPLICATION_CREDENTIAL_ID`` or ``_NAME`` and ``OS_APPLICATION_CREDENTIAL_SECRET``) need no
user and no password: :attr:`OpenStackCredentials.auth_type` says which Keystone plugin to use.

:func:`discover_openrc_files` lists the ``*-openrc.sh`` files of a home folder (the batch host
keeps one per project there).

:class:`OpenStackCredentials` is what the openstacksdk backend authenticates with; it never
shows the password in its ``repr``. This module imports nothing from openstacksdk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from canfar_tui.clients.base import InvalidInput

__all__ = [
    "APPLICATION_CREDENTIAL",
    "OpenRC",
    "OpenStackCredentials",
    "credentials_from_variables",
    "discover_openrc_files",
    "load_openrc",
    "parse_openrc",
]

#: Largest openrc file read (Horizon's are about 2 kB).
MAX_OPENRC_BYTES = 256 * 1024

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPORT = re.compile(r"^(?:export\s+)?(OS_[A-Za-z0-9_]*)=(.*)$")
_UNSET = re.compile(r"^unset\s+(OS_[A-Za-z0-9_]+(?:\s+OS_[A-Za-z0-9_]+)*)\s*;?$")
# `if [ -z "$OS_REGION_NAME" ]; then unset OS_REGION_NAME; fi` and friends.
_GUARD = re.compile(
    r'^if\s+\[\s+-z\s+"?\$\{?OS_[A-Za-z0-9_]+\}?"?\s+\];\s*then\s+unset\s+OS_[A-Za-z0-9_]+;?'
    r"\s*fi$"
)
# Commands Horizon's template uses for talking to the user; harmless to skip.
_QUIET_COMMANDS = frozenset({"echo", "read", "printf", "set", "true", ":"})
# Variables whose value is "ask the user" when they appear as $NAME for OS_PASSWORD.
_PROMPT_VARIABLES = frozenset({"OS_PASSWORD_INPUT", "OS_PASSWORD"})
# The same for OS_USERNAME.
_USERNAME_PROMPTS = frozenset({"OS_USERNAME_INPUT", "OS_USERNAME"})

#: Keystone's application-credential plugin (``OS_AUTH_TYPE``).
APPLICATION_CREDENTIAL = "v3applicationcredential"
_PASSWORD_AUTH_TYPES = frozenset({"password", "v3password"})
#: At most this many ``*-openrc.sh`` files are listed from one folder.
MAX_DISCOVERED = 50


class _Unsupported(Exception):
    """A value uses shell features we do not evaluate."""


@dataclass(frozen=True, slots=True)
class OpenStackCredentials:
    """What is needed to authenticate to Keystone v3 with a password.

    ``password`` may be None: the backend then asks its password provider once per run.
    Domains default to Keystone's ``default`` domain when neither name nor id is given.
    """

    auth_url: str
    username: str | None = None
    user_id: str | None = None
    password: str | None = field(default=None, repr=False)
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    region_name: str | None = None
    interface: str | None = None
    cacert: str | None = None
    verify: bool = True
    #: The Keystone plugin: ``password`` or :data:`APPLICATION_CREDENTIAL`.
    auth_type: str = "password"
    application_credential_id: str | None = None
    application_credential_name: str | None = None
    application_credential_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.auth_url.strip():
            raise InvalidInput("The Keystone URL (OS_AUTH_URL) is empty.")
        if self.auth_type == APPLICATION_CREDENTIAL:
            if not (self.application_credential_id or self.application_credential_name):
                raise InvalidInput(
                    "No application credential (OS_APPLICATION_CREDENTIAL_ID) is given."
                )
            if not self.application_credential_secret:
                raise InvalidInput(
                    "No application credential secret (OS_APPLICATION_CREDENTIAL_SECRET) is given."
                )
            if self.application_credential_name and not (self.username or self.user_id):
                raise InvalidInput(
                    "An application credential given by name needs OS_USERNAME as well."
                )
            return
        if self.auth_type not in _PASSWORD_AUTH_TYPES:
            raise InvalidInput(
                f"OS_AUTH_TYPE={self.auth_type} is not supported "
                f"(use password or {APPLICATION_CREDENTIAL})."
            )
        if not (self.username or self.user_id):
            raise InvalidInput("No OpenStack username (OS_USERNAME) is given.")

    @property
    def needs_password(self) -> bool:
        """Whether authenticating needs a password that is not here yet."""
        return self.auth_type != APPLICATION_CREDENTIAL and not self.password

    def with_password(self, password: str | None) -> OpenStackCredentials:
        return replace(self, password=password)

    @property
    def user_label(self) -> str:
        """The user as shown in messages: the name, else the id."""
        return self.username or self.user_id or "?"

    def auth_options(self) -> dict[str, str]:
        """The keystoneauth options of :attr:`auth_type` (without the password)."""
        options: dict[str, str] = {"auth_url": self.auth_url}
        if self.auth_type == APPLICATION_CREDENTIAL:
            for key in (
                "application_credential_id",
                "application_credential_name",
                "application_credential_secret",
                "username",
                "user_id",
                "user_domain_name",
                "user_domain_id",
            ):
                value = getattr(self, key)
                if value:
                    options[key] = value
            return options
        for key in (
            "username",
            "user_id",
            "project_name",
            "project_id",
            "user_domain_name",
            "user_domain_id",
            "project_domain_name",
            "project_domain_id",
        ):
            value = getattr(self, key)
            if value:
                options[key] = value
        if not (self.user_domain_name or self.user_domain_id):
            options["user_domain_id"] = "default"
        if not (self.project_domain_name or self.project_domain_id):
            options["project_domain_id"] = "default"
        return options


@dataclass(frozen=True, slots=True)
class OpenRC:
    """The parsed content of an openrc file."""

    variables: Mapping[str, str]
    #: The file asks for the password (Horizon's ``read -sr OS_PASSWORD_INPUT`` idiom).
    password_prompted: bool = False
    warnings: tuple[str, ...] = ()
    source: str = ""
    #: The file asks for the user name too (``export OS_USERNAME=$OS_USERNAME_INPUT``).
    username_prompted: bool = False

    def with_username(self, username: str) -> OpenRC:
        """The same file with the user name it asks for filled in."""
        return replace(self, variables={**self.variables, "OS_USERNAME": username})

    @property
    def password(self) -> str | None:
        return self.variables.get("OS_PASSWORD") or None

    def credentials(self) -> OpenStackCredentials:
        """The credentials the file describes (InvalidInput when something essential lacks)."""
        where = f" in {self.source}" if self.source else ""
        try:
            return credentials_from_variables(self.variables)
        except InvalidInput as error:
            raise InvalidInput(f"{error.message.rstrip('.')}{where}.") from None

    def __repr__(self) -> str:
        shown = sorted(name for name in self.variables if not _secret_name(name))
        return (
            f"OpenRC(source={self.source!r}, variables={shown}, "
            f"password_prompted={self.password_prompted}, warnings={len(self.warnings)})"
        )


def _secret_name(name: str) -> bool:
    return "PASSWORD" in name or "SECRET" in name or "TOKEN" in name


def _first_word(line: str) -> str:
    words = line.split(None, 2)
    if len(words) > 1 and words[0] == "export":
        words = words[1:]
    word = words[0] if words else ""
    if "=" in word:
        return word
    return word[:30] + ("…" if len(word) > 30 else "")


def _expand(text: str, known: Mapping[str, str], *, quoted: bool) -> str:
    """Expand ``$NAME``/``${NAME}`` in an unquoted or double-quoted piece of a value."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 < len(text):
                following = text[index + 1]
                if not quoted or following in '$`"\\':
                    out.append(following)
                else:
                    out.append(char + following)
                index += 2
            else:
                index += 1
            continue
        if char == "`":
            raise _Unsupported("command substitution")
        if char == "$":
            rest = text[index + 1 :]
            if rest.startswith("("):
                raise _Unsupported("command substitution")
            if rest.startswith("{"):
                end = rest.find("}")
                name = rest[1:end] if end > 0 else ""
                if not _NAME.fullmatch(name):
                    raise _Unsupported("parameter expansion")
                index += end + 2
            else:
                match = _NAME.match(rest)
                if match is None:
                    out.append(char)
                    index += 1
                    continue
                name = match.group(0)
                index += 1 + len(name)
            if name not in known:
                raise KeyError(name)
            out.append(known[name])
            continue
        if not quoted and (char in ";&|<>(){}" or char.isspace()):
            raise _Unsupported("more than one word")
        out.append(char)
        index += 1
    return "".join(out)


def _value(raw: str, known: Mapping[str, str]) -> str:
    """The value of ``NAME=raw`` as bash would assign it (no word splitting, no globbing)."""
    raw = raw.strip()
    if raw.endswith(";"):
        raw = raw[:-1].rstrip()
    parts: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "'":
            end = raw.find("'", index + 1)
            if end < 0:
                raise _Unsupported("an unterminated quote")
            parts.append(raw[index + 1 : end])
            index = end + 1
        elif char == '"':
            end = index + 1
            while end < len(raw) and raw[end] != '"':
                end += 2 if raw[end] == "\\" else 1
            if end >= len(raw):
                raise _Unsupported("an unterminated quote")
            parts.append(_expand(raw[index + 1 : end], known, quoted=True))
            index = end + 1
        elif char == "#" and (index == 0 or raw[index - 1].isspace()):
            break
        else:
            end = index
            while end < len(raw) and raw[end] not in "'\"":
                end += 1
            chunk = raw[index:end]
            comment = re.search(r"\s#", chunk)
            if comment is not None:
                chunk = chunk[: comment.start()]
                end = len(raw)
            parts.append(_expand(chunk.rstrip(), known, quoted=False))
            index = end
    return "".join(parts)


def parse_openrc(text: str, *, source: str = "") -> OpenRC:
    """Read the ``OS_*`` exports of an openrc file without running it.

    Never raises for odd content: unknown lines become :attr:`OpenRC.warnings`.
    """
    variables: dict[str, str] = {}
    warnings: list[str] = []
    prompted = False
    username_prompted = False
    lines = text.splitlines()
    if lines and lines[0].startswith("#!"):
        lines[0] = ""
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        export = _EXPORT.match(line)
        if export is not None:
            name, raw_value = export.groups()
            stripped = raw_value.strip().strip("\"'")
            if name == "OS_PASSWORD" and stripped.lstrip("${").rstrip("}") in _PROMPT_VARIABLES:
                prompted = True
                variables.pop("OS_PASSWORD", None)
                continue
            if name == "OS_USERNAME" and stripped.lstrip("${").rstrip("}") in _USERNAME_PROMPTS:
                username_prompted = True
                variables.pop("OS_USERNAME", None)
                continue
            try:
                variables[name] = _value(raw_value, variables)
            except KeyError as missing:
                warnings.append(
                    f"line {number}: {name} refers to ${missing.args[0]}, which the file does "
                    "not set; ignored"
                )
            except _Unsupported as why:
                warnings.append(f"line {number}: {name} uses {why} (not evaluated); ignored")
            continue
        unset = _UNSET.match(line)
        if unset is not None:
            for name in unset.group(1).split():
                variables.pop(name, None)
            continue
        if _GUARD.match(line):
            guarded = re.search(r"unset\s+(OS_[A-Za-z0-9_]+)", line)
            if guarded is not None and not variables.get(guarded.group(1)):
                variables.pop(guarded.group(1), None)
            continue
        word = _first_word(line)
        if word in _QUIET_COMMANDS:
            continue
        if "=" in word:
            # An assignment to something else: name the variable, never show its value.
            name = word.split("=", 1)[0].removeprefix("export ")
            warnings.append(
                f"line {number}: assignment to {name[:30]!r} ignored (only OS_* variables are read)"
            )
            continue
        warnings.append(f"line {number}: unexpected {word!r} line ignored")
    return OpenRC(
        variables=variables,
        password_prompted=prompted,
        warnings=tuple(warnings),
        source=source,
        username_prompted=username_prompted,
    )


def load_openrc(path: Path) -> OpenRC:
    """Read and parse an openrc file; InvalidInput (one line) when it cannot be read."""
    path = Path(path).expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OPENRC_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput(f"The openrc file {path} does not exist.") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, not an openrc file.") from None
    except OSError as error:
        raise InvalidInput(
            f"Cannot read the openrc file {path}: {error.strerror or error}."
        ) from None
    if len(data) > MAX_OPENRC_BYTES:
        raise InvalidInput(f"{path} is too large to be an openrc file.")
    if b"\0" in data:
        raise InvalidInput(f"{path} is a binary file, not an openrc file.")
    return parse_openrc(data.decode("utf-8", errors="replace"), source=str(path))


def _first(variables: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = variables.get(name, "").strip()
        if value:
            return value
    return None


def credentials_from_variables(variables: Mapping[str, str]) -> OpenStackCredentials:
    """Credentials from ``OS_*`` variables (``os.environ`` or a parsed openrc file).

    Raises InvalidInput when ``OS_AUTH_URL`` or the user is missing.
    """
    auth_url = _first(variables, "OS_AUTH_URL")
    if auth_url is None:
        raise InvalidInput("OS_AUTH_URL is not set, so the Keystone URL is unknown.")
    insecure = (variables.get("OS_INSECURE") or "").strip().lower() in {"1", "true", "yes"}
    auth_type = (_first(variables, "OS_AUTH_TYPE") or "password").lower()
    return OpenStackCredentials(
        auth_url=auth_url,
        username=_first(variables, "OS_USERNAME"),
        user_id=_first(variables, "OS_USER_ID"),
        password=variables.get("OS_PASSWORD") or None,
        project_name=_first(variables, "OS_PROJECT_NAME", "OS_TENANT_NAME"),
        project_id=_first(variables, "OS_PROJECT_ID", "OS_TENANT_ID"),
        user_domain_name=_first(variables, "OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME"),
        user_domain_id=_first(variables, "OS_USER_DOMAIN_ID", "OS_DOMAIN_ID"),
        project_domain_name=_first(variables, "OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME"),
        project_domain_id=_first(variables, "OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_ID"),
        region_name=_first(variables, "OS_REGION_NAME"),
        interface=_first(variables, "OS_INTERFACE", "OS_ENDPOINT_TYPE"),
        cacert=_first(variables, "OS_CACERT"),
        verify=not insecure,
        auth_type=auth_type,
        application_credential_id=_first(variables, "OS_APPLICATION_CREDENTIAL_ID"),
        application_credential_name=_first(variables, "OS_APPLICATION_CREDENTIAL_NAME"),
        application_credential_secret=variables.get("OS_APPLICATION_CREDENTIAL_SECRET") or None,
    )


def discover_openrc_files(folder: Path) -> list[Path]:
    """The ``*-openrc.sh`` files in ``folder`` (not below it), sorted by name.

    The batch host puts one per OpenStack project in the user's home. Folders, unreadable
    entries and names that are not regular files are skipped; never raises.
    """
    try:
        candidates = sorted(Path(folder).expanduser().glob("*-openrc.sh"))
    except OSError:
        return []
    found: list[Path] = []
    for path in candidates[:MAX_DISCOVERED]:
        try:
            if path.is_file():
                found.append(path)
        except OSError:
            continue
    return found
