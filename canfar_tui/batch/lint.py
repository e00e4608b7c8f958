"""Check a submit file before it goes to CANFAR's batch system; every finding has its line.

:func:`lint_submit` reports, each with a 1-based line number (0 when it concerns the whole
file):

* **errors** (nothing is submitted while there is one): a line that is not a command, a
  command after the queue statement, no queue statement, a ``queue … from`` list that is
  empty or never closed, no ``executable`` or one that does not exist, ``Requirements``,
  ``+VMAMI`` or ``+VMInstanceType`` (``canfar_submit`` generates them and refuses a file that
  sets them), a ``request_*`` larger than the flavor (the jobs would stay idle forever), and
  anything ``condor_submit`` itself would reject (an undefined ``$(macro)``, a bad size, a
  missing output directory…), found by expanding the file the way the sandbox executor does
  (:func:`canfar_tui.clients.queue.submit_language.expand_submit`);
* **warnings**: a command ``condor_submit`` does not know and nothing uses (HTCondor would
  ignore it: usually a typo; the nearest known command is suggested), an executable without
  its execute bit, a universe other than vanilla, ``should_transfer_files = NO``, a persistent
  (``p…``) flavor, a ``+VMImage`` that differs from the chosen snapshot, a missing or expired
  proxy certificate.

The expansion also gives the dry run: the jobs the file queues (:attr:`LintReport.jobs`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from canfar_tui.batch.resources import (
    parse_request_cpus,
    parse_request_disk_kb,
    parse_request_memory_mb,
    scratch_gb,
)
from canfar_tui.batch.submitfile import SubmitFile, scan_submit_file
from canfar_tui.clients.base import InvalidInput
from canfar_tui.clients.queue.submit_language import JobSpec, expand_submit
from canfar_tui.models import Flavor

__all__ = ["KNOWN_COMMANDS", "LintIssue", "LintReport", "Severity", "lint_submit"]

Severity = Literal["error", "warning"]
_Add = Callable[[int, Severity, str], None]

#: Submit commands ``condor_submit`` understands (lower case; synonyms included).
KNOWN_COMMANDS: Final = frozenset(
    {
        "accounting_group", "accounting_group_user", "allow_startup_script",
        "allowed_execute_duration", "allowed_job_duration", "append_files", "args",
        "arguments", "batch_name", "batch_project", "buffer_block_size", "buffer_size",
        "concurrency_limits", "concurrency_limits_expr", "container_image",
        "container_service_names", "container_target_dir", "copy_to_spool", "coresize",
        "cron_day_of_month", "cron_day_of_week", "cron_hour", "cron_minute", "cron_month",
        "cron_prep_time", "cron_window", "dagman_log", "deferral_prep_time", "deferral_time",
        "deferral_window", "description", "docker_image", "docker_network_type",
        "docker_override_entrypoint", "docker_pull_policy", "dont_encrypt_input_files",
        "dont_encrypt_output_files", "email_attributes", "encrypt_execute_directory",
        "encrypt_input_files", "encrypt_output_files", "env", "environment", "err", "error",
        "executable", "file_remaps", "getenv", "gpus_maximum_capability",
        "gpus_maximum_memory", "gpus_maximum_runtime", "gpus_minimum_capability",
        "gpus_minimum_memory", "gpus_minimum_runtime", "hold", "hold_kill_sig", "image_size",
        "in", "initial_dir", "initialdir", "input", "iwd", "jar_files", "java_vm_args",
        "job_ad_information_attrs", "job_lease_duration", "job_machine_attrs",
        "job_machine_attrs_history_length", "job_max_vacate_time", "jobbatchname",
        "jobprio", "keep_claim_idle", "kill_sig", "kill_sig_timeout", "launcher_image",
        "leave_in_queue", "load_profile", "local_files", "log", "log_xml", "machine_count",
        "manifest", "manifest_dir", "match_list_length", "max_idle", "max_job_retirement_time",
        "max_materialize", "max_retries", "max_transfer_input_mb", "max_transfer_output_mb",
        "next_job_start_delay", "nice_user", "noop_job", "noop_job_exit_code",
        "noop_job_exit_signal", "notification", "notify_user", "on_exit_hold",
        "on_exit_hold_reason", "on_exit_hold_subcode", "on_exit_remove", "out", "output",
        "output_destination", "periodic_hold", "periodic_hold_reason", "periodic_hold_subcode",
        "periodic_release", "periodic_remove", "periodic_vacate", "preserve_relative_paths",
        "priority", "rank", "remove_kill_sig", "request_cpus", "request_disk",
        "request_gpus", "request_memory", "require_gpus", "requirements", "retry_until",
        "run_as_owner", "scitokens_file", "should_transfer_files", "skip_filechecks",
        "stack_size", "stream_error", "stream_input", "stream_output", "submit_event_notes",
        "success_exit_code", "transfer_container", "transfer_error", "transfer_executable",
        "transfer_input", "transfer_input_files", "transfer_output", "transfer_output_files",
        "transfer_output_remaps", "transfer_plugins", "ulog_execute_attrs", "universe",
        "use_oauth_services", "use_scitokens", "use_x509userproxy", "vm_checkpoint",
        "vm_disk", "vm_macaddr", "vm_memory", "vm_networking", "vm_networking_type",
        "vm_no_output_vm", "vm_type", "vm_vcpus", "want_docker", "want_graceful_removal",
        "want_io_proxy", "want_remote_io", "want_ssh_to_job", "when_to_transfer_output",
        "x509userproxy",
    }
)  # fmt: skip

#: Custom attributes canfar_submit generates and refuses in a user's file, with the reason.
_REFUSED_ATTRIBUTES: Final = {
    "my.vmami": "canfar_submit generates +VMAMI from the VM image",
    "my.vminstancetype": "canfar_submit generates +VMInstanceType from the flavor you choose",
}

#: The conditions HTCondor's ``if`` accepts (it has no general expressions).
_CONDITION: Final = re.compile(
    r"^(?:!\s*)?(?:"
    r"defined\s+\S+"
    r"|version\s*(?:[<>]=?|==)\s*\d+\.\d+(?:\.\d+)?"
    r"|true|false|yes|no|\d+"
    r"|\$\([A-Za-z_][A-Za-z0-9_.]*(?::[^)]*)?\)"
    r")\s*$",
    re.IGNORECASE,
)
_MACRO_USE: Final = re.compile(r"\$\(\s*([A-Za-z_][A-Za-z0-9_.]*)")
_LINE_PREFIX: Final = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class LintIssue:
    """One finding: where (1-based line, 0 for the whole file), how bad, and what."""

    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class LintReport:
    """Every finding (by line) and the dry run: the jobs the file queues."""

    issues: tuple[LintIssue, ...]
    jobs: tuple[JobSpec, ...] = ()

    @property
    def errors(self) -> tuple[LintIssue, ...]:
        return tuple(issue for issue in self.issues if issue.severity == "error")

    @property
    def warnings(self) -> tuple[LintIssue, ...]:
        return tuple(issue for issue in self.issues if issue.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when nothing stops a submission (warnings allowed)."""
        return not self.errors

    def summary(self) -> str:
        """``"2 errors, 1 warning"`` or ``"no problem found"``."""
        errors, warnings = len(self.errors), len(self.warnings)
        if not errors and not warnings:
            return "no problem found"
        parts = []
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        if warnings:
            parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        return ", ".join(parts)


