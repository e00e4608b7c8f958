"""Turn an HTCondor submit description into the list of jobs it queues, without a schedd.

:func:`expand_submit` is what ``condor_submit`` does before it talks to the schedd: parse the
description with ``htcondor2.Submit``, expand the queue statement into item rows
(``queue arguments from (…)``, ``queue x in (…)``, ``queue x matching *.fz``, ``queue N``,
``queue x from items.txt``, slices such as ``[1:3]``), then expand every command for each job
with ``$(Cluster)``, ``$(ClusterId)``, ``$(Process)``, ``$(ProcId)``, ``$(Step)``,
``$(ItemIndex)``, ``$(Row)`` and the item variables set, and resolve paths the way HTCondor
does (``executable`` relative to the submit directory, everything else relative to
``initialdir``).

``htcondor2`` is imported on the first call only: the app must start without it.

What ``htcondor2.Submit`` does not do offline is done here: ``matching`` and ``from file`` are
resolved relative to the submit directory (the bindings use the process's working directory),
slices are applied, the queue count may be an expression of macros, and errors carry line
numbers. A malformed description raises :class:`~canfar_tui.clients.base.InvalidInput` with a
one-line message (``Line 7: …``); nothing is partially expanded.

The result is plain data (:class:`JobSpec`), so the Submit screen can use this module for its
dry-run table too.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import glob
import operator
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from canfar_tui.clients.base import InvalidInput

if TYPE_CHECKING:  # pragma: no cover - typing only
    import htcondor2

__all__ = [
    "ASSIGNMENT_LINE",
    "CONTROL_LINE",
    "MAX_JOBS",
    "QUEUE_LINE",
    "JobSpec",
    "Submission",
    "expand_submit",
    "integer_expression",
    "parse_arguments",
    "size_kib",
]

#: One submission may queue at most this many jobs.
MAX_JOBS: Final = 1_000_000

#: Universes the sandbox runs (all of them as local processes).
_UNIVERSES: Final = frozenset({"vanilla", "local", "scheduler"})

#: Macros HTCondor defines itself (lower case); others must be submit commands or item names.
_BUILTIN_MACROS: Final = frozenset(
    {
        "cluster",
        "clusterid",
        "process",
        "procid",
        "node",
        "step",
        "row",
        "item",
        "itemindex",
        "dollar",
        "submit_file",
        "submit_time",
        "year",
        "month",
        "day",
        "full_hostname",
        "hostname",
        "ip_address",
        "opsys",
        "opsysver",
        "opsysandver",
        "arch",
        "uid",
        "username",
        "condorversion",
        "condorplatform",
        "spool",
    }
)

_PROBE_KEY: Final = "canfartuisandboxprobe"
_MACRO = re.compile(r"(?<!\$)\$\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(:[^)]*)?\)")
#: A ``name = value`` (or ``name @= …``) submit command: groups name, operator, value.
ASSIGNMENT_LINE: Final = re.compile(r"^(\+?[A-Za-z_][\w.]*)\s*(@?=)(.*)$", re.DOTALL)
#: A control line (``if``/``elif``/``else``/``endif``/``include``/``error``/``warning``).
CONTROL_LINE: Final = re.compile(r"^(if|elif|else|endif|include|error|warning)\b", re.IGNORECASE)
#: The ``queue`` statement: group 1 is everything after the keyword.
QUEUE_LINE: Final = re.compile(r"^queue\b(.*)$", re.IGNORECASE | re.DOTALL)
_KEYWORD = re.compile(r"\b(from|in|matching)\b", re.IGNORECASE)
_SLICE = re.compile(r"^\[\s*(-?\d*)\s*:\s*(-?\d*)\s*(?::\s*(-?\d*)\s*)?\]")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGTP]?)(?:I?B)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job of a submission, every command expanded and every path absolute."""

    proc: int
    #: Absolute path of the executable (the job ad's ``Cmd``).
    executable: str
    #: The arguments as written after expansion (the job ad's ``Args``).
    arguments: str
    #: The arguments split the way HTCondor splits them.
    argv: tuple[str, ...]
    #: The job's initial directory (``Iwd``): where relative output, error and log paths go.
    iwd: str
    input: str = ""
    output: str = ""
    error: str = ""
    log: str = ""
    transfer_executable: bool = True
    should_transfer_files: bool = True
    #: Absolute paths (or URLs) to copy into the scratch directory.
    transfer_input: tuple[str, ...] = ()
    #: Scratch-relative names to bring back; None: every new or changed top-level file.
    transfer_output: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()
    #: ``getenv``: "" (no), "true" (everything) or a comma list of variable names/patterns.
    getenv: str = ""
    x509_proxy: str = ""
    request_cpus: int = 1
    request_memory_mb: int = 0
    request_disk_kb: int = 0
    batch_name: str = ""
    universe: str = "vanilla"
    requirements: str = ""
    on_hold: bool = False
    #: ``+Attr = value`` / ``MY.Attr = value`` custom attributes, ClassAd literals decoded.
    custom: Mapping[str, object] = field(default_factory=dict)
    #: The item variables of this job's row.
    item: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Submission:
    """What a description expands to for one cluster."""

    cluster: int
    jobs: tuple[JobSpec, ...]
    #: ``batch_name`` when the description sets one, else "".
    batch_name: str
    #: The line of the queue statement (1-based), 0 when there is none.
    queue_line: int


