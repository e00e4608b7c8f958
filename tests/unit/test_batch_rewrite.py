"""canfar_submit's rewrite as a pure function: what is added, replaced and kept, and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from canfar_tui.batch.resources import (
    RESOURCE_HEADROOM,
    flavor_from_name,
    flavor_requests,
    scratch_gb,
)
from canfar_tui.batch.rewrite import ADDED_BLOCK_HEADER, canfar_description, numbered_lines
from canfar_tui.batch.submitfile import scan_submit_file
from canfar_tui.batch.templates import DO_CATALOGUE_SUB
from canfar_tui.clients.base import InvalidInput
from canfar_tui.clients.queue.submit_language import expand_submit
from canfar_tui.models import Flavor

FLAVOR = Flavor("f-c2", "c2-7.5gb-30", vcpus=2, ram_mb=7680, disk_gb=20, ephemeral_gb=31)
IMAGE = "image-reduction-2023-08-21"
PROXY = Path("/home/me/.ssl/cadcproxy.pem")


def line_at(text: str, number: int) -> str:
    return text.splitlines()[number - 1]


def test_seed_file_gets_the_canfar_commands_before_the_queue_statement() -> None:
    rewrite = canfar_description(DO_CATALOGUE_SUB, IMAGE, FLAVOR, proxy=PROXY)
    lines = rewrite.text.splitlines()
    header = lines.index(ADDED_BLOCK_HEADER)
    queue = next(i for i, line in enumerate(lines) if line.startswith("queue arguments from"))
    assert header < queue
    # The user's lines are all still there, in order.
    original = [line for line in DO_CATALOGUE_SUB.splitlines() if line.strip()]
    kept = [line for line in lines if line in original]
    assert kept == original
    added = {change.command: change for change in rewrite.changes if change.action == "added"}
    assert set(added) == {
        "universe",
        "Requirements",
        "+VMImage",
        "+VMInstanceType",
        "request_cpus",
        "request_memory",
        "request_disk",
        "should_transfer_files",
        "when_to_transfer_output",
        "x509userproxy",
    }
    requests = flavor_requests(FLAVOR)
    assert added["+VMImage"].value == f'"{IMAGE}"'
    # Without group_name in Requirements the cloud scheduler never boots a VM for the job.
    assert added["Requirements"].value == 'group_name =?= "canfar" && Arch == "x86_64"'
    assert added["+VMInstanceType"].value == '"c2-7.5gb-30"'
    assert added["request_cpus"].value == "2"
    assert added["request_memory"].value == str(requests.memory_mb) == "7296"
    assert added["request_disk"].value == "29G"
    assert added["x509userproxy"].value == str(PROXY)
    # Every change points at the line that says it.
    for change in rewrite.changes:
        name, _, value = line_at(rewrite.text, change.line).partition("=")
        assert name.strip() == change.command
        assert value.strip() == change.value
    assert rewrite.changed_lines == {change.line for change in rewrite.changes}


def test_the_rewritten_description_expands_to_jobs_for_the_snapshot_and_flavor(
    tmp_path: Path,
) -> None:
    (tmp_path / "do_catalogue.bash").write_text("#!/bin/bash\necho $1\n")
    rewrite = canfar_description(DO_CATALOGUE_SUB, IMAGE, FLAVOR)
    submission = expand_submit(rewrite.text, cluster=7, submit_dir=tmp_path)
    assert [job.arguments for job in submission.jobs] == [
        "1056215p",
        "1056216p",
        "1056217p",
        "1056218p",
    ]
    job = submission.jobs[0]
    assert job.custom == {"VMImage": IMAGE, "VMInstanceType": "c2-7.5gb-30"}
    assert job.universe == "vanilla"
    assert job.request_cpus == 2
    assert job.request_memory_mb == 7296
    assert job.request_disk_kb == 29 * 1024 * 1024
    assert job.should_transfer_files
    assert job.x509_proxy == ""  # no proxy given: none named


def test_no_proxy_means_no_x509userproxy_line() -> None:
    rewrite = canfar_description(DO_CATALOGUE_SUB, IMAGE, FLAVOR, proxy=None)
    assert "x509userproxy" not in rewrite.text


def test_conflicting_commands_are_replaced_in_place_and_fitting_requests_kept() -> None:
    text = (
        "universe = docker\n"
        "executable = run.sh\n"
        '+VMImage = "old-image"\n'
        "request_cpus = 1\n"
        "should_transfer_files = NO\n"
        "when_to_transfer_output = ON_EXIT\n"
        "x509userproxy = /tmp/mine.pem\n"
        "queue\n"
    )
    rewrite = canfar_description(text, IMAGE, FLAVOR, proxy=PROXY)
    by_command = {change.command: change for change in rewrite.changes}
    assert by_command["universe"].action == "replaced"
    assert by_command["universe"].previous == "docker"
    assert by_command["universe"].line == 1
    assert line_at(rewrite.text, 1) == "universe = vanilla"
    assert by_command["+VMImage"].action == "replaced"
    assert line_at(rewrite.text, 3) == f'+VMImage = "{IMAGE}"'
    assert by_command["should_transfer_files"].action == "replaced"
    assert by_command["request_cpus"].action == "kept"
    assert "fits c2-7.5gb-30" in by_command["request_cpus"].reason
    assert by_command["when_to_transfer_output"].action == "kept"
    assert by_command["x509userproxy"].action == "kept"
    assert "/tmp/mine.pem" in rewrite.text
    assert str(PROXY) not in rewrite.text
    # Only the missing ones are added.
    added = {c.command for c in rewrite.changes if c.action == "added"}
    assert added == {"Requirements", "+VMInstanceType", "request_memory", "request_disk"}


def test_a_request_larger_than_the_flavor_is_kept_for_the_lint_to_report() -> None:
    rewrite = canfar_description("executable = x\nrequest_memory = 16G\nqueue\n", IMAGE, FLAVOR)
    change = next(c for c in rewrite.changes if c.command == "request_memory")
    assert change.action == "kept"
    assert "more than c2-7.5gb-30 has" in change.reason
    assert "request_memory = 16G" in rewrite.text


def test_a_continued_command_is_replaced_whole() -> None:
    text = "executable = x\nuniverse = \\\n    docker\narguments = a\nqueue\n"
    rewrite = canfar_description(text, IMAGE, FLAVOR)
    assert "docker" not in rewrite.text
    assert rewrite.text.splitlines()[1] == "universe = vanilla"
    assert rewrite.text.splitlines()[2] == "arguments = a"


def test_the_same_inputs_give_the_same_text() -> None:
    first = canfar_description(DO_CATALOGUE_SUB, IMAGE, FLAVOR, proxy=PROXY)
    second = canfar_description(DO_CATALOGUE_SUB, IMAGE, FLAVOR, proxy=PROXY)
    assert first == second


def test_an_already_rewritten_file_changes_nothing_more() -> None:
    once = canfar_description(DO_CATALOGUE_SUB, IMAGE, FLAVOR, proxy=PROXY)
    twice = canfar_description(once.text, IMAGE, FLAVOR, proxy=PROXY)
    assert [c.action for c in twice.changes] == ["kept"] * len(twice.changes)
    assert twice.text == once.text


def test_numbered_lines_mark_added_and_replaced_lines() -> None:
    rewrite = canfar_description("universe = docker\nexecutable = x\nqueue\n", IMAGE, FLAVOR)
    marks = {number: marker for number, marker, _ in numbered_lines(rewrite)}
    assert marks[1] == "~"
    assert marks[2] == " "
    added = [c.line for c in rewrite.changes if c.action == "added"]
    assert added and all(marks[line] == "+" for line in added)


def test_scan_records_command_spans_and_the_queue_items() -> None:
    scanned = scan_submit_file(
        "# comment\nexecutable = a \\\n  b\n+Foo = 1\nqueue arguments from (\n x\n\n y\n)\n"
    )
    executable = scanned.find("Executable")
    assert executable is not None
    assert (executable.first_line, executable.last_line) == (2, 3)
    foo = scanned.find("+foo")
    assert foo is not None and foo.is_custom_attribute and foo.key == "my.foo"
    assert scanned.queue is not None
    assert scanned.queue.keyword == "from"
    assert scanned.queue.inline_items == ("x", "y")
    assert (scanned.queue.first_line, scanned.queue.last_line) == (5, 9)


def test_flavor_names_are_read_when_no_cloud_lists_them() -> None:
    flavor = flavor_from_name("c2-7.5gb-30")
    assert (flavor.vcpus, flavor.ram_mb, scratch_gb(flavor)) == (2, 7680, 30)
    assert not flavor.is_persistent
    persistent = flavor_from_name("p2-3gb")
    assert persistent.is_persistent and persistent.ephemeral_gb == 0
    with pytest.raises(InvalidInput, match=r"c2-7\.5gb-30"):
        flavor_from_name("large")


def test_requests_keep_headroom_below_the_flavor() -> None:
    requests = flavor_requests(FLAVOR)
    assert requests.cpus == 2
    assert requests.memory_mb == int(7680 * RESOURCE_HEADROOM)
    assert requests.memory_mb < FLAVOR.ram_mb
    assert requests.disk_kb < 31 * 1024 * 1024
