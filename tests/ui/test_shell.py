"""The dashboard shell driven by keys, like a person would: tabs, filter, sort, help, palette,
read-only mode, confirmation, keymap, and the error handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fakes import FixedCloud
from textual.pilot import Pilot

from canfar_tui.app import CanfarApp
from canfar_tui.clients.base import Unavailable
from canfar_tui.config import Settings
from canfar_tui.screens.confirm import ConfirmScreen
from canfar_tui.screens.details import DetailsScreen
from canfar_tui.screens.help import HelpScreen
from canfar_tui.widgets.resource_view import ResourceView
from canfar_tui.widgets.tab_bar import TabBar

AppFactory = Callable[..., CanfarApp]

TAB_KEYS = {
    "1": "projects",
    "2": "instances",
    "3": "floating_ips",
    "4": "snapshots",
    "5": "queue",
    "6": "vospace",
    "7": "detect",
}


def active_tab(app: CanfarApp) -> str:
    return app.screen_stack[0].query_one(TabBar).active


async def wait_loaded(pilot: Pilot[None], view: ResourceView) -> None:
    for _ in range(400):
        if view.state in ("ready", "empty", "error", "stale", "unavailable"):
            return
        await pilot.pause(0.02)
    raise AssertionError(f"{view.TITLE} never left state {view.state}")


def state_now(view: ResourceView) -> str:
    """The view's state as it is now (read by a call, which no earlier assert narrows)."""
    return view.state


