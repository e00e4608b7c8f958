"""The Batch Quick Start's pipeline, generated from a Detect run: job script and submit file.

The seed's ``do_catalogue.bash`` fetches an exposure with ``cadcget``, unpacks it with
``funpack``, runs ``source-extractor`` and copies the catalogue with ``vcp``. The job script
made here comes in two kinds (:attr:`PipelineSpec.steps`):

* :data:`SEED_STEPS` (the default) — the seed's own steps, which a real CANFAR snapshot
  (``canfar-ubuntu-20.04``: Python 3.8, ``cadcget`` and ``vcp``, plus ``source-extractor`` and
  ``funpack`` installed as the seed says) can run. The Detect tab's parameters become
  ``source-extractor`` options (``-DETECT_THRESH 3``: canfar-tui's keys are SExtractor's),
  ``default.param`` lists the Detect tab's columns, and the catalogue is read back from
  VOSpace after ``vcp`` and compared byte for byte::

      cadcget cadc:CFHT/${id}.fits.fz
      funpack -D ${id}.fits.fz
      cp /usr/share/source-extractor/default* .
      source-extractor ${id}.fits -CATALOG_NAME ${id}.cat -DETECT_THRESH 3 …
      vcp ${id}.cat vos:USER/catalogues/

* :data:`CANFAR_TUI_STEPS` — ``canfar-tui`` on the worker, only for workers known to have it
  (the sandbox's jobs, which run on this machine, and snapshots the user marked), naming the
  profile explicitly so that a worker without that profile refuses instead of using the
  sandbox::

      canfar-tui --profile NAME get -q cadc:CFHT/${id}.fits.fz
      canfar-tui detect ${id}.fits.fz -o ${id}.cat --set DETECT_THRESH=3 …
      canfar-tui --profile NAME put ${id}.cat vos:USER/catalogues/

Jobs on a batch VM get their certificate where ``vcp`` and ``cadcget --cert`` look: when
HTCondor gave the job a proxy (``x509userproxy`` sets ``$X509_USER_PROXY``) the script copies
it to ``$HOME/.ssl/cadcproxy.pem`` (0600) before the steps, as CANFAR's own ``canfar_cert``
does (:attr:`PipelineSpec.install_proxy`). The seed steps refuse to start, in one line, when
``vcp`` would have no credentials at all.

The script runs under ``set -euo pipefail``; when a step fails it ends with exit status 1
and, as the last line of its standard error (the job's error file), one line naming the ID,
the step and the step's own last message — which is what
:mod:`canfar_tui.batch.pipeline_run` shows as the reason. Its last line on standard output
says what was checked.

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

from canfar_tui.clients.storage.vospace_uris import is_vospace_uri, normalise_vospace_uri
from canfar_tui.detection.params import COLUMN_INFO, DEFAULT_COLUMNS, DetectionParams, ParamError

__all__ = [
    "CANFAR_TUI_STEPS",
    "CATALOG_TYPES",
    "DEFAULT_COMMAND",
    "DEFAULT_NAME",
    "PARAM_FILE",
    "PROXY_PATH",
    "SCRIPT_KINDS",
    "SEED_STEPS",
    "SHARE_DIR",
    "PipelineError",
    "PipelineSpec",
    "ScriptKind",
    "catalogue_name",
    "detect_overrides",
    "job_script",
    "parse_ids",
    "parse_overrides",
    "sextractor_options",
    "submit_file",
    "validate_ids",
    "validate_vospace_folder",
    "write_pipeline",
]

#: How the job runs canfar-tui on the worker (the console script on the snapshot's PATH).
DEFAULT_COMMAND: Final = ("canfar-tui",)
#: The seed's base name: do_catalogue.bash, do_catalogue.sub, do_catalogue-ID.err …
DEFAULT_NAME: Final = "do_catalogue"

#: What the job script runs: the seed's own tools, or canfar-tui.
ScriptKind = Literal["seed", "canfar-tui"]
#: ``cadcget``, ``funpack``, ``source-extractor``, ``vcp``: what a real CANFAR snapshot has.
SEED_STEPS: Final[ScriptKind] = "seed"
#: ``canfar-tui --profile NAME get/detect/put``: only where canfar-tui is known to be.
CANFAR_TUI_STEPS: Final[ScriptKind] = "canfar-tui"
SCRIPT_KINDS: Final[tuple[ScriptKind, ...]] = (SEED_STEPS, CANFAR_TUI_STEPS)
#: Where ``vcp`` (``--certfile``'s default) and ``cadcget --cert`` find the proxy certificate.
PROXY_PATH: Final = "$HOME/.ssl/cadcproxy.pem"
#: Where Ubuntu's source-extractor package keeps default.sex, default.conv and the filters.
SHARE_DIR: Final = "/usr/share/source-extractor"

_ID_RE: Final = re.compile(r"[A-Za-z0-9]+")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_VOS_RE: Final = re.compile(r"(vos|vault|arc|cavern)(:|://)[^\s'\"`$\\;&|<>()*?\[\]{}]*")
_KEY_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A profile name as the job script can carry it (no control characters).
_PROFILE_RE: Final = re.compile(r"[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*")
_SPEC_RE: Final = re.compile(r"([A-Z][A-Z0-9_]*)(?:\((\d+(?:,\d+)*)\))?")
#: The end of the here-documents that write the job's own files.
_HEREDOC: Final = "CANFAR_TUI_END_OF_FILE"
#: The file the job writes the columns to (source-extractor's default.sex reads it).
PARAM_FILE: Final = "default.param"
_JOB_FILES: Final = frozenset({PARAM_FILE, "default.sex", "default.conv", "default.nnw"})
#: SExtractor's CATALOG_TYPE values that both source-extractor and canfar-tui write.
CATALOG_TYPES: Final = ("ASCII_HEAD", "ASCII", "ASCII_SKYCAT", "FITS_1.0", "FITS_LDAC")


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


def parse_overrides(items: Iterable[str], carried: Iterable[str] = ()) -> dict[str, str]:
    """``KEY=VALUE`` strings (as given to ``detect --set``) as an ordered, checked mapping.

    A FILTER_NAME or STARNNW_NAME naming one of the ``carried`` files (which the job script
    writes, :attr:`PipelineSpec.files`) is not looked for here.
    """
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PipelineError(f"expected KEY=VALUE, got {item!r}")
        values[key.strip().upper()] = value.strip()
    return _checked(values, carried)


def detect_overrides(params: DetectionParams | Mapping[str, object]) -> dict[str, str]:
    """The ``--set`` values that reproduce ``params`` with ``canfar-tui detect``.

    A :class:`DetectionParams` gives the keys that differ from the defaults (in
    ``describe()`` order); a mapping of SExtractor keys to values is checked and returned with
    upper-case keys. The output columns are not ``--set`` values: they travel as
    :attr:`PipelineSpec.columns` (:func:`~canfar_tui.batch.pipeline_detect.batch_detect`).
    """
    if isinstance(params, DetectionParams):
        base = DetectionParams().describe()
        return {key: value for key, value in params.describe().items() if base.get(key) != value}
    return _checked({str(key).strip().upper(): _text(value) for key, value in params.items()})


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    return str(value)


def _checked(values: dict[str, str], carried: Iterable[str] = ()) -> dict[str, str]:
    """``values`` checked as ``detect --set`` values; a FILTER_NAME or STARNNW_NAME naming one
    of the ``carried`` files (written by the job script) is looked for on the worker only."""
    for key, value in values.items():
        if not _KEY_RE.fullmatch(key) or "\n" in value or "'" in value:
            raise PipelineError(f"bad detection parameter {key}={value!r}")
    names = set(carried)
    local = {
        key: value
        for key, value in values.items()
        if not (key in ("FILTER_NAME", "STARNNW_NAME") and value in names)
    }
    try:
        DetectionParams().with_overrides(local)
    except ParamError as error:
        raise PipelineError(str(error).splitlines()[0] if str(error) else "bad parameter") from None
    return values


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """What a pipeline batch does: IDs, where catalogues go, the detection parameters.

    ``overrides`` are ``detect --set`` values (see :func:`detect_overrides`), which the seed
    steps pass to ``source-extractor`` as ``-KEY VALUE`` (:func:`sextractor_options`);
    ``workers`` is passed to ``detect --workers`` or ``-NTHREADS`` (None: the worker's
    default); ``name`` is the base of the file names; ``batch_name`` adds a ``batch_name``
    command to the submit file.

    ``steps`` is the kind of job script (:data:`SEED_STEPS` or :data:`CANFAR_TUI_STEPS`).
    With canfar-tui, ``command`` is how the job calls it (``("canfar-tui",)`` on a snapshot
    that has it; an absolute ``python -m canfar_tui`` for the sandbox's jobs) and ``profile``
    — required — the profile its ``get`` and ``put`` name. ``install_proxy`` copies HTCondor's
    ``$X509_USER_PROXY`` to :data:`PROXY_PATH` before the steps: True for jobs on a batch VM,
    False for jobs that run on this machine (where it would replace the user's own).
    """

    ids: tuple[str, ...]
    vospace_folder: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = DEFAULT_COMMAND
    workers: int | None = None
    name: str = DEFAULT_NAME
    batch_name: str | None = None
    profile: str | None = None
    steps: ScriptKind = SEED_STEPS
    install_proxy: bool = True
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    files: tuple[tuple[str, str], ...] = ()
    catalog_type: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", validate_ids(self.ids))
        object.__setattr__(self, "vospace_folder", validate_vospace_folder(self.vospace_folder))
        object.__setattr__(self, "columns", _checked_columns(self.columns))
        object.__setattr__(self, "files", _checked_files(self.files))
        carried = [name for name, _ in self.files]
        object.__setattr__(self, "overrides", _checked(_upper(self.overrides), carried))
        if self.catalog_type is not None and self.catalog_type not in CATALOG_TYPES:
            raise PipelineError(
                f"CATALOG_TYPE {self.catalog_type}: not one of {', '.join(CATALOG_TYPES)}"
            )
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
        if self.steps not in SCRIPT_KINDS:
            raise PipelineError(f"unknown job script kind {self.steps!r} (seed or canfar-tui)")
        if self.profile is not None and not _PROFILE_RE.fullmatch(self.profile):
            raise PipelineError(f"bad profile name {self.profile!r}")
        if self.steps == CANFAR_TUI_STEPS and self.profile is None:
            raise PipelineError(
                "canfar-tui on the worker needs the profile its get and put should use"
            )

    @classmethod
    def from_params(
        cls,
        params: DetectionParams | Mapping[str, object],
        ids: Iterable[str] | str,
        vospace_folder: str,
        **options: object,
    ) -> PipelineSpec:
        """Build a spec from a Detect run's parameters and IDs (a list or pasted text).

        :class:`DetectionParams` bring their columns and the files they need too
        (:func:`~canfar_tui.batch.pipeline_detect.batch_detect`); ``catalogue_format`` (a
        keyword of ``options``) is the Detect form's format.
        """
        chosen = parse_ids(ids) if isinstance(ids, str) else validate_ids(ids)
        fmt = options.pop("catalogue_format", None)
        if isinstance(params, DetectionParams):
            from canfar_tui.batch.pipeline_detect import batch_detect

            setup = batch_detect(params, str(fmt) if fmt is not None else None)
            options = {
                "columns": setup.columns,
                "files": setup.files,
                "catalog_type": setup.catalog_type,
                **options,
            }
            return cls(chosen, vospace_folder, setup.overrides, **options)  # type: ignore[arg-type]
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
        return replace(self, ids=tuple(ids))


def _upper(values: Mapping[str, str]) -> dict[str, str]:
    return {str(key).strip().upper(): _text(value) for key, value in values.items()}


def _checked_columns(columns: Iterable[str]) -> tuple[str, ...]:
    """``.param`` specs canfar-tui knows (``MAG_APER(3)``); PipelineError names the others."""
    specs = tuple(str(spec).strip().upper() for spec in columns)
    bad = []
    for spec in specs:
        match = _SPEC_RE.fullmatch(spec)
        info = COLUMN_INFO.get(match.group(1)) if match else None
        if info is None or (match is not None and match.group(2) and not info.vector):
            bad.append(spec)
    if bad or not specs:
        raise PipelineError(f"unsupported output column(s): {', '.join(bad) or 'none given'}")
    return specs


def _checked_files(files: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The files a job script writes: plain names, text that its here-document can hold."""
    checked: list[tuple[str, str]] = []
    for name, text in files:
        if (
            not _NAME_RE.fullmatch(name)
            or name in _JOB_FILES
            or name.startswith("default")
            or any(name == other for other, _ in checked)
        ):
            raise PipelineError(f"bad name for a file of the job: {name!r}")
        body = text if text.endswith("\n") else text + "\n"
        if _HEREDOC in body.splitlines() or "\x00" in body:
            raise PipelineError(f"{name} cannot be carried in the job script")
        checked.append((name, body))
    return tuple(checked)


def catalogue_name(obs_id: str) -> str:
    """The catalogue file of ``obs_id`` (the seed's ``${id}.cat``)."""
    return f"{obs_id}.cat"


# --------------------------------------------------------------------------- generation


def sextractor_options(spec: PipelineSpec) -> list[str]:
    """``source-extractor``'s options for ``spec``: ``-KEY VALUE`` for each override.

    canfar-tui's detection keys are SExtractor's own, so ``--set KEY=VALUE`` becomes
    ``-KEY VALUE``. A filter named by its bare file name (``gauss_3.0_5x5.conv``, which
    canfar-tui finds in :data:`SHARE_DIR` too) is read from there, except the
    ``default*`` files the script copies into the job's folder and the files it writes
    (:attr:`PipelineSpec.files`); ``catalog_type`` becomes ``-CATALOG_TYPE`` and ``workers``
    ``-NTHREADS``.
    """
    words: list[str] = []
    if spec.catalog_type is not None:
        words += ["-CATALOG_TYPE", spec.catalog_type]
    carried = {name for name, _ in spec.files}
    for key, value in spec.overrides.items():
        if (
            key == "FILTER_NAME"
            and "/" not in value
            and not value.startswith("default")
            and value not in carried
        ):
            value = f"{SHARE_DIR}/{value}"
        words += [f"-{key}", value]
    if spec.workers is not None:
        words += ["-NTHREADS", str(spec.workers)]
    return words


def job_script(spec: PipelineSpec) -> str:
    """The job script: the seed's ``do_catalogue.bash``, with the steps ``spec.steps`` names."""
    if spec.steps == CANFAR_TUI_STEPS:
        about = (
            f"# canfar-tui on the worker, with the profile {spec.profile}: a worker without\n"
            "# that profile refuses in one line (the snapshot must have canfar-tui).\n"
        )
        written = "".join(f" {name}" for name in _written_files(spec))
        cleanup = f"""trap 'rm -f "$errors" "$output" "${{id}}.fits.fz"{written}' EXIT\n"""
        steps = _canfar_tui_steps(spec)
    else:
        about = (
            "# The seed's own steps: cadcget and vcp come with canfar-ubuntu-20.04; the snapshot\n"
            "# needs source-extractor and funpack, installed as the seed says:\n"
            "#   sudo apt install -y source-extractor libcfitsio-bin\n"
        )
        written = "".join(f" {name}" for name, _ in spec.files)
        cleanup = f"""\
# Only the catalogue goes back to the submit folder: the image and the configuration stay.
cleanup() {{
  rm -f "$errors" "$output" "${{id}}.fits.fz" "${{id}}.fits" "${{id}}.cat.check"{written}
  local shared
  for shared in {SHARE_DIR}/default*; do rm -f "${{shared##*/}}"; done
}}
trap cleanup EXIT
"""
        steps = _seed_steps(spec)
    return f"""\
#!/bin/bash
# {spec.script_name}: fetch one CFHT exposure, detect its sources, store the catalogue.
# Generated by canfar-tui from the Batch Quick Start's do_catalogue.bash.
{about}# Usage: {spec.script_name} OBSERVATION_ID   (e.g. 1056215p)
set -euo pipefail

id=${{1:-}}
if [[ ! $id =~ ^[A-Za-z0-9]+$ ]]; then
  echo "{spec.name}: expected one observation ID (letters and digits), got '${{id}}'" >&2
  exit 2
fi

errors=$(mktemp)
output=$(mktemp)
{cleanup}
# step WHAT COMMAND…: run COMMAND; on failure end the job with one line naming the step and
# the command's last message (cadcget and vcp print theirs on standard output)
step() {{
  local what=$1 status=0 reason
  shift
  "$@" >"$output" 2>"$errors" || status=$?
  cat "$output"
  cat "$errors" >&2
  if (( status != 0 )); then
    reason=$(grep -v '^[[:space:]]*$' "$errors" | tail -n 1 || true)
    [[ -n $reason ]] || reason=$(grep -v '^[[:space:]]*$' "$output" | tail -n 1 || true)
    echo "{spec.name} ${{id}}: ${{what}} failed (exit ${{status}})${{reason:+: ${{reason}}}}" >&2
    exit 1
  fi
}}
{_proxy_setup(spec)}
{steps}"""


def _proxy_setup(spec: PipelineSpec) -> str:
    """Where the certificate is, and HTCondor's proxy copied there (on a batch VM)."""
    if spec.steps == CANFAR_TUI_STEPS and not spec.install_proxy:
        return ""  # canfar-tui's profile knows its certificate
    text = f"""
# vcp and cadcget --cert find the CADC proxy certificate in ~/.ssl/cadcproxy.pem.
: "${{HOME:=$(cd ~ && pwd)}}"
export HOME
cert={PROXY_PATH}
"""
    if spec.install_proxy:
        text += """\
# HTCondor hands the job its proxy (x509userproxy) in $X509_USER_PROXY: copy it there
# (0600, replaced at once), as CANFAR's canfar_cert does.
install_proxy() {
  local copy="$cert.$$"
  if ! (umask 077 && mkdir -p "${cert%/*}" && cp "$X509_USER_PROXY" "$copy"); then
    rm -f "$copy"
    return 1
  fi
  chmod 600 "$copy" && mv -f "$copy" "$cert"
}
if [[ -n ${X509_USER_PROXY:-} && ! $X509_USER_PROXY -ef $cert ]]; then
  step "certificate" install_proxy
fi
"""
    return text


def _written_files(spec: PipelineSpec) -> list[str]:
    """The files the canfar-tui steps write next to the image (removed when the job ends)."""
    names = [PARAM_FILE] if spec.columns != DEFAULT_COLUMNS else []
    return [*names, *(name for name, _ in spec.files)]


def _file_writes(spec: PipelineSpec) -> str:
    """Shell lines writing :attr:`PipelineSpec.files` into the job's folder, as they are."""
    return "".join(f"cat > {name} <<'{_HEREDOC}'\n{text}{_HEREDOC}\n" for name, text in spec.files)


def _canfar_tui_steps(spec: PipelineSpec) -> str:
    sets = "".join(f" --set {shlex.quote(f'{k}={v}')}" for k, v in spec.overrides.items())
    if spec.catalog_type is not None:
        sets = f" -CATALOG_TYPE {spec.catalog_type}{sets}"
    configure = _file_writes(spec)
    if spec.columns != DEFAULT_COLUMNS:
        columns = "\n".join(spec.columns)
        configure = f"echo '{columns}' > {PARAM_FILE}\n{configure}"
        sets = f" --params {PARAM_FILE}{sets}"
    if configure:
        configure = (
            "# The Detect tab's columns and files, written here (removed when the job ends)\n"
            + configure
        )
    workers = f" --workers {spec.workers}" if spec.workers is not None else ""
    folder = shlex.quote(spec.vospace_folder)
    profile = f"--profile {shlex.quote(spec.profile or '')}"
    command_setup = ""
    if spec.command != DEFAULT_COMMAND:
        command_setup = (
            "# canfar-tui as this job runs it\n"
            f'canfar-tui() {{ {shlex.join(spec.command)} "$@"; }}\n\n'
        )
    return f"""\
{command_setup}{configure}step "fetch" canfar-tui {profile} get -q cadc:CFHT/${{id}}.fits.fz
step "detect" canfar-tui detect ${{id}}.fits.fz -o ${{id}}.cat -q{workers}{sets}
step "upload" canfar-tui {profile} put ${{id}}.cat {folder}
echo "{spec.name} ${{id}}: ${{id}}.cat stored in {spec.vospace_folder} (MD5 verified)"
"""


def _seed_steps(spec: PipelineSpec) -> str:
    options = "".join(f" {shlex.quote(word)}" for word in sextractor_options(spec))
    folder = shlex.quote(spec.vospace_folder)
    container = shlex.quote(spec.vospace_folder.rstrip("/"))
    columns = "\n".join(spec.columns)
    files = _file_writes(spec)
    detect = (
        'step "detect" source-extractor ${id}.fits -CATALOG_NAME ${id}.cat -VERBOSE_TYPE QUIET'
        + options
    )
    done = (
        f'echo "{spec.name} ${{id}}: ${{id}}.cat stored in {spec.vospace_folder} '
        '(read back identical, MD5 ${md5%% *})"'
    )
    return f"""\
if [[ ! -s $cert && ! -s $HOME/.netrc ]]; then
  echo "{spec.name} ${{id}}: cannot upload: no CADC certificate for vcp (no \\$X509_USER_PROXY" \\
    "from HTCondor, no ~/.ssl/cadcproxy.pem, no ~/.netrc); nothing was fetched" >&2
  exit 1
fi

# cadcget uses a certificate only when named: with one, proprietary data can be fetched.
fetch() {{
  if [[ -s $cert ]]; then cadcget --cert "$cert" "$@"; else cadcget "$@"; fi
}}
# The catalogues' folder: made by the first job, found by the others.
make_folder() {{
  vmkdir -p {container} || vls {container} >/dev/null
}}

step "folder" make_folder
step "fetch" fetch cadc:CFHT/${{id}}.fits.fz
step "unpack" funpack -D ${{id}}.fits.fz
step "configure" cp {SHARE_DIR}/default* .
echo '{columns}' > {PARAM_FILE}
{files}{detect}
step "upload" vcp ${{id}}.cat {folder}
# Read the catalogue back: what VOSpace stored must be what was sent, byte for byte.
step "check" vcp {folder}${{id}}.cat ${{id}}.cat.check
if ! cmp -s ${{id}}.cat ${{id}}.cat.check; then
  echo "{spec.name} ${{id}}: check failed: the copy in VOSpace differs from ${{id}}.cat" >&2
  exit 1
fi
md5=$(md5sum < ${{id}}.cat)
{done}
"""


def submit_file(spec: PipelineSpec, *, proxy: Path | None = None) -> str:
    """The submit file: the seed's ``do_catalogue.sub`` for ``spec.ids``.

    ``proxy`` (the CADC proxy certificate of a real profile) is named in ``x509userproxy``:
    HTCondor then gives each job a copy, which the job script puts where ``vcp`` and
    ``cadcget`` look — the current ``canfar_submit`` adds no certificate of its own.
    """
    batch = f'batch_name = "{spec.batch_name}"\n' if spec.batch_name else ""
    if proxy is not None:
        batch += f"x509userproxy = {proxy}\n"
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
