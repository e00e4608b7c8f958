"""80×24 as a first-class size, and the stale or misleading status lines (issue 15, 8 9 11).

Each test drives the real app at 80×24 on the sandbox backends and checks what the screen
shows: footer keys not cut, the read-only header's clock, the help's description column, the
Instances table's IMAGE/KEY and the Queue table's TOTAL, the VOSpace usage after changes made
outside the tab, the read-only empty state and the refused key, the palette's commands from any
tab, the sandbox's one user, and the quota panel when the app exits right after its first paint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from canfar_tui.app import CanfarApp, CanfarCommands, create_app
from canfar_tui.clients.bundle import Clients, build_clients, start_sandbox_storage
from canfar_tui.clients.cloud.sandbox import SandboxCloud
from canfar_tui.clients.credentials import CadcCredentials
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.config import Settings
from canfar_tui.models import LaunchRequest
from canfar_tui.screens.help import HelpScreen
from canfar_tui.widgets.cloud.projects import ProjectsView
from canfar_tui.widgets.footer import DashboardFooter, FooterEntry, FooterSpan, fit_entries
from canfar_tui.widgets.resource_view import ResourceView

SIZE = (80, 24)


def sandbox_clients(settings: Settings) -> Clients:
    folder = settings.paths.data_dir / "sandbox"
    return Clients(
        settings.profile.name,
        cloud=SandboxCloud(folder / "cloud.sqlite", build_seconds=0.0, snapshot_seconds=0.2),
        queue=lambda: SandboxQueue(folder / "queue", slots=1, owner="sandbox-user"),
        storage=lambda: start_sandbox_storage(folder),
        credentials=lambda: CadcCredentials.for_sandbox(
            folder / "credentials", initial_validity=timedelta(days=10)
        ),
        mode_label="SANDBOX",
    )


async def until(pilot: Pilot[Any], check: Callable[[], object], what: str) -> None:
    for _ in range(300):
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def screen_lines(app: CanfarApp) -> list[str]:
    """The screen as text, one string a line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def footer_keys(app: CanfarApp) -> dict[str, FooterSpan]:
    return {span.label: span for span in app.screen.query_one(DashboardFooter).shown}


async def show(pilot: Pilot[Any], app: CanfarApp, key: str, tab: str) -> ResourceView:
    await pilot.press(key)
    await until(pilot, lambda: app.active_tab_id == tab, tab)
    view = app.view(tab)
    assert isinstance(view, ResourceView)
    await until(pilot, lambda: view.state in ("ready", "empty"), f"{tab} loaded")
    await pilot.pause(0.2)
    return view


async def launch_vm(clients: Clients) -> None:
    cloud = clients.cloud
    assert cloud is not None
    await cloud.import_keypair(
        "id_ed25519",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me",
    )
    images = {image.name: image.id for image in await cloud.list_images()}
    flavors = {flavor.name: flavor.id for flavor in await cloud.list_flavors()}
    await cloud.launch_instance(
        LaunchRequest(
            "catalogue-vm", images["canfar-ubuntu-20.04"], flavors["c2-7.5gb-30"], "id_ed25519"
        )
    )


# --------------------------------------------------------------------------- item 8


async def test_every_tabs_own_keys_and_help_fit_the_footer_at_80(settings: Settings) -> None:
    """Before: ``i Im▏``, ``a Assoc▏``, ``m Rename/m▏``; VOSpace's ``a`` never shown."""
    app = create_app(settings, sandbox_clients(settings))
    wanted = {
        "1": ("projects", ["Use", "Import key"]),
        "2": ("instances", ["Launch", "Connect", "Assoc. IP", "Snapshot", "Delete"]),
        "3": ("floating_ips", ["Allocate", "Associate", "Release"]),
        "4": ("snapshots", ["For batch", "Delete"]),
        "5": ("queue", ["Submit", "All", "Jobs", "Hold", "Release", "Remove", "Output"]),
        "6": ("vospace", ["Upload", "Download", "Folder", "Move", "Delete", "Fetch"]),
    }
    async with app.run_test(size=SIZE) as pilot:
        for key, (tab, labels) in wanted.items():
            await show(pilot, app, key, tab)
            keys = footer_keys(app)
            for label in [*labels, "Help"]:
                assert label in keys, (tab, label, list(keys))
            palette = next(span for span in keys.values() if span.palette)
            bottom = screen_lines(app)[-1]
            for label, span in keys.items():
                drawn = f"{span.key_display} {label}"
                assert bottom[span.start : span.end] == drawn, (tab, label, bottom)
                if span is not palette:
                    assert span.end < palette.start, f"{tab}: {label} is cut"
            assert "? Help" in bottom, bottom
    assert app.unexpected_errors == 0


