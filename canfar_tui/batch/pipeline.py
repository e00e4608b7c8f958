"""The Batch Quick Start's pipeline, generated from a Detect run: job script and submit file.

The seed's ``do_catalogue.bash`` fetches an exposure with ``cadcget``, unpacks it with
``funpack``, runs ``source-extractor`` and copies the catalogue with ``vcp``. The script made
here does the same with ``canfar-tui`` alone, so that the parameters tried locally in the Detect
tab are exactly the ones the batch uses::

    canfar-tui get -q cadc:CFHT/${id}.fits.fz
    canfar-tui detect ${id}.fits.fz -o ${id}.cat --set DETECT_THRESH=3 …
    canfar-tui put ${id}.cat vos:sandbox-user/catalogues/

``canfar-tui put`` verifies the upload by MD5. The script runs under ``set -euo pipefail``;
when a step fails it ends with exit status 1 and, as the last line of its standard error (the
job's error file), one line naming the ID, the step and the step's own last message — which is
what :mod:`canfar_tui.batch.pipeline_run` shows as the reason.

The submit file has the seed's shape (``queue arguments from (…)``, output/error/log per ID).
Everything here is pure text generation (:func:`job_script`, :func:`submit_file`) plus
:func:`write_pipeline`, which writes both into a submit directory. Observation IDs are letters
and digits only (``1056215p``); :func:`parse_ids` reads them from typed or pasted text.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from canfar_tui.clients.storage.vospace_uris import is_vospace_uri, normalise_vospace_uri
from canfar_tui.detection.params import DetectionParams, ParamError

__all__ = [
    "DEFAULT_COMMAND",
    "DEFAULT_NAME",
    "PipelineError",
    "PipelineSpec",
    "catalogue_name",
    "detect_overrides",
    "job_script",
    "parse_ids",
    "parse_overrides",
    "submit_file",
    "validate_ids",
    "validate_vospace_folder",
    "write_pipeline",
]

#: How the job runs canfar-tui on the worker (the console script on the snapshot's PATH).
DEFAULT_COMMAND: Final = ("canfar-tui",)
#: The seed's base name: do_catalogue.bash, do_catalogue.sub, do_catalogue-ID.err …
DEFAULT_NAME: Final = "do_catalogue"

_ID_RE: Final = re.compile(r"[A-Za-z0-9]+")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_VOS_RE: Final = re.compile(r"(vos|vault|arc|cavern)(:|://)[^\s'\"`$\\;&|<>()*?\[\]{}]*")
_KEY_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PipelineError(ValueError):
    """A bad pipeline input (IDs, folder, parameters); the message is one line."""


# --------------------------------------------------------------------------- inputs


def parse_ids(text: str) -> tuple[str, ...]:
    """The observation IDs in typed or pasted ``text`` (whitespace or commas, ``#`` comments).

    Validated with :func:`validate_ids`.
    """
    words: list[str] = []
    for line in text.splitlines():
        words.extend(line.split("#", 1)[0].replace(",", " ").split())
    return validate_ids(words)


def validate_ids(ids: Iterable[str]) -> tuple[str, ...]:
    """``ids`` stripped, as a tuple; :class:`PipelineError` names every bad or repeated one."""
    cleaned = tuple(str(item).strip() for item in ids)
    if not cleaned:
        raise PipelineError("no observation IDs given")
    bad = [item for item in cleaned if not _ID_RE.fullmatch(item)]
    if bad:
        shown = ", ".join(repr(item) for item in dict.fromkeys(bad))
        raise PipelineError(
            f"invalid observation ID{'s' if len(bad) > 1 else ''}: {shown} "
            "(letters and digits only, like 1056215p)"
        )
    counts = Counter(cleaned)
    repeated = [item for item, count in counts.items() if count > 1]
    if repeated:
        shown = ", ".join(dict.fromkeys(repeated))
        raise PipelineError(f"observation ID given twice: {shown}")
    return cleaned


def validate_vospace_folder(uri: str) -> str:
    """The VOSpace folder ``uri`` with one trailing ``/`` (``vos:user/catalogues/``).

    ``vault:user/…`` and ``vos://cadc.nrc.ca!vault/user/…`` are the same folder to ``vos`` and
    come back as ``vos:user/…`` (see :mod:`canfar_tui.clients.storage.vospace_uris`).
    """
    text = uri.strip()
    if not _VOS_RE.fullmatch(text) or not is_vospace_uri(text):
        raise PipelineError(
            f"not a VOSpace folder: {uri!r} (expected e.g. vos:sandbox-user/catalogues/, "
            "without spaces or shell characters)"
        )
    return normalise_vospace_uri(text).rstrip("/") + "/"


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (as given to ``detect --set``) as an ordered, checked mapping."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PipelineError(f"expected KEY=VALUE, got {item!r}")
        values[key.strip().upper()] = value.strip()
    return _checked(values)


def detect_overrides(params: DetectionParams | Mapping[str, object]) -> dict[str, str]:
    """The ``--set`` values that reproduce ``params`` with ``canfar-tui detect``.

    A :class:`DetectionParams` gives the keys that differ from the defaults (in
    ``describe()`` order); a mapping of SExtractor keys to values is checked and returned with
    upper-case keys. Output columns other than the defaults cannot be passed with ``--set``
    and raise :class:`PipelineError`.
    """
    if isinstance(params, DetectionParams):
        default = DetectionParams()
        if params.columns != default.columns:
            raise PipelineError(
                "custom output columns cannot be passed to the batch job yet; "
                "use the default columns"
            )
        base = default.describe()
        return {key: value for key, value in params.describe().items() if base.get(key) != value}
    return _checked({str(key).strip().upper(): _text(value) for key, value in params.items()})


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    return str(value)


def _checked(values: dict[str, str]) -> dict[str, str]:
    for key, value in values.items():
        if not _KEY_RE.fullmatch(key) or "\n" in value or "'" in value:
            raise PipelineError(f"bad detection parameter {key}={value!r}")
    try:
        DetectionParams().with_overrides(values)
    except ParamError as error:
        raise PipelineError(str(error).splitlines()[0] if str(error) else "bad parameter") from None
    return values


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """What a pipeline batch does: IDs, where catalogues go, the detection parameters.

    ``overrides`` are ``detect --set`` values (see :func:`detect_overrides`); ``command`` is
    how the job calls canfar-tui (``("canfar-tui",)`` on a CANFAR snapshot; an absolute
    ``python -m canfar_tui`` in tests); ``workers`` is passed to ``detect --workers`` (None:
    all CPUs of the worker); ``name`` is the base of the file names; ``batch_name`` adds a
    ``batch_name`` command to the submit file.
    """

    ids: tuple[str, ...]
    vospace_folder: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = DEFAULT_COMMAND
    workers: int | None = None
    name: str = DEFAULT_NAME
    batch_name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", validate_ids(self.ids))
        object.__setattr__(self, "vospace_folder", validate_vospace_folder(self.vospace_folder))
        object.__setattr__(self, "overrides", detect_overrides(dict(self.overrides)))
        if not self.command or not all(self.command):
            raise PipelineError("the canfar-tui command is empty")
        if self.workers is not None and self.workers < 1:
            raise PipelineError(f"workers must be at least 1, not {self.workers}")
        if not _NAME_RE.fullmatch(self.name):
            raise PipelineError(f"bad pipeline name {self.name!r} (letters, digits, _ . -)")
        if self.batch_name is not None and (
            not self.batch_name.strip() or any(c in self.batch_name for c in "\n\"'")
        ):
            raise PipelineError(f"bad batch name {self.batch_name!r}")

    @classmethod
    def from_params(
        cls,
        params: DetectionParams | Mapping[str, object],
        ids: Iterable[str] | str,
        vospace_folder: str,
        **options: object,
    ) -> PipelineSpec:
        """Build a spec from a Detect run's parameters and IDs (a list or pasted text)."""
        chosen = parse_ids(ids) if isinstance(ids, str) else validate_ids(ids)
        return cls(chosen, vospace_folder, detect_overrides(params), **options)  # type: ignore[arg-type]

    @property
    def script_name(self) -> str:
        return f"{self.name}.bash"

    @property
    def submit_name(self) -> str:
        return f"{self.name}.sub"

    def error_file(self, obs_id: str) -> str:
        """The job's error file name (relative to the submit directory)."""
        return f"{self.name}-{obs_id}.err"

    def output_file(self, obs_id: str) -> str:
        return f"{self.name}-{obs_id}.out"

    def log_file(self, obs_id: str) -> str:
        return f"{self.name}-{obs_id}.log"

    def catalogue_uri(self, obs_id: str) -> str:
        """Where the job puts the catalogue of ``obs_id``."""
        return f"{self.vospace_folder}{catalogue_name(obs_id)}"

    def only(self, ids: Sequence[str]) -> PipelineSpec:
        """The same pipeline for ``ids`` only (e.g. the failed ones, to resubmit)."""
        return PipelineSpec(
            tuple(ids),
            self.vospace_folder,
            self.overrides,
            self.command,
            self.workers,
            self.name,
            self.batch_name,
        )


def catalogue_name(obs_id: str) -> str:
    """The catalogue file of ``obs_id`` (the seed's ``${id}.cat``)."""
    return f"{obs_id}.cat"


# --------------------------------------------------------------------------- generation


def job_script(spec: PipelineSpec) -> str:
    """The job script: the seed's ``do_catalogue.bash`` with canfar-tui for every step."""
    sets = "".join(f" --set {shlex.quote(f'{k}={v}')}" for k, v in spec.overrides.items())
    workers = f" --workers {spec.workers}" if spec.workers is not None else ""
    folder = shlex.quote(spec.vospace_folder)
    if spec.command == DEFAULT_COMMAND:
        command_setup = ""
    else:
        command_setup = (
            "# canfar-tui as this job runs it\n"
            f'canfar-tui() {{ {shlex.join(spec.command)} "$@"; }}\n'
        )
    return f"""\
#!/bin/bash
# {spec.script_name}: fetch one CFHT exposure, detect its sources, store the catalogue.
# Generated by canfar-tui from the Batch Quick Start's do_catalogue.bash.
# Usage: {spec.script_name} OBSERVATION_ID   (e.g. 1056215p)
set -euo pipefail

id=${{1:-}}
if [[ ! $id =~ ^[A-Za-z0-9]+$ ]]; then
  echo "{spec.name}: expected one observation ID (letters and digits), got '${{id}}'" >&2
  exit 2
fi
{command_setup}
errors=$(mktemp)
trap 'rm -f "$errors" "${{id}}.fits.fz"' EXIT

# step WHAT COMMAND…: run COMMAND; on failure end the job with one line naming the step
step() {{
  local what=$1 status=0 reason
  shift
  "$@" 2>"$errors" || status=$?
  cat "$errors" >&2
  if (( status != 0 )); then
    reason=$(grep -v '^[[:space:]]*$' "$errors" | tail -n 1 || true)
    echo "{spec.name} ${{id}}: ${{what}} failed (exit ${{status}})${{reason:+: ${{reason}}}}" >&2
    exit 1
  fi
}}

step "fetch" canfar-tui get -q cadc:CFHT/${{id}}.fits.fz
step "detect" canfar-tui detect ${{id}}.fits.fz -o ${{id}}.cat -q{workers}{sets}
step "upload" canfar-tui put ${{id}}.cat {folder}
echo "{spec.name} ${{id}}: ${{id}}.cat stored in {spec.vospace_folder} (MD5 verified)"
"""


def submit_file(spec: PipelineSpec) -> str:
    """The submit file: the seed's ``do_catalogue.sub`` for ``spec.ids``."""
    batch = f'batch_name = "{spec.batch_name}"\n' if spec.batch_name else ""
    items = "".join(f"  {obs_id}\n" for obs_id in spec.ids)
    return f"""\
executable = {spec.script_name}
{batch}
output = {spec.name}-$(arguments).out
error  = {spec.name}-$(arguments).err
log    = {spec.name}-$(arguments).log

queue arguments from (
{items})
"""


def write_pipeline(spec: PipelineSpec, directory: Path) -> tuple[Path, Path]:
    """Write the job script (executable) and the submit file into ``directory``.

    Returns ``(script, submit file)``; the directory is created when missing.
    """
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / spec.script_name
    submit = directory / spec.submit_name
    script.write_text(job_script(spec), encoding="utf-8")
    script.chmod(0o755)
    submit.write_text(submit_file(spec), encoding="utf-8")
    return script, submit
