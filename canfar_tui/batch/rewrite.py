"""What ``canfar_submit`` does to a submit file, as a pure function with a list of changes.

``canfar_submit JOB_FILE VM_IMAGE VM_FLAVOR`` (and its 0.4 successor) does not submit the file
as written: it adds what CANFAR's batch system needs to boot a VM of the chosen snapshot and
flavor and run the jobs there. :func:`canfar_description` does the same rewrite on the text and
returns the new text plus one :class:`Change` per command it added or replaced, so the Submit
screen and ``canfar-tui submit --dry-run`` can show exactly what will be submitted:

* ``universe = vanilla`` (CANFAR batch runs vanilla jobs on the VMs);
* ``Requirements = group_name =?= "canfar" && Arch == "x86_64"``: what the current
  ``canfar_submit`` adds. The cloud scheduler ignores a job whose Requirements do not name
  ``group_name`` (a "foreign job"): no VM would ever boot for it and it would stay idle;
* ``+VMImage`` and ``+VMInstanceType``: the snapshot and flavor the cloud scheduler boots;
* ``request_cpus``, ``request_memory``, ``request_disk`` from the flavor when the file does not
  set them (values that fit are kept: several jobs may share a VM);
* ``should_transfer_files = YES`` and ``when_to_transfer_output = ON_EXIT_OR_EVICT``: the VMs
  share no file system with the submit host, so inputs go with the job and outputs come back;
* ``x509userproxy``: the CADC proxy certificate, so that ``vcp`` in the job can write to
  VOSpace (only when a certificate is present and the file names none).

Replaced commands stay where they were; added ones go in one commented block just before the
queue statement. Nothing here checks the file: that is :mod:`canfar_tui.batch.lint`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from canfar_tui.batch.canfar_submit import CANFAR_REQUIREMENTS
from canfar_tui.batch.resources import (
    flavor_requests,
    parse_request_cpus,
    parse_request_disk_kb,
    parse_request_memory_mb,
    scratch_gb,
)
from canfar_tui.batch.submitfile import SubmitCommand, scan_submit_file
from canfar_tui.models import Flavor

__all__ = ["ADDED_BLOCK_HEADER", "Change", "Rewrite", "canfar_description"]

#: The comment line that opens the block of added commands.
ADDED_BLOCK_HEADER: Final = "# Added for CANFAR batch by canfar-tui (what canfar_submit adds):"


@dataclass(frozen=True, slots=True)
class Change:
    """One command the rewrite added or replaced (or deliberately kept)."""

    #: 1-based line in the rewritten text.
    line: int
    #: ``added``, ``replaced`` or ``kept``.
    action: str
    #: The command's name as written in the new text.
    command: str
    value: str
    #: The value it replaced (``replaced``) or kept (``kept``); None when added.
    previous: str | None
    #: Why, in a few words for the preview.
    reason: str

    def __str__(self) -> str:
        if self.action == "added":
            return f"line {self.line}: + {self.command} = {self.value}  ({self.reason})"
        if self.action == "replaced":
            return (
                f"line {self.line}: ~ {self.command} = {self.value} "
                f"(was {self.previous}; {self.reason})"
            )
        return f"line {self.line}:   {self.command} = {self.value} kept ({self.reason})"


@dataclass(frozen=True, slots=True)
class Rewrite:
    """The rewritten submit description and what changed."""

    text: str
    changes: tuple[Change, ...]
    image: str
    flavor: Flavor

    @property
    def changed_lines(self) -> frozenset[int]:
        """Lines of :attr:`text` that were added or replaced (for highlighting)."""
        return frozenset(
            change.line for change in self.changes if change.action in ("added", "replaced")
        )


@dataclass(slots=True)
class _Plan:
    """A command the rewrite wants, and what to do with an existing one."""

    name: str
    value: str
    reason: str
    #: ``set`` (add or replace), ``default`` (add only when absent).
    mode: str
    #: Synonyms that count as the command being present.
    keys: tuple[str, ...]
    keep_reason: str = ""


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fits(command: SubmitCommand, limit: int, parse: Callable[[str], int]) -> bool | None:
    """Whether a request_* value fits ``limit``; None when it cannot be read."""
    try:
        value = parse(command.value)
    except (ValueError, ZeroDivisionError):
        return None
    return value <= limit


def canfar_description(
    text: str,
    image: str,
    flavor: Flavor,
    *,
    proxy: Path | None = None,
) -> Rewrite:
    """Rewrite ``text`` for CANFAR batch with snapshot ``image`` and ``flavor``.

    ``proxy`` is the user's proxy certificate (``~/.ssl/cadcproxy.pem``); it is named in
    ``x509userproxy`` unless the file already names one. The result is deterministic: the
    same inputs always give the same text.
    """
    scanned = scan_submit_file(text)
    requests = flavor_requests(flavor)
    plans: list[_Plan] = [
        _Plan(
            "universe",
            "vanilla",
            "CANFAR batch runs vanilla jobs on VMs",
            "set",
            ("universe",),
        ),
        _Plan(
            "Requirements",
            CANFAR_REQUIREMENTS,
            "the cloud scheduler boots VMs only for jobs of group canfar",
            "set",
            ("requirements",),
        ),
        _Plan("+VMImage", _quoted(image), "the snapshot the VMs boot", "set", ("+vmimage",)),
        _Plan(
            "+VMInstanceType",
            _quoted(flavor.name),
            "the flavor of the VMs",
            "set",
            ("+vminstancetype",),
        ),
    ]
    for name, value, limit, parse, unit in (
        ("request_cpus", str(requests.cpus), flavor.vcpus, parse_request_cpus, "CPUs"),
        (
            "request_memory",
            requests.memory_text,
            flavor.ram_mb,
            parse_request_memory_mb,
            "MB of RAM",
        ),
        (
            "request_disk",
            requests.disk_text,
            scratch_gb(flavor) * 1024 * 1024,
            parse_request_disk_kb,
            "GB of scratch",
        ),
    ):
        existing = scanned.find(name)
        size = {
            "request_cpus": flavor.vcpus,
            "request_memory": flavor.ram_mb,
            "request_disk": scratch_gb(flavor),
        }[name]
        fits = _fits(existing, limit, parse) if existing is not None else None
        keep_reason = {
            True: f"fits {flavor.name}",
            False: f"more than {flavor.name} has",
            None: "not a value canfar-tui can read",
        }[fits]
        plans.append(
            _Plan(
                name,
                value,
                f"{flavor.name} has {size} {unit}",
                "default",
                (name,),
                keep_reason=keep_reason,
            )
        )
    plans += [
        _Plan(
            "should_transfer_files",
            "YES",
            "the VMs share no file system with the submit host",
            "set",
            ("should_transfer_files",),
        ),
        _Plan(
            "when_to_transfer_output",
            "ON_EXIT_OR_EVICT",
            "bring outputs back even when a VM goes away",
            "default",
            ("when_to_transfer_output",),
            keep_reason="as written",
        ),
    ]
    if proxy is not None:
        plans.append(
            _Plan(
                "x509userproxy",
                str(proxy),
                "the CADC proxy certificate, for vcp to VOSpace",
                "default",
                ("x509userproxy",),
                keep_reason="the file names its own certificate",
            )
        )

    # What happens to each plan: replace an existing command in place, keep it, or add it.
    replace: dict[int, tuple[_Plan, SubmitCommand]] = {}
    kept: list[tuple[_Plan, SubmitCommand]] = []
    added: list[_Plan] = []
    for plan in plans:
        existing = scanned.find_any(*plan.keys)
        if existing is None:
            added.append(plan)
        elif plan.mode == "default" or _same(plan, existing):
            kept.append((plan, existing))
        else:
            replace[existing.first_line] = (plan, existing)

    new_lines: list[str] = []
    changes: list[Change] = []
    #: old line number -> new line number, for the kept commands.
    moved: dict[int, int] = {}
    skip_until = 0
    queue_line = scanned.queue.first_line if scanned.queue is not None else None

    def emit_added() -> None:
        if not added:
            return
        if new_lines and new_lines[-1].strip():
            new_lines.append("")
        new_lines.append(ADDED_BLOCK_HEADER)
        width = max(len(plan.name) for plan in added)
        for plan in added:
            new_lines.append(f"{plan.name.ljust(width)} = {plan.value}")
            changes.append(
                Change(len(new_lines), "added", plan.name, plan.value, None, plan.reason)
            )
        new_lines.append("")

    for number, line in enumerate(scanned.lines, start=1):
        if number <= skip_until:
            continue
        if number == queue_line:
            emit_added()
            added = []
        if number in replace:
            plan, existing = replace[number]
            new_lines.append(f"{existing.name} = {plan.value}")
            changes.append(
                Change(
                    len(new_lines),
                    "replaced",
                    existing.name,
                    plan.value,
                    existing.value,
                    plan.reason,
                )
            )
            skip_until = existing.last_line
            continue
        moved[number] = len(new_lines) + 1
        new_lines.append(line)
    emit_added()

    for plan, existing in kept:
        changes.append(
            Change(
                moved.get(existing.first_line, existing.first_line),
                "kept",
                existing.name,
                existing.value,
                existing.value,
                plan.keep_reason or "as written",
            )
        )
    changes.sort(key=lambda change: change.line)
    while new_lines and not new_lines[-1].strip():
        new_lines.pop()
    return Rewrite("\n".join(new_lines) + "\n", tuple(changes), image, flavor)


def _same(plan: _Plan, existing: SubmitCommand) -> bool:
    """Whether the file already says what the plan would write (no change to show)."""
    return _normal(existing.value) == _normal(plan.value)


def _normal(value: str) -> str:
    return " ".join(value.split()).strip('"').lower()


def describe_changes(changes: Sequence[Change]) -> list[str]:
    """One line per change, for the command line and the preview."""
    return [str(change) for change in changes]


def numbered_lines(rewrite: Rewrite) -> list[tuple[int, str, str]]:
    """(line number, marker, text) for each line of the rewritten text.

    The marker is ``+`` for an added command, ``~`` for a replaced one and a space otherwise.
    """
    markers = {
        change.line: "+" if change.action == "added" else "~"
        for change in rewrite.changes
        if change.action in ("added", "replaced")
    }
    return [
        (number, markers.get(number, " "), line)
        for number, line in enumerate(rewrite.text.splitlines(), start=1)
    ]