async def test_a_footer_key_acts_when_clicked_and_explains_itself_on_hover(
    settings: Settings,
) -> None:
    """The footer is one widget drawing one line: a click on a key presses it, and hovering
    shows the key's tooltip."""
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, app, "1", "projects")
        footer = app.screen.query_one(DashboardFooter)
        help_key = next(span for span in footer.shown if span.label == "Help")
        await pilot.hover(DashboardFooter, offset=(help_key.start + 1, 0))
        await pilot.pause(0.05)
        assert footer.tooltip == help_key.tooltip and footer.tooltip
        await pilot.click(DashboardFooter, offset=(help_key.start + 1, 0))
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help by a click")
    assert app.unexpected_errors == 0


def test_the_footer_drops_generic_keys_first_and_keeps_help() -> None:
    from textual.binding import Binding

    def entry(binding_id: str, label: str) -> FooterEntry:
        return FooterEntry(
            Binding("x", "a_" + binding_id, label, id=binding_id), "x", label, True, ""
        )

    entries = [
        entry("table.sort_next", "Sort"),
        entry("view.filter", "Filter"),
        entry("tab.own", "Own key"),
        entry("app.help", "Help"),
        entry("app.quit", "Quit"),
    ]
    assert [e.label for e in fit_entries(entries, 200)] == [
        "Own key",
        "Sort",
        "Filter",
        "Help",
        "Quit",
    ]
    assert [e.label for e in fit_entries(entries, 18)] == ["Own key", "Help"]
    assert [e.label for e in fit_entries(entries, 1)] == ["Help"]


async def test_the_read_only_header_keeps_its_clock_at_80(settings: Settings) -> None:
    """Before: ``… READ-ONLY  cert 9d 23h  ⟳ 15:5`` (the clock cut)."""
    read_only = replace(settings, read_only=True)
    app = create_app(read_only, sandbox_clients(read_only))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.header.last_refresh is not None, "the first refresh")
        await pilot.pause(0.2)
        top = screen_lines(app)[0]
        when = app.header.last_refresh.strftime("%H:%M:%S")  # type: ignore[union-attr]
        assert f"⟳ {when}" in top and "READ-ONLY" in top, top
        clock = app.header.part("refresh")
        assert clock is not None and clock.end <= SIZE[0]
    wide = create_app(read_only, sandbox_clients(read_only))
    async with wide.run_test(size=(120, 24)) as pilot:
        await pilot.pause(0.2)
        assert screen_lines(wide)[0].lstrip().startswith("canfar-tui"), "room: the name stays"


async def test_help_descriptions_are_readable_at_80(settings: Settings) -> None:
    """Before: a description column of ~10 cells (``Show the`` / ``Floating`` / ``IPs tab``)."""
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.pause(0.2)
        text = "\n".join(screen_lines(app))
        assert "Show the Floating IPs tab  app.tab_floating_ips" in text
        body = app.screen.query_one("#help-body", Static)
        assert body.region.width >= 70