def lint_submit(
    text: str,
    *,
    submit_dir: Path,
    flavor: Flavor | None = None,
    image: str | None = None,
    proxy_problem: str | None = None,
    expand: bool = True,
) -> LintReport:
    """Check ``text`` as a submit file sitting in ``submit_dir``.

    ``flavor`` and ``image`` are the choices the file will be submitted with (requests are
    checked against the flavor); ``proxy_problem`` is a one-line reason the proxy certificate
    cannot be used (missing, expired), reported as a warning. ``expand`` runs the full
    expansion (``htcondor2`` is imported then) for the deeper checks and the dry run.
    """
    scanned = scan_submit_file(text)
    issues: list[LintIssue] = []

    def add(line: int, severity: Severity, message: str) -> None:
        issues.append(LintIssue(line, severity, message))

    for number, line in scanned.bad_lines:
        add(number, "error", f"expected 'command = value' or 'queue …', found {_short(line)!r}.")
    for number, line in scanned.after_queue:
        add(
            number,
            "error",
            f"{_short(line)!r} comes after the queue statement; the queue statement must be last.",
        )
    control_ok = _check_control(scanned, add)
    _check_queue(scanned, add)
    _check_executable(scanned, submit_dir, add)
    _check_commands(scanned, add)
    _check_canfar(scanned, image, flavor, add)
    if proxy_problem:
        add(0, "warning", proxy_problem)

    jobs: tuple[JobSpec, ...] = ()
    # A conditional HTCondor cannot parse makes it print to the terminal (fd 2): the
    # expansion only sees files whose if/else/endif lines are sound.
    if expand and control_ok:
        try:
            submission = expand_submit(text, cluster=0, submit_dir=submit_dir, check_files=True)
        except InvalidInput as error:
            where, message = _split_line(error.message)
            already = {issue.line for issue in issues if issue.severity == "error"}
            if where not in already and not (where == 0 and already):
                add(where, "error", message)
        else:
            jobs = submission.jobs
    issues.sort(key=lambda issue: (issue.line, issue.severity != "error"))
    return LintReport(tuple(issues), jobs)


