"""``condor_qedit`` values: the checks both queue backends make, and HTCondor's V2 syntaxes.

:func:`parse_job_edit` turns the ``attributes`` of
:meth:`~canfar_tui.clients.base.SupportsEditJob.edit_job` (name to ClassAd expression) into a
:class:`JobEdit`: canonical names, the expressions as HTCondor will store them, and the values
decoded (``Arguments`` split into argv, ``Environment`` into pairs, the ``Request*`` as whole
numbers). The sandbox executor applies the decoded values; the htcondor2 backend runs the same
checks in its worker process before ``Schedd.edit``, so both refuse the same input with the
same one-line :class:`~canfar_tui.clients.base.InvalidInput`.

``classad2`` is imported by :func:`parse_job_edit` only. The V2 helpers below are plain Python,
for the job edit screen as well:

* :func:`split_v2_arguments` / :func:`join_v2_arguments`: the ``Arguments`` attribute (new
  syntax without its outer double quotes: whitespace separates, single quotes group, ``''``
  inside them is a literal quote, a double quote is an ordinary character);
* :func:`split_v1_arguments`: the old ``Args`` attribute (whitespace separates, ``\\"`` is a
  quote);
* :func:`split_v2_environment` / :func:`join_v2_environment`: the ``Environment`` attribute
  (``NAME=value`` entries in the same syntax).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from canfar_tui.clients.base import InvalidInput, editable_job_attributes
from canfar_tui.models import JobId, JobStatus

__all__ = [
    "EDITABLE_STATES",
    "JobEdit",
    "join_v2_arguments",
    "join_v2_environment",
    "not_editable",
    "parse_job_edit",
    "split_v1_arguments",
    "split_v2_arguments",
    "split_v2_environment",
]

#: JobStatus values a job may be edited in: IDLE and HELD.
EDITABLE_STATES: Final = (int(JobStatus.IDLE), int(JobStatus.HELD))

_STRINGS: Final = ("Arguments", "Environment", "VMImage", "VMInstanceType")
#: Whole-number attributes: (smallest value, what the number means).
_NUMBERS: Final = {
    "RequestCpus": (1, "CPUs"),
    "RequestMemory": (0, "MB"),
    "RequestDisk": (0, "KiB"),
}
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NEEDS_QUOTES: Final = re.compile(r"[\s'\"]")


@dataclass(frozen=True, slots=True)
class JobEdit:
    """A checked edit: what to store, by canonical attribute name."""

    #: The expressions as HTCondor stores them (``str`` of the parsed ``ExprTree``).
    expressions: Mapping[str, str]
    #: Decoded values: ``str`` for the string attributes and ``Requirements`` (its
    #: expression), ``int`` for the ``Request*`` ones.
    values: Mapping[str, str | int]
    #: ``Arguments`` split into argv (when edited).
    argv: tuple[str, ...] | None = None
    #: ``Environment`` as (name, value) pairs (when edited).
    environment: tuple[tuple[str, str], ...] | None = None
    #: Names in the order given.
    names: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- V1 / V2 syntaxes


def split_v2_arguments(text: str) -> tuple[str, ...]:
    """argv from an ``Arguments`` value; ValueError on an unterminated single quote."""
    args: list[str] = []
    current: list[str] = []
    has_token = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "'":
            has_token = True
            index += 1
            while True:
                if index >= len(text):
                    raise ValueError("an unterminated single quote")
                if text[index] == "'":
                    if text[index : index + 2] == "''":
                        current.append("'")
                        index += 2
                        continue
                    index += 1
                    break
                current.append(text[index])
                index += 1
            continue
        if char.isspace():
            if has_token:
                args.append("".join(current))
                current, has_token = [], False
        else:
            current.append(char)
            has_token = True
        index += 1
    if has_token:
        args.append("".join(current))
    return tuple(args)


def split_v1_arguments(text: str) -> tuple[str, ...]:
    """argv from an old-syntax ``Args`` value."""
    return tuple(part.replace('\\"', '"') for part in text.split())


def _v2_quote(word: str) -> str:
    if word and not _NEEDS_QUOTES.search(word):
        return word
    return "'" + word.replace("'", "''") + "'"


def join_v2_arguments(argv: Iterable[str]) -> str:
    """The ``Arguments`` value that splits back into ``argv``."""
    return " ".join(_v2_quote(word) for word in argv)


def split_v2_environment(text: str) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs from an ``Environment`` value; ValueError when malformed."""
    pairs: list[tuple[str, str]] = []
    for entry in split_v2_arguments(text):
        name, sep, value = entry.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise ValueError(f"{entry!r} is not NAME=value")
        pairs.append((name, value))
    return tuple(pairs)


def join_v2_environment(pairs: Iterable[Sequence[str]]) -> str:
    """The ``Environment`` value of (name, value) pairs."""
    return " ".join(f"{name}={_v2_quote(value) if value else ''}" for name, value in pairs)


# --------------------------------------------------------------------------- the check


def not_editable(job_id: JobId, status: JobStatus) -> str:
    """Why a job in ``status`` cannot be edited (for a Conflict)."""
    if status == JobStatus.RUNNING:
        return f"Job {job_id} is running; hold it first, then edit it."
    if status in (JobStatus.COMPLETED, JobStatus.REMOVED):
        return f"Job {job_id} has left the queue ({status.name.lower()}); submit it again instead."
    return f"Job {job_id} is {status.name.lower()}; only held or idle jobs can be edited."


def parse_job_edit(attributes: Mapping[str, str]) -> JobEdit:
    """Check an ``edit_job`` request; InvalidInput (one line) for the first bad attribute."""
    import classad2

    wanted = editable_job_attributes(attributes)
    expressions: dict[str, str] = {}
    values: dict[str, str | int] = {}
    argv: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] | None = None
    for name, text in wanted.items():
        try:
            tree = classad2.ExprTree(text)
        except Exception:
            raise InvalidInput(
                f"{name} = {_short(text)} is not a ClassAd expression"
                + (' (quote text: "like this").' if name in _STRINGS else ".")
            ) from None
        if name == "Requirements":
            expressions[name] = values[name] = str(tree)
            continue
        try:
            value = tree.eval()
        except Exception:
            value = None
        if name in _STRINGS:
            if not isinstance(value, str):
                example = _example(name)
                raise InvalidInput(f'{name} must be text in double quotes, like "{example}".')
            if name == "Arguments":
                try:
                    argv = split_v2_arguments(value)
                except ValueError as error:
                    raise InvalidInput(f"Arguments: {error}.") from None
            elif name == "Environment":
                try:
                    environment = split_v2_environment(value)
                except ValueError as error:
                    raise InvalidInput(f"Environment: {error}.") from None
            elif not value.strip():
                raise InvalidInput(f"{name} cannot be empty.")
            values[name] = value
        else:
            least, unit = _NUMBERS[name]
            if isinstance(value, bool | classad2.Value) or not isinstance(value, int):
                raise InvalidInput(f"{name} must be a whole number of {unit}, not {_short(text)}.")
            if value < least:
                raise InvalidInput(f"{name} must be at least {least}.")
            values[name] = value
        expressions[name] = str(tree)
    return JobEdit(expressions, values, argv, environment, tuple(wanted))


def _example(name: str) -> str:
    return {
        "Arguments": "1056215p --fast",
        "Environment": "OMP_NUM_THREADS=2",
        "VMImage": "my-snapshot",
        "VMInstanceType": "c2-7.5gb-30",
    }[name]


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