async def test_a_click_on_a_tab_title_shows_that_tab(make_app: AppFactory) -> None:
    """The tab bar is one widget: a click on a title (or under it) selects that tab, whose
    view is mounted on first use and shown; the underline moves under the new title."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        bar = app.screen_stack[0].query_one(TabBar)
        start, end = bar.span("snapshots")
        title = "".join(bar.render_line(0).text[start:end].split())
        assert title == "Snapshots"
        await pilot.click(TabBar, offset=(start + 2, 0))
        for _ in range(200):
            shown = app.view("snapshots")
            if shown is not None and shown.display:
                break
            await pilot.pause(0.02)
        assert active_tab(app) == "snapshots" == app.active_tab_id
        view = app.view("snapshots")
        assert view is not None and view.region.width > 0  # shown, not just mounted
        projects = app.view("projects")
        assert projects is not None and projects.region.width == 0  # hidden
        underline = bar.render_line(1).text
        assert set(underline[start + 1 : end - 1]) == {"━"}
        await pilot.click(TabBar, offset=(bar.span("projects")[0] + 1, 1))  # the underline
        await pilot.pause(0.2)
        assert active_tab(app) == "projects"
        assert app.unexpected_errors == 0


async def test_number_keys_reach_every_tab_and_each_shows_a_state(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        for key, tab in TAB_KEYS.items():
            await pilot.press(key)
            await pilot.pause()
            assert active_tab(app) == tab
            view = app.view(tab)
            if isinstance(view, ResourceView):
                await wait_loaded(pilot, view)
        instances, queue = app.view("instances"), app.view("queue")
        assert isinstance(instances, ResourceView) and instances.state == "ready"
        assert isinstance(queue, ResourceView) and queue.state == "ready"
        vospace = app.view("vospace")
        assert isinstance(vospace, ResourceView) and vospace.state == "unavailable"
        placeholder = vospace.query_one(".view-placeholder")
        assert "no VOSpace" in str(placeholder.render())
        assert app.unexpected_errors == 0


async def test_only_the_visible_tab_polls(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("2")
        instances = app.view("instances")
        assert isinstance(instances, ResourceView)
        await wait_loaded(pilot, instances)
        projects = app.view("projects")
        assert isinstance(projects, ResourceView) and projects.poller is not None
        assert instances.poller is not None
        assert projects.poller.paused and not instances.poller.paused
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert instances.poller.paused, "a modal pauses the visible tab's poller"
        await pilot.press("escape")
        await pilot.pause()
        assert not instances.poller.paused


async def test_filter_and_sort_by_keys(make_app: AppFactory) -> None:
    app = make_app(cloud=FixedCloud(instances=12))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("2")
        view = app.view("instances")
        assert isinstance(view, ResourceView)
        await wait_loaded(pilot, view)
        assert view.table.visible_count == 12
        await pilot.press("slash", *"status=shutoff", "enter")
        await pilot.pause()
        assert view.table.visible_count == 6
        assert view.table.filter_text == "status=shutoff"
        await pilot.press("slash", *"name=vm-1", "enter")  # vm-1, vm-10, vm-11, vm-12
        await pilot.pause()
        assert view.table.visible_count == 4
        await pilot.press("slash", *"colour=red", "enter")
        await pilot.pause()
        assert view.table.filter_text == "name=vm-1", "a bad filter leaves the old one in force"
        await pilot.press("escape")
        await pilot.pause()
        assert view.table.filter_text == "" and view.table.visible_count == 12
        before = view.table.sort_column
        await pilot.press("s")
        await pilot.pause()
        assert view.table.sort_column is not None and view.table.sort_column != before


async def test_enter_opens_details_of_the_selected_row(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("2")
        view = app.view("instances")
        assert isinstance(view, ResourceView)
        await wait_loaded(pilot, view)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailsScreen)
        assert app.screen.title_text.startswith("Instance: catalogue-vm-")
        labels = dict(app.screen.rows)
        assert labels["flavor name"] == "c2-7.5gb-30"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailsScreen)


async def test_help_lists_every_key_with_its_id(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for _, rows in app.screen.sections for row in rows}
        assert {
            "app.tab_projects",
            "app.tab_detect",
            "app.help",
            "view.filter",
            "instances.delete",
            "table.cursor_down",
        } <= ids


async def test_palette_runs_area_commands(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"tabs: Queue")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert active_tab(app) == "queue"


async def test_delete_asks_first_and_runs_only_on_yes(make_app: AppFactory) -> None:
    cloud = FixedCloud()
    app = make_app(cloud=cloud)
    async with app.run_test() as pilot:
        await pilot.press("2")
        view = app.view("instances")
        assert isinstance(view, ResourceView)
        await wait_loaded(pilot, view)
        enabled = {b.binding.action for b in app.active_bindings.values() if b.enabled}
        assert "delete" in enabled
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert cloud.deleted == []
        target = view.table.cursor_key
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.2)
        assert cloud.deleted == [target]
        for _ in range(50):
            if view.table.get_row(target) is None:
                break
            await pilot.pause(0.05)
        assert view.table.get_row(target) is None, "the deleted row leaves the table"


async def test_read_only_hides_and_blocks_destructive_actions(make_app: AppFactory) -> None:
    cloud = FixedCloud()
    app = make_app(cloud=cloud, read_only=True)
    async with app.run_test() as pilot:
        await pilot.press("2")
        view = app.view("instances")
        assert isinstance(view, ResourceView)
        await wait_loaded(pilot, view)
        enabled = {b.binding.action for b in app.active_bindings.values() if b.enabled}
        assert "filter" in enabled
        assert "delete" not in enabled
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert cloud.deleted == []
        assert app.header.read_only
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for _, rows in app.screen.sections for row in rows}
        assert "instances.delete" not in ids and "view.filter" in ids


async def test_read_only_palette_offers_no_destructive_command(make_app: AppFactory) -> None:
    from canfar_tui.app import CanfarCommands

    for read_only, expected in ((False, True), (True, False)):
        app = make_app(read_only=read_only)
        async with app.run_test() as pilot:
            await pilot.press("2")
            await pilot.pause()
            provider = CanfarCommands(app.screen)
            names = [name for name, _, _ in provider._commands()]
            assert ("instances: delete" in names) is expected, names
            assert "instances: refresh" in names


async def test_keymap_rebinds_a_binding_id(make_app: AppFactory) -> None:
    app = make_app(keymap={"app.tab_queue": "f5"})
    async with app.run_test() as pilot:
        await pilot.press("5")
        await pilot.pause()
        assert active_tab(app) == "projects", "the old key no longer switches"
        await pilot.press("f5")
        await pilot.pause()
        assert active_tab(app) == "queue"


async def test_failing_client_gives_notification_error_state_and_stale_badge(
    make_app: AppFactory,
) -> None:
    cloud = FixedCloud()
    app = make_app(cloud=cloud)
    async with app.run_test() as pilot:
        await pilot.press("2")
        view = app.view("instances")
        assert isinstance(view, ResourceView)
        await wait_loaded(pilot, view)
        assert view.state == "ready" and not app.header.stale
        cloud.failure = Unavailable("arbutus-canfar did not answer")
        for _ in range(400):
            if state_now(view) == "stale" and app.header.stale:  # the header follows by message
                break
            await pilot.pause(0.05)
        assert state_now(view) == "stale"
        assert view.table.row_count == 3, "the last good rows stay on screen"
        assert app.header.stale
        messages = [n.message for n in app._notifications]
        assert any("arbutus-canfar did not answer" in message for message in messages)
        assert app.unexpected_errors == 0
        cloud.failure = None
        assert view.poller is not None
        view.poller.refresh_now()
        for _ in range(400):
            if view.state == "ready" and not app.header.stale:
                break
            await pilot.pause(0.05)
        assert view.state == "ready" and not app.header.stale


async def test_first_fetch_failing_shows_error_state(make_app: AppFactory) -> None:
    cloud = FixedCloud()
    cloud.failure = Unavailable("no route to host")
    app = make_app(cloud=cloud)
    async with app.run_test() as pilot:
        view = app.view("projects")
        assert isinstance(view, ResourceView)
        await wait_loaded(pilot, view)
        assert view.state == "error"
        assert "no route to host" in str(view.query_one(".view-placeholder").render())


async def test_unexpected_error_in_a_worker_is_one_line(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test() as pilot:

        async def broken() -> None:
            raise RuntimeError("boom\nsecond line")

        app.run_worker(broken(), name="broken-worker", exit_on_error=False)
        await pilot.pause(0.1)
        assert app.is_running
        assert app.errors[-1].message == "unexpected RuntimeError: boom"
        assert "Traceback" in app.errors[-1].details
        assert any("RuntimeError: boom (e: details)" in n.message for n in app._notifications)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, DetailsScreen)
        assert "boom" in dict(app.screen.rows).get(app.errors[-1].when.strftime("%H:%M:%S"), "")


async def test_bug_in_a_handler_stops_cleanly_without_traceback(
    make_app: AppFactory, settings: Settings
) -> None:
    from canfar_tui.logs import setup_logging

    setup_logging(settings.paths.log_file)
    app = make_app()
    async with app.run_test():

        def broken() -> None:
            raise RuntimeError("boom\nsecond line")

        app.call_later(broken)
        for _ in range(50):
            if not app.is_running:
                break
            await asyncio.sleep(0.02)
    assert app.return_code == 1
    assert app.exit_message == "unexpected RuntimeError: boom"
    assert app._exit_renderables == [], "no traceback is printed on exit"
    log_text = settings.paths.log_file.read_text()
    assert "Traceback" in log_text and "second line" in log_text


async def test_password_prompt_answers_a_worker_thread(make_app: AppFactory) -> None:
    from canfar_tui.clients.base import AuthError
    from canfar_tui.screens.password import PasswordScreen

    app = make_app()
    async with app.run_test() as pilot:
        answers: list[object] = []

        def ask() -> None:
            try:
                answers.append(app.ask_password())
            except AuthError as error:
                answers.append(error)

        app.run_worker(ask, thread=True)
        for _ in range(100):
            if isinstance(app.screen, PasswordScreen):
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, PasswordScreen)
        await pilot.press(*"s3cret", "enter")
        for _ in range(100):
            if answers:
                break
            await pilot.pause(0.02)
        assert answers == ["s3cret"]

        app.run_worker(ask, thread=True)
        for _ in range(100):
            if isinstance(app.screen, PasswordScreen):
                break
            await pilot.pause(0.02)
        await pilot.press("escape")
        for _ in range(100):
            if len(answers) == 2:
                break
            await pilot.pause(0.02)
        assert isinstance(answers[1], AuthError)
        assert "cancelled" in answers[1].message


async def test_the_errors_screen_lists_a_failed_login(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: "No error so far" while "Login failed: …" was on screen."""
    from textual.widgets import Input, Static

    import canfar_tui.screens.login as login_screen
    from canfar_tui.clients.base import AuthError

    async def refused(*args: object, **kwargs: object) -> None:
        raise AuthError("CADC refused the username or password.")

    monkeypatch.setattr(login_screen, "login", refused)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_login()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, login_screen.LoginScreen)
        screen.query_one("#login-username", Input).value = "jdoe"
        screen.query_one("#login-password", Input).value = "wrong-password"
        screen.start_login()

        def on_screen() -> str:
            return str(screen.query_one("#login-error", Static).render())

        for _ in range(100):
            if "Login failed" in on_screen():
                break
            await pilot.pause(0.05)
        assert "Login failed: CADC refused" in on_screen()
        app.action_errors()  # while the failure is on screen (the command palette's "errors")
        await pilot.pause()
        assert isinstance(app.screen, DetailsScreen)
        shown = "\n".join(text for _, text in app.screen.rows)
        assert "No error so far" not in shown
        assert "Login failed: CADC refused the username or password." in shown
        assert "wrong-password" not in shown
        await pilot.press("escape", "escape")
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, DetailsScreen)
        assert "Login failed" in "\n".join(text for _, text in app.screen.rows)
        assert app.unexpected_errors == 0


