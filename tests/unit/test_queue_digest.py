"""The Queue tab's digest of a refresh: totals and running jobs kept incrementally."""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime

from canfar_tui.clients.refresh import compute_diff
from canfar_tui.models import Batch, Job, JobId, JobStatus
from canfar_tui.widgets.queue.rows import BatchRow, QueueTally, batch_names, tally_queue

STATES = list(JobStatus)


def random_jobs(rng: random.Random, count: int) -> dict[Hashable, object]:
    jobs = [
        Job(JobId(100 + i // 10, i % 10), "astro", rng.choice(STATES), batch_name=f"b{i // 10}")
        for i in range(count)
    ]
    return {job.key: job for job in jobs}


def test_incremental_tally_matches_a_fresh_count_over_many_refreshes() -> None:
    rng = random.Random(7)
    items = random_jobs(rng, 300)
    tally: QueueTally | None = None
    previous: Mapping[Hashable, object] = {}
    for _ in range(40):
        current = dict(items)
        diff = compute_diff(previous, current)
        tally = tally_queue(tally, previous, current, diff)
        fresh = tally_queue(None, {}, current, compute_diff({}, current))
        assert (tally.totals, tally.running) == (fresh.totals, fresh.running)
        previous = current
        # change, remove and add some jobs for the next refresh
        for key in rng.sample(sorted(items, key=str), 20):
            job = items[key]
            assert isinstance(job, Job)
            items[key] = Job(job.id, job.owner, rng.choice(STATES), batch_name=job.batch_name)
        for key in rng.sample(sorted(items, key=str), 5):
            del items[key]
        for _ in range(3):
            new = Job(JobId(9000 + rng.randrange(1000), 0), "astro", rng.choice(STATES))
            items[new.key] = new
    assert tally is not None
    total, completed, removed, idle, running, held = tally.totals
    jobs = [job for job in previous.values() if isinstance(job, Job)]  # the last refresh
    assert total == len(jobs)
    assert completed == sum(j.status is JobStatus.COMPLETED for j in jobs)
    assert removed == sum(j.status is JobStatus.REMOVED for j in jobs)
    busy = (JobStatus.RUNNING, JobStatus.TRANSFERRING_OUTPUT)
    assert running == sum(j.status in busy for j in jobs)
    assert held == sum(j.status in (JobStatus.HELD, JobStatus.SUSPENDED) for j in jobs)
    assert idle == sum(j.status is JobStatus.IDLE for j in jobs)


def test_a_tally_of_other_rows_is_not_reused() -> None:
    rng = random.Random(1)
    first = random_jobs(rng, 50)
    tally = tally_queue(None, {}, first, compute_diff({}, first))
    other = random_jobs(rng, 50)  # same keys, other states: e.g. after a reset
    again = tally_queue(tally, dict(first), other, compute_diff(first, other))
    fresh = tally_queue(None, {}, other, compute_diff({}, other))
    assert again.totals == fresh.totals


def test_batch_rows_are_counted_and_named() -> None:
    when = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    batch = Batch(
        owner="astro",
        name="do_catalogue",
        submitted=when,
        done=2,
        running=1,
        idle=1,
        held=0,
        total=4,
        job_ids=(JobId(12, 2), JobId(12, 3)),
    )
    row = BatchRow(batch, completed=2, removed=0)
    items: dict[Hashable, object] = {row.key: row}
    tally = tally_queue(None, {}, items, compute_diff({}, items))
    assert tally.totals == (4, 2, 0, 1, 1, 0)
    assert tally.running == frozenset()  # batches are not "running rows"
    assert batch_names([row]) == {12: "do_catalogue"}
