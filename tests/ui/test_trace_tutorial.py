"""The Trace screen and the Tutorial panel on the real sandbox backends, driven by keys.

The sandbox cloud (short build and snapshot delays), the local HTCondor-like executor and the
loopback VOSpace service all really run. A batch is the pipeline's own ``do_catalogue.bash``
(:mod:`canfar_tui.batch.pipeline`) rewritten the ``canfar_submit`` way, with the canfar-tui it
calls replaced by a stub that succeeds at once (the trace reads the script and the queue, it
does not care how the catalogues were made); one catalogue is uploaded to VOSpace by the test,
the other is missing, so both answers of ``stat`` are seen.

The pure helpers (ClassAd reading, image matching, the pipeline script's folder, the lines of
a trace, the tutorial's progress and key names) have plain tests at the end.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import OptionList, Static
from textual.widgets._toast import Toast

from canfar_tui.app import CanfarApp, CanfarCommands, create_app
from canfar_tui.batch.pipeline import (
    CANFAR_TUI_STEPS,
    PipelineSpec,
    job_script,
    submit_file,
    write_pipeline,
)
from canfar_tui.batch.rewrite import canfar_description
from canfar_tui.cli.main import build_parser
from canfar_tui.clients.bundle import Clients
from canfar_tui.config import Profile, Settings
from canfar_tui.models import (
    Image,
    ImageKind,
    Instance,
    Job,
    JobFiles,
    JobId,
    JobStatus,
    LaunchRequest,
    StorageNode,
)
from canfar_tui.screens.cloud_dialogs import ChoiceScreen, FirstConnectionScreen, TextPromptScreen
from canfar_tui.screens.confirm import ConfirmScreen
from canfar_tui.screens.job_detail import JobDetailScreen
from canfar_tui.screens.trace import (
    BatchTrace,
    JobTrace,
    OutputCheck,
    TraceScreen,
    ad_text,
    find_image,
    job_state_text,
    open_trace,
    pipeline_folder,
    selected_cluster,
    state_counts,
    trace_lines,
)
from canfar_tui.screens.vm_setup import VmSetupScreen
from canfar_tui.widgets.resource_view import ResourceView
from canfar_tui.widgets.tab_bar import TabBar
from canfar_tui.widgets.tabs import TABS
from canfar_tui.widgets.tutorial import (
    STEPS,
    SandboxFacts,
    TutorialPanel,
    TutorialProgress,
    binding_keys,
    evidence_of,
)

SIZE = (120, 36)
IDS = ("1056215p", "1056216p")
SNAPSHOT = "catalogue-snap"
FLAVOR = "c2-7.5gb-30"
CATALOGUE = b"# 1 NUMBER\n1\n"


# --------------------------------------------------------------------------- helpers


def sandbox_clients(settings: Settings) -> Clients:
    """The sandbox bundle of ``build_clients`` with short cloud delays and two job slots."""
    from canfar_tui.clients.bundle import start_sandbox_storage
    from canfar_tui.clients.cloud.sandbox import SandboxCloud
    from canfar_tui.clients.credentials import CadcCredentials
    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

    sandbox = settings.paths.data_dir / "sandbox"
    return Clients(
        settings.profile.name,
        cloud=SandboxCloud(sandbox / "cloud.sqlite", build_seconds=0.2, snapshot_seconds=0.4),
        queue=lambda: SandboxQueue(sandbox / "queue", slots=2),
        storage=lambda: start_sandbox_storage(sandbox),
        credentials=lambda: CadcCredentials.for_sandbox(
            sandbox / "credentials", initial_validity=timedelta(days=10)
        ),
        mode_label="SANDBOX",
    )


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], what: str) -> None:
    for _ in range(400):  # 20 s at most, under load
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def notifications(app: CanfarApp) -> list[str]:
    return [notification.message for notification in app._notifications]


@dataclass
class Batch:
    """What the setup made: the snapshot, the instance it came from and the cluster."""

    image: Image
    instance: Instance
    cluster: int
    folder: str
    job_dir: Path


async def until_async(
    pilot: Pilot[Any], check: Callable[[], Any], what: str, tries: int = 400
) -> Any:
    """Await ``check()`` until it returns something true; return that."""
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def make_batch(app: CanfarApp, pilot: Pilot[Any], tmp_path: Path) -> Batch:
    """Instance → snapshot → a two-ID pipeline batch on it, finished; one catalogue stored."""
    cloud, queue, storage = app.clients.cloud, app.clients.queue, app.clients.storage
    assert cloud is not None and queue is not None and storage is not None
    images = {image.name: image for image in await cloud.list_images()}
    flavors = {flavor.name: flavor for flavor in await cloud.list_flavors()}
    vm = await cloud.launch_instance(
        LaunchRequest("catalogue-vm", images["canfar-ubuntu-20.04"].id, flavors[FLAVOR].id)
    )

    async def active() -> bool:
        return (await cloud.get_instance(vm.id)).status == "ACTIVE"

    await until_async(pilot, active, "the instance to be ACTIVE")
    snap = await cloud.create_snapshot(vm.id, SNAPSHOT)

    async def saved() -> Image | None:
        found = [i for i in await cloud.list_images() if i.id == snap.id]
        return found[0] if found and found[0].status == "active" else None

    image = await until_async(pilot, saved, "the snapshot to be active")

    # The pipeline's job script, calling a canfar-tui stub that always succeeds.
    stub = tmp_path / "canfar-tui-stub"
    stub.write_text("#!/bin/bash\nexit 0\n")
    stub.chmod(0o755)
    folder = f"{storage.home_uri}/catalogues/"
    spec = PipelineSpec(
        IDS,
        folder,
        command=(str(stub),),
        steps=CANFAR_TUI_STEPS,
        profile="sandbox",
        install_proxy=False,
    )
    job_dir = tmp_path / "job"
    write_pipeline(spec, job_dir)
    rewrite = canfar_description(submit_file(spec), SNAPSHOT, flavors[FLAVOR])
    result = await queue.submit(rewrite.text, submit_dir=job_dir)

    # One catalogue is in VOSpace, the other never arrived.
    catalogue = tmp_path / f"{IDS[0]}.cat"
    catalogue.write_bytes(CATALOGUE)
    await storage.mkdir(folder.rstrip("/"))
    await storage.upload(catalogue, f"{folder}{IDS[0]}.cat")

    async def finished() -> bool:
        history = await queue.history(limit=50)  # type: ignore[attr-defined]
        done = [j for j in history if j.id.cluster == result.cluster]
        return len(done) == len(IDS)

    await until_async(pilot, finished, "the batch to finish")
    instance = await cloud.get_instance(vm.id)
    return Batch(image, instance, result.cluster, folder, job_dir)


async def open_and_load(app: CanfarApp, pilot: Pilot[Any], cluster: int) -> TraceScreen:
    open_trace(app, app.view_context, cluster)
    await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace")
    screen = app.screen
    assert isinstance(screen, TraceScreen)
    await wait_for(pilot, lambda: screen.trace is not None, "the trace to load")
    return screen


async def highlight(pilot: Pilot[Any], screen: TraceScreen, key: str) -> None:
    """Move the highlight with the arrow keys (only) to the line ``key``."""
    options = screen.query_one("#trace-list", OptionList)
    await pilot.press("home")
    for _ in range(options.option_count + 1):
        option = options.highlighted_option
        if option is not None and option.id == key:
            return
        await pilot.press("down")
    raise AssertionError(f"no line {key!r}")


def line(screen: TraceScreen, key: str) -> str:
    return screen.lines[key].text


@pytest.fixture
async def sandbox_app(settings: Settings) -> AsyncIterator[CanfarApp]:
    yield create_app(settings, sandbox_clients(settings))


# --------------------------------------------------------------------------- the trace


async def test_the_trace_shows_what_a_batch_ran_on_and_enter_goes_to_the_snapshot(
    sandbox_app: CanfarApp, tmp_path: Path
) -> None:
    app = sandbox_app
    async with app.run_test(size=SIZE) as pilot:
        batch = await make_batch(app, pilot, tmp_path)
        # From the Queue tab, by the palette, like a person would.
        await pilot.press("5")
        view = app.view("queue")
        assert isinstance(view, ResourceView)
        await wait_for(pilot, lambda: view.table.row_count > 0, "the finished batch")
        await pilot.press("ctrl+p")
        await pilot.press(*"queue: trace")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace")
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        await wait_for(pilot, lambda: screen.trace is not None, "the trace to load")
        assert screen.cluster == batch.cluster

        assert line(screen, "snapshot") == f"Snapshot  {SNAPSHOT} · snapshot · active"
        assert line(screen, "flavor") == f"Flavor    {FLAVOR} · 2 vCPU · 7.5 GB RAM · 31 GB scratch"
        assert line(screen, "instance") == (
            "Instance  catalogue-vm · ACTIVE · the snapshot was taken from it"
        )
        assert line(screen, "batch").endswith(f"cluster {batch.cluster} · 2 jobs: 2 completed")
        assert line(screen, "jobs") == f"Jobs (2) · files in {batch.job_dir}"
        for proc, obs in enumerate(IDS):
            text = line(screen, f"job:{batch.cluster}.{proc}")
            assert text.startswith(f"{batch.cluster}.{proc}  C completed, exit 0 · {obs}\n")
            assert (
                f"out do_catalogue-{obs}.out · err do_catalogue-{obs}.err · "
                f"log do_catalogue-{obs}.log" in text
            )
        assert line(screen, "outputs") == f"Catalogues in VOSpace · {batch.folder}"
        md5 = hashlib.md5(CATALOGUE).hexdigest()
        assert line(screen, f"out:{IDS[0]}") == (
            f"✓  {batch.folder}{IDS[0]}.cat · {len(CATALOGUE)} B · md5 {md5[:8]}…"
        )
        assert line(screen, f"out:{IDS[1]}") == f"✗  {batch.folder}{IDS[1]}.cat · not there"
        assert not any(key.startswith("problem") for key in screen.lines)

        # A job line opens the job's details; escape comes back to the trace.
        await highlight(pilot, screen, f"job:{batch.cluster}.1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "job details")
        detail = app.screen
        assert isinstance(detail, JobDetailScreen)
        assert detail.job_id == JobId(batch.cluster, 1)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "back on the trace")

        # The snapshot line goes to the Snapshots tab, cursor on the snapshot.
        await highlight(pilot, screen, "snapshot")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, TraceScreen), "closed")
        await wait_for(pilot, lambda: app.active_tab_id == "snapshots", "the Snapshots tab")
        snapshots = app.view("snapshots")
        assert isinstance(snapshots, ResourceView)
        await wait_for(
            pilot, lambda: snapshots.table.cursor_key == batch.image.id, "the snapshot's row"
        )
        assert app.screen.focused is snapshots.table
        assert app.unexpected_errors == 0


async def test_the_trace_links_the_instance_and_the_vospace_output_and_says_instance_deleted(
    sandbox_app: CanfarApp, tmp_path: Path
) -> None:
    app = sandbox_app
    async with app.run_test(size=SIZE) as pilot:
        batch = await make_batch(app, pilot, tmp_path)

        screen = await open_and_load(app, pilot, batch.cluster)
        await highlight(pilot, screen, "instance")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.active_tab_id == "instances", "the Instances tab")
        instances = app.view("instances")
        assert isinstance(instances, ResourceView)
        await wait_for(
            pilot, lambda: instances.table.cursor_key == batch.instance.id, "the instance's row"
        )

        screen = await open_and_load(app, pilot, batch.cluster)
        await highlight(pilot, screen, f"out:{IDS[0]}")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.active_tab_id == "vospace", "the VOSpace tab")
        from canfar_tui.widgets.vospace.view import VOSpaceView

        vospace = app.view("vospace")
        assert isinstance(vospace, VOSpaceView)
        await wait_for(
            pilot, lambda: vospace.table.cursor_key == f"{IDS[0]}.cat", "the catalogue's row"
        )
        assert vospace.cwd == batch.folder.rstrip("/")

        # The seed deletes the instance once its snapshot is active: the trace says so.
        cloud = app.clients.cloud
        assert cloud is not None
        await cloud.delete_instance(batch.instance.id)

        async def gone() -> bool:
            return batch.instance.id not in {i.id for i in await cloud.list_instances()}

        await until_async(pilot, gone, "the instance to be deleted")
        screen = await open_and_load(app, pilot, batch.cluster)
        assert line(screen, "instance") == (
            f"Instance  instance deleted (the snapshot was taken from {batch.instance.id[:8]}…)"
        )
        assert screen.lines["instance"].link is None
        await highlight(pilot, screen, "instance")
        await pilot.press("enter")
        assert isinstance(app.screen, TraceScreen)  # nothing to go to: it stays
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TraceScreen), "closed")
        assert app.unexpected_errors == 0


async def test_a_trace_without_backends_or_jobs_is_one_line_each(make_app: Any) -> None:
    app = make_app()  # FixedQueue, FixedCloud, no VOSpace
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_and_load(app, pilot, 999)
        assert screen.text().splitlines()[-1] == (
            "!  No job of cluster 999 in the queue or its history."
        )
    missing = Clients("sandbox", missing={"queue": "No queue in this profile."})
    settings_app = create_app(app.settings, missing)
    async with settings_app.run_test(size=SIZE) as pilot:
        screen = await open_and_load(settings_app, pilot, 7)
        assert "!  Queue: No queue in this profile." in screen.text()
        assert settings_app.unexpected_errors == 0


# --------------------------------------------------------------------------- the tutorial


def public_key_line() -> str:
    """A well-formed ssh-ed25519 public key line (a 32-byte key in the wire format)."""
    name = b"ssh-ed25519"
    blob = len(name).to_bytes(4, "big") + name + (32).to_bytes(4, "big") + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} me@laptop\n"


def marks(panel: TutorialPanel) -> dict[str, str]:
    return panel.progress.marks()


def tab_highlighted(app: CanfarApp) -> list[str]:
    target = app.screen_stack[0].query_one(TabBar).target
    return [] if target is None else [target]


def tutorial_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, refresh={**settings.refresh, "tutorial": 0.2}, **changes)


NARROW = (80, 24)


def assert_fits_beside(app: CanfarApp, panel: TutorialPanel) -> None:
    """At 80×24 the panel hides no tab label, leaves the tables their width, and no
    notification covers it (issue 15, item 3)."""
    screen = app.screen_stack[0]
    tabs = screen.query_one(TabBar)
    assert not tabs.region.overlaps(panel.region)
    for tab_id, _, _ in TABS:
        start, end = tabs.span(tab_id)
        assert tabs.region.x + end <= NARROW[0] and end > start, tab_id
    assert panel.region.width == NARROW[0]
    view = app.active_view
    if isinstance(view, ResourceView) and view.state == "ready":
        assert view.table.region.width >= NARROW[0] - 2, "the table keeps the full width"
        assert not view.table.region.overlaps(panel.region)
    for toast in screen.query(Toast):
        assert not toast.region.overlaps(panel.region), "a notification covers the tutorial"


async def test_the_tutorial_walks_every_seed_step_in_order_at_80x24(
    settings: Settings, isolated_home: Path
) -> None:
    ssh = isolated_home / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519.pub").write_text(public_key_line())
    chosen = tutorial_settings(settings)
    app = create_app(chosen, sandbox_clients(chosen))
    cloud, queue, storage = app.clients.cloud, app.clients.queue, app.clients.storage
    assert cloud is not None and queue is not None and storage is not None
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("T")
        await wait_for(pilot, lambda: app.screen.query(TutorialPanel), "the tutorial")
        panel = app.screen.query_one(TutorialPanel)
        assert app.screen.focused is panel
        await wait_for(pilot, lambda: panel.polls >= 1, "the first look at the sandbox")
        assert [step.id for step in STEPS] == [
            "project",
            "keypair",
            "floating_ip",
            "instance",
            "associate_ip",
            "connect",
            "detect",
            "certificate",
            "upload",
            "snapshot",
            "batch",
            "queue",
            "delete",
        ], "the seed's steps, in its order"
        # The sandbox's proxy certificate is valid from the start: that step is done.
        assert marks(panel) == {
            step.id: {"project": "✓", "certificate": "✓", "keypair": "→"}.get(step.id, " ")
            for step in STEPS
        }
        assert panel.step_text.splitlines()[:2] == [
            "✓ 1 Project  canfar-batch-demo",
            "→ 2 SSH key",
        ]
        assert panel.hint_text == "Tab 1 Projects: i imports your SSH public key from ~/.ssh."
        assert tab_highlighted(app) == ["projects"]
        assert_fits_beside(app, panel)

        # -- 2 import the key by keys, on the Projects tab
        await pilot.press("enter")  # go there
        assert app.active_tab_id == "projects"
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the key picker")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen), "the name")
        await pilot.press("enter")
        await wait_for(pilot, lambda: marks(panel)["keypair"] == "✓", "the key's ✓")
        assert "✓ 2 SSH key  id_ed25519" in panel.step_text
        assert panel.hint_text == "Tab 3 Floating IPs: n allocates a public address."
        assert tab_highlighted(app) == ["floating_ips"]
        await wait_for(
            pilot,
            lambda: "SSH key: done. Next: Floating IP." in notifications(app),
            "the notice",
        )
        await pilot.pause(0.3)
        assert_fits_beside(app, panel)  # the notice is up, above the panel

        # -- 3 allocate a floating IP: back in the panel, enter goes to the tab
        await pilot.click(TutorialPanel)
        assert app.screen.focused is panel
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.active_tab_id == "floating_ips", "Floating IPs")
        addresses = app.view("floating_ips")
        assert isinstance(addresses, ResourceView)
        await wait_for(pilot, lambda: app.screen.focused is addresses.table, "the table's focus")
        await pilot.press("n")
        await wait_for(pilot, lambda: marks(panel)["floating_ip"] == "✓", "the IP's ✓")
        assert panel.hint_text.startswith("Tab 2 Instances: n launches a VM")
        assert tab_highlighted(app) == ["instances"]

        # -- 4 launch (the wizard is walked by keys in test_cloud_tabs)
        images = {image.name: image.id for image in await cloud.list_images()}
        flavors = {flavor.name: flavor.id for flavor in await cloud.list_flavors()}
        await cloud.launch_instance(
            LaunchRequest(
                "catalogue-vm", images["canfar-ubuntu-20.04"], flavors[FLAVOR], "id_ed25519"
            )
        )
        await pilot.press("2")
        await wait_for(pilot, lambda: marks(panel)["instance"] == "✓", "the instance's ✓")
        # Launching is not the whole "Instance" step any more: the IP and the set-up follow.
        assert marks(panel)["associate_ip"] == "→"
        assert panel.hint_text.startswith("Tab 2 Instances: a attaches the floating IP")
        instances = app.view("instances")
        assert isinstance(instances, ResourceView)
        await wait_for(pilot, lambda: instances.table.row_count == 1, "the instance row")
        assert_fits_beside(app, panel)

        # -- 5 associate the IP by keys
        await wait_for(pilot, lambda: app.screen.focused is instances.table, "the table's focus")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the IP picker")
        await pilot.press("enter")
        await wait_for(pilot, lambda: marks(panel)["associate_ip"] == "✓", "the IP on the VM")
        assert panel.hint_text.startswith("Tab 2 Instances: v sets the VM up as the seed does")
        assert "o connects" in panel.hint_text

        # -- 6 the VM set-up (the sandbox shows what would run)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, FirstConnectionScreen), "the offer")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, VmSetupScreen), "the set-up")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, VmSetupScreen), "the dashboard")
        await wait_for(pilot, lambda: marks(panel)["connect"] == "✓", "the set-up's ✓")
        ctrl = {key: app.get_key_display(Binding(f"ctrl+{key}", "")) for key in "ogs"}
        assert panel.hint_text.startswith(f"Tab 7 Detect: {ctrl['o']} picks the image")
        assert "Tab 6 VOSpace, a fetches cadc:CFHT/1056213p.fits.fz" in panel.hint_text
        assert tab_highlighted(app) == ["detect"]

        # -- 7 detection: what a finished run leaves on the Detect tab (the run itself is
        #    tested in test_detect_tab)
        await pilot.press("7")
        await wait_for(pilot, lambda: app.view("detect") is not None, "the Detect tab")
        detect = app.view("detect")
        catalogue = isolated_home / "1056213p.cat"
        catalogue.write_text("# 1 NUMBER\n1\n")
        detect.catalogue_path = catalogue  # type: ignore[union-attr]
        detect.result = object()  # type: ignore[union-attr]
        await wait_for(pilot, lambda: marks(panel)["detect"] == "✓", "the detection's ✓")
        assert "✓ 7 Detection  1056213p.cat" in panel.step_text
        # -- 8 the certificate was valid all along: on to 9, the upload
        assert marks(panel)["upload"] == "→"
        assert panel.hint_text.startswith("Tab 6 VOSpace: u uploads your catalogue")
        await storage.upload(catalogue, f"{storage.home_uri}/1056213p.cat")
        await wait_for(pilot, lambda: marks(panel)["upload"] == "✓", "the upload's ✓")
        assert panel.hint_text.startswith("Tab 2 Instances: i snapshots the VM")

        # -- 10 snapshot it by keys (from the panel: the Detect tab's field has the focus)
        await pilot.click(TutorialPanel)
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.focused is instances.table, "the table's focus")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen), "the name")
        await pilot.press("enter")
        await wait_for(pilot, lambda: marks(panel)["snapshot"] == "✓", "the snapshot's ✓")
        # -- 11 the batch goes through the Pipeline tab (not Queue b and a template)
        assert panel.hint_text == (
            f"Tab 8 Pipeline: {ctrl['g']} writes do_catalogue.bash and .sub for the image IDs, "
            f"{ctrl['s']} submits them on your snapshot."
        )
        assert tab_highlighted(app) == ["pipeline"]
        await pilot.click(TutorialPanel)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.active_tab_id == "pipeline", "the Pipeline tab")
        script = isolated_home / "job.sh"
        script.write_text("#!/bin/bash\ntrue\n")
        script.chmod(0o755)
        await queue.submit(f"executable = {script}\nqueue\n", submit_dir=isolated_home)
        await wait_for(pilot, lambda: marks(panel)["batch"] == "✓", "the batch's ✓")

        # -- 12 the queue empties
        await wait_for(pilot, lambda: marks(panel)["queue"] == "✓", "the jobs done")
        assert "1 job done" in panel.step_text

        # -- 13 delete the instance by keys
        assert panel.hint_text.startswith("Tab 2 Instances: d deletes the interactive VM")
        await pilot.click(TutorialPanel)  # the Pipeline tab's field has the focus
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.focused is instances.table, "the table's focus")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: panel.progress.current is None, "the end of the walk")
        assert panel.hint_text.startswith("All done")
        assert tab_highlighted(app) == []
        assert_fits_beside(app, panel)

        # -- T ends it
        await pilot.press("T")
        await wait_for(pilot, lambda: not app.screen.query(TutorialPanel), "the end")
        assert not app.screen.has_class("-tutorial")
        assert app.unexpected_errors == 0


async def test_the_tutorial_names_rebound_keys_and_escape_ends_it(settings: Settings) -> None:
    keymap = {
        "projects.import_key": "ctrl+k",
        "app.tab_projects": "f1",
        "app.tutorial": "f9",
    }
    chosen = tutorial_settings(settings, keymap=keymap)
    app = create_app(chosen, sandbox_clients(chosen))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.screen.query(TutorialPanel), "the tutorial")
        panel = app.screen.query_one(TutorialPanel)
        await wait_for(pilot, lambda: panel.polls >= 1, "the first look")
        ctrl_k = app.get_key_display(Binding("ctrl+k", ""))
        f1 = app.get_key_display(Binding("f1", ""))
        assert (
            panel.hint_text
            == f"Tab {f1} Projects: {ctrl_k} imports your SSH public key from ~/.ssh."
        )
        f9 = app.get_key_display(Binding("f9", ""))
        keys = str(panel.query_one("#tutorial-keys", Static).content)
        assert keys == f"enter: go there · {f9}/escape: end"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.query(TutorialPanel), "the end")
        assert tab_highlighted(app) == []


async def test_the_tutorial_refuses_a_real_profile_in_one_line(
    settings: Settings, make_app: Any
) -> None:
    real = replace(settings, profile=Profile("arbutus", kind="canfar"))
    app = create_app(real, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await pilot.pause(0.1)
        assert not app.screen.query(TutorialPanel)
        (message,) = [m for m in notifications(app) if "tutorial" in m.lower()]
        assert message.startswith("The tutorial runs in the sandbox only; profile arbutus")
        assert "\n" not in message


async def test_tutorial_flag_starts_it_and_the_palette_has_it(settings: Settings) -> None:
    args = build_parser().parse_args(["--tutorial"])
    assert args.tutorial is True
    assert build_parser().parse_args([]).tutorial is False
    chosen = tutorial_settings(settings)
    app = create_app(chosen, sandbox_clients(chosen))
    app.start_tutorial = args.tutorial
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query(TutorialPanel), "the tutorial at start")
        names = [name for name, _, _ in CanfarCommands(app.screen)._commands()]
        assert "app: tutorial" in names
        await pilot.press("5")
        await wait_for(pilot, lambda: app.active_tab_id == "queue", "the Queue tab")
        names = [name for name, _, _ in CanfarCommands(app.screen)._commands()]
        assert sum(1 for name in names if name.startswith("queue: trace")) == 1


# --------------------------------------------------------------------------- pure helpers


def test_ad_text_reads_classad_strings_case_insensitively() -> None:
    ad = {"VMImage": "canfar-rocky-8", "vminstancetype": '"c2-7.5gb-30"', "Empty": ""}
    assert ad_text(ad, "+VMImage") == "canfar-rocky-8"
    assert ad_text(ad, "VMInstanceType") == "c2-7.5gb-30"
    assert ad_text(ad, "Empty") is None
    assert ad_text(ad, "Missing") is None
    assert ad_text({"A": '"say \\"hi\\""'}, "a") == 'say "hi"'


def _image(name: str, status: str, day: int, image_id: str) -> Image:
    return Image(
        image_id, name, status, ImageKind.SNAPSHOT, created_at=datetime(2026, 1, day, tzinfo=UTC)
    )


def test_find_image_prefers_the_id_then_an_active_then_the_newest() -> None:
    old = _image("snap", "active", 1, "a")
    new = _image("snap", "active", 2, "b")
    saving = _image("snap", "saving", 3, "c")
    images = [old, new, saving]
    assert find_image(images, "a") is old
    assert find_image(images, "snap") is new
    assert find_image([saving], "snap") is saving
    assert find_image(images, "other") is None


def test_pipeline_folder_is_read_from_the_pipelines_own_script() -> None:
    spec = PipelineSpec(IDS, "vos:alice/my catalogues/".replace(" ", "_"))
    assert pipeline_folder(job_script(spec)) == "vos:alice/my_catalogues/"
    assert pipeline_folder('#!/bin/bash\necho "catalogue of $1"\n') is None
    no_mark = job_script(spec).replace("Generated by canfar-tui", "Written")
    assert pipeline_folder(no_mark) is None


def _job(proc: int, status: JobStatus, **kw: Any) -> Job:
    return Job(JobId(12, proc), "me", status, batch_name="ID: 12", **kw)


def test_job_state_text_and_counts() -> None:
    assert job_state_text(_job(0, JobStatus.COMPLETED, exit_code=1)) == "C completed, exit 1"
    assert job_state_text(_job(1, JobStatus.HELD, hold_reason="disk")) == "H held: disk"
    assert job_state_text(_job(2, JobStatus.TRANSFERRING_OUTPUT)) == "> transferring output"
    jobs = [
        JobTrace(_job(0, JobStatus.COMPLETED)),
        JobTrace(_job(1, JobStatus.IDLE)),
        JobTrace(_job(2, JobStatus.COMPLETED)),
    ]
    assert state_counts(jobs) == "3 jobs: 1 idle, 2 completed"
    assert state_counts([]) == "0 jobs"


def test_trace_lines_link_what_exists_and_say_what_does_not() -> None:
    image = Image("img-1", "snap", "active", ImageKind.SNAPSHOT, source_instance_id="abcdef123456")
    folder = Path("/work/job")
    job = _job(0, JobStatus.COMPLETED, exit_code=0, arguments="1056215p")
    files = JobFiles(folder / "a.out", folder / "a.err", folder / "a.log")
    trace = BatchTrace(
        12,
        (JobTrace(job, files, frozenset({"err"})),),
        "snap",
        "c9-huge",
        image,
        None,
        None,
        "deleted",
        folder / "do_catalogue.bash",
        "vos:me/cats/",
        (
            OutputCheck(
                "1056215p",
                "vos:me/cats/1056215p.cat",
                StorageNode(
                    "vos:me/cats/1056215p.cat", "1056215p.cat", False, size=2048, md5="0123456789ab"
                ),
            ),
            OutputCheck("1056216p", "vos:me/cats/1056216p.cat", problem="timed out"),
        ),
        ("VOSpace: timed out",),
    )
    lines = {line.key: line for line in trace_lines(trace)}
    assert lines["batch"].heading and lines["batch"].text == (
        "Batch ID: 12 · cluster 12 · 1 job: 1 completed"
    )
    assert (lines["snapshot"].link, lines["snapshot"].target) == ("snapshot", "img-1")
    assert lines["flavor"].text == "Flavor    c9-huge · not a flavor of this cloud"
    assert lines["flavor"].link is None
    assert lines["instance"].text == (
        "Instance  instance deleted (the snapshot was taken from abcdef12…)"
    )
    assert lines["jobs"].text == "Jobs (1) · files in /work/job"
    assert lines["job:12.0"].text == (
        "12.0  C completed, exit 0 · 1056215p\n    ↳ out a.out · err a.err (missing) · log a.log"
    )
    assert (lines["job:12.0"].link, lines["job:12.0"].target) == ("job", "12.0")
    assert lines["out:1056215p"].text == "✓  vos:me/cats/1056215p.cat · 2.0 kB · md5 01234567…"
    assert lines["out:1056216p"].text == "?  vos:me/cats/1056216p.cat · not checked: timed out"
    assert lines["problem:0"].text == "!  VOSpace: timed out"

    plain = BatchTrace(12, (JobTrace(job),), script=Path("/x/do_catalogue.bash"))
    texts = [line.text for line in trace_lines(plain)]
    assert texts[1].startswith("Snapshot  — the jobs name no +VMImage")
    assert texts[-1].startswith("Outputs   do_catalogue.bash is not a pipeline script")


def test_selected_cluster_of_queue_rows() -> None:
    assert selected_cluster(_job(3, JobStatus.IDLE)) == 12

    @dataclass
    class Row:
        batch: Any

    @dataclass
    class FakeBatch:
        job_ids: tuple[JobId, ...]

    assert selected_cluster(Row(FakeBatch((JobId(14, 0), JobId(13, 2))))) == 13
    assert selected_cluster(Row(FakeBatch(()))) is None
    assert selected_cluster(object()) is None


def test_tutorial_progress_is_sticky_and_points_at_the_first_step_not_done() -> None:
    progress = TutorialProgress()
    assert progress.current is STEPS[0]
    newly = progress.update(SandboxFacts(project="demo", floating_ip="206.12.92.1"))
    assert newly == ["project", "floating_ip"]
    assert progress.current is not None and progress.current.id == "keypair"
    assert progress.marks()["keypair"] == "→" and progress.marks()["floating_ip"] == "✓"
    assert progress.update(SandboxFacts(project="demo")) == []  # the IP went: still done
    assert progress.marks()["floating_ip"] == "✓"
    first_eight = SandboxFacts(
        "demo", "key", "ip", None, "snap", "snap", "ID: 3", "vos:me/cats/x.cat"
    )
    progress.update(first_eight)
    assert progress.done["upload"] == "x.cat"
    assert progress.current is not None and progress.current.id == "associate_ip"
    everything = replace(
        first_eight,
        associated="vm ↔ ip",
        set_up="jdoe@vm",
        detected="x.cat",
        certificate="valid 9d",
        jobs_done="4 jobs done",
        instances=0,
    )
    progress.update(everything)
    assert progress.current is None
    assert progress.done["delete"] == "no VM left; snap kept"


def test_the_queue_and_delete_steps_need_what_comes_before_them() -> None:
    # Jobs done without a batch of the user's, no instance without a snapshot: not done.
    assert "queue" not in evidence_of(SandboxFacts(jobs_done="2 jobs done"))
    assert "delete" not in evidence_of(SandboxFacts(instances=0))
    assert "delete" not in evidence_of(SandboxFacts(instances=1, any_snapshot="snap"))
    assert evidence_of(SandboxFacts(batch="b", jobs_done="2 jobs done"))["queue"] == "2 jobs done"


def test_evidence_of_an_instance_is_also_a_snapshot_taken_from_it() -> None:
    assert evidence_of(SandboxFacts(any_snapshot="snap"))["instance"] == "snapshot snap taken"
    assert "instance" not in evidence_of(SandboxFacts())
    assert evidence_of(SandboxFacts(instance="vm"))["instance"] == "vm"


def test_binding_keys_follow_the_keymap() -> None:
    bindings = [Binding("i", "import_key", "Import", id="projects.import_key"), Binding("x", "y")]
    assert binding_keys(bindings, "projects.import_key", {}) == "i"
    assert binding_keys(bindings, "projects.import_key", {"projects.import_key": "f2"}) == "f2"
    assert binding_keys(bindings, "nope", {}) is None


def test_every_tutorial_step_names_a_real_binding_of_its_tab() -> None:
    from canfar_tui.widgets.tabs import TABS, view_class

    tabs = {tid for tid, _, _ in TABS}
    for step in STEPS:
        assert step.tab in tabs
        assert step.binding_id is not None
        owner = CanfarApp if step.binding_id.startswith("app.") else view_class(step.tab)
        assert binding_keys(owner.BINDINGS, step.binding_id, {}) is not None, step.id
        for other in re.findall(r"\{k:([\w.]+)\}", step.how):
            area = other.partition(".")[0]
            owner = CanfarApp if area == "app" else view_class(area)
            assert binding_keys(owner.BINDINGS, other, {}) is not None, other
    assert binding_keys(CanfarApp.BINDINGS, "app.tutorial", {}) == "T"


def test_the_dashboard_imports_neither_the_trace_nor_the_tutorial() -> None:
    import subprocess
    import sys

    code = (
        "import sys, canfar_tui.cli.main, canfar_tui.app\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m in ('canfar_tui.screens.trace', 'canfar_tui.widgets.tutorial')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