# --------------------------------------------------------------------------- scanning


@dataclass(slots=True)
class _Scan:
    """What a line-by-line pass over the raw text found (for line numbers)."""

    key_lines: dict[str, int] = field(default_factory=dict)
    queue_line: int = 0
    bad_line: tuple[int, str] | None = None
    after_queue: tuple[int, str] | None = None


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(first line number, text) of each logical line, ``\\`` continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        stripped = raw.rstrip()
        if stripped.endswith("\\") and not stripped.lstrip().startswith("#"):
            pending.append(stripped[:-1])
            continue
        pending.append(raw)
        yield start, " ".join(part.strip() for part in pending).strip()
        pending = []
    if pending:
        yield start, " ".join(part.strip() for part in pending).strip()


def _scan(text: str) -> _Scan:
    scan = _Scan()
    heredoc: str | None = None
    in_block = False
    for number, line in _logical_lines(text):
        if heredoc is not None:
            if line == f"@{heredoc}":
                heredoc = None
            continue
        if in_block:
            if ")" in line:
                in_block = False
            continue
        if not line or line.startswith("#"):
            continue
        if scan.queue_line:
            if scan.after_queue is None:
                scan.after_queue = (number, line)
            continue
        queue = QUEUE_LINE.match(line)
        if queue:
            scan.queue_line = number
            rest = queue.group(1)
            in_block = "(" in rest and ")" not in rest[rest.index("(") :]
            continue
        if CONTROL_LINE.match(line):
            continue
        assignment = ASSIGNMENT_LINE.match(line)
        if assignment:
            key = assignment.group(1).lower()
            if key.startswith("+"):
                key = "my." + key[1:]
            scan.key_lines.setdefault(key, number)
            if assignment.group(2) == "@=":
                heredoc = assignment.group(3).strip()
            continue
        if scan.bad_line is None:
            scan.bad_line = (number, line)
    return scan


def _line_of(text: str, needle: str) -> int:
    """First line containing ``needle`` (case-insensitive), 0 when none."""
    lowered = needle.lower()
    for number, line in enumerate(text.splitlines(), start=1):
        if lowered in line.lower():
            return number
    return 0


def _at(line: int, message: str) -> str:
    return f"Line {line}: {message}" if line else message


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- helpers


def _htcondor() -> Any:
    try:
        import htcondor2
    except ImportError as error:  # pragma: no cover - htcondor is a dependency
        raise InvalidInput(
            "The htcondor Python bindings are not installed; cannot parse submit files."
        ) from error
    return htcondor2


