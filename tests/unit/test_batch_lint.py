"""The submit-file lint: each problem with its line, and the dry run."""

from __future__ import annotations

from pathlib import Path

import pytest

from canfar_tui.batch.lint import LintIssue, lint_submit
from canfar_tui.batch.templates import DO_CATALOGUE_SUB
from canfar_tui.models import Flavor

FLAVOR = Flavor("f-c2", "c2-7.5gb-30", vcpus=2, ram_mb=7680, disk_gb=20, ephemeral_gb=31)
PERSISTENT = Flavor("f-p2", "p2-3gb", vcpus=2, ram_mb=3072, disk_gb=20, ephemeral_gb=0)


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    script = tmp_path / "do_catalogue.bash"
    script.write_text("#!/bin/bash\necho catalogue $1\n")
    script.chmod(0o755)
    return tmp_path


def issues_at(issues: tuple[LintIssue, ...], line: int) -> list[LintIssue]:
    return [issue for issue in issues if issue.line == line]


def test_the_seed_file_is_clean_and_queues_four_jobs(job_dir: Path) -> None:
    report = lint_submit(DO_CATALOGUE_SUB, submit_dir=job_dir, flavor=FLAVOR, image="img")
    assert report.issues == ()
    assert report.ok
    assert report.summary() == "no problem found"
    assert [job.arguments for job in report.jobs] == [
        "1056215p",
        "1056216p",
        "1056217p",
        "1056218p",
    ]
    assert report.jobs[0].output == str(job_dir / "do_catalogue-1056215p.out")


def test_missing_executable_is_an_error_on_its_line(tmp_path: Path) -> None:
    report = lint_submit(DO_CATALOGUE_SUB, submit_dir=tmp_path)
    assert not report.ok
    (issue,) = report.errors
    assert issue.line == 1
    assert "do_catalogue.bash does not exist" in issue.message
    assert report.jobs == ()


def test_no_executable_command_at_all(job_dir: Path) -> None:
    report = lint_submit("output = x.out\nqueue\n", submit_dir=job_dir)
    assert any(i.line == 0 and "no 'executable'" in i.message for i in report.errors)


def test_an_executable_without_the_execute_bit_is_a_warning(job_dir: Path) -> None:
    (job_dir / "do_catalogue.bash").chmod(0o644)
    report = lint_submit(DO_CATALOGUE_SUB, submit_dir=job_dir)
    assert report.ok
    (warning,) = report.warnings
    assert warning.line == 1
    assert "chmod +x" in warning.message


def test_an_empty_queue_from_list_is_an_error_on_the_queue_line(job_dir: Path) -> None:
    text = "executable = do_catalogue.bash\n\nqueue arguments from (\n)\n"
    report = lint_submit(text, submit_dir=job_dir)
    (issue,) = report.errors
    assert issue.line == 3
    assert "list is empty" in issue.message


def test_an_unclosed_queue_list_and_a_missing_queue_statement(job_dir: Path) -> None:
    report = lint_submit(
        "executable = do_catalogue.bash\nqueue arguments from (\n  a\n", submit_dir=job_dir
    )
    assert any(i.line == 2 and "no ')'" in i.message for i in report.errors)
    report = lint_submit("executable = do_catalogue.bash\n", submit_dir=job_dir)
    assert any(i.line == 0 and "no queue statement" in i.message for i in report.errors)


def test_a_typo_in_a_command_is_a_warning_with_a_suggestion(job_dir: Path) -> None:
    text = DO_CATALOGUE_SUB.replace("error  =", "eror  =")
    report = lint_submit(text, submit_dir=job_dir)
    (warning,) = issues_at(report.warnings, 4)
    assert "'eror' is not a submit command" in warning.message
    assert "Did you mean 'error'?" in warning.message


def test_user_macros_that_are_used_are_not_unknown_commands(job_dir: Path) -> None:
    text = "base = do_catalogue\nexecutable = $(base).bash\noutput = $(base).out\nqueue\n"
    report = lint_submit(text, submit_dir=job_dir)
    assert report.issues == ()
    assert report.jobs[0].executable == str(job_dir / "do_catalogue.bash")


def test_requirements_and_generated_attributes_are_refused(job_dir: Path) -> None:
    text = (
        "executable = do_catalogue.bash\n"
        'Requirements = Arch == "x86_64"\n'
        '+VMInstanceType = "c4-15gb-83"\n'
        '+VMAMI = "abc"\n'
        "queue\n"
    )
    report = lint_submit(text, submit_dir=job_dir, flavor=FLAVOR)
    lines = {issue.line: issue.message for issue in report.errors}
    assert "generates Requirements" in lines[2]
    assert "+VMInstanceType" in lines[3]
    assert "+VMAMI" in lines[4]


