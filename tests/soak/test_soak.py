"""Soak: the real app, headless, on the real sandbox bundle, while faults fire everywhere.

A scripted user (fixed seed, a fixed number of rounds) switches tabs, filters, refreshes,
launches and deletes instances, submits and removes jobs, uploads and downloads files, while
:mod:`canfar_tui.clients.faults` injects latency, timeouts, HTTP 503/500 and expired tokens into
the cloud, the queue and the storage client, and the loopback VOSpace service corrupts uploads,
fails requests and cuts downloads. At the end:

* no unhandled exception (``app.unexpected_errors == 0``, the app still running);
* every upload is either on the service with the right MD5, or was reported failed (and then
  nothing with the wrong content is there);
* every download that succeeded has the right MD5;
* no temporary file is left in the sandbox data dir, the service's temp dir, the upload source
  dir or the download dir;
* memory (RSS after a GC) does not keep growing: the second half adds at most a bounded amount.

The figures (faults injected, actions, failures reported, crashes) are printed for the notes;
run with ``-s`` to see them. ``CANFAR_TUI_SOAK_ROUNDS`` changes the number of rounds.
"""

from __future__ import annotations

import gc
import hashlib
import os
import random
import textwrap
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from canfar_tui.app import create_app
from canfar_tui.clients.base import ClientError
from canfar_tui.clients.bundle import Clients, build_clients
from canfar_tui.clients.faults import FaultPlan, fault_counters, with_faults
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.clients.storage.vospace import VOSpaceStorage
from canfar_tui.config import DEFAULT_REFRESH, Settings
from canfar_tui.models import LaunchRequest
from canfar_tui.widgets.resource_view import ResourceView

SEED = 20261125
ROUNDS = int(os.environ.get("CANFAR_TUI_SOAK_ROUNDS", "300"))
#: What the second half may add to the RSS (MB) once the first half warmed everything up.
MAX_SECOND_HALF_GROWTH_MB = 48.0
TEMP_SUFFIXES = (".part", ".tmp")

JOB_SCRIPT = "#!/bin/bash\necho soak job $1\n"
SUBMIT = textwrap.dedent(
    """\
    executable = soak.sh
    arguments = $(Process)
    output = out-$(Cluster)-$(Process).txt
    error = err-$(Cluster)-$(Process).txt
    log = soak.log
    queue {count}
    """
)


def rss_mb() -> float:
    """Resident set size of this process in MB, after a full collection."""
    gc.collect()
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.endswith(TEMP_SUFFIXES)]


def plan(seed: int, **overrides: Any) -> FaultPlan:
    base: dict[str, Any] = {
        "seed": seed,
        "latency": 0.002,
        "jitter": 0.02,
        "error_rate": 0.12,
        "server_error_rate": 0.04,
        "timeout_rate": 0.02,
        "timeout_after": 0.3,
        "auth_after": 12,
        "auth_window": 2,
        "auth_repeat": True,
    }
    base.update(overrides)
    return FaultPlan(**base)