def _expand(submit: htcondor2.Submit, key: str) -> str:
    """``Submit.expand`` that returns "" for unset keys and empty expansions."""
    try:
        return str(submit.expand(key))
    except KeyError:
        return ""


def _expand_text(submit: htcondor2.Submit, text: str) -> str:
    submit[_PROBE_KEY] = text
    try:
        return _expand(submit, _PROBE_KEY)
    finally:
        # Keys cannot be deleted; an empty value has no effect.
        submit[_PROBE_KEY] = ""


_BINARY: Final[dict[type, Callable[[int, int], int]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Div: operator.floordiv,
    ast.Mod: operator.mod,
}


def integer_expression(expression: str) -> int:
    """Evaluate an integer expression of literals, + - * / % and parentheses; ValueError."""

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(expression)

    try:
        return walk(ast.parse(expression.strip(), mode="eval"))
    except (SyntaxError, ZeroDivisionError, RecursionError) as error:
        raise ValueError(expression) from error


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"true", "yes", "1", "t", "y"}


def _split_list(value: str) -> list[str]:
    """HTCondor file lists: comma and/or whitespace separated."""
    return [part for part in re.split(r"[,\s]+", value.strip()) if part]


def parse_arguments(value: str) -> tuple[str, ...]:
    """Split ``arguments`` the way HTCondor does.

    New syntax (the whole value in double quotes): whitespace separates arguments, single
    quotes group (``''`` inside them is a literal quote) and ``""`` is a literal double quote.
    Old syntax: whitespace separates, ``\\"`` is a literal double quote. Raises ValueError on an
    unterminated quote.
    """
    text = value.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        body = text[1:-1]
        args: list[str] = []
        current: list[str] = []
        has_token = False
        index = 0
        while index < len(body):
            char = body[index]
            if char == '"':
                if body[index : index + 2] == '""':
                    current.append('"')
                    has_token = True
                    index += 2
                    continue
                raise ValueError("a lone double quote inside the arguments")
            if char == "'":
                has_token = True
                index += 1
                while True:
                    if index >= len(body):
                        raise ValueError("an unterminated single quote in the arguments")
                    if body[index] == "'":
                        if body[index : index + 2] == "''":
                            current.append("'")
                            index += 2
                            continue
                        index += 1
                        break
                    current.append(body[index])
                    index += 1
                continue
            if char.isspace():
                if has_token:
                    args.append("".join(current))
                    current, has_token = [], False
                index += 1
                continue
            current.append(char)
            has_token = True
            index += 1
        if has_token:
            args.append("".join(current))
        return tuple(args)
    return tuple(part.replace('\\"', '"') for part in text.split())


def _parse_environment(value: str) -> list[tuple[str, str]]:
    """``environment``: new syntax ``"A=1 B='x y'"`` or old syntax ``A=1;B=2``."""
    text = value.strip()
    if not text:
        return []
    entries = parse_arguments(text) if text.startswith('"') else tuple(text.split(";"))
    result: list[tuple[str, str]] = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        name, sep, setting = entry.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{entry!r} is not NAME=value")
        result.append((name.strip(), setting))
    return result


def size_kib(value: str, default_unit: str) -> int:
    """``request_memory``/``request_disk`` in KiB: a number with an optional K/M/G/T/P unit.

    ``default_unit`` ("K", "M", …) applies to a bare number; ValueError for anything else.
    """
    match = _MEMORY.match(value)
    if match is None:
        raise ValueError(value)
    number = float(match.group(1))
    unit = (match.group(2) or default_unit).upper()
    factor = {"K": 1.0, "M": 1024.0, "G": 1024.0**2, "T": 1024.0**3, "P": 1024.0**4}[unit]
    return int(number * factor)


