"""Submitting through the installed canfar_submit: its form's output, its environment, the CLI.

The ``canfar_submit`` here are small scripts that take the real forms' arguments and record
what they were given (argv, working folder, OS_* environment) instead of talking to a cloud;
the pool-side behaviour of the real stand-ins is tested against HTCondor in
``tests/integration``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from canfar_submit_fakes import found, read_record, write_fake

from canfar_tui.batch.canfar_submit import (
    CanfarSubmit,
    CanfarSubmitFailed,
    SubmitForm,
    run_canfar_submit,
)
from canfar_tui.batch.submission import canfar_submit_environment, choose_route
from canfar_tui.batch.submit_forms import form_output
from canfar_tui.batch.templates import DO_CATALOGUE_SUB
from canfar_tui.cli.submit import add_submit_arguments, run_submit
from canfar_tui.clients.base import InvalidInput


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "job"
    folder.mkdir()
    script = folder / "do_catalogue.bash"
    script.write_text("#!/bin/bash\necho $1\n")
    script.chmod(0o755)
    (folder / "do_catalogue.sub").write_text(DO_CATALOGUE_SUB)
    return folder


# --------------------------------------------------------------------------- form output


def test_the_current_form_puts_universe_requirements_and_image_first(job_dir: Path) -> None:
    output = form_output(
        SubmitForm.IMAGE_ONLY, DO_CATALOGUE_SUB, "snap-1", "c2-7.5gb-30", submit_dir=job_dir
    )
    lines = output.text.splitlines()
    assert lines[:3] == [
        "Universe = vanilla",
        'Requirements = group_name =?= "canfar" && Arch == "x86_64"',
        '+VMImage="snap-1"',
    ]
    assert output.text.endswith(DO_CATALOGUE_SUB)
    assert output.problems == ()


def test_the_current_form_keeps_the_files_own_image_and_flags_its_own_requirements(
    job_dir: Path,
) -> None:
    text = '+VMImage = "mine"\nRequirements = Memory > 10\n' + DO_CATALOGUE_SUB
    output = form_output(SubmitForm.IMAGE_ONLY, text, "snap-1", "c2", submit_dir=job_dir)
    assert '+VMImage="snap-1"' not in output.text
    assert len(output.problems) == 1
    assert "never start" in output.problems[0]


def test_a_missing_executable_is_what_canfar_submit_stops_on(tmp_path: Path) -> None:
    output = form_output(SubmitForm.IMAGE_ONLY, DO_CATALOGUE_SUB, "snap", "c2", submit_dir=tmp_path)
    assert output.problems == (
        "executable 'do_catalogue.bash' does not exist on the batch host: "
        "canfar_submit stops there",
    )


def test_the_03_form_adds_its_presets_and_vmtype_header(job_dir: Path) -> None:
    environment = {
        "OS_AUTH_URL": "https://keystone",
        "OS_PROJECT_ID": "p1",
        "OS_PROJECT_NAME": "rrg-astro",
        "OS_USERNAME": "astro",
        "OS_PASSWORD": "x",
    }
    proxy = job_dir / "cadcproxy.pem"
    output = form_output(
        SubmitForm.IMAGE_AND_FLAVOR,
        DO_CATALOGUE_SUB,
        "snap-1",
        "c2-7.5gb-30",
        submit_dir=job_dir,
        project="rrg-astro",
        proxy=proxy,
        environment=environment,
    )
    text = output.text
    assert 'Requirements = VMType =?= "rrg-astro:snap-1" && Arch == "x86_64"' in text
    for preset in (
        "Universe = vanilla",
        "transfer_output_files = /dev/null",
        "RunAsOwner = True",
        '+PreCmd = "canfar_batch_cert"',
        f"x509userproxy = {proxy}",
        "transfer_input_files = canfar_batch_cert",
    ):
        assert preset in text.splitlines()
    assert output.problems == ()


def test_the_03_form_refuses_generated_attributes_and_a_missing_openrc(job_dir: Path) -> None:
    text = "+VMInstanceType = c2\n" + DO_CATALOGUE_SUB
    output = form_output(
        SubmitForm.IMAGE_AND_FLAVOR, text, "snap", "c2", submit_dir=job_dir, environment={}
    )
    assert any("+VMINSTANCETYPE" in problem for problem in output.problems)
    assert any("OS_AUTH_URL" in problem and "OS_PASSWORD" in problem for problem in output.problems)


# --------------------------------------------------------------------------- routes


def test_the_sandbox_never_runs_canfar_submit(tmp_path: Path) -> None:
    fake = found(write_fake(tmp_path / "bin", series="0.4"), SubmitForm.IMAGE_ONLY)
    route = choose_route(fake, sandbox=True)
    assert route.canfar_submit is None
    assert "is not run" in route.reason
    assert choose_route(fake, sandbox=False).canfar_submit is fake
    assert choose_route(None, sandbox=False).canfar_submit is None
    unknown = CanfarSubmit(fake.path, None, None, problem="no usage")
    assert choose_route(unknown, sandbox=False).canfar_submit is None


# --------------------------------------------------------------------------- running it


def test_the_current_form_gets_file_and_image_in_the_files_folder(
    tmp_path: Path, job_dir: Path
) -> None:
    fake = found(write_fake(tmp_path / "bin", series="0.4"), SubmitForm.IMAGE_ONLY)
    record = tmp_path / "record"
    submitted = run_canfar_submit(
        fake,
        job_dir / "do_catalogue.sub",
        "snap-1",
        "c2-7.5gb-30",
        environment={"PATH": os.environ["PATH"], "RECORD": str(record)},
    )
    assert (submitted.cluster, submitted.num_jobs) == (42, 4)
    seen = read_record(record)
    assert seen["argv"] == "do_catalogue.sub snap-1"
    assert seen["cwd"] == str(job_dir)


def test_the_03_form_gets_the_password_in_its_environment_never_in_argv(
    tmp_path: Path, job_dir: Path
) -> None:
    fake = found(write_fake(tmp_path / "bin", series="0.3"), SubmitForm.IMAGE_AND_FLAVOR)
    openrc = tmp_path / "rrg-astro-openrc.sh"
    openrc.write_text(
        "export OS_AUTH_URL=https://keystone:5000/v3\n"
        "export OS_PROJECT_ID=p1\nexport OS_PROJECT_NAME=rrg-astro\n"
        "export OS_USERNAME=astro\n"
        'read -sr OS_PASSWORD_INPUT\nexport OS_PASSWORD="$OS_PASSWORD_INPUT"\n'
    )
    asked: list[str] = []

    def provider() -> str:
        asked.append("once")
        return "s3cret-pw"

    record = tmp_path / "record"
    environment = canfar_submit_environment(
        fake,
        openrc=openrc,
        password_provider=provider,
        base={"PATH": os.environ["PATH"], "RECORD": str(record)},
    )
    submitted = run_canfar_submit(
        fake, job_dir / "do_catalogue.sub", "snap-1", "c2-7.5gb-30", environment=environment
    )
    assert submitted.cluster == 42
    assert asked == ["once"]
    seen = read_record(record)
    assert seen["argv"] == "do_catalogue.sub snap-1 c2-7.5gb-30"
    assert seen["OS_PASSWORD"] == "s3cret-pw"
    assert seen["OS_PROJECT_NAME"] == "rrg-astro"


def test_no_password_for_the_03_form_is_one_line(tmp_path: Path) -> None:
    fake = found(write_fake(tmp_path / "bin", series="0.3"), SubmitForm.IMAGE_AND_FLAVOR)
    with pytest.raises(InvalidInput, match="needs your OpenStack password"):
        canfar_submit_environment(fake, openrc=None, password_provider=None, base={})


def test_a_refusal_is_its_error_line_with_the_password_removed(
    tmp_path: Path, job_dir: Path
) -> None:
    body = 'echo " !! ERROR canfar_submit: keystone refused $OS_PASSWORD" >&2; exit 1'
    fake = found(write_fake(tmp_path / "bin", series="0.3", body=body), SubmitForm.IMAGE_AND_FLAVOR)
    environment = {
        "PATH": os.environ["PATH"],
        "RECORD": str(tmp_path / "record"),
        "OS_PASSWORD": "hunter22",
    }
    with pytest.raises(CanfarSubmitFailed) as caught:
        run_canfar_submit(fake, job_dir / "do_catalogue.sub", "s", "c2", environment=environment)
    message = str(caught.value)
    assert message == "canfar_submit failed: ERROR canfar_submit: keystone refused ********"
    assert "hunter22" not in message


def test_a_hung_canfar_submit_times_out_in_one_line(tmp_path: Path, job_dir: Path) -> None:
    fake = found(write_fake(tmp_path / "bin", series="0.4", body="sleep 30"), SubmitForm.IMAGE_ONLY)
    environment = {"PATH": os.environ["PATH"], "RECORD": str(tmp_path / "record")}
    with pytest.raises(CanfarSubmitFailed, match=r"did not finish in 0\.5 s"):
        run_canfar_submit(
            fake, job_dir / "do_catalogue.sub", "s", "c2", environment=environment, timeout=0.5
        )


# --------------------------------------------------------------------------- the CLI


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile")
    parser.add_argument("--read-only", action="store_true", default=None)
    add_submit_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_real_profile_submits_through_the_installed_canfar_submit(
    tmp_path: Path,
    job_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bin_dir = tmp_path / "bin"
    write_fake(bin_dir, series="0.4")
    record = tmp_path / "record"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RECORD", str(record))
    config = Path(os.environ["HOME"]) / ".config" / "canfar-tui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[profiles.batch]\nkind = "canfar"\n')
    status = run_submit(
        parse("--profile", "batch", str(job_dir / "do_catalogue.sub"), "snap-1", "c2-7.5gb-30")
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "What canfar_submit (0.4.x) will hand to condor_submit:" in out
    assert '  Requirements = group_name =?= "canfar" && Arch == "x86_64"' in out
    assert "Submitted 4 jobs to cluster 42 with" in out
    assert read_record(record)["argv"] == "do_catalogue.sub snap-1"
    # Only the description canfar_submit writes is shown, not canfar-tui's own rewrite.
    assert "Rewritten submit description" not in out


def test_the_sandbox_result_line_says_sandbox(
    tmp_path: Path,
    job_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bin_dir = tmp_path / "bin"
    write_fake(bin_dir, series="0.4")
    record = tmp_path / "record"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RECORD", str(record))
    status = run_submit(
        parse(str(job_dir / "do_catalogue.sub"), "canfar-ubuntu-20.04", "c2-7.5gb-30")
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "is not run; the sandbox's own pool" in out
    assert "in the sandbox." in out
    assert not record.exists()


def test_the_03_form_takes_the_password_the_cloud_got_without_asking_again(
    tmp_path: Path,
) -> None:
    from canfar_tui.cli.submit import RememberedPassword

    answers = iter(["wrong", "right", "never asked"])
    asked: list[str] = []

    def ask() -> str:
        asked.append(next(answers))
        return asked[-1]

    password = RememberedPassword(ask)
    assert password.for_cloud() == "wrong"
    assert password.for_cloud() == "right"  # the cloud asks again after a refusal
    fake = found(write_fake(tmp_path / "bin", series="0.3"), SubmitForm.IMAGE_AND_FLAVOR)
    environment = canfar_submit_environment(
        fake, openrc=None, password_provider=password.for_submit, base={}
    )
    assert environment["OS_PASSWORD"] == "right"
    assert asked == ["wrong", "right"], "canfar_submit took the cloud's password"


def test_without_a_cloud_the_03_form_asks_once(tmp_path: Path) -> None:
    from canfar_tui.cli.submit import RememberedPassword

    asked: list[str] = []

    def type_it() -> str:
        asked.append("typed")
        return "typed"

    password = RememberedPassword(type_it)
    assert password.for_submit() == "typed"
    assert password.for_submit() == "typed"
    assert asked == ["typed"]
