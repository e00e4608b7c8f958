"""``canfar-tui status``: a one-screen summary of every service of the active profile.

Each configured service is asked once (with a timeout) and summarised: instances by state and
floating IPs, queue totals, storage use (a real profile's line is CADC's VOSpace, asked with
the profile's certificate), certificate expiry. A service that cannot be reached, or that is
configured but could not start, is a FAIL line; a service that answers but reports a problem
(a netrc readable by others, a certificate that cannot be read or is about to expire) is a
WARN line with the problem. Either makes the exit status 1. No Textual here: this is the
headless path.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from canfar_tui.clients.base import ClientError, expiry_text
from canfar_tui.clients.bundle import Clients
from canfar_tui.models import JobStatus, ServiceStatus

SERVICE_TIMEOUT = 20.0


async def _cloud_summary(clients: Clients) -> dict[str, object]:
    cloud = clients.cloud
    assert cloud is not None
    project = await cloud.current_project()
    instances = await cloud.list_instances()
    addresses = await cloud.list_floating_ips()
    return {
        "project": project.name if project else None,
        "instances": dict(Counter(instance.status for instance in instances)),
        "floating_ips": len(addresses),
        "floating_ips_in_use": sum(1 for address in addresses if address.instance_id),
    }


async def _queue_summary(clients: Clients) -> dict[str, object]:
    queue = clients.queue
    assert queue is not None
    jobs = await queue.list_jobs()
    counts = Counter(job.status.name.lower() for job in jobs)
    # the sandbox's executor (a background thread) can be broken while listing works
    problem = getattr(queue, "executor_problem", None)
    return {
        "jobs": len(jobs),
        **{
            status.name.lower(): counts[status.name.lower()]
            for status in (JobStatus.IDLE, JobStatus.RUNNING, JobStatus.HELD)
        },
        **({"problem": problem} if isinstance(problem, str) else {}),
    }


async def _storage_summary(clients: Clients) -> dict[str, object]:
    storage = clients.storage
    assert storage is not None
    quota = await storage.quota()
    return {
        "home": storage.home_uri,
        "used_bytes": quota.used_bytes,
        "quota_bytes": quota.quota_bytes,
    }


async def _credentials_summary(clients: Clients) -> dict[str, object]:
    credentials = clients.credentials
    assert credentials is not None
    status = await credentials.status()
    return {
        "username": status.username,
        "certificate_expires": status.expires_at.isoformat() if status.expires_at else None,
        "certificate_left": expiry_text(status.expires_at, datetime.now(UTC)),
        "problem": status.problem,
    }


SUMMARIES: Sequence[tuple[str, Callable[[Clients], Awaitable[dict[str, object]]]]] = (
    ("cloud", _cloud_summary),
    ("queue", _queue_summary),
    ("storage", _storage_summary),
    ("credentials", _credentials_summary),
)


async def collect_status(
    clients: Clients,
    *,
    # Each service gets ``timeout`` on its own and the report names the one that did not
    # answer; an ``asyncio.timeout`` around the whole call would lose that.
    timeout: float = SERVICE_TIMEOUT,  # noqa: ASYNC109 - see above
) -> list[ServiceStatus]:
    """Ask every service of the bundle for its summary, concurrently."""

    async def one(
        service: str, summarise: Callable[[Clients], Awaitable[dict[str, object]]]
    ) -> ServiceStatus:
        client = getattr(clients, service)
        if client is None and service in clients.failed:
            # configured but unusable (a real profile's VOSpace without a certificate...)
            return ServiceStatus(service, "—", reachable=False, error=clients.why_missing(service))
        if client is None:
            return ServiceStatus(
                service,
                "—",
                reachable=True,
                error=None,
                summary={"configured": False, "note": clients.why_missing(service)},
            )
        label = client.backend_label
        try:
            summary = await asyncio.wait_for(summarise(clients), timeout)
        except ClientError as error:
            return ServiceStatus(service, label, reachable=False, error=error.message)
        except TimeoutError:
            return ServiceStatus(
                service, label, reachable=False, error=f"no answer in {timeout:g} s"
            )
        return ServiceStatus(service, label, reachable=True, summary=summary)

    return list(await asyncio.gather(*(one(name, fn) for name, fn in SUMMARIES)))


def status_problem(status: ServiceStatus) -> str | None:
    """What a service that answered reports as wrong (its summary's ``problem``), if anything."""
    problem = dict(status.summary).get("problem")
    return str(problem) if problem else None


def status_exit_code(statuses: Sequence[ServiceStatus]) -> int:
    """0 when every configured service answered and reported no problem, 1 otherwise."""
    healthy = all(status.reachable and status_problem(status) is None for status in statuses)
    return 0 if healthy else 1


def status_json(profile: str, statuses: Sequence[ServiceStatus]) -> str:
    return json.dumps(
        {
            "profile": profile,
            "services": [
                {
                    "service": status.service,
                    "backend": status.backend,
                    "reachable": status.reachable,
                    "error": status.error,
                    **dict(status.summary),
                }
                for status in statuses
            ],
        },
        indent=2,
        default=str,
    )


def _describe(status: ServiceStatus) -> str:
    summary = dict(status.summary)
    if summary.get("configured") is False:
        return str(summary.get("note", "not configured"))
    if status.service == "cloud":
        states = summary.get("instances") or {}
        assert isinstance(states, dict)
        by_state = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        return (
            f"project {summary.get('project') or '—'}; instances: {by_state or 'none'}; "
            f"floating IPs: {summary.get('floating_ips')} "
            f"({summary.get('floating_ips_in_use')} in use)"
        )
    if status.service == "queue":
        return (
            f"{summary.get('jobs')} jobs: {summary.get('running')} running, "
            f"{summary.get('idle')} idle, {summary.get('held')} held"
        )
    if status.service == "storage":
        used = summary.get("used_bytes")
        return f"{summary.get('home')}: {used} bytes used"
    if status.service == "credentials":
        return (
            f"user {summary.get('username') or '—'}; certificate {summary.get('certificate_left')}"
        )
    return ", ".join(f"{key}={value}" for key, value in summary.items())


def status_text(profile: str, mode: str, statuses: Sequence[ServiceStatus]) -> str:
    """Plain text, one line per service, for a terminal or a pipe."""
    lines = [f"canfar-tui status — profile {profile} ({mode})"]
    for status in statuses:
        problem = status_problem(status)
        mark = "FAIL" if not status.reachable else "WARN" if problem else "ok  "
        detail = status.error if status.error else _describe(status)
        if status.reachable and problem:
            detail = f"{problem} ({detail})"
        lines.append(f"  {mark} {status.service:<12} {status.backend:<10} {detail}")
    return "\n".join(lines)
