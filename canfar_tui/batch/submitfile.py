"""A line-accurate view of an HTCondor submit file: its commands and its queue statement.

:func:`scan_submit_file` reads the text the way ``condor_submit`` does (``\\`` continuations
joined, ``#`` comments and blank lines skipped, ``name @= END`` … ``END`` blocks taken whole)
and records, for every command, the lines it spans. The rewrite (:mod:`canfar_tui.batch.rewrite`)
replaces commands in place with that span and the lint (:mod:`canfar_tui.batch.lint`) reports
each finding on the right line. The grammar pieces (what a command, a control line and a queue
statement look like) are the sandbox executor's own, from
:mod:`canfar_tui.clients.queue.submit_language`, so the two never disagree about a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from canfar_tui.clients.queue.submit_language import ASSIGNMENT_LINE, CONTROL_LINE, QUEUE_LINE

__all__ = ["QueueStatement", "SubmitCommand", "SubmitFile", "scan_submit_file"]

_KEYWORD: Final = re.compile(r"\b(from|in|matching)\b", re.IGNORECASE)
_SLICE: Final = re.compile(r"^\[[^\]]*\]\s*")
_COMMAND_WORDS: Final = re.compile(r"^(error|warning)\s*=", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SubmitCommand:
    """One ``name = value`` command and where it sits (1-based, inclusive lines)."""

    #: The name as written (``Executable``, ``+VMImage``, ``MY.Foo``).
    name: str
    value: str
    first_line: int
    last_line: int
    #: ``name @= END`` … ``END``: the value spans several lines.
    heredoc: bool = False

    @property
    def key(self) -> str:
        """The name in lower case, ``+Attr`` spelt ``my.attr`` like HTCondor does."""
        lowered = self.name.lower()
        return "my." + lowered[1:] if lowered.startswith("+") else lowered

    @property
    def is_custom_attribute(self) -> bool:
        """``+Attr`` or ``MY.Attr``: goes straight into the job ClassAd."""
        return self.key.startswith("my.")


@dataclass(frozen=True, slots=True)
class QueueStatement:
    """The ``queue`` statement: its lines, its kind and the inline items it lists."""

    first_line: int
    last_line: int
    #: Everything after ``queue`` on the first logical line.
    arguments: str
    #: ``from``, ``in``, ``matching`` or "" (``queue`` / ``queue N``).
    keyword: str = ""
    #: The inline ``( … )`` list, if the statement has one; None when items come from elsewhere.
    inline_items: tuple[str, ...] | None = None
    #: Whether an inline ``(`` list was closed with ``)``.
    closed: bool = True


@dataclass(frozen=True, slots=True)
class SubmitFile:
    """What :func:`scan_submit_file` found."""

    lines: tuple[str, ...]
    commands: tuple[SubmitCommand, ...]
    queue: QueueStatement | None
    #: Lines that are neither a command, a control line, a comment nor the queue statement.
    bad_lines: tuple[tuple[int, str], ...] = ()
    #: Lines after the queue statement (a submit file has one queue statement, at the end).
    after_queue: tuple[tuple[int, str], ...] = ()
    #: ``if``/``else``/``include``/``error``… lines as (line, text); the rewrite leaves them.
    control_lines: tuple[tuple[int, str], ...] = field(default=())

    def find(self, key: str) -> SubmitCommand | None:
        """The last command setting ``key`` (case-insensitive; ``+X`` is ``my.x``)."""
        wanted = key.lower()
        if wanted.startswith("+"):
            wanted = "my." + wanted[1:]
        found = None
        for command in self.commands:
            if command.key == wanted:
                found = command
        return found

    def find_any(self, *keys: str) -> SubmitCommand | None:
        """The first of ``keys`` (synonyms such as ``arguments``/``args``) that is set."""
        for key in keys:
            command = self.find(key)
            if command is not None:
                return command
        return None


def _logical(lines: tuple[str, ...]) -> Iterator[tuple[int, int, str]]:
    """(first line, last line, joined text) of each logical line (``\\`` continuations)."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        if not pending:
            start = number
        stripped = raw.rstrip()
        if stripped.endswith("\\") and not stripped.lstrip().startswith("#"):
            pending.append(stripped[:-1])
            continue
        pending.append(raw)
        yield start, number, " ".join(part.strip() for part in pending).strip()
        pending = []
    if pending:
        yield start, len(lines), " ".join(part.strip() for part in pending).strip()


def scan_submit_file(text: str) -> SubmitFile:
    """Scan ``text`` (any newline style) into commands with their lines and the queue."""
    lines = tuple(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    if lines and lines[-1] == "":
        lines = lines[:-1]
    commands: list[SubmitCommand] = []
    bad: list[tuple[int, str]] = []
    after: list[tuple[int, str]] = []
    control: list[tuple[int, str]] = []
    queue: QueueStatement | None = None
    heredoc: tuple[str, str, int, list[str]] | None = None
    items: list[str] | None = None
    queue_start = 0
    queue_args = ""
    keyword = ""

    for first, last, line in _logical(lines):
        if heredoc is not None:
            name, end_marker, start, body = heredoc
            if line == f"@{end_marker}" or line == end_marker:
                commands.append(SubmitCommand(name, "\n".join(body), start, last, heredoc=True))
                heredoc = None
            else:
                body.append(lines[first - 1])
            continue
        if items is not None:
            closing = line.find(")")
            if closing >= 0:
                before = line[:closing].strip()
                if before and not before.startswith("#"):
                    items.append(before)
                queue = QueueStatement(queue_start, last, queue_args, keyword, tuple(items))
                items = None
            elif line and not line.startswith("#"):
                items.append(line)
            continue
        if not line or line.startswith("#"):
            continue
        if queue is not None:
            after.append((first, line))
            continue
        queue_match = QUEUE_LINE.match(line)
        if queue_match:
            queue_start, queue_args = first, queue_match.group(1).strip()
            found = _KEYWORD.search(queue_args)
            keyword = found.group(1).lower() if found else ""
            rest = queue_args[found.end() :].strip() if found else ""
            rest = _SLICE.sub("", rest)
            if keyword in ("from", "in", "matching") and rest.startswith("("):
                inside = rest[1:]
                closing = inside.find(")")
                if closing >= 0:
                    listed = [inside[:closing].strip()] if inside[:closing].strip() else []
                    if keyword != "from":  # ``in (a, b)`` and ``matching (*.fz)`` list on a line
                        listed = [p for p in re.split(r"[,\s]+", inside[:closing]) if p]
                    queue = QueueStatement(first, last, queue_args, keyword, tuple(listed))
                else:
                    items = [inside.strip()] if inside.strip() else []
            else:
                queue = QueueStatement(first, last, queue_args, keyword, None)
            continue
        assignment = ASSIGNMENT_LINE.match(line)
        if CONTROL_LINE.match(line) and not (assignment and _COMMAND_WORDS.match(line)):
            # ``error = x.err`` is the error file; ``error : text`` stops the file.
            control.append((first, line))
            continue
        if assignment:
            name, operator, value = assignment.groups()
            if operator == "@=":
                heredoc = (name, value.strip(), first, [])
                continue
            commands.append(SubmitCommand(name, value.strip(), first, last))
            continue
        bad.append((first, line))

    if items is not None:  # "queue … from (" never closed
        queue = QueueStatement(
            queue_start, len(lines), queue_args, keyword, tuple(items), closed=False
        )
    return SubmitFile(lines, tuple(commands), queue, tuple(bad), tuple(after), tuple(control))