def _classad_value(text: str) -> object:
    """Decode a ``+Attr`` value: literals become Python values, expressions stay text."""
    import classad2

    expression = classad2.ExprTree(text)
    value = expression.eval()
    if isinstance(value, str | int | float | bool) and not isinstance(value, classad2.Value):
        return value
    return text.strip()


def _apply_slice(rows: list[dict[str, str]], spec: re.Match[str] | None) -> list[dict[str, str]]:
    if spec is None:
        return rows

    def bound(text: str | None) -> int | None:
        return int(text) if text not in (None, "") else None

    step = bound(spec.group(3))
    if step == 0:
        raise ValueError("a slice step of 0")
    return rows[slice(bound(spec.group(1)), bound(spec.group(2)), step)]


# --------------------------------------------------------------------------- the queue statement


@dataclass(slots=True)
class _Queue:
    count: int
    rows: list[dict[str, str]] | None


def _parse_queue(
    submit: htcondor2.Submit,
    text: str,
    scan: _Scan,
    submit_dir: Path,
    itemdata: Sequence[Mapping[str, str]] | None,
) -> _Queue:
    line = scan.queue_line
    qargs = str(submit.getQArgs() or "").strip()
    keyword = _KEYWORD.search(qargs)
    head = qargs[: keyword.start()].strip() if keyword else qargs
    rest = qargs[keyword.end() :].strip() if keyword else ""

    # head: [count] [var[, var…]]
    count_text = ""
    variables: list[str] = []
    if keyword is None:
        count_text = head
    elif head:
        first, _, others = head.partition(" ")
        names = others if _looks_like_count(first) else head
        count_text = first if _looks_like_count(first) else ""
        variables = [name for name in re.split(r"[,\s]+", names.strip()) if name]
        for name in variables:
            if not _VAR_NAME.match(name):
                raise InvalidInput(_at(line, f"{name!r} is not a valid queue variable name."))
    count = 1
    if count_text:
        expanded = _expand_text(submit, count_text)
        try:
            count = integer_expression(expanded)
        except ValueError:
            raise InvalidInput(
                _at(line, f"the queue count {_short(count_text)!r} is not a whole number.")
            ) from None
    if count < 0:
        raise InvalidInput(_at(line, f"the queue count {count} is negative."))
    if count == 0:
        raise InvalidInput(_at(line, "'queue 0' queues no jobs; nothing to submit."))

    if itemdata is not None:
        rows = _check_itemdata(itemdata)
        return _Queue(count, rows)
    if keyword is None:
        return _Queue(count, None)

    how = keyword.group(1).lower()
    slice_match = _SLICE.match(rest)
    if slice_match:
        rest = rest[slice_match.end() :].strip()
    try:
        if how == "matching":
            rows = _matching(rest, variables, submit_dir, line)
        elif how == "from" and not rest.startswith("("):
            rows = _from_file(rest, variables, submit_dir, line)
        else:
            rows = _inline_items(submit)
        rows = _apply_slice(rows, slice_match)
    except InvalidInput:
        raise
    except ValueError as error:
        message = " ".join(str(error).split()).rstrip(".")
        located = re.match(
            r"^(.*?)\s+(?:for|in) (?:the )?queue command on line (\d+)$", message, re.I
        )
        if located:
            message = _at(int(located.group(2)), f"{located.group(1)} for the queue statement.")
        else:
            message = _at(line, f"bad queue statement ({message}).")
        raise InvalidInput(message) from None
    if not rows:
        raise InvalidInput(_at(line, f"the 'queue … {how}' item list is empty; nothing to submit."))
    return _Queue(count, rows)


def _looks_like_count(token: str) -> bool:
    return bool(token) and (token[0].isdigit() or token.startswith(("$", "(", "-", "+")))


