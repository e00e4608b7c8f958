"""The small pieces around submission: choices, the proxy, preferences and job reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from canfar_tui.batch.choices import (
    batch_flavors,
    batch_images,
    batch_proxy,
    default_flavor,
    default_image,
    find_image,
)
from canfar_tui.batch.joblog import (
    duration_text,
    idle_explanation,
    job_summary,
    read_tail,
    status_name,
)
from canfar_tui.models import CredentialStatus, Flavor, Image, ImageKind

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def image(name: str, kind: ImageKind, status: str = "active", days: int = 0) -> Image:
    return Image(
        id=f"id-{name}",
        name=name,
        status=status,
        kind=kind,
        created_at=NOW - timedelta(days=days),
    )


def test_batch_images_offer_active_snapshots_newest_first_then_the_quick_start_image() -> None:
    images = [
        image("canfar-rocky-8", ImageKind.IMAGE),
        image("canfar-ubuntu-20.04", ImageKind.IMAGE),
        image("old-snap", ImageKind.SNAPSHOT, days=10),
        image("new-snap", ImageKind.SNAPSHOT, days=1),
        image("saving-snap", ImageKind.SNAPSHOT, status="saving"),
    ]
    ordered = [i.name for i in batch_images(images)]
    assert ordered == ["new-snap", "old-snap", "canfar-ubuntu-20.04", "canfar-rocky-8"]
    usable = batch_images(images)
    assert default_image(usable, None) is usable[0]
    assert default_image(usable, "id-old-snap") == find_image(usable, "old-snap")
    assert default_image(usable, "canfar-rocky-8") is not None
    assert default_image(usable, "gone") is usable[0]
    assert default_image([], "x") is None


def test_flavors_with_scratch_first_and_the_quick_start_default() -> None:
    flavors = [
        Flavor("1", "p2-3gb", 2, 3072, 20),
        Flavor("2", "c4-15gb-83", 4, 15360, 20, 83),
        Flavor("3", "c2-7.5gb-30", 2, 7680, 20, 31),
    ]
    ordered = batch_flavors(flavors)
    assert [f.name for f in ordered] == ["c2-7.5gb-30", "c4-15gb-83", "p2-3gb"]
    assert default_flavor(ordered) is not None
    assert default_flavor(ordered).name == "c2-7.5gb-30"  # type: ignore[union-attr]
    assert default_flavor([flavors[0], flavors[1]]).name == "c4-15gb-83"  # type: ignore[union-attr]


def test_the_proxy_is_named_when_present_with_a_warning_when_short_or_expired(
    tmp_path: Path,
) -> None:
    pem = tmp_path / "cadcproxy.pem"
    status = CredentialStatus("me", pem, NOW + timedelta(days=9))
    assert batch_proxy(status, NOW) == (None, batch_proxy(status, NOW)[1])
    assert "no CADC proxy certificate" in (batch_proxy(status, NOW)[1] or "")
    pem.write_text("x")
    assert batch_proxy(status, NOW) == (pem, None)
    expiring = CredentialStatus("me", pem, NOW + timedelta(hours=5))
    path, problem = batch_proxy(expiring, NOW)
    assert path == pem and problem is not None and "expires in 5 h" in problem
    expired = CredentialStatus("me", pem, NOW - timedelta(hours=1))
    assert "has expired" in (batch_proxy(expired, NOW)[1] or "")
    assert batch_proxy(None) == (None, None)


def test_read_tail_keeps_the_end_and_makes_it_safe(tmp_path: Path) -> None:
    assert read_tail(None).error is not None
    missing = read_tail(tmp_path / "job.out")
    assert not missing.exists and missing.error is not None and "not written yet" in missing.error
    out = tmp_path / "job.out"
    out.write_bytes(b"".join(f"line {n}\n".encode() for n in range(1000)) + b"\x1b[2Jend\r\n")
    tail = read_tail(out, max_bytes=200, max_lines=5)
    assert tail.exists and tail.truncated
    lines = tail.text.splitlines()
    assert len(lines) == 5
    assert lines[-1] == "\N{REPLACEMENT CHARACTER}[2Jend"
    assert lines[-2] == "line 999"
    whole = read_tail(out)
    assert whole.text.splitlines()[0] == "line 601"  # the last 400 (TAIL_LINES) lines
    assert whole.size == out.stat().st_size


def test_summary_and_why_idle_read_like_condor_q() -> None:
    ad: dict[str, object] = {
        "ClusterId": 12,
        "ProcId": 3,
        "JobStatus": 1,
        "Owner": "me",
        "Cmd": "/home/me/do_catalogue.bash",
        "Args": "1056218p",
        "QDate": int(NOW.timestamp()) - 125,
        "EnteredCurrentStatus": int(NOW.timestamp()) - 65,
        "RequestCpus": 2,
        "RequestMemory": 16384,
        "RequestDisk": 29 * 1024 * 1024,
        "VMImage": "my-snap",
        "VMInstanceType": "c2-7.5gb-30",
    }
    summary = dict(job_summary(ad))
    assert summary["job"] == "12.3"
    assert summary["status"] == "I idle"
    assert summary["requests"] == "2 CPUs, 16384 MB of memory, 29.0 GB of disk"
    why = idle_explanation(ad, now=NOW)
    assert why is not None
    assert why.startswith("Idle for 0+00:01:05.")
    assert "can never start on c2-7.5gb-30: 16384 MB > 7680 MB" in why
    assert "snapshot my-snap" in why
    ad["RequestMemory"] = 4096
    fits = idle_explanation(ad, now=NOW, executor_slots=2)
    assert fits is not None and "fit a c2-7.5gb-30 VM" in fits
    assert "runs 2 jobs at a time" in fits
    assert idle_explanation({**ad, "JobStatus": 2}) is None


def test_durations_and_status_names() -> None:
    assert duration_text(0) == "0+00:00:00"
    assert duration_text(90061) == "1+01:01:01"
    assert status_name(5) == "H held"
    assert status_name("nonsense") == "nonsense"