async def test_canfar_submit_takes_the_password_the_cloud_got(make_app: AppFactory) -> None:
    from canfar_tui.screens.password import PasswordScreen

    app = make_app()
    async with app.run_test() as pilot:
        answers: list[object] = []
        app.run_worker(lambda: answers.append(app.ask_password()), thread=True)
        for _ in range(100):
            if isinstance(app.screen, PasswordScreen):
                break
            await pilot.pause(0.02)
        await pilot.press(*"s3cret", "enter")
        for _ in range(100):
            if answers:
                break
            await pilot.pause(0.02)
        assert answers == ["s3cret"]

        # The Pipeline tab and the Submit screen submit through canfar_submit 0.3 with the
        # password the cloud took: no second prompt.
        provider = app.view_context.password_provider
        assert provider is not None
        app.run_worker(lambda: answers.append(provider()), thread=True)
        for _ in range(100):
            if len(answers) == 2:
                break
            await pilot.pause(0.02)
        assert answers == ["s3cret", "s3cret"]
        assert not isinstance(app.screen, PasswordScreen)


async def test_the_login_dialog_fits_80x24_with_its_outcome_on_screen(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80x24 the first-start login dialog cut off its checkboxes, its hint and the line
    that says why a login failed."""
    from textual.widgets import Checkbox, Input, Label, Static

    import canfar_tui.screens.login as login_screen
    from canfar_tui.clients.base import AuthError

    async def refused(*args: object, **kwargs: object) -> None:
        raise AuthError("CADC refused the username or password.")

    monkeypatch.setattr(login_screen, "login", refused)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_login(intro="This is the sandbox, a simulated CANFAR on this machine.")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, login_screen.LoginScreen)
        screen.query_one("#login-username", Input).value = "jdoe"
        screen.query_one("#login-password", Input).value = "wrong-password"
        screen.start_login()
        error = screen.query_one("#login-error", Static)
        for _ in range(100):
            if "Login failed" in str(error.render()):
                break
            await pilot.pause(0.05)
        await pilot.pause()
        visible = screen.region
        for widget in (
            error,
            screen.query_one("#login-netrc", Checkbox),
            screen.query_one(".dialog-hint", Label),
        ):
            region = widget.region
            assert region.height > 0 and visible.contains_region(region), widget
        assert "Login failed: CADC refused" in str(error.render())
