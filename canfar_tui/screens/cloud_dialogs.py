"""Modal dialogs of the OpenStack tabs: pickers, prompts, the console log and SSH commands.

* :class:`ChoiceScreen` — pick one of a few things (a floating IP, an instance, a public key
  file, a key pair); the result is the chosen option's id, or None.
* :class:`TextPromptScreen` — one line of text (a key pair or snapshot name), validated before
  it is accepted; the result is the text, or None.
* :class:`ConsoleLogScreen` — an instance's console output, reloadable.
* :class:`SshCommandScreen` — the ``ssh USER@IP`` command(s) of an instance, to copy or run.
* :class:`FirstConnectionScreen` — on the first connection to a new instance, offer the seed's
  set-up (``sudo canfar_create_user USER``, ``sudo canfar_setup_scratch``, the software), run
  by :class:`~canfar_tui.screens.vm_setup.VmSetupScreen` with its output live.

| screen                 | key        | action                                   |
|------------------------|------------|------------------------------------------|
| every dialog           | `escape`   | cancel / close                           |
| ChoiceScreen           | `enter`    | choose the highlighted option            |
| TextPromptScreen       | `enter`    | accept the text (when it is valid)       |
| ConsoleLogScreen       | `r`        | reload the log                           |
| SshCommandScreen       | `enter`, `c` | copy the highlighted command           |
| SshCommandScreen       | `o`        | connect (suspend the dashboard, run ssh) |
| FirstConnectionScreen  | `enter`    | run the setup (output live), then log in |
| FirstConnectionScreen  | `ctrl+n`   | skip the setup, log in as the image user |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Log, OptionList, Static
from textual.widgets.option_list import Option

from canfar_tui.clients.base import ClientError
from canfar_tui.ssh import validate_user

#: (option id, label, enabled) of a ChoiceScreen; a label may be Rich Text.
Choice = tuple[str, "str | Text", bool]


class ChoiceScreen(ModalScreen[str | None]):
    """Pick one option; the result is its id, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice.cancel", tooltip="Cancel")]

    def __init__(
        self,
        title: str,
        message: str,
        choices: Sequence[Choice],
        *,
        highlight: str | None = None,
        hint: str = "enter: choose, escape: cancel",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.choices = list(choices)
        self.highlight = highlight
        self.hint = hint

    def compose(self) -> ComposeResult:
        options = [
            Option(
                label if isinstance(label, Text) else Text(label),
                id=option_id,
                disabled=not enabled,
            )
            for option_id, label, enabled in self.choices
        ]
        with Vertical(id="choice-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.message:
                yield Static(self.message, id="choice-message", markup=False)
            yield OptionList(*options, id="choice-list", markup=False)
            yield Label(self.hint, classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one("#choice-list", OptionList)
        options.focus()
        enabled = [index for index, (_, _, on) in enumerate(self.choices) if on]
        preferred = [index for index in enabled if self.choices[index][0] == self.highlight]
        if preferred or enabled:
            options.highlighted = (preferred or enabled)[0]

    @on(OptionList.OptionSelected, "#choice-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option_id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextPromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; ``validate`` returns an error text or None when it is fine."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel", tooltip="Cancel")]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        label: str,
        value: str = "",
        placeholder: str = "",
        validate: Callable[[str], str | None] | None = None,
        confirm_label: str = "OK",
        warning: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.label = label
        self.value = value
        self.placeholder = placeholder
        self.validate = validate
        self.confirm_label = confirm_label
        self.warning = warning

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.message:
                yield Static(self.message, markup=False)
            if self.warning:
                yield Static(
                    self.warning, id="prompt-warning", classes="dialog-warning", markup=False
                )
            yield Label(self.label, classes="prompt-label")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="prompt-cancel", variant="default")
                yield Button(self.confirm_label, id="prompt-ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#prompt-error", Static).display = False
        self.query_one("#prompt-input", Input).focus()

    def _accept(self, value: str) -> None:
        problem = self.validate(value) if self.validate is not None else None
        error = self.query_one("#prompt-error", Static)
        if problem:
            error.update(problem)
            error.display = True
            self.query_one("#prompt-input", Input).focus()
            return
        self.dismiss(value)

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._accept(event.value)

    @on(Input.Changed, "#prompt-input")
    def _changed(self) -> None:
        self.query_one("#prompt-error", Static).display = False

    @on(Button.Pressed, "#prompt-ok")
    def _ok(self) -> None:
        self._accept(self.query_one("#prompt-input", Input).value)

    @on(Button.Pressed, "#prompt-cancel")
    def _cancelled(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConsoleLogScreen(ModalScreen[None]):
    """Show the console output ``load()`` returns; ``r`` loads it again."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="console.close", tooltip="Close the console log"),
        Binding("r", "reload", "Reload", id="console.reload", tooltip="Load the log again"),
    ]

    def __init__(self, title: str, load: Callable[[], Awaitable[str]]) -> None:
        super().__init__()
        self.title_text = title
        self.load = load
        self.text = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="console-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static("Loading…", id="console-status", markup=False)
            yield Log(id="console-log", highlight=False)
            yield Label("r: reload, escape: close", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#console-log", Log).focus()
        self._load()

    @work(exclusive=True, group="console-log", exit_on_error=False)
    async def _load(self) -> None:
        status = self.query_one("#console-status", Static)
        try:
            text = await self.load()
        except ClientError as error:
            status.update(f"{error.title}: {error.message}")
            return
        self.text = text
        log = self.query_one("#console-log", Log)
        log.clear()
        lines = text.splitlines()
        log.write_lines(lines)
        status.update(f"{len(lines)} lines" if lines else "The console log is empty.")

    def action_reload(self) -> None:
        self.query_one("#console-status", Static).update("Loading…")
        self._load()

    def action_close(self) -> None:
        self.dismiss(None)


class SshCommandScreen(ModalScreen[str | None]):
    """The SSH command(s) of an instance. Dismisses with ``"connect"`` when ``o`` is pressed."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="ssh_command.close", tooltip="Close"),
        Binding("c", "copy", "Copy", id="ssh_command.copy", tooltip="Copy the command"),
        Binding("o", "connect", "Connect", id="ssh_command.connect", tooltip="Run ssh now"),
    ]

    def __init__(self, title: str, message: str, commands: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        #: (command, note) pairs, the one "connect" runs first.
        self.commands = list(commands)

    def compose(self) -> ComposeResult:
        options = []
        for index, (command, note) in enumerate(self.commands):
            label = Text(command, style="bold")
            if note:
                label.append(f"   {note}", style="dim")
            options.append(Option(label, id=str(index)))
        with Vertical(id="ssh-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.message:
                yield Static(self.message, markup=False)
            yield OptionList(*options, id="ssh-commands", markup=False)
            yield Label(
                "enter/c: copy, o: connect (the dashboard returns when ssh exits), escape: close",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#ssh-commands", OptionList).focus()

    def _highlighted_command(self) -> str | None:
        options = self.query_one("#ssh-commands", OptionList)
        index = options.highlighted
        if index is None or not self.commands:
            return None
        return self.commands[index][0]

    @on(OptionList.OptionSelected, "#ssh-commands")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_copy()

    def action_copy(self) -> None:
        command = self._highlighted_command()
        if command is None:
            return
        self.app.copy_to_clipboard(command)
        self.notify(command, title="Copied to the clipboard")
        self.dismiss("copied")

    def action_connect(self) -> None:
        self.dismiss("connect")

    def action_close(self) -> None:
        self.dismiss(None)


class FirstConnectionScreen(ModalScreen[str | None]):
    """Offer the seed's setup of a new VM before the first login.

    The result is the CADC user name to create (setup runs, then the login is as that user),
    ``""`` to skip the setup (log in as the image's default user), or None to cancel.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="first_connection.cancel", tooltip="Cancel"),
        Binding(
            "ctrl+n",
            "skip",
            "Skip setup",
            id="first_connection.skip",
            tooltip="Log in as the image's default user without setting anything up",
        ),
    ]

    def __init__(
        self,
        instance_name: str,
        default_user: str,
        user: str,
        preview: Callable[[str], Sequence[str]],
        *,
        scratch: bool = True,
    ) -> None:
        super().__init__()
        self.instance_name = instance_name
        self.default_user = default_user
        self.user = user
        self.preview = preview
        self.scratch = scratch

    def compose(self) -> ComposeResult:
        what = "create your CADC user" + (
            ", prepare the scratch disk" if self.scratch else " (persistent flavor: no scratch)"
        )
        message = (
            f"Set up {self.instance_name}: {what} and install source-extractor and funpack, "
            f"as the Batch Quick Start does (over ssh as '{self.default_user}', output shown "
            f"here), then log in as that user instead of '{self.default_user}'?"
        )
        with Vertical(id="first-connection-dialog", classes="dialog"):
            yield Label("Set up the new instance?", classes="dialog-title")
            yield Static(message, markup=False)
            yield Label("CADC user name (USER):", classes="prompt-label")
            yield Input(self.user, id="first-connection-user", placeholder="your CADC user name")
            yield Static("", id="first-connection-preview", classes="dialog-code", markup=False)
            yield Static("", id="first-connection-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"Skip (log in as {self.default_user})", id="first-connection-skip")
                yield Button("Run setup", id="first-connection-run", variant="primary")
            yield Label("enter: run setup, ctrl+n: skip, escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#first-connection-error", Static).display = False
        self.query_one("#first-connection-user", Input).focus()
        self._show_preview(self.user)

    def _show_preview(self, user: str) -> None:
        preview = self.query_one("#first-connection-preview", Static)
        try:
            validate_user(user)
        except ValueError:
            preview.update("")
            return
        preview.update("\n".join(self.preview(user)))

    @on(Input.Changed, "#first-connection-user")
    def _changed(self, event: Input.Changed) -> None:
        self.query_one("#first-connection-error", Static).display = False
        self._show_preview(event.value.strip())

    def _run(self, user: str) -> None:
        try:
            validate_user(user.strip())
        except ValueError as error:
            message = self.query_one("#first-connection-error", Static)
            message.update(f"Cannot use this name: {error}.")
            message.display = True
            return
        self.dismiss(user.strip())

    @on(Input.Submitted, "#first-connection-user")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._run(event.value)

    @on(Button.Pressed, "#first-connection-run")
    def _run_pressed(self) -> None:
        self._run(self.query_one("#first-connection-user", Input).value)

    @on(Button.Pressed, "#first-connection-skip")
    def _skip_pressed(self) -> None:
        self.action_skip()

    def action_skip(self) -> None:
        self.dismiss("")

    def action_cancel(self) -> None:
        self.dismiss(None)
