"""What each form of ``canfar_submit`` hands to ``condor_submit``, for the preview.

When ``canfar_submit`` is on PATH (the batch host), canfar-tui runs it on the user's file
rather than submitting its own rewrite, so the preview must show what *that* command will
produce. :func:`form_output` does the same text transformation as the installed form, without
running anything:

* **0.4.x** (``JOB_FILE [VM_IMAGE]``): ``Universe = vanilla`` and
  ``Requirements = group_name =?= "canfar" && Arch == "x86_64"`` go first, then
  ``+VMImage = "IMAGE"`` unless the file names its own ``+VMImage`` (which then wins), then the
  file as written. A ``Requirements`` line of the file comes later, so it *replaces* the
  generated one: the cloud scheduler then ignores the job (no ``group_name``) and it stays idle
  for ever — reported as a problem.
* **0.3.x** (``JOB_FILE VM_IMAGE VM_FLAVOR``, ``canfar_job_validate``): refuses a file that sets
  ``Requirements``, ``+VMAMI`` or ``+VMInstanceType``; adds the presets it lacks
  (``Universe``, ``should_transfer_files``, ``when_to_transfer_output``,
  ``transfer_output_files = /dev/null`` — outputs other than stdout/stderr are *not* brought
  back —, ``RunAsOwner``, ``+PreCmd = "canfar_batch_cert"``, ``+VMKeepAlive``), the proxy
  certificate in ``x509userproxy``, and a header with ``Requirements = VMType =?=
  "PROJECT:IMAGE"``, ``+VMAMI``, ``+VMInstanceType`` and ``+VMAMIConfig``. The image and
  flavor IDs and the cloud-config path are only known on the batch host: the preview shows
  placeholders. It needs ``OS_*`` variables (a sourced openrc) — missing ones are a problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from canfar_tui.batch.canfar_submit import CANFAR_REQUIREMENTS, SubmitForm

__all__ = ["OPENRC_VARIABLES", "FormOutput", "form_output", "missing_openrc_variables"]

#: What the 0.3.x form checks in its environment before it does anything.
OPENRC_VARIABLES: Final = (
    "OS_AUTH_URL",
    "OS_PROJECT_ID",
    "OS_PROJECT_NAME",
    "OS_USERNAME",
    "OS_PASSWORD",
)

#: canfar_job_validate's presets, in the order it prepends them (each goes on top).
_PRESETS_03: Final = (
    ("Universe", "vanilla"),
    ("when_to_transfer_output", "ON_EXIT_OR_EVICT"),
    ("transfer_output_files", "/dev/null"),
    ("should_transfer_files", "YES"),
    ("RunAsOwner", "True"),
    ("+PreCmd", '"canfar_batch_cert"'),
    ("+VMKeepAlive", "3"),
)
_REFUSED_03: Final = {
    "requirements": "Generated from image",
    "+vmami": "Generated from image",
    "+vminstancetype": "Generated from flavor",
}
_EXECUTABLE: Final = re.compile(r"^[^#]*executable\s*=\s*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FormOutput:
    """The description the installed ``canfar_submit`` would submit, and its objections."""

    form: SubmitForm
    text: str
    #: Reasons it would refuse the file, or submit jobs that never start (one line each).
    problems: tuple[str, ...] = ()
    #: What would go wrong later in the jobs (one line each); the submission still goes on.
    warnings: tuple[str, ...] = ()


def _sets(text: str, name: str) -> bool:
    """Whether a line of ``text`` assigns ``name`` (``name = …``), as the forms' regexes see."""
    pattern = r"^\s*" + re.escape(name) + r"\s*=.*$"
    return re.search(pattern, text, re.MULTILINE | re.IGNORECASE) is not None


def missing_openrc_variables(environment: Mapping[str, str]) -> list[str]:
    """The ``OS_*`` variables the 0.3.x form needs and ``environment`` lacks."""
    return [name for name in OPENRC_VARIABLES if not environment.get(name)]


def _executable_problem(text: str, submit_dir: Path) -> str | None:
    match = _EXECUTABLE.search(text)
    if match is None:
        return "no 'executable' in the submit file: canfar_submit stops there"
    path = Path(match.group(1))
    if not (path if path.is_absolute() else submit_dir / path).exists():
        return f"executable '{path}' does not exist on the batch host: canfar_submit stops there"
    return None


def form_output(
    form: SubmitForm,
    text: str,
    image: str,
    flavor: str,
    *,
    submit_dir: Path,
    project: str | None = None,
    proxy: Path | None = None,
    environment: Mapping[str, str] | None = None,
) -> FormOutput:
    """What ``canfar_submit`` in ``form`` hands to ``condor_submit`` for ``text``.

    ``submit_dir`` is where it runs (relative executables are looked up there); ``proxy`` is
    the CADC proxy certificate when one exists; ``environment`` holds the ``OS_*`` variables
    it will see (the 0.3.x form needs them); ``project`` names the OpenStack project.
    """
    problems: list[str] = []
    executable = _executable_problem(text, submit_dir)
    if executable is not None:
        problems.append(executable)
    body = text if text.endswith("\n") else text + "\n"
    if form is SubmitForm.IMAGE_ONLY:
        head = ["Universe = vanilla", f"Requirements = {CANFAR_REQUIREMENTS}"]
        if "+VMImage" not in text:
            head.append(f'+VMImage="{image}"')
        if _sets(text, "Requirements"):
            problems.append(
                "the file sets its own Requirements, which replace canfar_submit's group_name "
                "requirement: the cloud scheduler would never start these jobs"
            )
        warnings = []
        if not _sets(text, "x509userproxy"):
            where = str(proxy) if proxy is not None else "~/.ssl/cadcproxy.pem"
            warnings.append(
                "this canfar_submit gives the jobs no CADC certificate: unless the snapshot "
                f"holds one, vcp in them cannot write to VOSpace (add x509userproxy = {where})"
            )
        return FormOutput(form, "\n".join(head) + "\n" + body, tuple(problems), tuple(warnings))

    for key, reason in _REFUSED_03.items():
        if _sets(text, key):
            name = key if not key.startswith("+") else "+" + key[1:].upper()
            problems.append(f"canfar_submit refuses a file that sets {name} ({reason})")
    missing = missing_openrc_variables(environment or {})
    if missing:
        problems.append(
            f"canfar_submit needs {', '.join(missing)} (source your project's openrc file)"
        )
    for name, value in _PRESETS_03:
        if not _sets(body, name):
            body = f"{name} = {value}\n" + body
    if proxy is not None:
        body = f"x509userproxy = {proxy}\n" + body
    if _sets(body, "transfer_input_files"):
        body = re.sub(
            r"^(\s*transfer_input_files\s*=.*)$",
            r"\1, canfar_batch_cert",
            body,
            count=0,
            flags=re.MULTILINE | re.IGNORECASE,
        )
    else:
        body = "transfer_input_files = canfar_batch_cert\n" + body
    vm_type = f"{project or '<project>'}:{image}"
    head = [
        "",
        f'Requirements = VMType =?= "{vm_type}" && Arch == "x86_64"',
        f'+VMAMI          = "cc-arbutus:<id of {image}>"',
        f'+VMInstanceType = "cc-arbutus:<id of {flavor}>"',
        '+VMAMIConfig    = "<cloud-config written on the batch host>"',
        f'+PreArguments   = "{proxy.name if proxy is not None else ""}"',
        "",
    ]
    return FormOutput(form, "\n".join(head) + "\n" + body, tuple(problems))