async def test_instances_show_image_and_key_and_queue_its_total_at_80(
    settings: Settings, tmp_path: Path
) -> None:
    """Before: IMAGE and KEY (Instances) and TOTAL (Queue) were off the right edge."""
    clients = sandbox_clients(settings)
    app = create_app(settings, clients)
    async with app.run_test(size=SIZE) as pilot:
        await launch_vm(clients)
        instances = await show(pilot, app, "2", "instances")
        await until(pilot, lambda: instances.table.row_count == 1, "the instance")
        await pilot.pause(0.2)
        lines = screen_lines(app)
        header = next(line for line in lines if "NAME" in line and "STATUS" in line)
        row = next(line for line in lines if "catalogue-vm" in line)
        assert "IMAGE" in header and "KEY" in header, header
        assert "canfar-ubuntu-20.04" in row and "id_ed25519" in row, row

        queue = clients.queue
        assert queue is not None
        script = tmp_path / "job.sh"
        script.write_text("#!/bin/bash\nsleep 30\n")
        script.chmod(0o755)
        await queue.submit(
            f"executable = {script}\nbatch_name = cfht-night-2023-08-20\nqueue 3\n",
            submit_dir=tmp_path,
        )
        view = await show(pilot, app, "5", "queue")
        await until(pilot, lambda: view.table.row_count >= 1, "the batch")
        await pilot.pause(0.2)
        lines = screen_lines(app)
        header = next(line for line in lines if "OWNER" in line)
        assert "TOTAL" in header, header
        row = next(line for line in lines if "cfht-night" in line)
        assert row.rstrip().endswith("3") or " 3 " in row, row
    assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- item 9


async def test_vospace_usage_follows_changes_made_outside_the_tab(
    settings: Settings, tmp_path: Path
) -> None:
    """Before: "(37.9 kB used)" never changed in a session."""
    clients = sandbox_clients(settings)
    app = create_app(settings, clients)
    async with app.run_test(size=SIZE) as pilot:
        view = await show(pilot, app, "6", "vospace")
        crumbs = view.query_one(".vospace-breadcrumbs", Static)
        await until(pilot, lambda: "used" in str(crumbs.content), "the usage")
        assert "(0 B used)" in str(crumbs.content)
        storage = clients.storage
        assert storage is not None
        catalogue = tmp_path / "1056215p.cat"
        catalogue.write_bytes(b"x" * 5000)
        # Outside the tab: as a batch job's vcp would, while the tab is shown...
        await storage.upload(catalogue, f"{storage.home_uri}/1056215p.cat")
        await until(pilot, lambda: "(0 B used)" not in str(crumbs.content), "the new usage")
        assert "kB used" in str(crumbs.content)
        # ...and while another tab is: coming back shows the figure of now.
        await show(pilot, app, "1", "projects")
        await storage.delete(f"{storage.home_uri}/1056215p.cat")
        await show(pilot, app, "6", "vospace")
        await until(pilot, lambda: "(0 B used)" in str(crumbs.content), "the usage after delete")
    assert app.unexpected_errors == 0


async def test_read_only_empty_states_do_not_offer_keys_that_do_nothing(
    settings: Settings,
) -> None:
    """Before: "Press n to launch one", and n did nothing, silently."""
    read_only = replace(settings, read_only=True)
    app = create_app(read_only, sandbox_clients(read_only))
    async with app.run_test(size=SIZE) as pilot:
        seen: list[str] = []
        original = app.notify

        def record(message: str, **kw: Any) -> None:
            seen.append(message)
            original(message, **kw)

        app.notify = record  # type: ignore[method-assign]
        for key, tab in (("2", "instances"), ("3", "floating_ips")):
            view = await show(pilot, app, key, tab)
            assert view.state == "empty"
            text = str(view.query_one(".view-placeholder", Static).render())
            assert "Press n" not in text and "read-only" in text.lower(), text
            await pilot.press("n")
            await until(pilot, lambda: any("Read-only mode" in m for m in seen), "the reason")
            assert any(m.startswith("Read-only mode: ") and "disabled" in m for m in seen), seen
            seen.clear()
        # A key that is not a change key says nothing.
        await pilot.press("s")
        await pilot.pause(0.2)
        assert not seen
    assert app.unexpected_errors == 0