def _check_itemdata(itemdata: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for index, row in enumerate(itemdata):
        if not isinstance(row, Mapping) or not row:
            raise InvalidInput(f"Item data row {index + 1} is not a non-empty mapping.")
        checked: dict[str, str] = {}
        for key, value in row.items():
            if not isinstance(key, str) or not _VAR_NAME.match(key):
                raise InvalidInput(f"Item data row {index + 1}: {key!r} is not a variable name.")
            checked[key] = str(value)
        rows.append(checked)
    if not rows:
        raise InvalidInput("The item data is empty; nothing to submit.")
    return rows


def _inline_items(submit: htcondor2.Submit) -> list[dict[str, str]]:
    items = submit.itemdata()
    if items is None:
        return []
    return [{str(key): str(value) for key, value in row.items()} for row in items]


def _matching(rest: str, variables: list[str], submit_dir: Path, line: int) -> list[dict[str, str]]:
    if len(variables) > 1:
        raise InvalidInput(_at(line, "'queue … matching' takes one variable name."))
    variable = variables[0] if variables else "Item"
    words = rest.split(None, 1)
    kind = ""
    if words and words[0].lower() in ("files", "dirs"):
        kind = words[0].lower()
        rest = words[1] if len(words) > 1 else ""
    rest = rest.strip()
    if rest.startswith("("):
        if not rest.endswith(")"):
            raise InvalidInput(_at(line, "the 'matching (…)' list has no closing ')'."))
        rest = rest[1:-1]
    patterns = _split_list(rest)
    if not patterns:
        raise InvalidInput(_at(line, "'queue … matching' needs at least one file pattern."))
    found: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(submit_dir / pattern)
        matches = sorted(glob.glob(full))
        for match in matches:
            path = Path(match)
            if kind == "files" and not path.is_file():
                continue
            if kind == "dirs" and not path.is_dir():
                continue
            shown = match if os.path.isabs(pattern) else os.path.relpath(match, submit_dir)
            if kind == "dirs" or (not kind and path.is_dir()):
                shown = shown.rstrip("/")
            if shown not in seen:
                seen.add(shown)
                found.append(shown)
    if not found:
        raise InvalidInput(
            _at(line, f"no file in {submit_dir} matches {' '.join(patterns)}; nothing to submit.")
        )
    return [{variable: name} for name in found]


def _from_file(
    rest: str, variables: list[str], submit_dir: Path, line: int
) -> list[dict[str, str]]:
    if rest.endswith("|"):
        raise InvalidInput(
            _at(line, "item data from a command ('… |') is not supported here; list the items.")
        )
    name = rest.strip()
    if not name:
        raise InvalidInput(_at(line, "'queue … from' names no file and has no '(' list."))
    path = Path(name) if os.path.isabs(name) else submit_dir / name
    try:
        content = path.read_text()
    except OSError as error:
        raise InvalidInput(
            _at(line, f"cannot read the item file {path}: {error.strerror or error}.")
        ) from None
    names = ",".join(variables) if variables else ""
    lines = [item for item in content.splitlines() if item.strip() and item.strip() != ")"]
    if not lines:
        return []
    helper = _htcondor().Submit(f"queue {names} from (\n" + "\n".join(lines) + "\n)\n")
    return _inline_items(helper)


# --------------------------------------------------------------------------- validation


def _check_macros(
    submit: htcondor2.Submit,
    raw: Mapping[str, str],
    item_names: Iterable[str],
    count_text: str,
    text: str,
) -> None:
    known = {key.lower() for key in raw} | {name.lower() for name in item_names} | _BUILTIN_MACROS
    probed: dict[str, bool] = {}
    for value in [*raw.values(), count_text]:
        for match in _MACRO.finditer(value):
            name = match.group(1)
            if match.group(2) is not None or name.lower() in known:
                continue
            if name not in probed:
                # Configuration macros ($(OpSys), $(Arch)…) expand to something.
                probed[name] = bool(_expand_text(submit, f"$({name})"))
            if not probed[name]:
                line = _line_of(text, match.group(0)) or _line_of(text, f"$({name}")
                raise InvalidInput(
                    _at(line, f"$({name}) is not defined (no such command or queue variable).")
                )


def _find_key(raw: Mapping[str, str], *names: str) -> str | None:
    lowered = {key.lower(): key for key in raw}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


# --------------------------------------------------------------------------- expansion


def expand_submit(
    description: str,
    *,
    cluster: int,
    submit_dir: Path,
    itemdata: Sequence[Mapping[str, str]] | None = None,
    check_files: bool = True,
) -> Submission:
    """Expand ``description`` into the jobs of cluster ``cluster``.

    ``submit_dir`` is where the description would sit (``condor_submit``'s working directory):
    relative executables, ``matching`` patterns and item files are found there, and it is the
    default ``initialdir``. ``itemdata`` replaces the queue statement's items (like
    ``Schedd.submit(itemdata=…)``). ``check_files`` makes the checks ``condor_submit`` makes
    against the file system (executable exists, output/error/log directories exist).
    """
    if not isinstance(description, str):
        raise InvalidInput("The submit description must be text.")
    submit_dir = Path(submit_dir).expanduser()
    if not submit_dir.is_absolute():
        submit_dir = submit_dir.resolve()
    if check_files and not submit_dir.is_dir():
        raise InvalidInput(f"The submit directory {submit_dir} does not exist.")
    text = description.replace("\r\n", "\n")
    scan = _scan(text)
    if scan.after_queue is not None:
        number, line = scan.after_queue
        raise InvalidInput(
            _at(
                number,
                f"{_short(line)!r} comes after the queue statement; a submission has one "
                "queue statement, at the end.",
            )
        )
    htcondor = _htcondor()
    try:
        submit = htcondor.Submit(text)
    except (ValueError, RuntimeError, TypeError) as error:
        if scan.bad_line is not None:
            number, line = scan.bad_line
            raise InvalidInput(
                _at(number, f"expected 'command = value' or 'queue …', found {_short(line)!r}.")
            ) from None
        raise InvalidInput(f"The submit description does not parse: {error}") from None

    raw = {str(key): str(value) for key, value in submit.items()}
    queue = _parse_queue(submit, text, scan, submit_dir, itemdata)
    item_names: list[str] = []
    for item_row in queue.rows or ():
        for name in item_row:
            if name not in item_names:
                item_names.append(name)
    qargs = str(submit.getQArgs() or "")
    _check_macros(submit, raw, item_names, qargs, text)

    def line_for(*keys: str) -> int:
        for key in keys:
            number = scan.key_lines.get(key.lower())
            if number:
                return number
        return 0

    universe_key = _find_key(raw, "universe")
    universe = raw[universe_key].strip().lower() if universe_key else "vanilla"
    if universe not in _UNIVERSES:
        raise InvalidInput(
            _at(
                line_for("universe"),
                f"universe {universe!r} is not supported here (the sandbox runs vanilla jobs).",
            )
        )
    if _find_key(raw, "executable") is None:
        raise InvalidInput("The submit description has no 'executable' command.")

    rows: list[dict[str, str] | None] = list(queue.rows) if queue.rows is not None else [None]
    total = len(rows) * queue.count
    if total > MAX_JOBS:
        raise InvalidInput(
            _at(
                scan.queue_line, f"{total} jobs is more than one submission may queue ({MAX_JOBS})."
            )
        )

    expander = _Expander(submit, raw, item_names, line_for, check_files)
    jobs: list[JobSpec] = []
    proc = 0
    for index, row in enumerate(rows):
        for step in range(queue.count):
            submit["Cluster"] = submit["ClusterId"] = str(cluster)
            submit["Process"] = submit["ProcId"] = str(proc)
            submit["Step"] = str(step)
            submit["ItemIndex"] = submit["Row"] = str(index)
            if row is not None:
                for name, item in row.items():
                    submit[name] = item
            jobs.append(_job(proc, expander, str(submit_dir), row))
            proc += 1
    batch_name = jobs[0].batch_name if jobs else ""
    return Submission(cluster, tuple(jobs), batch_name, scan.queue_line)


class _Expander:
    """Per-job values of a submission, with everything that does not change cached.

    Commands whose raw value has no ``$`` (and are not item variables) are expanded once;
    parsing results and file-system checks are cached by their text, so a 100 000-job
    submission costs little more than the macro expansion itself.
    """

    def __init__(
        self,
        submit: htcondor2.Submit,
        raw: Mapping[str, str],
        item_names: Iterable[str],
        line_for: Callable[..., int],
        check_files: bool,
    ) -> None:
        self.submit = submit
        self.raw = raw
        self.line_for = line_for
        self.check_files = check_files
        self.lowered = {key.lower(): key for key in raw}
        self.dynamic = {key for key, value in raw.items() if "$" in value}
        self.items = {name.lower() for name in item_names}
        self.custom_keys = [
            key for key in raw if key.lower().startswith("my.") and len(key) > len("my.")
        ]
        self._static: dict[str, str] = {}
        self._dirs: dict[str, bool] = {}
        self._files: dict[str, bool] = {}
        self._custom: dict[tuple[str, str], object] = {}

    def value(self, key: str) -> str:
        lowered = key.lower()
        if lowered in self.items:
            return _expand(self.submit, key)
        actual = self.lowered.get(lowered)
        if actual is None:
            return ""
        if actual in self.dynamic:
            return _expand(self.submit, actual)
        if actual not in self._static:
            self._static[actual] = _expand(self.submit, actual)
        return self._static[actual]

    def first(self, *keys: str) -> str:
        for key in keys:
            found = self.value(key)
            if found:
                return found
        return ""

    def is_dir(self, path: str) -> bool:
        if path not in self._dirs:
            self._dirs[path] = os.path.isdir(path)
        return self._dirs[path]

    def is_file(self, path: str) -> bool:
        if path not in self._files:
            self._files[path] = os.path.isfile(path)
        return self._files[path]

    def custom(self, key: str) -> object:
        text = self.value(key)
        cached = self._custom.get((key, text), _MISSING)
        if cached is _MISSING:
            cached = _classad_value(text) if text else ""
            self._custom[(key, text)] = cached
        return cached

    def fail(self, keys: Sequence[str], message: str) -> InvalidInput:
        return InvalidInput(_at(self.line_for(*keys), message))


_MISSING: Final = object()


def _absolute(text: str, base: str) -> str:
    path = os.path.expanduser(text)
    return path if os.path.isabs(path) else os.path.join(base, path)


@functools.lru_cache(maxsize=4096)
def _cached_arguments(value: str) -> tuple[str, ...]:
    return parse_arguments(value)


@functools.lru_cache(maxsize=1024)
def _cached_environment(value: str) -> tuple[tuple[str, str], ...]:
    return tuple(_parse_environment(value))


@functools.lru_cache(maxsize=1024)
def _cached_integer(value: str) -> int:
    return integer_expression(value)


@functools.lru_cache(maxsize=1024)
def _cached_memory(value: str, default_unit: str) -> int:
    return size_kib(value, default_unit)


def _job(proc: int, ex: _Expander, submit_dir: str, row: Mapping[str, str] | None) -> JobSpec:
    iwd_text = ex.first("initialdir", "initial_dir", "iwd")
    iwd = _absolute(iwd_text, submit_dir) if iwd_text else submit_dir
    if ex.check_files and not ex.is_dir(iwd):
        raise ex.fail(("initialdir", "initial_dir", "iwd"), f"initialdir {iwd} does not exist.")

    executable_text = ex.value("executable").strip()
    if not executable_text:
        raise ex.fail(("executable",), "the executable is empty.")
    # condor_submit finds a relative executable in its working directory, not initialdir.
    executable = _absolute(executable_text, submit_dir)
    transfer_executable = _truthy(ex.value("transfer_executable") or "true")
    if ex.check_files and transfer_executable and not ex.is_file(executable):
        raise ex.fail(("executable",), f"the executable {executable} does not exist.")

    arguments = ex.first("arguments", "args")
    try:
        argv = _cached_arguments(arguments)
    except ValueError as error:
        raise ex.fail(("arguments", "args"), f"bad arguments: {error}.") from None

    files: dict[str, str] = {}
    for name, keys in (
        ("output", ("output", "out")),
        ("error", ("error", "err")),
        ("log", ("log",)),
        ("input", ("input", "in")),
    ):
        text = ex.first(*keys)
        files[name] = _absolute(text, iwd) if text else ""
        if ex.check_files and files[name] and name != "input":
            parent = os.path.dirname(files[name])
            if not ex.is_dir(parent):
                raise ex.fail(keys, f"cannot write {files[name]}: {parent} does not exist.")

    should = (ex.value("should_transfer_files") or "YES").strip().upper()
    # A trailing "/" means "the directory's contents" (HTCondor's rule), so it is kept.
    transfer_input = tuple(
        item
        if "://" in item
        else _absolute(item.rstrip("/") or "/", iwd) + ("/" if item.endswith("/") else "")
        for item in _split_list(ex.value("transfer_input_files"))
    )
    output_list = ex.value("transfer_output_files")
    transfer_output = tuple(_split_list(output_list)) if output_list.strip() else None

    try:
        environment = _cached_environment(ex.first("environment", "env"))
    except ValueError as error:
        raise ex.fail(("environment", "env"), f"bad environment: {error}.") from None
    getenv = ex.value("getenv").strip()
    if getenv.lower() in ("false", "no", "0", "f", "n"):
        getenv = ""
    elif _truthy(getenv):
        getenv = "true"

    requests: dict[str, int] = {}
    for key, unit in (("request_memory", "M"), ("request_disk", "K")):
        text = ex.value(key)
        try:
            requests[key] = (
                _cached_memory(text, unit) // (1024 if unit == "M" else 1) if text else 0
            )
        except ValueError:
            raise ex.fail((key,), f"{key} = {_short(text)!r} is not a size like 2G.") from None
    cpus_text = ex.value("request_cpus") or "1"
    try:
        cpus = _cached_integer(cpus_text)
    except ValueError:
        raise ex.fail(
            ("request_cpus",), f"request_cpus = {_short(cpus_text)!r} is not a number."
        ) from None
    if cpus < 1:
        raise ex.fail(("request_cpus",), "request_cpus must be at least 1.")

    custom: dict[str, object] = {}
    for key in ex.custom_keys:
        attribute = key[len("my.") :]
        try:
            custom[attribute] = ex.custom(key)
        except Exception:
            raise ex.fail(
                (key,), f"+{attribute} = {_short(ex.value(key))!r} is not a ClassAd expression."
            ) from None

    proxy = ex.value("x509userproxy")
    return JobSpec(
        proc=proc,
        executable=executable,
        arguments=arguments,
        argv=argv,
        iwd=iwd,
        input=files["input"],
        output=files["output"],
        error=files["error"],
        log=files["log"],
        transfer_executable=transfer_executable,
        should_transfer_files=should != "NO",
        transfer_input=transfer_input,
        transfer_output=transfer_output,
        environment=environment,
        getenv=getenv,
        x509_proxy=_absolute(proxy, iwd) if proxy else "",
        request_cpus=cpus,
        request_memory_mb=requests["request_memory"],
        request_disk_kb=requests["request_disk"],
        batch_name=ex.first("batch_name", "jobbatchname").strip().strip('"'),
        universe=(ex.value("universe") or "vanilla").strip().lower(),
        requirements=ex.value("requirements").strip(),
        on_hold=_truthy(ex.value("hold") or "false"),
        custom=custom,
        item=dict(row or {}),
    )


def matches_getenv(name: str, patterns: str) -> bool:
    """Whether an environment variable passes ``getenv`` (``true`` or a list of patterns)."""
    if patterns == "true":
        return True
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in _split_list(patterns))
