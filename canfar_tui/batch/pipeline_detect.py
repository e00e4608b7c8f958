"""The Detect tab's whole setup for a batch job: its ``.sex`` values, columns, filter, network.

A Detect run is more than the five values of its form: a loaded ``.sex`` sets any key, a
``.param`` (or the column editor) the columns, the ``.sex`` can name a filter or a neural
network of its own folder, and the form chooses the catalogue format. :func:`batch_detect`
turns one :class:`~canfar_tui.detection.params.DetectionParams` into what a
:class:`~canfar_tui.batch.pipeline.PipelineSpec` carries to the worker:

* ``overrides`` — every key that differs from ``default.sex`` (``-KEY VALUE`` for
  ``source-extractor``, ``--set KEY=VALUE`` for ``canfar-tui detect``);
* ``columns`` — the ``.param`` specs (``MAG_APER(3)``, ``VIGNET(15,15)``), which the job
  script writes into ``default.param`` on the worker;
* ``files`` — the files the job writes next to it, as text in the job script: a filter that
  is not the package's own (its kernel, as a ``.conv`` file) and a ``STARNNW_NAME`` network
  that is not ``default.nnw`` of the package (its text);
* ``catalog_type`` — the form's format with SExtractor's name (``FITS_LDAC``);
* ``notes`` — what the job leaves out, one line each: check-images (only the catalogue goes
  to VOSpace).

A setting a batch job cannot honour raises :class:`~canfar_tui.batch.pipeline.PipelineError`
in one line: a weight or flag map is one file of this machine, for one exposure.

Imports nothing heavy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from canfar_tui.batch.pipeline import SHARE_DIR, PipelineError, detect_overrides
from canfar_tui.detection.params import (
    DEFAULT_CONV,
    SHARE_DIRS,
    DetectionParams,
    ParamError,
    read_conv_file,
)

__all__ = ["FORMAT_TYPES", "BatchDetect", "batch_detect", "column_specs", "conv_text"]

#: The Detect form's formats as CATALOG_TYPE values (ECSV: canfar-tui only, not offered).
FORMAT_TYPES: Final[dict[str, str]] = {
    "ascii_head": "ASCII_HEAD",
    "ascii": "ASCII",
    "ascii_skycat": "ASCII_SKYCAT",
    "fits": "FITS_1.0",
    "fits_ldac": "FITS_LDAC",
}
#: Largest neural-network file carried in a job script (default.nnw is about 5 kB).
MAX_NNW_BYTES: Final = 256 * 1024
_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class BatchDetect:
    """A Detect setup as a batch job takes it (see the module)."""

    overrides: dict[str, str]
    columns: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()
    catalog_type: str | None = None
    notes: tuple[str, ...] = ()


def column_specs(params: DetectionParams) -> tuple[str, ...]:
    """``params.columns`` as ``.param`` lines: ``MAG_APER(3)``, ``VIGNET(15,15)``."""
    sizes, dims = dict(params.column_sizes), dict(params.column_dims)
    specs: list[str] = []
    for name in params.columns:
        if name in dims:
            width, height = dims[name]
            specs.append(f"{name}({width},{height})")
        elif sizes.get(name, 1) != 1:
            specs.append(f"{name}({sizes[name]})")
        else:
            specs.append(name)
    return tuple(specs)


def conv_text(kernel: tuple[tuple[float, ...], ...], norm: bool) -> str:
    """A SExtractor ``.conv`` file with ``kernel``'s rows (``CONV NORM`` or ``CONV NONORM``)."""
    lines = [f"CONV {'NORM' if norm else 'NONORM'}"]
    lines += [" ".join(f"{value:.9g}" for value in row) for row in kernel]
    return "\n".join(lines) + "\n"


def _job_name(name: str, fallback: str) -> str:
    """A file name for the job's folder: the base name, never one of the package's default*."""
    base = Path(name).name
    if not _SAFE_NAME.fullmatch(base):
        base = fallback
    return f"user-{base}" if base.startswith("default") else base