async def test_the_palette_finds_every_tabs_commands_from_any_tab(settings: Settings) -> None:
    """Before: "vospace" on the Detect tab found only the tab switch."""
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await until(pilot, lambda: app.active_tab_id == "detect", "the Detect tab")
        commands = {name: callback for name, _, callback in CanfarCommands(app.screen)._commands()}
        for name in (
            "vospace: upload",
            "vospace: archive fetch",
            "instances: launch",
            "floating ips: allocate",
            "queue: submit",
            "pipeline: generate",
        ):
            assert name in commands, name
        await commands["floating ips: allocate"]()  # type: ignore[operator]
        addresses = app.view("floating_ips")
        assert isinstance(addresses, ResourceView)
        assert app.active_tab_id == "floating_ips"
        await until(pilot, lambda: addresses.table.row_count == 1, "the allocated address")
    assert app.unexpected_errors == 0


async def test_sandbox_jobs_belong_to_the_vospace_user(settings: Settings, tmp_path: Path) -> None:
    """Before: job OWNER ``root`` (the uid) beside VOSpace ``vos:sandbox-user``."""
    clients = build_clients(settings)
    try:
        queue, storage = clients.queue, clients.storage
        assert queue is not None and storage is not None
        script = tmp_path / "job.sh"
        script.write_text("#!/bin/bash\ntrue\n")
        script.chmod(0o755)
        await queue.submit(f"executable = {script}\nqueue\n", submit_dir=tmp_path)
        jobs = list(await queue.list_jobs()) or list(await queue.history(limit=1))  # type: ignore[attr-defined]
        user = storage.home_uri.removeprefix("vos:").split("/")[0]
        assert user == "sandbox-user"
        assert {job.owner for job in jobs} == {user}
    finally:
        await clients.aclose()


# --------------------------------------------------------------------------- item 11


async def test_the_quota_panel_is_quiet_when_the_app_exits_right_after_painting(
    settings: Settings,
) -> None:
    """Before: ``MountError: Can't mount widget(s) before Vertical(id='quota-rows') is mounted``."""
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("projects")
        assert isinstance(view, ProjectsView)
        await until(pilot, lambda: view.state == "ready", "the projects")
        app.exit()
        view.show_extras()  # what a fetch landing now does
    assert app.unexpected_errors == 0


async def test_the_quota_bars_fill_and_colour_by_the_share_used() -> None:
    """The quota panel is drawn by one widget: name, bar and numbers a line, warning from
    80 %, in the left column (half the width)."""
    from rich.style import Style
    from textual.app import App, ComposeResult

    from canfar_tui.models import QuotaUsage
    from canfar_tui.widgets.cloud.projects import ProjectPanels

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ProjectPanels()

    usages = [
        QuotaUsage("instances", 1, 4),
        QuotaUsage("cores", 7, 8),
        QuotaUsage("ram", 30720, 30720, "MB"),
        QuotaUsage("floating_ips", 0, -1),
    ]
    async with Host().run_test(size=(102, 16)) as pilot:
        bars = pilot.app.query_one(ProjectPanels)
        bars.show(quota_title="Quota", usages=usages, quota_message="", keypairs="", flavors="")
        await pilot.pause()
        assert bars.left_width == 48  # 100 cells inside the padding, half less the gap
        bar_cells = 48 - 13 - 16
        lines = {usage.resource: bars.line(usage, 48) for usage in usages}
        shown = [strip.text for strip in pilot.app.screen._compositor.render_strips()]
        assert [line[1:49].rstrip() for line in shown[1:5]] == [
            lines[usage.resource].plain for usage in usages
        ]
        assert lines["instances"].plain == (
            "Instances    " + "█" * 5 + "░" * (bar_cells - 5) + " 1 / 4"
        )
        assert lines["ram"].plain.endswith("█" * bar_cells + " 30 / 30 GB")
        assert lines["floating_ips"].plain.endswith("░" * bar_cells + " 0 / ∞")

        def bar_style(resource: str) -> Style:
            (span,) = lines[resource].spans
            return Style.parse(str(span.style)) if isinstance(span.style, str) else span.style

        normal, high, full = (
            bars.get_component_rich_style(name)
            for name in ("quota-bar", "quota-bar--high", "quota-bar--full")
        )
        assert len({normal.color, high.color, full.color}) == 3
        assert bar_style("instances").color == normal.color
        assert bar_style("cores").color == high.color
        assert bar_style("ram").color == full.color
        assert bars.text_of("cores") == lines["cores"].plain
        assert bars.text_of("volumes") is None