# --------------------------------------------------------------------------- the checks


def _check_control(scanned: SubmitFile, add: _Add) -> bool:
    """if/elif/else/endif balance and conditions, include, error and warning lines.

    Returns False when a line would make HTCondor's parser fail.
    """
    sound = True
    open_ifs: list[int] = []
    for number, line in scanned.control_lines:
        word, _, rest = line.partition(" ")
        word = word.lower()
        rest = rest.strip()
        if word == "if":
            open_ifs.append(number)
            if not _CONDITION.match(rest):
                sound = False
                add(number, "error", f"HTCondor cannot evaluate 'if {_short(rest)}'.")
        elif word in ("elif", "else"):
            if not open_ifs:
                sound = False
                add(number, "error", f"'{word}' without a matching 'if'.")
            elif word == "elif" and not _CONDITION.match(rest):
                sound = False
                add(number, "error", f"HTCondor cannot evaluate 'elif {_short(rest)}'.")
        elif word == "endif":
            if not open_ifs:
                sound = False
                add(number, "error", "'endif' without a matching 'if'.")
            else:
                open_ifs.pop()
        elif word == "include":
            sound = False
            add(
                number,
                "error",
                "'include' is not supported here: put the included commands in this file.",
            )
        elif word == "error":
            sound = False
            add(number, "error", f"the file stops here: {rest.lstrip(':').strip()}")
        elif word == "warning":
            add(number, "warning", rest.lstrip(":").strip() or "a warning statement")
    for number in open_ifs:
        sound = False
        add(number, "error", "this 'if' has no 'endif'.")
    return sound


def _check_queue(scanned: SubmitFile, add: _Add) -> None:
    queue = scanned.queue
    if queue is None:
        add(0, "error", "there is no queue statement: no job would be queued.")
        return
    if not queue.closed:
        add(queue.first_line, "error", f"the 'queue … {queue.keyword} (' list has no ')'.")
        return
    if queue.keyword and queue.inline_items is not None and not queue.inline_items:
        add(
            queue.first_line,
            "error",
            f"the 'queue … {queue.keyword}' list is empty: no job would be queued.",
        )


def _check_executable(scanned: SubmitFile, submit_dir: Path, add: _Add) -> None:
    command = scanned.find("executable")
    if command is None:
        add(0, "error", "there is no 'executable' command: HTCondor has nothing to run.")
        return
    value = command.value.strip().strip('"')
    if not value:
        add(command.first_line, "error", "the executable is empty.")
        return
    if "$(" in value:  # depends on the job; the expansion checks every job's
        return
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = submit_dir / path
    if not path.exists():
        add(
            command.first_line,
            "error",
            f"the executable {value} does not exist (looked for {path}).",
        )
    elif not path.is_file():
        add(command.first_line, "error", f"the executable {value} is not a file.")
    elif not os.access(path, os.X_OK):
        add(
            command.first_line,
            "warning",
            f"{value} is not executable (chmod +x {value}); the job would fail to start.",
        )