def _package_filter(params: DetectionParams) -> bool:
    """Whether the worker's package has this very filter under FILTER_NAME's bare name."""
    name = params.filter_name
    if "/" in name:
        return False
    path = Path(SHARE_DIR, name)
    try:
        return path.is_file() and read_conv_file(path) == (params.filter_kernel, params.filter_norm)
    except ParamError:
        return False


def _filter_file(params: DetectionParams) -> tuple[str, str] | None:
    """The filter the job must carry: None for none or the package's own."""
    if not params.filter:
        return None
    default = DetectionParams()
    if (params.filter_name, params.filter_kernel, params.filter_norm) == (
        default.filter_name,
        DEFAULT_CONV,
        default.filter_norm,
    ) or _package_filter(params):
        return None
    return _job_name(params.filter_name, "filter.conv"), conv_text(
        params.filter_kernel, params.filter_norm
    )


def _network_file(params: DetectionParams) -> tuple[str, str] | None:
    """The STARNNW_NAME network the job must carry (CLASS_STAR asked, not the package's)."""
    name = params.starnnw_name
    if "CLASS_STAR" not in params.columns or (name == "default.nnw" and "/" not in name):
        return None
    from canfar_tui.clients.files import UnreadableFile, read_bounded

    candidate = Path(name).expanduser()
    folders = [Path.cwd(), *([Path(params.starnnw_dir)] if params.starnnw_dir else [])]
    paths = [candidate] if candidate.is_absolute() else [d / candidate for d in folders]
    if not candidate.is_absolute() and "/" not in name:
        paths += [Path(d) / candidate for d in SHARE_DIRS]
    for path in paths:
        if not path.is_file():
            continue
        if path.parent == Path(SHARE_DIR):
            return None  # the package's own: the worker has it too
        try:
            text = read_bounded(path, MAX_NNW_BYTES, "neural network").decode("utf-8")
        except (UnreadableFile, UnicodeDecodeError) as error:
            raise PipelineError(f"STARNNW_NAME {name}: {error}") from None
        return _job_name(name, "star.nnw"), text
    raise PipelineError(f"STARNNW_NAME {name}: file not found")


def batch_detect(params: DetectionParams, catalogue_format: str | None = None) -> BatchDetect:
    """What a batch job needs to measure like ``params`` (see the module)."""
    if params.weight_type.startswith("MAP_"):
        raise PipelineError(
            f"WEIGHT_TYPE {params.weight_type} needs the weight map of each exposure: "
            "a batch job cannot use WEIGHT_IMAGE (NONE or BACKGROUND can)"
        )
    flag_columns = {"IMAFLAGS_ISO", "NIMAFLAGS_ISO"} & set(params.columns)
    if flag_columns:
        raise PipelineError(
            f"{', '.join(sorted(flag_columns))} need the flag map of each exposure: "
            "a batch job cannot use FLAG_IMAGE (leave the column out)"
        )
    overrides = detect_overrides(params)
    notes: list[str] = []
    for key in ("CHECKIMAGE_TYPE", "CHECKIMAGE_NAME"):
        if overrides.pop(key, None) is not None and key == "CHECKIMAGE_TYPE":
            notes.append("check-images are not made by the batch job (only the catalogue)")
    for key in ("WEIGHT_IMAGE", "FLAG_IMAGE"):  # unused without a map (checked above)
        overrides.pop(key, None)
    files: list[tuple[str, str]] = []
    conv = _filter_file(params)
    if conv is not None:
        files.append(conv)
        overrides["FILTER_NAME"] = conv[0]
    network = _network_file(params)
    if network is not None:
        files.append(network)
        overrides["STARNNW_NAME"] = network[0]
    elif "CLASS_STAR" not in params.columns:
        overrides.pop("STARNNW_NAME", None)
    catalog_type = None
    if catalogue_format is not None and catalogue_format != "ascii_head":
        catalog_type = FORMAT_TYPES.get(catalogue_format)
        if catalog_type is None:
            notes.append(f"{catalogue_format.upper()} is not a CATALOG_TYPE: ASCII_HEAD is written")
    return BatchDetect(overrides, column_specs(params), tuple(files), catalog_type, tuple(notes))
