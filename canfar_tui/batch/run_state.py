"""A submitted pipeline batch and its outcome, and how it is kept in ``last-run.json``.

:class:`PipelineRun` is what the Pipeline tab shows and watches: the batch's spec, submit
folder, cluster, snapshot and flavor, and once no job of it is left in the queue its
:class:`~canfar_tui.batch.pipeline_run.PipelineOutcome` (a resubmission keeps the catalogues
that arrived before). :func:`run_to_json` and :func:`run_from_json` turn it into JSON and back;
:func:`save_run` and :func:`load_run` write and read the file. Nothing here imports Textual.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from canfar_tui.batch.pipeline import (
    SEED_STEPS,
    PipelineError,
    PipelineSpec,
    ScriptKind,
    validate_ids,
)
from canfar_tui.batch.pipeline_run import Arrived, Failed, PipelineOutcome
from canfar_tui.clients.files import atomic_write
from canfar_tui.detection.params import DEFAULT_COLUMNS
from canfar_tui.logs import get_logger

__all__ = [
    "RUN_FILE_VERSION",
    "PipelineRun",
    "load_run",
    "run_from_json",
    "run_to_json",
    "save_run",
]

log = get_logger("pipeline")

#: Version of the last-run file.
RUN_FILE_VERSION: Final = 1


@dataclass(slots=True)
class PipelineRun:
    """One submitted pipeline batch and, once it finished, its outcome.

    ``ids`` are the IDs this batch runs; ``order`` the pipeline's IDs in the order typed (a
    resubmission keeps the first run's order); ``kept`` the catalogues that arrived in the
    runs before a resubmission.
    """

    spec: PipelineSpec
    submit_dir: Path
    cluster: int
    num_jobs: int
    batch_name: str
    image: str
    flavor: str
    ids: tuple[str, ...]
    order: tuple[str, ...]
    kept: tuple[Arrived, ...] = ()
    outcome: PipelineOutcome | None = None
    progress: str = field(default="", compare=False)

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def combined(self) -> PipelineOutcome | None:
        """This batch's outcome with the catalogues of the earlier runs, in ``order``."""
        if self.outcome is None:
            return None
        fresh = {item.obs_id for item in self.outcome.arrived} | set(self.outcome.to_resubmit())
        arrived = [item for item in self.kept if item.obs_id not in fresh]
        arrived += self.outcome.arrived
        rank = {obs_id: index for index, obs_id in enumerate(self.order)}

        def position(obs_id: str) -> int:
            return rank.get(obs_id, len(rank))

        return PipelineOutcome(
            tuple(sorted(arrived, key=lambda item: position(item.obs_id))),
            tuple(sorted(self.outcome.failed, key=lambda item: position(item.obs_id))),
        )


def _arrived_json(item: Arrived) -> dict[str, object]:
    return {"obs_id": item.obs_id, "uri": item.uri, "md5": item.md5, "size": item.size}


def _arrived_from(data: Mapping[str, Any]) -> Arrived:
    size = data.get("size")
    md5 = data.get("md5")
    return Arrived(
        str(data["obs_id"]),
        str(data["uri"]),
        str(md5) if md5 is not None else None,
        int(size) if size is not None else None,
    )


def run_to_json(run: PipelineRun) -> dict[str, object]:
    """``run`` as JSON-ready data (see :func:`run_from_json`)."""
    spec = run.spec
    outcome = None
    if run.outcome is not None:
        outcome = {
            "arrived": [_arrived_json(item) for item in run.outcome.arrived],
            "failed": [{"obs_id": f.obs_id, "reason": f.reason} for f in run.outcome.failed],
        }
    return {
        "version": RUN_FILE_VERSION,
        "spec": {
            "ids": list(spec.ids),
            "vospace_folder": spec.vospace_folder,
            "overrides": dict(spec.overrides),
            "command": list(spec.command),
            "workers": spec.workers,
            "name": spec.name,
            "batch_name": spec.batch_name,
            "profile": spec.profile,
            "steps": spec.steps,
            "install_proxy": spec.install_proxy,
            "columns": list(spec.columns),
            "files": [[name, text] for name, text in spec.files],
            "catalog_type": spec.catalog_type,
        },
        "submit_dir": str(run.submit_dir),
        "cluster": run.cluster,
        "num_jobs": run.num_jobs,
        "batch_name": run.batch_name,
        "image": run.image,
        "flavor": run.flavor,
        "ids": list(run.ids),
        "order": list(run.order),
        "kept": [_arrived_json(item) for item in run.kept],
        "outcome": outcome,
    }


def run_from_json(data: Mapping[str, Any]) -> PipelineRun:
    """The run saved by :func:`run_to_json`; ValueError (one line) for anything else."""
    try:
        if data.get("version") != RUN_FILE_VERSION:
            raise ValueError(f"unknown version {data.get('version')!r}")
        raw = data["spec"]
        workers = raw.get("workers")
        profile = raw.get("profile")
        # Runs saved before the job script had kinds: their script is in the run folder.
        steps = str(raw.get("steps", SEED_STEPS))  # checked by PipelineSpec
        spec = PipelineSpec(
            tuple(str(item) for item in raw["ids"]),
            str(raw["vospace_folder"]),
            {str(key): str(value) for key, value in dict(raw["overrides"]).items()},
            tuple(str(item) for item in raw["command"]),
            int(workers) if workers is not None else None,
            str(raw["name"]),
            str(raw["batch_name"]) if raw.get("batch_name") is not None else None,
            str(profile) if profile is not None else None,
            cast(ScriptKind, steps),
            bool(raw.get("install_proxy", True)),
            # Runs saved before the Detect tab's columns went with the job: the defaults.
            tuple(str(item) for item in raw.get("columns", DEFAULT_COLUMNS)),
            tuple((str(name), str(text)) for name, text in raw.get("files", ())),
            str(raw["catalog_type"]) if raw.get("catalog_type") is not None else None,
        )
        outcome = None
        if data.get("outcome") is not None:
            outcome = PipelineOutcome(
                tuple(_arrived_from(item) for item in data["outcome"]["arrived"]),
                tuple(
                    Failed(str(item["obs_id"]), str(item["reason"]))
                    for item in data["outcome"]["failed"]
                ),
            )
        return PipelineRun(
            spec=spec,
            submit_dir=Path(str(data["submit_dir"])),
            cluster=int(data["cluster"]),
            num_jobs=int(data["num_jobs"]),
            batch_name=str(data["batch_name"]),
            image=str(data["image"]),
            flavor=str(data["flavor"]),
            ids=validate_ids(str(item) for item in data["ids"]),
            order=tuple(str(item) for item in data["order"]),
            kept=tuple(_arrived_from(item) for item in data["kept"]),
            outcome=outcome,
        )
    except (KeyError, TypeError, AttributeError, PipelineError) as error:
        raise ValueError(f"not a pipeline run: {error}") from None


def save_run(run: PipelineRun, path: Path) -> None:
    """Write ``run`` to ``path`` (atomically, mode 0644, missing folders made); OSError."""
    text = json.dumps(run_to_json(run), indent=1) + "\n"
    atomic_write(path, text, mode=0o644, folder_mode=0o777)


def load_run(path: Path) -> PipelineRun | None:
    """The run saved in ``path``; None (the reason logged) when there is none or it is damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("cannot read %s: %s", path, error)
        return None
    try:
        return run_from_json(data)
    except ValueError as error:
        log.warning("%s: %s", path, error)
        return None
