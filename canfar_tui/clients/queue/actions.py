"""The argument checks of the queue actions, the same for every backend.

``hold`` / ``release`` / ``remove`` take a sequence of :class:`~canfar_tui.models.JobId`;
``edit_job`` one JobId and a mapping of attribute names to ClassAd expressions. Both backends
(:mod:`~canfar_tui.clients.queue.condor.client` and
:mod:`~canfar_tui.clients.queue.sandbox.queue`) call these before they touch the queue, so a
malformed request is refused with the same :class:`~canfar_tui.clients.base.InvalidInput`
everywhere and nothing changes. What the backends check themselves afterwards (the owner, the
job's state, the values of an edit) needs the queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from canfar_tui.clients.base import InvalidInput, editable_job_attributes
from canfar_tui.models import JobId

__all__ = ["NOT_A_JOB_ID", "checked_edit", "checked_job_id", "checked_job_ids"]

#: The message for an id that is not a JobId.
NOT_A_JOB_ID: Final = "Job ids must be JobId values like 123.0."


def checked_job_ids(job_ids: Sequence[JobId]) -> list[JobId]:
    """The ids of a hold / release / remove, each once, in the order given.

    InvalidInput if any of them is not a JobId. An empty list means "nothing to do" (0 jobs).
    """
    ids = list(job_ids)
    if not all(isinstance(job_id, JobId) for job_id in ids):
        raise InvalidInput(NOT_A_JOB_ID)
    return list(dict.fromkeys(ids))


def checked_job_id(job_id: object) -> JobId:
    """``job_id`` if it is a JobId, else InvalidInput."""
    if not isinstance(job_id, JobId):
        raise InvalidInput(NOT_A_JOB_ID)
    return job_id


def checked_edit(job_id: object, attributes: Mapping[str, str]) -> dict[str, str]:
    """The attributes of an ``edit_job`` with canonical names, after checking the job id.

    InvalidInput for an id that is not a JobId, a name that cannot be edited, an empty value,
    a name given twice, or no attribute at all
    (:func:`~canfar_tui.clients.base.editable_job_attributes`). The values are checked by the
    backend (:func:`~canfar_tui.clients.queue.edit_language.parse_job_edit`).
    """
    checked_job_id(job_id)
    return editable_job_attributes(attributes)