class Soak:
    """The scripted user and the figures."""

    def __init__(self, app: Any, pilot: Any, clients: Clients, tmp: Path, server: Any) -> None:
        self.app = app
        self.pilot = pilot
        self.clients = clients
        self.server = server
        self.random = random.Random(SEED)
        self.actions: Counter[str] = Counter()
        self.failures_reported = 0
        self.server_faults = 0
        self.source_dir = tmp / "upload-src"
        self.download_dir = tmp / "downloads"
        self.job_dir = tmp / "jobs"
        for folder in (self.source_dir, self.download_dir, self.job_dir):
            folder.mkdir()
        (self.job_dir / "soak.sh").write_text(JOB_SCRIPT)
        (self.job_dir / "soak.sh").chmod(0o755)
        self.uploads: dict[str, tuple[Path, str, bool]] = {}  # uri -> (source, md5, ok)
        self.downloads_ok = 0
        self.launched: list[str] = []
        self.clusters: list[int] = []
        self.image_id: str | None = None
        self.flavor_id: str | None = None

    def failed(self, error: ClientError, what: str) -> None:
        """An action failed: report it the way the app does (one line + details)."""
        self.failures_reported += 1
        self.app.report_error(error, context=f"soak {what}")

    async def close_modals(self) -> None:
        for _ in range(5):
            if len(self.app.screen_stack) <= 1:
                return
            await self.pilot.press("escape")
            await self.pilot.pause()

    # ------------------------------------------------------------------ UI actions

    async def switch_tab(self) -> None:
        await self.pilot.press(self.random.choice("1234567"))
        await self.pilot.pause(0.02)

    def visible_view(self) -> ResourceView | None:
        for name in ("projects", "instances", "floating_ips", "snapshots", "queue", "vospace"):
            view = self.app.view(name)
            if isinstance(view, ResourceView) and view.active:
                return view
        return None

    async def filter(self) -> None:
        view = self.visible_view()
        if view is None or view.poller is None:
            return
        view.action_filter()
        await self.pilot.pause()
        box = view.filter_box
        if box is None or not box.has_focus:
            return
        box.value = self.random.choice(["soak", "a", "!error", "status=a", "zzz-none"])
        await self.pilot.press("enter")
        await self.pilot.pause(0.02)
        view.action_clear_filter()

    async def refresh(self) -> None:
        view = self.visible_view()
        if view is not None:
            view.action_refresh()
        await self.pilot.pause(0.02)

    # ------------------------------------------------------------------ cloud

    async def launch(self) -> None:
        cloud = self.clients.cloud
        assert cloud is not None
        try:
            if self.image_id is None or self.flavor_id is None:
                images = [i for i in await cloud.list_images() if "ubuntu" in i.name]
                flavors = list(await cloud.list_flavors())
                self.image_id, self.flavor_id = images[0].id, flavors[0].id
            name = f"soak-{self.actions['launch']}"
            instance = await cloud.launch_instance(
                LaunchRequest(name=name, image_id=self.image_id, flavor_id=self.flavor_id)
            )
            self.launched.append(instance.id)
        except ClientError as error:
            self.failed(error, "launch")

    async def delete_instance(self) -> None:
        cloud = self.clients.cloud
        assert cloud is not None
        if not self.launched:
            return
        instance_id = self.random.choice(self.launched)
        try:
            await cloud.delete_instance(instance_id)
            self.launched.remove(instance_id)
        except ClientError as error:
            self.failed(error, "delete instance")

    # ------------------------------------------------------------------ queue

    async def submit(self) -> None:
        queue = self.clients.queue
        assert queue is not None
        try:
            result = await queue.submit(
                SUBMIT.format(count=self.random.randint(1, 3)), submit_dir=self.job_dir
            )
            self.clusters.append(result.cluster)
        except ClientError as error:
            self.failed(error, "submit")

    async def remove_jobs(self) -> None:
        queue = self.clients.queue
        assert queue is not None
        if not self.clusters:
            return
        cluster = self.clusters.pop(self.random.randrange(len(self.clusters)))
        try:
            ids = [job.id for job in await queue.list_jobs() if job.id.cluster == cluster]
            if ids:
                await queue.remove(ids, "soak")
        except ClientError as error:
            self.clusters.append(cluster)
            self.failed(error, "remove jobs")

    # ------------------------------------------------------------------ storage

    async def upload(self) -> None:
        storage = self.clients.storage
        assert storage is not None
        number = self.actions["upload"]
        source = self.source_dir / f"up-{number}.bin"
        source.write_bytes(self.random.randbytes(self.random.randint(1, 96) * 1024))
        digest = md5_of(source)
        roll = self.random.random()
        if roll < 0.15:
            self.server.faults.corrupt_uploads(1)
            self.server_faults += 1
        elif roll < 0.25:
            self.server.faults.fail_requests(503, 1)
            self.server_faults += 1
        uri = f"{storage.home_uri}/soak/up-{number}.bin"
        try:
            await storage.upload(source, uri)
            self.uploads[uri] = (source, digest, True)
        except ClientError as error:
            self.uploads[uri] = (source, digest, False)
            self.failed(error, "upload")

    async def download(self) -> None:
        storage = self.clients.storage
        assert storage is not None
        done = [uri for uri, (_, _, ok) in self.uploads.items() if ok]
        if not done:
            return
        uri = self.random.choice(done)
        if self.random.random() < 0.3:
            self.server.faults.cut_downloads(1, after_bytes=512)
            self.server_faults += 1
        target = self.download_dir / f"{self.actions['download']}-{uri.rsplit('/', 1)[1]}"
        try:
            await storage.download(uri, target)
        except ClientError as error:
            self.failed(error, "download")
            assert not target.exists(), "a failed download leaves nothing behind"
            return
        assert md5_of(target) == self.uploads[uri][1]
        self.downloads_ok += 1

    async def step(self) -> None:
        await self.close_modals()
        action = self.random.choices(
            [
                "tab",
                "filter",
                "refresh",
                "launch",
                "delete",
                "submit",
                "remove",
                "upload",
                "download",
            ],
            weights=[5, 2, 2, 1, 1, 1, 1, 2, 1],
        )[0]
        self.actions[action] += 1
        await {
            "tab": self.switch_tab,
            "filter": self.filter,
            "refresh": self.refresh,
            "launch": self.launch,
            "delete": self.delete_instance,
            "submit": self.submit,
            "remove": self.remove_jobs,
            "upload": self.upload,
            "download": self.download,
        }[action]()
        await self.pilot.pause(0.08)  # let the pollers of the visible tab tick


