"""After a pipeline batch: which catalogues arrived in VOSpace, which IDs failed and why.

:func:`collect_outcome` looks for each ID's catalogue in the VOSpace folder (through any
:class:`~canfar_tui.clients.base.StorageClient`) and reads the job's error file in the submit
directory. An ID whose catalogue is there (and, when the job's copy came back to the submit
directory, has the same MD5) *arrived*; any other ID *failed*, with the last non-empty line of
its error file as the reason (the job script ends with one line naming the step that failed).
:meth:`PipelineOutcome.to_resubmit` lists the failed IDs, for
:meth:`~canfar_tui.batch.pipeline.PipelineSpec.only`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from canfar_tui.batch.pipeline import PipelineSpec
from canfar_tui.clients.base import NotFound, StorageClient

__all__ = [
    "Arrived",
    "Failed",
    "PipelineOutcome",
    "collect_outcome",
    "last_error_line",
]

#: Bytes read from the end of an error file to find its last line.
_TAIL_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Arrived:
    """A catalogue stored in VOSpace."""

    obs_id: str
    uri: str
    md5: str | None
    size: int | None


@dataclass(frozen=True, slots=True)
class Failed:
    """An ID without a (matching) catalogue, with the reason in one line."""

    obs_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PipelineOutcome:
    """The result of one pipeline batch, in the order of the IDs."""

    arrived: tuple[Arrived, ...]
    failed: tuple[Failed, ...]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_resubmit(self) -> tuple[str, ...]:
        """The IDs to submit again (the failed ones)."""
        return tuple(item.obs_id for item in self.failed)

    def summary_lines(self) -> list[str]:
        """One line per ID: ``✓ ID  URI  md5=…`` or ``✗ ID  reason``."""
        lines = [f"✓ {a.obs_id}  {a.uri}  md5={a.md5 or '?'}" for a in self.arrived]
        lines += [f"✗ {f.obs_id}  {f.reason}" for f in self.failed]
        return lines


def last_error_line(path: Path) -> str | None:
    """The last non-empty line of ``path`` (None when it is missing or empty)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.decode("utf-8", "replace").splitlines()):
        if line.strip():
            return line.strip()
    return None


def _md5(path: Path) -> str | None:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


async def collect_outcome(
    storage: StorageClient,
    spec: PipelineSpec,
    submit_dir: Path,
    *,
    ids: Sequence[str] | None = None,
    exit_codes: Mapping[str, int | None] | None = None,
) -> PipelineOutcome:
    """Check each of ``ids`` (default: ``spec.ids``) after the batch finished.

    ``submit_dir`` holds the jobs' error files and the catalogues the jobs transferred back.
    ``exit_codes`` (ID → the job's exit code, None when it did not complete), when known
    from the queue, marks a job that failed as failed even if an older catalogue is stored.
    Errors of the storage service other than "not found" propagate (:class:`ClientError`).
    """
    arrived: list[Arrived] = []
    failed: list[Failed] = []
    for obs_id in ids if ids is not None else spec.ids:
        uri = spec.catalogue_uri(obs_id)
        reason = last_error_line(submit_dir / spec.error_file(obs_id))
        if exit_codes is not None and obs_id in exit_codes and exit_codes[obs_id] != 0:
            code = exit_codes[obs_id]
            status = "did not complete" if code is None else f"exited with status {code}"
            failed.append(Failed(obs_id, reason or f"the job {status}"))
            continue
        try:
            node = await storage.stat(uri)
        except NotFound:
            failed.append(Failed(obs_id, reason or f"no catalogue at {uri} and no error message"))
            continue
        if node.is_container:
            failed.append(Failed(obs_id, f"{uri} is a folder, not a catalogue"))
            continue
        local_md5 = _md5(submit_dir / Path(uri).name)
        if local_md5 is not None and node.md5 is not None and local_md5 != node.md5:
            failed.append(
                Failed(obs_id, f"{uri} does not match the job's catalogue (MD5 {node.md5})")
            )
            continue
        arrived.append(Arrived(obs_id, uri, node.md5, node.size))
    return PipelineOutcome(tuple(arrived), tuple(failed))