def test_a_different_vm_image_and_universe_are_warnings(job_dir: Path) -> None:
    text = (
        "universe = docker\nexecutable = do_catalogue.bash\n"
        '+VMImage = "old"\nshould_transfer_files = NO\nqueue\n'
    )
    report = lint_submit(text, submit_dir=job_dir, image="new-image")
    messages = {issue.line: issue.message for issue in report.warnings}
    assert "will be set to vanilla" in messages[1]
    assert "replaced by 'new-image'" in messages[3]
    assert "set to YES" in messages[4]


def test_requests_larger_than_the_flavor_are_errors(job_dir: Path) -> None:
    text = (
        "executable = do_catalogue.bash\nrequest_cpus = 4\n"
        "request_memory = 16G\nrequest_disk = 10G\nqueue\n"
    )
    report = lint_submit(text, submit_dir=job_dir, flavor=FLAVOR)
    lines = {issue.line: issue.message for issue in report.errors}
    assert set(lines) == {2, 3}
    assert "stay idle forever" in lines[3]
    assert "c2-7.5gb-30" in lines[2]


def test_a_persistent_flavor_is_a_warning(job_dir: Path) -> None:
    report = lint_submit(DO_CATALOGUE_SUB, submit_dir=job_dir, flavor=PERSISTENT)
    assert any("persistent flavor" in issue.message for issue in report.warnings)


def test_condor_submit_errors_come_from_the_expansion_with_their_line(job_dir: Path) -> None:
    text = DO_CATALOGUE_SUB.replace("$(arguments).out", "$(argument).out")
    report = lint_submit(text, submit_dir=job_dir)
    (issue,) = report.errors
    assert issue.line == 3
    assert "$(argument) is not defined" in issue.message


def test_lines_that_are_not_commands_and_lines_after_the_queue(job_dir: Path) -> None:
    text = "executable = do_catalogue.bash\nthis is not a command\nqueue\noutput = late.out\n"
    report = lint_submit(text, submit_dir=job_dir)
    lines = {issue.line: issue.message for issue in report.errors}
    assert "expected 'command = value'" in lines[2]
    assert "after the queue statement" in lines[4]


def test_a_proxy_problem_is_reported_for_the_whole_file(job_dir: Path) -> None:
    report = lint_submit(
        DO_CATALOGUE_SUB, submit_dir=job_dir, proxy_problem="no CADC proxy certificate"
    )
    assert report.ok
    (warning,) = report.warnings
    assert warning.line == 0
    assert str(warning) == "file: warning: no CADC proxy certificate"


def test_issues_are_sorted_by_line_errors_first(job_dir: Path) -> None:
    text = "eror = 1\nexecutable = nothere.sh\nRequirements = true\nqueue\n"
    report = lint_submit(text, submit_dir=job_dir)
    assert [issue.line for issue in report.issues] == sorted(i.line for i in report.issues)
    assert report.summary() == "2 errors, 1 warning"


def test_conditionals_are_checked_before_htcondor_sees_them(
    job_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    good = (
        "executable = do_catalogue.bash\nif defined FAST\narguments = quick\nelse\n"
        "arguments = full\nendif\nqueue\n"
    )
    report = lint_submit(good, submit_dir=job_dir)
    assert report.issues == ()
    assert [job.arguments for job in report.jobs] == ["full"]
    bad = (
        "executable = do_catalogue.bash\nendif\nif $(X) == 1\narguments = a\n"
        "include : other.sub\nerror : not ready\nqueue\n"
    )
    report = lint_submit(bad, submit_dir=job_dir)
    lines: dict[int, list[str]] = {}
    for issue in report.errors:
        lines.setdefault(issue.line, []).append(issue.message)
    assert lines[2] == ["'endif' without a matching 'if'."]
    assert "HTCondor cannot evaluate 'if $(X) == 1'." in lines[3]
    assert "this 'if' has no 'endif'." in lines[3]
    assert lines[5] == ["'include' is not supported here: put the included commands in this file."]
    assert lines[6] == ["the file stops here: not ready"]
    assert report.jobs == ()
    # HTCondor's parser would have printed to the terminal: it was never asked.
    assert capfd.readouterr().err == ""