async def test_soak_under_faults(settings: Settings, tmp_path: Path) -> None:
    chosen = replace(settings, refresh={area: 0.3 for area in DEFAULT_REFRESH})
    sandbox_dir = chosen.paths.data_dir / "sandbox"
    base = build_clients(chosen)
    storage = base.storage
    assert isinstance(storage, VOSpaceStorage)
    server = storage._owned_server  # the loopback service behind the sandbox's VOSpace
    assert server is not None
    # As in the bundle, but jobs stop with the test instead of outliving it.
    queue = SandboxQueue(sandbox_dir / "queue", keep_running=False, poll_interval=0.05)
    assert base.cloud is not None
    plans = {
        "cloud": plan(SEED),
        "queue": plan(SEED + 1),
        "storage": plan(SEED + 2, error_rate=0.05, auth_after=0),
    }
    faulty_cloud = with_faults(base.cloud, plans["cloud"], name="cloud")
    faulty_queue = with_faults(queue, plans["queue"], name="queue")
    faulty_storage = with_faults(storage, plans["storage"], name="storage")
    wrapped: list[object] = [faulty_cloud, faulty_queue, faulty_storage]
    clients = Clients(
        base.profile_name,
        cloud=faulty_cloud,
        queue=faulty_queue,
        storage=faulty_storage,
        credentials=lambda: base.credentials,  # type: ignore[arg-type,return-value]
        mode_label=base.mode_label,
    )
    app = create_app(chosen, clients)
    rss: list[float] = []
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            soak = Soak(app, pilot, clients, tmp_path, server)
            await storage.mkdir(f"{storage.home_uri}/soak")  # unwrapped: no fault here
            for round_number in range(ROUNDS):
                if round_number in (ROUNDS // 10, ROUNDS // 2):
                    rss.append(rss_mb())
                await soak.step()
                assert app.is_running and app.unexpected_errors == 0, "crashed mid-soak"
            rss.append(rss_mb())
            # Tidy up what the soak left so no process outlives the test.
            server.faults.clear()
            for each in plans.values():
                each.enabled = False
            for instance_id in list(soak.launched):
                await faulty_cloud.delete_instance(instance_id)
            jobs = await faulty_queue.list_jobs()
            mine = [job.id for job in jobs if job.owner == queue.owner]
            if mine:
                await faulty_queue.remove(mine, "soak over")
            assert app.unexpected_errors == 0
            crashes = app.unexpected_errors
            # Every upload: present with the right MD5, or reported failed.
            home = server.root / server.username / "soak"
            for uri, (_, digest, ok) in soak.uploads.items():
                stored = home / uri.rsplit("/", 1)[1]
                if ok:
                    assert stored.is_file() and md5_of(stored) == digest, uri
                else:
                    assert not stored.exists() or md5_of(stored) == digest, uri
            reported = sum(1 for _, _, ok in soak.uploads.values() if not ok)
            assert reported <= soak.failures_reported
    finally:
        server.faults.clear()
        await clients.aclose()
        server.stop()

    injected = Counter[str]()
    calls = 0
    for client in wrapped:
        counters = fault_counters(client)
        assert counters is not None
        injected.update(counters.by_kind)
        calls += counters.calls
    injected["vospace_server"] = soak.server_faults
    # No orphaned temp files anywhere we wrote.
    for root in (sandbox_dir, soak.source_dir, soak.download_dir, server.root):
        assert temp_files(root) == [], root
    assert not any((server.root / ".vospace-tmp").iterdir())
    assert sorted(soak.source_dir.iterdir()) == sorted(s for s, _, _ in soak.uploads.values())
    start, middle, end = rss
    print(
        f"\nSOAK rounds={ROUNDS} seed={SEED} actions={sum(soak.actions.values())} "
        f"{dict(soak.actions)}\n"
        f"SOAK client calls={calls} faults injected={sum(injected.values())} {dict(injected)}\n"
        f"SOAK failures reported={soak.failures_reported} crashes={crashes} "
        f"uploads={len(soak.uploads)} (failed {reported}) downloads ok={soak.downloads_ok}\n"
        f"SOAK rss MB start={start:.1f} middle={middle:.1f} end={end:.1f}"
    )
    assert sum(injected.values()) > 0 and sum(soak.actions.values()) == ROUNDS
    assert end - middle <= MAX_SECOND_HALF_GROWTH_MB, (start, middle, end)