def _check_commands(scanned: SubmitFile, add: _Add) -> None:
    used: set[str] = set()
    for command in scanned.commands:
        used.update(name.lower() for name in _MACRO_USE.findall(command.value))
    if scanned.queue is not None:
        used.update(name.lower() for name in _MACRO_USE.findall(scanned.queue.arguments))
    for command in scanned.commands:
        key = command.key
        if command.is_custom_attribute or key in KNOWN_COMMANDS or key in used:
            continue
        if key.startswith("request_") or key.startswith("+"):
            continue  # request_<custom resource>
        nearest = difflib.get_close_matches(key, KNOWN_COMMANDS, n=1, cutoff=0.75)
        hint = f" Did you mean '{nearest[0]}'?" if nearest else ""
        add(
            command.first_line,
            "warning",
            f"'{command.name}' is not a submit command and nothing uses it; "
            f"HTCondor would ignore it.{hint}",
        )


def _check_canfar(scanned: SubmitFile, image: str | None, flavor: Flavor | None, add: _Add) -> None:
    requirements = scanned.find("requirements")
    if requirements is not None:
        add(
            requirements.first_line,
            "error",
            "canfar_submit generates Requirements from the VM image and refuses a file that "
            "sets them; remove this line.",
        )
    for command in scanned.commands:
        reason = _REFUSED_ATTRIBUTES.get(command.key)
        if reason is not None:
            add(command.first_line, "error", f"{reason}; remove this line.")
    vm_image = scanned.find("+vmimage")
    if vm_image is not None and image is not None and vm_image.value.strip('" ') != image:
        add(
            vm_image.first_line,
            "warning",
            f"+VMImage names {vm_image.value.strip()}; it will be replaced by {image!r}.",
        )
    universe = scanned.find("universe")
    if universe is not None and universe.value.strip().lower() != "vanilla":
        add(
            universe.first_line,
            "warning",
            f"universe {universe.value.strip()} will be set to vanilla: CANFAR batch runs "
            "vanilla jobs on VMs booted from your snapshot.",
        )
    transfer = scanned.find("should_transfer_files")
    if transfer is not None and transfer.value.strip().upper() == "NO":
        add(
            transfer.first_line,
            "warning",
            "should_transfer_files = NO will be set to YES: the VMs share no file system "
            "with the submit host.",
        )
    if flavor is None:
        return
    if flavor.is_persistent or scratch_gb(flavor) == 0:
        add(
            0,
            "warning",
            f"{flavor.name} is a persistent flavor without scratch disk; batch jobs work in "
            "scratch: choose a c… flavor such as c2-7.5gb-30.",
        )
    limits = (
        ("request_cpus", parse_request_cpus, flavor.vcpus, f"{flavor.vcpus} CPUs"),
        ("request_memory", parse_request_memory_mb, flavor.ram_mb, f"{flavor.ram_mb} MB"),
        (
            "request_disk",
            parse_request_disk_kb,
            scratch_gb(flavor) * 1024 * 1024,
            f"{scratch_gb(flavor)} GB of scratch",
        ),
    )
    for name, parse, limit, text in limits:
        request = scanned.find(name)
        if request is None:
            continue
        try:
            value = parse(request.value)
        except (ValueError, ZeroDivisionError):
            continue  # the expansion reports unreadable values with the same line
        if value > limit:
            add(
                request.first_line,
                "error",
                f"{name} = {request.value.strip()} is more than {flavor.name} has ({text}): "
                "the jobs would stay idle forever. Choose a larger flavor or ask for less.",
            )


# --------------------------------------------------------------------------- helpers


def _split_line(message: str) -> tuple[int, str]:
    match = _LINE_PREFIX.match(message)
    if match is None:
        return 0, message
    return int(match.group(1)), match.group(2)


def _short(text: str, limit: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_issues(issues: Sequence[LintIssue]) -> list[str]:
    """One line per issue (``line 7: error: …``)."""
    return [str(issue) for issue in issues]
