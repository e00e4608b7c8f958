"""The login screen: ``canfar-tui login`` inside the dashboard.

Offered on the first start (no config file yet, sandbox), from the command palette
("app: log in") and by clicking the SANDBOX badge of the header. It asks the CADC username and
password (a password Input: never echoed, held in memory for the login only), the optional
VOSpace home and profile name, and two choices: save a ``~/.netrc`` entry (opt-in, 0600) and
replace profiles of the same name. Then it runs :func:`canfar_tui.clients.login.login` in a
worker: a failure is one line under the form (nothing written); a success shows one line per
service and the profile that is now the default (used from the next start).

| key      | action                                 |
|----------|----------------------------------------|
| `enter`  | log in (from any field)                |
| `escape` | close (keep the sandbox)               |
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from canfar_tui.clients.base import ClientError
from canfar_tui.clients.login import LoginRequest, LoginResult, Places, login
from canfar_tui.config import ConfigError


class LoginScreen(ModalScreen[LoginResult | None]):
    """Log in with a CADC account; the result is the login's, or None when closed before."""

    BINDINGS = [Binding("escape", "close", "Close", id="login.close", tooltip="Close")]

    DEFAULT_CSS = """
    LoginScreen #login-dialog { height: auto; max-height: 100%; overflow-y: auto; }
    LoginScreen #login-error { color: $error; }
    LoginScreen .dialog-hint { width: 100%; }
    LoginScreen.-short #login-intro { display: none; }
    LoginScreen.-short Input { height: 1; border: none; padding: 0 1; margin-bottom: 1; }
    LoginScreen.-short #login-profile { margin-bottom: 0; }
    LoginScreen #login-error.-empty, LoginScreen #login-result.-empty { display: none; }
    LoginScreen.-short Checkbox { height: 1; border: none; padding: 0; }
    LoginScreen.-short #login-options { layout: vertical; }
    LoginScreen Horizontal { height: auto; }
    """

    def __init__(
        self,
        places: Places,
        *,
        verify_tls: bool = True,
        intro: str = "",
        username: str = "",
    ) -> None:
        super().__init__()
        self.places = places
        self.verify_tls = verify_tls
        self.intro = intro
        self.initial_username = username
        self.result: LoginResult | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="login-dialog", classes="dialog"):
            yield Label("Log in with your CADC account", classes="dialog-title")
            if self.intro:
                yield Static(self.intro, markup=False, id="login-intro")
            # The outcome first: it must show on a 24-line screen without scrolling.
            yield Static("", id="login-error", markup=False, classes="-empty")
            yield Static("", id="login-result", markup=False, classes="-empty")
            yield Input(self.initial_username, id="login-username", placeholder="CADC username")
            yield Input(password=True, id="login-password", placeholder="CADC password")
            yield Input(id="login-vospace", placeholder="VOSpace home (default vos:<username>)")
            yield Input(
                id="login-profile", placeholder="profile name (default: the OpenStack project)"
            )
            with Horizontal(id="login-options"):
                yield Checkbox("save in ~/.netrc (0600) for batch jobs", id="login-netrc")
                yield Checkbox("replace profiles of the same name", id="login-force")
            yield Label(
                "enter: log in, escape: close. The password is kept in memory for this login "
                "only (and in ~/.netrc if you tick it).",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        # At 80x24 the introduction gives its lines to the fields, the checkboxes and the hint.
        self.set_class(self.app.size.height < 30, "-short")
        field = "#login-password" if self.initial_username else "#login-username"
        self.query_one(field, Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.result is not None:
            self.dismiss(self.result)
            return
        if not self.query_one("#login-username", Input).value.strip():
            self.query_one("#login-username", Input).focus()
            return
        if not self.query_one("#login-password", Input).value:
            self.query_one("#login-password", Input).focus()
            return
        self.start_login()

    def start_login(self) -> None:
        """Run the login in a worker (one at a time)."""
        if self.busy:
            return
        request = LoginRequest(
            username=self.query_one("#login-username", Input).value.strip(),
            password=self.query_one("#login-password", Input).value,
            vospace=self.query_one("#login-vospace", Input).value.strip() or None,
            profile_name=self.query_one("#login-profile", Input).value.strip() or None,
            netrc=self.query_one("#login-netrc", Checkbox).value,
            force=self.query_one("#login-force", Checkbox).value,
        )
        self.busy = True
        self._show_error("")
        self._show_result("Logging in…")
        self.run_worker(self._login(request), name="login", exit_on_error=False)

    async def _login(self, request: LoginRequest) -> None:
        try:
            result = await login(request, self.places, verify_tls=self.verify_tls)
        except (ClientError, ConfigError) as error:
            message = error.message if isinstance(error, ClientError) else str(error)
            self._show_result("")
            self._show_error(f"Login failed: {message}")
            record_error = getattr(self.app, "record_error", None)
            if record_error is not None:  # the errors screen lists it too
                record_error("Login failed", message)
            return
        finally:
            self.busy = False
            # The password is not kept on screen once it has been used.
            self.query_one("#login-password", Input).value = ""
        self.result = result
        lines = [line.text() for line in result.lines]
        lines.append(
            f"Profile {result.default} is the default from the next start "
            f"(or now: canfar-tui --profile {result.default}). enter or escape: close."
        )
        self._show_result("\n".join(lines))

    def _show_error(self, text: str) -> None:
        self._show("#login-error", text)

    def _show_result(self, text: str) -> None:
        self._show("#login-result", text)

    def _show(self, selector: str, text: str) -> None:
        """Put ``text`` in a message line; an empty line takes no room on the screen."""
        line = self.query_one(selector, Static)
        line.update(text)
        line.set_class(not text, "-empty")

    def action_close(self) -> None:
        self.dismiss(self.result)


def login_places(config_file: Path) -> Places:
    """The user's home, as the CLI uses it, with the dashboard's config file."""
    import os

    return Places.for_home(Path(os.environ.get("HOME") or Path.home()), config_file)
