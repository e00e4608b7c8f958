"""``CanfarApp``: the dashboard shell — tabs, header, bindings, palette and error handling.

Build it with :func:`create_app` (the CLI and the tests do): it takes Settings and a
:class:`~canfar_tui.clients.bundle.Clients` bundle, so any mix of backends can be plugged in.

| key          | action                                   |
|--------------|------------------------------------------|
| `1`…`8`      | Projects, Instances, Floating IPs, Snapshots, Queue, VOSpace, Detect, Pipeline |
| `?`, `f1`    | help: every key and its binding id (`f1` in a text field too) |
| `ctrl+p`     | command palette (`area: action`)         |
| `e`          | recent errors with their details         |
| `q`          | quit                                     |

Failures never reach the screen as a traceback: client errors become a one-line notification
and the view's error/stale state; anything unexpected is logged with its traceback to the log
file under the XDG state dir and shown as one line.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.widgets import ContentSwitcher
from textual.worker import Worker, WorkerState

from canfar_tui import __version__
from canfar_tui.clients.base import AuthError, ClientError, expiry_text
from canfar_tui.clients.bundle import Clients, build_clients
from canfar_tui.clients.refresh import Poller
from canfar_tui.config import Settings
from canfar_tui.logs import get_logger, redact
from canfar_tui.models import CredentialStatus, Project
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.footer import DashboardFooter
from canfar_tui.widgets.header import StatusHeader
from canfar_tui.widgets.resource_table import ResourceTable
from canfar_tui.widgets.resource_view import ResourceView
from canfar_tui.widgets.tab_bar import TabBar
from canfar_tui.widgets.tabs import TABS, tab_title, view_class

if TYPE_CHECKING:
    from canfar_tui.screens.help import HelpSection
    from canfar_tui.widgets.tabs import TabView

log = get_logger("app")

#: The header warns when the proxy certificate has less than this left.
CERTIFICATE_WARNING_SECONDS = 24 * 3600
#: The header's certificate is read at the latest this long after the dashboard is up
#: (earlier when the first tab has its rows).
CERTIFICATE_DELAY_SECONDS = 1.0
#: ... and this long after the first tab's first rows arrived.
CERTIFICATE_AFTER_ROWS_SECONDS = 0.3


@dataclass(frozen=True, slots=True)
class ReportedError:
    """One failure kept for the errors screen."""

    when: datetime
    title: str
    message: str
    details: str


class DashboardScreen(Screen[None]):
    """The main screen: header, tabs and footer. Pauses the visible poller under a modal."""

    #: Focus the first tab's table from the start (focusing the tab strip first, then the
    #: table, restyled both for nothing).
    AUTO_FOCUS = "ResourceTable"

    def compose(self) -> ComposeResult:
        # Only the first tab's view is built now; the others are mounted when first shown,
        # so the first paint does not wait for six tabs nobody has looked at yet.
        first = TABS[0][0]
        yield StatusHeader(id="header")
        yield TabBar([(tab_id, title) for tab_id, title, _ in TABS], active=first, id="tab-bar")
        with ContentSwitcher(id="tabs", initial=f"view-{first}"):
            view = view_class(first)(self._view_context(), id=f"view-{first}")
            self._remember_view(first, view)
            if isinstance(view, ResourceView):
                # Its rows load while the screen is built: in the first paint.
                view.start_first_load()
            yield view
        yield DashboardFooter()

    def _remember_view(self, tab_id: str, view: TabView) -> None:
        app = self.app
        assert isinstance(app, CanfarApp)
        app.mounted_views[tab_id] = view

    def _view_context(self) -> ViewContext:
        app = self.app
        assert isinstance(app, CanfarApp)
        return app.view_context

    def on_mount(self) -> None:
        app = self.app
        if isinstance(app, CanfarApp):
            app.dashboard_ready()

    def on_key(self, event: events.Key) -> None:
        """A key no binding took: in read-only mode, say why a change key does nothing."""
        app = self.app
        if isinstance(app, CanfarApp) and app.read_only and app.explain_read_only(event.key):
            event.stop()

    def on_screen_suspend(self) -> None:
        app = self.app
        if isinstance(app, CanfarApp):
            app.activate_view(None)

    def on_screen_resume(self) -> None:
        app = self.app
        if isinstance(app, CanfarApp):
            app.activate_view(app.active_tab_id)


class CanfarCommands(Provider):
    """Command palette entries named ``area: action``, built from what is on screen."""

    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.app
        assert isinstance(app, CanfarApp)
        commands: list[tuple[str, str, object]] = []
        for index, (tab_id, title, _) in enumerate(TABS, start=1):
            commands.append(
                (
                    f"tabs: {title}",
                    f"Show the {title} tab (key {index})",
                    lambda tab_id=tab_id: app.show_tab(tab_id),
                )
            )
        commands.append(
            (
                "archive: fetch",
                "Fetch a CADC archive file (cadc:CFHT/1056213p.fits.fz)",
                app.action_archive_fetch,
            )
        )
        commands += [
            ("app: help", "Every key and its binding id", app.action_help),
            ("app: errors", "Recent errors with their details", app.action_errors),
            ("app: tutorial", "Start or end the guided Batch Quick Start", app.action_tutorial),
            (
                "app: log in",
                "Log in with your CADC account (like canfar-tui login)",
                app.action_login,
            ),
            ("app: quit", "Leave canfar-tui", app.action_quit),
        ]
        view = app.active_view
        if isinstance(view, ResourceView):
            area = view.TITLE.lower()
            commands += [
                (f"{area}: refresh", "Refresh now", view.action_refresh),
                (f"{area}: filter", "Filter the rows", view.action_filter),
                (f"{area}: clear filter", "Show all rows", view.action_clear_filter),
            ]
        # Every tab's own commands, from any tab: choosing one shows its tab, then runs it.
        for tab_id, title, _ in TABS:
            cls = view_class(tab_id)
            area = str(getattr(cls, "TITLE", title)).lower()
            for binding in cls.BINDINGS:
                if not isinstance(binding, Binding) or binding.id is None:
                    continue
                if binding.id.startswith("view."):
                    continue
                if binding.action in cls.DESTRUCTIVE_ACTIONS and app.read_only:
                    continue
                if not hasattr(cls, f"action_{binding.action}"):
                    continue
                commands.append(
                    (
                        f"{area}: {binding.description.lower()}",
                        binding.tooltip,
                        partial(app.run_tab_action, tab_id, binding.action),
                    )
                )
            if tab_id == "queue" and not any(
                isinstance(b, Binding) and b.action.startswith("trace") for b in cls.BINDINGS
            ):
                commands.append(
                    ("queue: trace", "Snapshot, instance, jobs, outputs", app.action_trace)
                )
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]


class CanfarApp(App[None]):
    """The canfar-tui dashboard."""

    TITLE = "canfar-tui"
    CSS_PATH = "assets/app.tcss"
    COMMANDS: ClassVar = App.COMMANDS | {CanfarCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *[
            Binding(
                str(index),
                f"show_tab('{tab_id}')",
                title,
                id=f"app.tab_{tab_id}",
                tooltip=f"Show the {title} tab",
                show=False,
            )
            for index, (tab_id, title, _) in enumerate(TABS, start=1)
        ],
        # f1 works inside a text field too (where ? is typed): there the footer shows it.
        Binding(
            "question_mark,f1", "help", "Help", id="app.help", tooltip="Every key (f1 anywhere)"
        ),
        Binding("e", "errors", "Errors", id="app.errors", tooltip="Recent errors", show=False),
        Binding(
            "c",
            "renew_certificate",
            "Renew cert",
            id="app.renew_certificate",
            tooltip="Get a new CADC proxy certificate (like cadc-get-cert -n)",
            show=False,
        ),
        Binding(
            "T",
            "tutorial",
            "Tutorial",
            id="app.tutorial",
            tooltip="Start or end the guided Batch Quick Start (sandbox only)",
            show=False,
        ),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave canfar-tui"),
    ]

    def __init__(
        self,
        settings: Settings,
        clients: Clients,
        *,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        super().__init__()
        self.now = now
        self.settings = settings
        self.clients = clients
        self.read_only = settings.read_only
        #: What every view is handed (views never reach back into the app).
        self.view_context = ViewContext(
            clients=clients,
            settings=settings,
            read_only=self.read_only,
            now=now,
            report_error=self.report_error,
            navigation=self,
            password_provider=self.submission_password,
        )
        #: The password last typed at the cloud's prompt (memory only, this run only).
        self._typed_password: str | None = None
        self.active_tab_id = TABS[0][0]
        #: tab id -> its view, once mounted (see :meth:`view`).
        self.mounted_views: dict[str, TabView] = {}
        self.errors: deque[ReportedError] = deque(maxlen=50)
        #: Failures that were not ClientErrors (bugs); tests assert this stays 0.
        self.unexpected_errors = 0
        self.project: Project | None = None
        self.dashboard_up = False
        self.credentials_poller: Poller[str, CredentialStatus] | None = None
        self._credentials_scheduled = False
        #: One line for the CLI to print when the app stopped on an unexpected error.
        self.exit_message: str | None = None
        #: Start the tutorial when the dashboard is up (``--tutorial``).
        self.start_tutorial = False
        #: Offer the login screen when the dashboard is up (first start, no config file).
        self.offer_login = False
        if settings.theme in self.available_themes:
            self.theme = settings.theme
        if settings.keymap:
            self.set_keymap(dict(settings.keymap))

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen(id="dashboard")

    # ------------------------------------------------------------------ lifecycle

    def dashboard_ready(self) -> None:
        """The dashboard is composed: fill the header and start the first tab's poller."""
        self.dashboard_up = True
        header = self.header
        header.profile = self.settings.profile.name
        header.mode = self.clients.mode_label
        header.read_only = self.read_only
        self.sub_title = f"{self.settings.profile.name} · {self.clients.mode_label}"
        self.activate_view(self.active_tab_id)
        self._focus_view(self.active_tab_id)
        if self.start_tutorial:
            self.action_tutorial()
        elif self.offer_login and self.settings.profile.is_sandbox:
            self.action_login(
                intro="This is the sandbox, a simulated CANFAR on this machine. Log in to use "
                "your CADC account, or press escape to explore the sandbox first."
            )
        insecure = self._tls_off_reason()
        if insecure is not None:
            self.notify(
                f"TLS certificate verification is OFF {insecure}: "
                "anyone on the network path could read your credentials.",
                title="Insecure profile",
                severity="warning",
                timeout=30,
            )
        # The certificate is read once the first tab has its rows (reading it imports
        # ``cryptography``, which would compete with the first paint), or after a second.
        self.set_timer(CERTIFICATE_DELAY_SECONDS, self._start_credentials_poller)

    def _start_credentials_poller(self) -> None:
        """Follow the proxy certificate in the header (once; after the first tab's rows)."""
        if self.credentials_poller is not None or self.clients.credentials is None:
            return
        if not self.is_running:
            return
        self.credentials_poller = Poller(
            self.clients.credentials.status,
            lambda status: "certificate",
            interval=self.settings.refresh_interval("credentials"),
            on_diff=lambda diff: self._show_certificate(),
            on_error=lambda error: self._show_certificate(error),
            fetch_one=True,
            name="Credentials",
        )
        # The coroutine function, not a coroutine: a worker that never starts (the app is
        # closing) then leaves no "never awaited" coroutine behind.
        self.run_worker(
            cast("Any", self.credentials_poller.run),
            name="poll-credentials",
            group="pollers",
            exit_on_error=False,
        )

    def _show_certificate(self, error: ClientError | None = None) -> None:
        header = self.header
        if error is not None or self.credentials_poller is None:
            header.certificate = "unknown"
            header.certificate_warning = True
            return
        status = self.credentials_poller.rows.get("certificate")
        if status is None:
            return
        now = datetime.now(UTC)
        header.certificate = expiry_text(status.expires_at, now)
        left = status.time_left_seconds(now)
        header.certificate_warning = left is None or left < CERTIFICATE_WARNING_SECONDS

    def _tls_off_reason(self) -> str | None:
        """Why TLS verification is off for this profile (for the start-up warning), or None.

        ``verify_tls = false`` in the profile, or ``OS_INSECURE`` in its openrc file (read and
        parsed, never executed; an unreadable file is reported when the cloud is first used).
        """
        profile = self.settings.profile
        if not profile.verify_tls:
            return f"for profile {profile.name}"
        if profile.openrc is None:
            return None
        from canfar_tui.clients.cloud.openrc import load_openrc

        try:
            variables = load_openrc(profile.openrc).variables
        except ClientError:
            return None
        if (variables.get("OS_INSECURE") or "").strip().lower() in {"1", "true", "yes"}:
            return f"for profile {profile.name} (OS_INSECURE in {profile.openrc})"
        return None

    def action_renew_certificate(self) -> None:
        credentials = self.clients.credentials
        if credentials is None:
            self.notify(self.clients.why_missing("credentials"), severity="warning")
            return

        async def renew() -> None:
            try:
                status = await credentials.renew_certificate()
            except ClientError as error:
                self.notify(error.message, title="Certificate not renewed", severity="error")
                return
            left = expiry_text(status.expires_at, datetime.now(UTC))
            self.notify(f"New proxy certificate, valid {left}", title="Certificate")
            if self.credentials_poller is not None:
                self.credentials_poller.refresh_now()
            self._retry_refused_views()

        self.run_worker(renew(), name="renew-certificate", exit_on_error=False)

    # ------------------------------------------------------------------ re-authentication

    #: True while the renewal prompt is up or its renewal runs (one offer at a time).
    renewal_pending = False

    def offer_renewal(self, error: ClientError, retry: Callable[[], None]) -> None:
        """A service refused the proxy certificate (``error``): offer to renew it.

        The password prompt asks for the CADC password; with it the certificate is renewed
        (``renew_certificate(password=…)``; the sandbox issues its own) and ``retry`` (the
        view's refresh) runs, so the view keeps its folder, filter and cursor. Escape leaves
        things as they are (``c`` renews later). One offer at a time.
        """
        credentials = self.clients.credentials
        if credentials is None or self.renewal_pending or not self.is_running:
            return
        self.renewal_pending = True
        from canfar_tui.screens.password import PasswordScreen

        def answered(password: str | None) -> None:
            if not password:
                self.renewal_pending = False
                self.notify(
                    "Certificate not renewed: c renews it, r retries.",
                    title="Credentials",
                    severity="warning",
                )
                return
            self.run_worker(
                self._renew_then_retry(password, retry),
                name="renew-certificate",
                exit_on_error=False,
            )

        self.push_screen(
            PasswordScreen(
                "Renew your CADC certificate",
                f"{error.message}\nYour CADC password gets a new proxy certificate; "
                "then this tab fetches again.",
            ),
            answered,
        )

    async def _renew_then_retry(self, password: str, retry: Callable[[], None]) -> None:
        credentials = self.clients.credentials
        try:
            if credentials is None:
                return
            status = await cast("Any", credentials).renew_certificate(password=password)
        except ClientError as failure:
            self.report_error(failure, context="renew certificate")
            return
        finally:
            self.renewal_pending = False
        left = expiry_text(status.expires_at, datetime.now(UTC))
        self.notify(f"New proxy certificate, valid {left}; fetching again", title="Certificate")
        if self.credentials_poller is not None:
            self.credentials_poller.refresh_now()
        retry()
        self._retry_refused_views()

    def _retry_refused_views(self) -> None:
        """Refresh the views whose last fetch was refused for credentials."""
        for view in self.views:
            poller = view.poller if isinstance(view, ResourceView) else None
            if poller is not None and isinstance(poller.last_error, AuthError):
                poller.refresh_now()

    async def on_unmount(self) -> None:
        await self.clients.aclose()

    # ------------------------------------------------------------------ views and tabs

    @property
    def header(self) -> StatusHeader:
        return self.screen_stack[0].query_one(StatusHeader)

    def view(self, tab_id: str) -> TabView | None:
        """The view of a tab, or None while that tab has never been shown.

        Kept in :attr:`mounted_views` (a DOM query per call cost a tenth of the first paint).
        """
        return self.mounted_views.get(tab_id)

    @property
    def views(self) -> list[TabView]:
        """The views mounted so far."""
        return [view for tab_id, _, _ in TABS if (view := self.view(tab_id)) is not None]

    @property
    def active_view(self) -> TabView | None:
        return self.view(self.active_tab_id)

    async def ensure_view(self, tab_id: str) -> TabView:
        """Mount a tab's view the first time it is shown."""
        view = self.view(tab_id)
        if view is None:
            view = view_class(tab_id)(self.view_context, id=f"view-{tab_id}")
            switcher = self.screen_stack[0].query_one("#tabs", ContentSwitcher)
            self.mounted_views[tab_id] = view
            view.display = False  # shown when it becomes the switcher's current view
            await switcher.mount(view)
        return view

    async def switch_to(self, tab_id: str) -> TabView:
        """Show ``tab_id`` (e.g. right after a modal closed) and return its view.

        The tab that was visible under a modal resumes when the modal closes; a refresh of it
        landing before the switch is handled would focus its table again and switch back. So
        the target is made the active view first: every other view is paused before the switch.
        """
        view = await self.ensure_view(tab_id)
        self.active_tab_id = tab_id
        self.activate_view(tab_id)
        self.show_tab(tab_id)
        return view

    def activate_view(self, tab_id: str | None) -> None:
        """Resume the poller of ``tab_id`` and pause every other (None pauses all)."""
        for view in self.views:
            view.set_active(view.id == f"view-{tab_id}")
        active = self.view(tab_id) if tab_id is not None else None
        if active is not None:
            self._update_header_from(active)

    def explain_read_only(self, key: str) -> bool:
        """If ``key`` is a change key of the visible tab, say read-only mode disables it."""
        view = self.active_view
        if view is None:
            return False
        cls = type(view)
        for binding in cls.BINDINGS:
            if not isinstance(binding, Binding) or binding.action not in cls.DESTRUCTIVE_ACTIONS:
                continue
            keys = self.settings.keymap.get(binding.id or "", binding.key)
            if key in (part.strip() for part in keys.split(",")):
                self.notify(
                    f"Read-only mode: {binding.description} is disabled "
                    "(restart without --read-only to make changes).",
                    title=tab_title(self.active_tab_id),
                    severity="warning",
                    timeout=6,
                )
                return True
        return False

    def action_show_tab(self, tab_id: str) -> None:
        self.show_tab(tab_id)

    def show_tab(self, tab_id: str) -> None:
        tabs = self.screen_stack[0].query_one(TabBar)
        if tabs.active == tab_id:
            self._focus_view(tab_id)
        else:
            tabs.active = tab_id  # TabBar.Changed does the rest

    def _focus_view(self, tab_id: str) -> None:
        view = self.view(tab_id)
        if view is not None:
            view.focus_default()

    @on(TabBar.Changed, "#tab-bar")
    async def _tab_activated(self, event: TabBar.Changed) -> None:
        tab_id = event.tab_id
        self.active_tab_id = tab_id
        # The tab left stops now, not once this one is built.
        self.activate_view(tab_id)
        view = await self.ensure_view(tab_id)
        if self.active_tab_id != tab_id:
            return  # the user moved on while this tab was being built
        self.screen_stack[0].query_one("#tabs", ContentSwitcher).current = view.id
        self.activate_view(tab_id)
        self._focus_view(tab_id)
        self.refresh_bindings()

    @on(ResourceView.Refreshed)
    def _view_refreshed(self, event: ResourceView.Refreshed) -> None:
        if event.view is self.active_view:
            self._update_header_from(event.view)
        if self.credentials_poller is None and not self._credentials_scheduled:
            # After the rows are on screen, not while they are being drawn.
            self._credentials_scheduled = True
            self.set_timer(CERTIFICATE_AFTER_ROWS_SECONDS, self._start_credentials_poller)

    def _update_header_from(self, view: TabView) -> None:
        header = self.header
        if isinstance(view, ResourceView):
            header.last_refresh = view.last_refresh
            header.stale = view.poller is not None and view.poller.stale
        else:
            header.stale = False

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.header.project = project.name if project else "—"

    def reload_service_views(self, service: str) -> None:
        """Forget and refetch every view of ``service`` (after a project switch)."""
        for view in self.views:
            if isinstance(view, ResourceView) and service == view.SERVICE and view.poller:
                view.table.replace_all({})
                view.poller.reset()

    # ------------------------------------------------------------------ actions

    async def run_tab_action(self, tab_id: str, action: str) -> None:
        """Show ``tab_id`` and run one of its view's actions (the palette's commands)."""
        view = await self.switch_to(tab_id)
        await view.run_action(action)

    async def action_archive_fetch(self) -> None:
        """Open the VOSpace tab and ask for an archive URI to fetch."""
        self.show_tab("vospace")
        from canfar_tui.widgets.vospace.view import VOSpaceView

        view = await self.ensure_view("vospace")
        if isinstance(view, VOSpaceView):
            view.action_archive_fetch()

    def action_login(self, intro: str = "") -> None:
        """The login screen (its module is imported only now)."""
        from canfar_tui.screens.login import LoginScreen, login_places

        places = login_places(self.settings.paths.config_file)
        self.push_screen(
            LoginScreen(places, verify_tls=self.settings.profile.verify_tls, intro=intro)
        )

    def action_help(self) -> None:
        from canfar_tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_sections()))

    def action_tutorial(self) -> None:
        """Start or end the tutorial (its module is imported only now)."""
        from canfar_tui.widgets.tutorial import toggle_tutorial

        toggle_tutorial(self, self.view_context)

    def action_trace(self) -> None:
        """Trace the batch under the Queue tab's cursor (its module is imported only now)."""
        from canfar_tui.screens.trace import trace_selected_batch

        trace_selected_batch(self, self.view_context)

    def action_errors(self) -> None:
        rows = [
            (error.when.strftime("%H:%M:%S"), f"{error.title}: {error.message}\n{error.details}")
            for error in reversed(self.errors)
        ] or [("", "No error so far.")]
        from canfar_tui.screens.details import DetailsScreen

        self.push_screen(DetailsScreen("Recent errors (newest first)", rows))

    def help_sections(self) -> list[HelpSection]:
        """Every binding of the dashboard, with the keys in force after the keymap."""
        keymap = dict(self.settings.keymap)

        def rows(
            bindings: Iterable[BindingType], destructive: frozenset[str] = frozenset()
        ) -> list[tuple[str, str, str]]:
            result = []
            for binding in bindings:
                if not isinstance(binding, Binding) or binding.id is None:
                    continue
                if binding.action in destructive and self.read_only:
                    continue
                keys = keymap.get(binding.id, binding.key)
                shown = ", ".join(
                    self.get_key_display(Binding(key.strip(), "")) for key in keys.split(",")
                )
                result.append((shown, binding.tooltip or binding.description, binding.id))
            return result

        sections: list[HelpSection] = [
            ("Everywhere", rows(self.BINDINGS)),
            ("Every table", rows(ResourceTable.BINDINGS)),
            ("Every resource tab", rows(ResourceView.BINDINGS)),
        ]
        for tab_id, title, _ in TABS:
            cls = view_class(tab_id)
            own = [b for b in cls.BINDINGS if b not in ResourceView.BINDINGS]
            if own:
                sections.append((title, rows(own, cls.DESTRUCTIVE_ACTIONS)))
        sections.append(
            ("Command palette", [("ctrl+p", "Search every command", "app.command_palette")])
        )
        return sections

    # ------------------------------------------------------------------ login

    def ask_password(self) -> str:
        """Show the password prompt and wait for it (called from a worker thread only)."""
        from canfar_tui.screens.password import PasswordScreen

        answered = threading.Event()
        answers: list[str | None] = []

        def record(value: str | None) -> None:
            answers.append(value)
            answered.set()

        def show() -> None:
            self.push_screen(
                PasswordScreen(
                    f"Log in: {self.settings.profile.name}",
                    "The cloud asks for your password (on CANFAR, your CADC password).",
                ),
                record,
            )

        self.call_from_thread(show)
        while not answered.wait(0.5):
            if not self.is_running:
                break
        if not answers or answers[0] is None:
            raise AuthError("Login cancelled: no password was given.")
        self._typed_password = answers[0]
        return answers[0]

    def submission_password(self) -> str:
        """The password for ``canfar_submit`` 0.3.x (its ``OS_PASSWORD``): the one the cloud
        was given in this run, else the prompt (a worker thread only). One prompt per run."""
        return self._typed_password or self.ask_password()

    # ------------------------------------------------------------------ errors

    def report_error(self, error: BaseException, *, context: str = "") -> None:
        """Turn any failure into one line on screen and the details in the log file."""
        where = f"{context}: " if context else ""
        if isinstance(error, ClientError):
            message, title, details = error.message, error.title, error.details or ""
            log.warning("%s%s", where, message)
        else:
            message = f"unexpected {type(error).__name__}: {error}".splitlines()[0][:200]
            title = "Internal error"
            details = "".join(traceback.format_exception(error))
            log.error("%s%s\n%s", where, message, details)
        # The screen gets what the log gets: secrets masked (the log's formatter does the same).
        message, details = redact(message), redact(details)
        self.errors.append(ReportedError(self.now(), title, message, details))
        self.notify(f"{message} (e: details)", title=title, severity="error")

    def record_error(self, title: str, message: str, details: str = "") -> None:
        """Keep a failure a screen already shows (a failed login) for the errors screen."""
        log.warning("%s: %s", title, message)
        self.errors.append(ReportedError(self.now(), title, redact(message), redact(details)))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.report_error(event.worker.error, context=event.worker.name)

    def _handle_exception(self, error: Exception) -> None:
        """A bug escaped a handler: log the traceback, stop cleanly, never print a traceback.

        Textual stops the failing node's message loop after an exception, so carrying on
        would leave a half-dead screen. The CLI prints the one-line ``exit_message``.
        """
        self.unexpected_errors += 1
        message = f"unexpected {type(error).__name__}: {error}".splitlines()[0][:200]
        log.error("%s\n%s", message, "".join(traceback.format_exception(error)))
        self.exit_message = message
        self._return_code = 1
        self._close_messages_no_wait()


def create_app(
    settings: Settings,
    clients: Clients | None = None,
    *,
    now: Callable[[], datetime] = datetime.now,
) -> CanfarApp:
    """The app factory used by the CLI and the tests."""
    return CanfarApp(settings, clients if clients is not None else build_clients(settings), now=now)


def version_text() -> str:
    return f"canfar-tui {__version__}"


def asset_path(name: str) -> Path:
    return Path(__file__).parent / "assets" / name
