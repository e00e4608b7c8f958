"""The OpenStack tabs: Projects, Instances, Floating IPs and Snapshots.

Each is a :class:`~canfar_tui.widgets.resource_view.ResourceView` over the profile's
:class:`~canfar_tui.clients.base.CloudClient`, and together they walk the first half of the
Batch Quick Start: choose a project, import an SSH key, allocate a floating IP, launch a VM,
associate the IP, log in, snapshot the VM, delete it.

Every action runs in a worker; a failure is one line (the client's message, titled by its kind,
e.g. "Quota exceeded"), and a success refreshes every OpenStack tab (hidden ones when they are
next shown). Actions that change the cloud are listed in ``DESTRUCTIVE_ACTIONS``, so read-only
mode removes them from the keys, the footer, the help and the palette; the ones that lose data
ask first.

| tab          | key       | action                                                    |
|--------------|-----------|-----------------------------------------------------------|
| Projects     | `u`       | use (switch to) the selected project                      |
| Projects     | `i`       | import a key pair from `~/.ssh/*.pub`                     |
| Projects     | `K`       | delete a key pair (confirmed)                             |
| Instances    | `n`       | launch an instance (wizard)                               |
| Instances    | `o`       | connect: SSH in this terminal, back here when it exits    |
| Instances    | `y`       | show / copy the SSH command                               |
| Instances    | `a` / `A` | associate / disassociate a floating IP                    |
| Instances    | `i`       | snapshot the instance                                     |
| Instances    | `x` / `X` | stop / start                                              |
| Instances    | `b` / `B` | reboot / hard reboot                                      |
| Instances    | `l`       | console log                                               |
| Instances    | `space`   | mark / unmark the row (`d` then deletes every marked one) |
| Instances    | `d`       | delete (confirmed)                                        |
| Floating IPs | `n`       | allocate an address                                       |
| Floating IPs | `a` / `A` | associate with an instance / disassociate                 |
| Floating IPs | `d`       | release (confirmed)                                       |
| Snapshots    | `b`       | use for batch: the default image of batch submission      |
| Snapshots    | `d`       | delete the snapshot (confirmed by typing its name)        |
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Static

from canfar_tui.clients.base import ClientError, InvalidInput, NotFound, SupportsConsoleLog
from canfar_tui.clients.cloud.sshkeys import parse_public_key
from canfar_tui.clients.refresh import Diff
from canfar_tui.logs import get_logger
from canfar_tui.models import (
    Flavor,
    FloatingIP,
    Image,
    ImageKind,
    Instance,
    KeyPair,
    Project,
    Quota,
    QuotaUsage,
)
from canfar_tui.preferences import BatchImage, InstanceLogin, PreferencesError, PreferenceStore
from canfar_tui.screens.cloud_dialogs import (
    ChoiceScreen,
    ConsoleLogScreen,
    FirstConnectionScreen,
    SshCommandScreen,
    TextPromptScreen,
)
from canfar_tui.screens.details import DetailsScreen, fields_of
from canfar_tui.screens.file_picker import FilePickerScreen
from canfar_tui.screens.launch import LaunchScreen, gigabytes
from canfar_tui.ssh import (
    PlanResult,
    SshStep,
    connect_plan,
    display_command,
    execute_plan,
    identity_for,
    setup_commands,
    ssh_command,
)
from canfar_tui.widgets.cells import human_size
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.resource_table import Column, ResourceTable
from canfar_tui.widgets.resource_view import ResourceView

log = get_logger("cloud")

_T = TypeVar("_T")

#: How long the reminder and other important notices stay on screen.
LONG_NOTICE_SECONDS = 30.0
#: Image statuses while a snapshot is being taken.
SAVING_STATUSES = frozenset({"queued", "saving", "importing", "uploading"})
#: Image statuses of a snapshot that will never become active.
FAILED_STATUSES = frozenset({"killed", "deleted", "pending_delete", "error"})
#: A public key file larger than this is not a public key.
MAX_PUBLIC_KEY_BYTES = 16 * 1024
_BROWSE = "__browse__"
_KEYPAIR_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.@-"
)


def ssh_dir() -> Path:
    """Where SSH keys live (``~/.ssh``, read from HOME at call time)."""
    return Path.home() / ".ssh"


def validate_keypair_name(name: str, existing: Iterable[str] = ()) -> str | None:
    """Why Nova would refuse ``name`` for a key pair, or None when it is fine."""
    if not name.strip():
        return "Give the key pair a name (e.g. the name of this computer)."
    if name != name.strip():
        return "The name must not start or end with a space."
    if len(name) > 255:
        return "The name is too long (at most 255 characters)."
    bad = sorted(set(name) - _KEYPAIR_NAME_CHARS)
    if bad:
        return f"Use letters, digits, spaces and . _ - @ only (not {''.join(bad[:5])!r})."
    if name in set(existing):
        return f"A key pair named {name} exists already; choose another name."
    return None


def validate_snapshot_name(name: str, existing: Iterable[str] = ()) -> str | None:
    """Why ``name`` cannot be used for a new snapshot, or None when it can."""
    if not name.strip():
        return "Give the snapshot a name, e.g. image-reduction-2023-08-21."
    if name != name.strip():
        return "The name must not start or end with a space."
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "The name must not contain control characters."
    if len(name) > 255:
        return "The name is too long (at most 255 characters)."
    if name in set(existing):
        return (
            f"An image named {name} exists already; batch jobs name their image, so choose "
            "another name."
        )
    return None


def elapsed_text(since: datetime | None, now: datetime | None = None) -> str:
    """``"0:14"`` / ``"1:02:03"`` since ``since`` (empty when unknown)."""
    if since is None:
        return ""
    current = now or datetime.now(UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    seconds = max(0, int((current - since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def login_user_for(instance: Instance, images: Iterable[Image]) -> str:
    """The default account of the image the instance was launched from (ubuntu / rocky)."""
    for image in images:
        if image.id == instance.image_id:
            return image.default_login_user
    return Image(instance.image_id, instance.image_name, "active").default_login_user


class CloudView(ResourceView):
    """What the four OpenStack tabs share: running actions, preferences, reminders."""

    SERVICE = "cloud"

    #: A row key to put the cursor on as soon as a refresh brings that row.
    select_when_seen: Hashable | None = None

    @property
    def preferences(self) -> PreferenceStore:
        return PreferenceStore.for_settings(self.context.settings)

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        super()._apply_diff(diff)
        key = self.select_when_seen
        if key is not None and self.table.get_row(key) is not None:
            self.table.move_cursor_to_key(key)
            self.select_when_seen = None

    def set_active(self, active: bool) -> None:
        super().set_active(active)
        poller = self.poller
        # After a project switch the rows were forgotten while the tab was hidden: fetch now.
        if active and poller is not None and not poller.loaded and not poller.in_flight:
            poller.refresh_now()

    def refresh_cloud_views(self) -> None:
        """Refetch every OpenStack tab: the visible one now, the others when next shown."""
        for view in self.context.navigation.views:
            if isinstance(view, ResourceView) and view.SERVICE == "cloud" and view.poller:
                view.poller.last_success = None
                view.poller.refresh_now()

    def act(
        self,
        call: Callable[[], Awaitable[_T]],
        *,
        description: str,
        done: str | Callable[[_T], str | None] | None = None,
        then: Callable[[_T], object] | None = None,
        changes: bool = True,
    ) -> None:
        """Run ``call`` in a worker; a ClientError becomes one line, success ``done``/``then``.

        ``changes`` (the default) refreshes every OpenStack tab afterwards.
        """

        async def work() -> None:
            try:
                result = await call()
            except ClientError as error:
                self.context.report_error(error, context=description)
                return
            message = done(result) if callable(done) else done
            if message:
                self.notify(message, title=description)
            if changes:
                self.refresh_cloud_views()
            if then is not None:
                then(result)

        self.run_worker(work(), name=description, group="actions", exit_on_error=False)

    def selected_or_warn(self, what: str) -> Any | None:
        item = self.selected_item
        if item is None:
            self.notify(f"Select {what} first.", severity="warning")
        return item

    def remind_snapshot_active(self, image: Image) -> None:
        """Once per snapshot: say that the instance it came from may be deleted now."""
        try:
            first_time = self.preferences.mark_reminded(image.id)
        except PreferencesError as error:
            log.warning("%s", error)
            first_time = True
        if not first_time or not image.source_instance_id:
            return
        source_id = image.source_instance_id

        async def remind() -> None:
            try:
                instance = await self.client.get_instance(source_id)
            except NotFound:
                return
            except ClientError:
                instance = None
            if instance is not None and instance.task_state == "deleting":
                return
            name = instance.name if instance is not None else "the interactive instance"
            self.app.notify(
                f"Snapshot {image.name} is active. If you no longer need {name}, delete it "
                "(Instances tab, d): an idle instance keeps using the project's allocation. "
                "Batch jobs start their own VMs from the snapshot.",
                title="Snapshot ready",
                timeout=LONG_NOTICE_SECONDS,
            )

        self.run_worker(remind(), name="Snapshot reminder", group="reminders", exit_on_error=False)


# --------------------------------------------------------------------------- Projects


#: How each quota is labelled, in display order.
QUOTA_LABELS: dict[str, str] = {
    "instances": "Instances",
    "cores": "vCPUs",
    "ram": "RAM",
    "floating_ips": "Floating IPs",
}


def quota_numbers(usage: QuotaUsage) -> str:
    """``"2 / 8"``, RAM in GB, ``"3 / ∞"`` when unlimited."""
    if usage.resource == "ram" or usage.unit.upper() == "MB":
        used = f"{usage.used / 1024:g}"
        limit = "∞" if usage.limit < 0 else f"{usage.limit / 1024:g}"
        return f"{used} / {limit} GB"
    limit = "∞" if usage.limit < 0 else f"{usage.limit:g}"
    return f"{usage.used:g} / {limit}"


class QuotaBar(Widget):
    """One line bar of a quota's use; classes ``-high`` (≥ 80 %) and ``-full`` (100 %)."""

    DEFAULT_CSS = """
    QuotaBar {
        width: 1fr;
        height: 1;
    }
    """

    fraction: reactive[float] = reactive(0.0)

    def watch_fraction(self, fraction: float) -> None:
        self.set_class(0.8 <= fraction < 1.0, "-high")
        self.set_class(fraction >= 1.0, "-full")

    def render(self) -> Text:
        width = max(1, self.size.width)
        filled = min(width, round(self.fraction * width))
        return Text("█" * filled + "░" * (width - filled))


class QuotaRow(Horizontal):
    """Label, bar and numbers of one quota."""

    def __init__(self, usage: QuotaUsage) -> None:
        super().__init__(classes="quota-row")
        self.usage = usage

    def compose(self) -> ComposeResult:
        yield Label(
            QUOTA_LABELS.get(self.usage.resource, self.usage.resource), classes="quota-name"
        )
        yield QuotaBar()
        yield Label("", classes="quota-numbers")

    def on_mount(self) -> None:
        self.show(self.usage)

    def show(self, usage: QuotaUsage) -> None:
        self.usage = usage
        self.query_one(QuotaBar).fraction = usage.fraction
        self.query_one(".quota-numbers", Label).update(quota_numbers(usage))


@dataclass(frozen=True, slots=True)
class ProjectExtras:
    """What the Projects tab shows below the projects: quota, key pairs, flavors."""

    quota: Quota | None = None
    quota_error: str | None = None
    keypairs: tuple[KeyPair, ...] = ()
    keypairs_error: str | None = None
    flavors: tuple[Flavor, ...] = ()
    flavors_error: str | None = None


class ProjectsView(CloudView):
    """The user's OpenStack projects, the active one's quota, key pairs and flavors.

    | key | action                                        |
    |-----|-----------------------------------------------|
    | `u` | use (switch to) the selected project          |
    | `i` | import a key pair from `~/.ssh/*.pub`         |
    | `K` | delete a key pair (confirmed)                 |
    """

    AREA = "projects"
    TITLE = "Projects"
    COLUMNS = (
        Column("active", "", width=1),
        Column("name", "NAME"),
        Column("id", "ID"),
        Column("description", "DESCRIPTION"),
    )
    EMPTY_TEXT = "You are a member of no project. Ask CANFAR support for an allocation."
    DESTRUCTIVE_ACTIONS = frozenset({"import_key", "delete_key"})
    BINDINGS = [
        Binding(
            "u",
            "use_project",
            "Use project",
            id="projects.use",
            tooltip="Switch to the selected project (the other tabs reload)",
        ),
        Binding(
            "i",
            "import_key",
            "Import key",
            id="projects.import_key",
            tooltip="Import an SSH public key (~/.ssh/*.pub) as a key pair",
        ),
        Binding(
            "K",
            "delete_key",
            "Delete key",
            id="projects.delete_key",
            tooltip="Delete a key pair (asks first)",
            show=False,
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        self.current_project_id: str | None = None
        self.extras = ProjectExtras()
        #: quota resource -> its row in the quota panel.
        self.quota_rows: dict[str, QuotaRow] = {}

    def compose(self) -> ComposeResult:
        yield from super().compose()
        with Horizontal(id="project-panels"):
            with Vertical(id="project-left", classes="project-panel"):
                with Vertical(id="quota-panel"):
                    yield Label("Quota", id="quota-title", classes="panel-title")
                    yield Vertical(id="quota-rows")
                    yield Static("", id="quota-message", classes="panel-message", markup=False)
                with Vertical(id="keypairs-panel"):
                    yield Label("Key pairs (i: import)", classes="panel-title")
                    yield Static("", id="keypairs-body")
            with Vertical(id="flavors-panel", classes="project-panel"):
                yield Label("Flavors", classes="panel-title")
                yield Static("", id="flavors-body")
                yield Static(
                    "c… flavors have an ephemeral scratch disk (/mnt); p… flavors are "
                    "persistent, without scratch.",
                    classes="panel-message",
                    markup=False,
                )

    async def fetch(self) -> Iterable[Any]:
        projects = await self.client.list_projects()
        current = await self.client.current_project()
        self.current_project_id = current.id if current else None
        self.context.navigation.set_project(current)
        self.extras = await self._fetch_extras()
        return [(project, project.id == self.current_project_id) for project in projects]

    async def _fetch_extras(self) -> ProjectExtras:
        """Quota, key pairs and flavors; one failing does not hide the others."""
        values: dict[str, Any] = {}
        for name, call in (
            ("quota", self.client.get_quota),
            ("keypairs", self.client.list_keypairs),
            ("flavors", self.client.list_flavors),
        ):
            try:
                result = await call()
            except ClientError as error:
                values[f"{name}_error"] = error.message
                continue
            values[name] = result if name == "quota" else tuple(result)
        return ProjectExtras(**values)

    def item_key(self, item: Any) -> str:
        project: Project = item[0]
        return project.id

    def item_title(self, item: Any) -> str:
        project: Project = item[0]
        return project.name

    def row(self, item: Any) -> Sequence[object]:
        project, active = item
        return ("●" if active else "", project.name, project.id, project.description)

    def set_active(self, active: bool) -> None:
        super().set_active(active)
        # Usage changes on other tabs (a launch, an allocation): show fresh bars when shown.
        if active and self.poller is not None and self.poller.loaded:
            self.poller.refresh_now()

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        super()._apply_diff(diff)
        self.show_extras()

    # ------------------------------------------------------------------ panels

    def show_extras(self) -> None:
        extras = self.extras
        project = self.context.navigation.project
        title = f"Quota · {project.name}" if project else "Quota"
        self.query_one("#quota-title", Label).update(title)
        self._show_quota(extras)
        self.query_one("#keypairs-body", Static).update(self._keypairs_renderable(extras))
        self.query_one("#flavors-body", Static).update(self._flavors_renderable(extras))

    def _show_quota(self, extras: ProjectExtras) -> None:
        rows = self.query_one("#quota-rows", Vertical)
        usages: list[QuotaUsage] = []
        if extras.quota is not None:
            known = [u for key in QUOTA_LABELS if (u := extras.quota.get(key)) is not None]
            usages = known + [u for u in extras.quota.usages if u.resource not in QUOTA_LABELS]
        wanted = {usage.resource for usage in usages}
        for resource in [r for r in self.quota_rows if r not in wanted]:
            self.quota_rows.pop(resource).remove()
        for usage in usages:
            row = self.quota_rows.get(usage.resource)
            if row is None:
                row = self.quota_rows[usage.resource] = QuotaRow(usage)
                rows.mount(row)
            else:
                row.show(usage)
        text = ""
        if extras.quota_error:
            text = f"Quota unavailable: {extras.quota_error}"
        elif extras.quota is not None and not usages:
            text = "This cloud reports no quota."
        message = self.query_one("#quota-message", Static)
        message.update(text)
        message.display = bool(text)

    @staticmethod
    def _keypairs_renderable(extras: ProjectExtras) -> Text | Table:
        if extras.keypairs_error:
            return Text(f"Unavailable: {extras.keypairs_error}")
        if not extras.keypairs:
            return Text(
                "No key pair yet. Press i to import your public key (~/.ssh/*.pub); "
                "make one first with ssh-keygen -t ed25519 if you have none."
            )
        table = Table(box=None, show_header=False, pad_edge=False, expand=False)
        longest = max(len(keypair.name) for keypair in extras.keypairs)
        table.add_column(
            "name", style="bold", no_wrap=True, overflow="ellipsis", min_width=min(24, longest)
        )
        table.add_column("fingerprint", no_wrap=True, overflow="ellipsis", style="dim")
        for keypair in extras.keypairs:
            table.add_row(Text(keypair.name), Text(keypair.fingerprint))
        return table

    @staticmethod
    def _flavors_renderable(extras: ProjectExtras) -> Text | Table:
        if extras.flavors_error:
            return Text(f"Unavailable: {extras.flavors_error}")
        if not extras.flavors:
            return Text("No flavor is available to this project.")
        table = Table(
            box=None, pad_edge=False, expand=False, header_style="bold", collapse_padding=True
        )
        table.add_column("NAME", no_wrap=True, overflow="ellipsis")
        table.add_column("vCPU", justify="right")
        table.add_column("RAM", justify="right", no_wrap=True)
        table.add_column("SCRATCH", justify="right", no_wrap=True)
        ordered = sorted(extras.flavors, key=lambda f: (f.is_persistent, f.vcpus, f.ram_mb))
        for flavor in ordered:
            scratch = (
                "none"
                if flavor.is_persistent or flavor.ephemeral_gb <= 0
                else f"{flavor.ephemeral_gb} GB"
            )
            table.add_row(Text(flavor.name), str(flavor.vcpus), gigabytes(flavor.ram_mb), scratch)
        return table

    @on(ResourceTable.RowSelected)
    def _project_selected(self, event: ResourceTable.RowSelected) -> None:
        # A row is a (project, active) pair: show the project and, when active, its quota.
        event.stop()
        event.prevent_default()
        item = self.poller.rows.get(event.key) if self.poller is not None else None
        if item is None:
            return
        project, active = item
        rows = fields_of(project)
        rows.append(("active", "yes" if active else "no (u: use it)"))
        if active and self.extras.quota is not None:
            rows += [
                (QUOTA_LABELS.get(usage.resource, usage.resource), quota_numbers(usage))
                for usage in self.extras.quota.usages
            ]
        self.app.push_screen(DetailsScreen(f"Project: {project.name}", rows))

    # ------------------------------------------------------------------ actions

    def action_use_project(self) -> None:
        item = self.selected_item
        if item is None:
            return
        project: Project = item[0]
        if project.id == self.current_project_id:
            self.notify(f"{project.name} is already the active project.")
            return

        async def switch() -> Project:
            switched: Project = await self.client.switch_project(project.id)
            return switched

        def switched(new: Project) -> None:
            self.select_when_seen = new.id
            self.context.navigation.set_project(new)
            self.context.navigation.reload_service_views("cloud")
            self.refresh_cloud_views()

        self.act(
            switch,
            done=f"Now using {project.name}",
            description="Switch project",
            then=switched,
            changes=False,
        )

    def action_import_key(self) -> None:
        if self.context.read_only:
            return
        directory = ssh_dir()
        files = sorted(directory.glob("*.pub")) if directory.is_dir() else []
        choices: list[tuple[str, str | Text, bool]] = [
            (str(path), self._key_file_label(path), True) for path in files
        ]
        choices.append((_BROWSE, Text("Browse for another .pub file…", style="italic"), True))
        message = (
            "Choose the public key (.pub) to register with OpenStack; the private key stays "
            "on this computer."
            if files
            else f"No public key in {directory}. Make one with 'ssh-keygen -t ed25519' in a "
            "terminal, or browse for a .pub file."
        )

        def chosen(choice: str | None) -> None:
            if choice is None:
                return
            if choice == _BROWSE:
                start = directory if directory.is_dir() else Path.home()
                self.app.push_screen(
                    FilePickerScreen("Choose an SSH public key", start, [".pub"]),
                    lambda path: self._import_from(path) if path is not None else None,
                )
                return
            self._import_from(Path(choice))

        self.app.push_screen(ChoiceScreen("Import key pair", message, choices), chosen)

    @staticmethod
    def _key_file_label(path: Path) -> Text:
        label = Text(f"{path.name:<22} ", style="bold")
        try:
            if path.stat().st_size > MAX_PUBLIC_KEY_BYTES:
                raise InvalidInput("the file is too large to be a public key")
            info = parse_public_key(path.read_text(encoding="utf-8", errors="replace"))
        except (InvalidInput, OSError) as error:
            reason = error.message if isinstance(error, InvalidInput) else str(error)
            label.append(f"not usable: {reason}", style="dim")
            return label
        label.append(f"{info.key_type} {info.comment}".rstrip())
        return label

    def _import_from(self, path: Path) -> None:
        try:
            if path.stat().st_size > MAX_PUBLIC_KEY_BYTES:
                raise InvalidInput(f"{path.name}: the file is too large to be an SSH public key")
            text = path.read_text(encoding="utf-8", errors="replace")
            info = parse_public_key(text)
        except OSError as error:
            self.context.report_error(
                InvalidInput(f"Cannot read {path}: {error.strerror or error}"),
                context="Import key pair",
            )
            return
        except InvalidInput as error:
            self.context.report_error(
                InvalidInput(f"{path.name}: {error.message}", details=str(path)),
                context="Import key pair",
            )
            return
        existing = [keypair.name for keypair in self.extras.keypairs]
        default = path.name.removesuffix(".pub")

        def named(name: str | None) -> None:
            if name is None:
                return

            async def import_key() -> KeyPair:
                keypair: KeyPair = await self.client.import_keypair(name, text)
                return keypair

            self.act(
                import_key,
                description="Import key pair",
                done=lambda keypair: (
                    f"Imported key pair {keypair.name} ({info.fingerprint_sha256})"
                ),
            )

        self.app.push_screen(
            TextPromptScreen(
                "Import key pair",
                f"{path}\n{info.key_type} {info.fingerprint_sha256} {info.comment}".rstrip(),
                label="Key pair name (the private key with this name in ~/.ssh is used to log in):",
                value=default if validate_keypair_name(default, existing) is None else "",
                validate=lambda value: validate_keypair_name(value, existing),
                confirm_label="Import",
            ),
            named,
        )

    def action_delete_key(self) -> None:
        if self.context.read_only:
            return
        keypairs = self.extras.keypairs
        if not keypairs:
            self.notify("There is no key pair to delete.", severity="warning")
            return
        choices: list[tuple[str, str | Text, bool]] = [
            (keypair.name, Text(f"{keypair.name:<24} {keypair.fingerprint}"), True)
            for keypair in keypairs
        ]

        def chosen(name: str | None) -> None:
            if name is None:
                return
            self.confirm_then(
                "Delete key pair",
                f"Delete key pair {name}? Running instances keep the key they were given; new "
                "instances can no longer be launched with it.",
                lambda: self.act(
                    lambda: self.client.delete_keypair(name),
                    description="Delete key pair",
                    done=f"Deleted key pair {name}",
                ),
            )

        self.app.push_screen(ChoiceScreen("Delete key pair", "Which key pair?", choices), chosen)


# --------------------------------------------------------------------------- Instances


class InstancesView(CloudView):
    """Virtual machines of the active project, refreshed faster while one changes state.

    | key       | action                                                     |
    |-----------|------------------------------------------------------------|
    | `n`       | launch an instance (wizard)                                |
    | `o`       | connect: SSH in this terminal, back here when it exits     |
    | `y`       | show / copy the SSH command                                |
    | `a` / `A` | associate / disassociate a floating IP                     |
    | `i`       | snapshot the instance                                      |
    | `x` / `X` | stop / start                                               |
    | `b` / `B` | reboot / hard reboot                                       |
    | `l`       | console log                                                |
    | `space`   | mark / unmark the row                                      |
    | `d`       | delete the marked instances, or the selected one (confirmed) |
    """

    AREA = "instances"
    TITLE = "Instances"
    FAST_INTERVAL = 1.0
    COLUMNS = (
        Column("mark", "", width=1),
        Column("name", "NAME"),
        Column("status", "STATUS"),
        Column("power", "POWER"),
        Column("task", "TASK"),
        Column("ip", "IP"),
        Column("flavor", "FLAVOR"),
        Column("image", "IMAGE"),
        Column("key", "KEY"),
        Column("created", "CREATED"),
    )
    EMPTY_TEXT = "No instance in this project. Press n to launch one from canfar-ubuntu-20.04."
    DESTRUCTIVE_ACTIONS = frozenset(
        {
            "launch",
            "delete",
            "associate_ip",
            "disassociate_ip",
            "snapshot",
            "stop",
            "start",
            "reboot",
            "hard_reboot",
        }
    )
    BINDINGS = [
        Binding("n", "launch", "Launch", id="instances.launch", tooltip="Launch an instance"),
        Binding(
            "o",
            "connect",
            "Connect",
            id="instances.connect",
            tooltip="SSH to the instance in this terminal; back here when the shell exits",
        ),
        Binding(
            "y",
            "ssh_command",
            "SSH command",
            id="instances.ssh_command",
            tooltip="Show and copy the ssh command of the instance",
            show=False,
        ),
        Binding(
            "a",
            "associate_ip",
            "Associate IP",
            id="instances.associate_ip",
            tooltip="Associate a floating IP (allocates one when none is free)",
        ),
        Binding(
            "A",
            "disassociate_ip",
            "Disassociate IP",
            id="instances.disassociate_ip",
            tooltip="Take the floating IP off the instance",
            show=False,
        ),
        Binding(
            "i",
            "snapshot",
            "Snapshot",
            id="instances.snapshot",
            tooltip="Save the instance as a snapshot image",
        ),
        Binding(
            "x", "stop", "Stop", id="instances.stop", tooltip="Shut the instance down", show=False
        ),
        Binding(
            "X",
            "start",
            "Start",
            id="instances.start",
            tooltip="Start a stopped instance",
            show=False,
        ),
        Binding(
            "b", "reboot", "Reboot", id="instances.reboot", tooltip="Reboot (soft)", show=False
        ),
        Binding(
            "B",
            "hard_reboot",
            "Hard reboot",
            id="instances.hard_reboot",
            tooltip="Reboot by power cycle (when a soft reboot hangs)",
            show=False,
        ),
        Binding(
            "l",
            "console_log",
            "Console log",
            id="instances.console_log",
            tooltip="Show the instance's console output",
            show=False,
        ),
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="instances.mark",
            tooltip="Mark or unmark the row; d deletes every marked instance",
            show=False,
        ),
        Binding(
            "d",
            "delete",
            "Delete",
            id="instances.delete",
            tooltip="Delete the marked or selected instances (asks first)",
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        self.marked: set[str] = set()
        #: image id -> status text of the snapshots this view is waiting for.
        self.watching: dict[str, str] = {}

    async def fetch(self) -> Iterable[Instance]:
        instances: Iterable[Instance] = await self.client.list_instances()
        return instances

    def wants_fast(self, items: Iterable[Any]) -> bool:
        return any(instance.is_transitional for instance in items)

    def row(self, item: Any) -> Sequence[object]:
        instance: Instance = item
        address = instance.floating_ip or (instance.addresses[0] if instance.addresses else None)
        return (
            "✓" if instance.id in self.marked else "",
            instance.name,
            instance.status,
            instance.power_state,
            instance.task_state,
            address,
            instance.flavor_name,
            instance.image_name,
            instance.key_name,
            instance.created_at,
        )

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        if self.poller is not None:
            self.marked &= {str(key) for key in self.poller.rows}
        super()._apply_diff(diff)

    def _update_status(self, extra: str = "") -> None:
        notes = [extra] if extra else []
        if self.marked:
            notes.append(f"{len(self.marked)} marked (d deletes them)")
        notes += self.watching.values()
        super()._update_status(" · ".join(notes))

    def _instance(self) -> Instance | None:
        instance: Instance | None = self.selected_or_warn("an instance")
        return instance

    def _require_active(self, instance: Instance, what: str) -> bool:
        if instance.status.upper() != "ACTIVE" or instance.task_state == "deleting":
            self.notify(
                f"{instance.name} is {instance.status}: wait until it is ACTIVE to {what}.",
                severity="warning",
            )
            return False
        return True

    # ------------------------------------------------------------------ marking

    def action_toggle_mark(self) -> None:
        instance = self.selected_item
        if instance is None:
            return
        if instance.id in self.marked:
            self.marked.discard(instance.id)
        else:
            self.marked.add(instance.id)
        self.table.apply_diff({}, {instance.id: self.row(instance)}, frozenset())
        self.table.action_cursor_down()
        self._update_status()

    # ------------------------------------------------------------------ launch

    def action_launch(self) -> None:
        if self.context.read_only:
            return

        async def load() -> tuple[
            Sequence[Image], Sequence[Flavor], Sequence[KeyPair], Quota | None
        ]:
            images = await self.client.list_images()
            flavors = await self.client.list_flavors()
            keypairs = await self.client.list_keypairs()
            try:
                quota: Quota | None = await self.client.get_quota()
            except ClientError:
                quota = None
            return images, flavors, keypairs, quota

        def show(
            data: tuple[Sequence[Image], Sequence[Flavor], Sequence[KeyPair], Quota | None],
        ) -> None:
            images, flavors, keypairs, quota = data
            if not any(image.status.lower() == "active" for image in images):
                self.notify("No active image or snapshot to launch from.", severity="warning")
                return
            project = self.context.navigation.project
            existing = (
                {instance.name for instance in self.poller.rows.values()} if self.poller else set()
            )
            self.app.push_screen(
                LaunchScreen(
                    images=images,
                    flavors=flavors,
                    keypairs=keypairs,
                    quota=quota,
                    existing_names=existing,
                    project_name=project.name if project else "",
                ),
                self._launch_answered,
            )

        self.act(load, description="Launch instance", then=show, changes=False)

    def _launch_answered(self, request: Any) -> None:
        if request is None:
            return

        async def launch() -> Instance:
            instance: Instance = await self.client.launch_instance(request)
            return instance

        def launched(instance: Instance) -> None:
            self.select_when_seen = instance.id

        self.act(
            launch,
            description="Launch instance",
            done=lambda instance: (
                f"Launching {instance.name}: ready when its status is ACTIVE. Then press a to "
                "associate a floating IP."
            ),
            then=launched,
        )

    # ------------------------------------------------------------------ floating IPs

    def action_associate_ip(self) -> None:
        if self.context.read_only:
            return
        instance = self._instance()
        if instance is None:
            return
        if instance.floating_ip:
            self.notify(
                f"{instance.name} already has {instance.floating_ip} (A takes it off).",
                severity="warning",
            )
            return

        def associate(address: FloatingIP) -> None:
            async def call() -> FloatingIP:
                result: FloatingIP = await self.client.associate_floating_ip(
                    address.id, instance.id
                )
                return result

            self.act(
                call,
                description="Associate floating IP",
                done=f"{address.address} is associated with {instance.name} (y: ssh command)",
            )

        def pick(addresses: Sequence[FloatingIP]) -> None:
            free = [address for address in addresses if address.instance_id is None]
            if not free:
                self.notify("No free floating IP in this project: allocating one…")

                async def allocate() -> FloatingIP:
                    result: FloatingIP = await self.client.allocate_floating_ip()
                    return result

                self.act(
                    allocate,
                    description="Allocate floating IP",
                    done=lambda address: f"Allocated {address.address}",
                    then=associate,
                )
                return
            choices: list[tuple[str, str | Text, bool]] = [
                (address.id, Text(f"{address.address:<18} {address.network}"), True)
                for address in free
            ]

            def chosen(choice: str | None) -> None:
                address = next((a for a in free if a.id == choice), None)
                if address is not None:
                    associate(address)

            self.app.push_screen(
                ChoiceScreen(
                    f"Associate a floating IP with {instance.name}",
                    "Allocated addresses not in use:",
                    choices,
                ),
                chosen,
            )

        self.act(
            self.client.list_floating_ips,
            description="Associate floating IP",
            then=pick,
            changes=False,
        )

    def action_disassociate_ip(self) -> None:
        if self.context.read_only:
            return
        instance = self._instance()
        if instance is None:
            return
        if not instance.floating_ip:
            self.notify(f"{instance.name} has no floating IP.", severity="warning")
            return

        async def disassociate() -> str:
            addresses: Sequence[FloatingIP] = await self.client.list_floating_ips()
            address = next((a for a in addresses if a.instance_id == instance.id), None)
            if address is None:
                raise NotFound(f"{instance.name} has no floating IP any more.")
            await self.client.disassociate_floating_ip(address.id)
            return address.address

        self.act(
            disassociate,
            description="Disassociate floating IP",
            done=lambda address: f"{address} is no longer associated with {instance.name}",
        )

    # ------------------------------------------------------------------ power

    def _power_action(self, action: str, label: str) -> None:
        if self.context.read_only:
            return
        instance = self._instance()
        if instance is None:
            return
        calls: dict[str, Callable[[], Awaitable[None]]] = {
            "stop": lambda: self.client.stop_instance(instance.id),
            "start": lambda: self.client.start_instance(instance.id),
            "reboot": lambda: self.client.reboot_instance(instance.id),
            "hard_reboot": lambda: self.client.reboot_instance(instance.id, hard=True),
        }
        self.act(calls[action], description=f"{label} instance", done=f"{label}: {instance.name}")

    def action_stop(self) -> None:
        self._power_action("stop", "Stop")

    def action_start(self) -> None:
        self._power_action("start", "Start")

    def action_reboot(self) -> None:
        self._power_action("reboot", "Reboot")

    def action_hard_reboot(self) -> None:
        self._power_action("hard_reboot", "Hard reboot")

    # ------------------------------------------------------------------ snapshot

    def action_snapshot(self) -> None:
        if self.context.read_only:
            return
        instance = self._instance()
        if instance is None:
            return

        def prompt(images: Sequence[Image]) -> None:
            existing = [image.name for image in images]
            default = f"{instance.name}-{self.context.now():%Y-%m-%d}"
            self.app.push_screen(
                TextPromptScreen(
                    f"Snapshot {instance.name}",
                    "Save the instance as an image: launch it again later, or name it in "
                    "batch jobs (Snapshots tab, b: use for batch).",
                    label="Snapshot name:",
                    value=default if validate_snapshot_name(default, existing) is None else "",
                    validate=lambda value: validate_snapshot_name(value, existing),
                    confirm_label="Create snapshot",
                    warning=(
                        f"While the snapshot is taken, do nothing on {instance.name}: no "
                        "installs, no file changes. Log out and wait until it is active."
                    ),
                ),
                lambda name: self._create_snapshot(instance, name) if name else None,
            )

        self.act(self.client.list_images, description="Snapshot", then=prompt, changes=False)

    def _create_snapshot(self, instance: Instance, name: str) -> None:
        async def create() -> Image:
            image: Image = await self.client.create_snapshot(instance.id, name)
            return image

        self.act(
            create,
            description="Snapshot",
            done=lambda image: (
                f"Snapshot {image.name} started ({image.status}). Do nothing on "
                f"{instance.name} until it is active."
            ),
            then=self.watch_snapshot,
        )

    def watch_snapshot(self, image: Image) -> None:
        """Follow a snapshot until it is active (then remind once) or fails."""
        started = time.monotonic()
        self.watching[image.id] = f"snapshot {image.name}: {image.status}"
        self._update_status()
        interval = max(0.2, min(2.0, self.context.settings.refresh_interval("snapshots")))

        async def follow() -> None:
            try:
                while True:
                    await asyncio.sleep(interval)
                    try:
                        images: Sequence[Image] = await self.client.list_images()
                    except ClientError as error:
                        log.info("snapshot watch: %s", error.message)
                        continue
                    current = next((i for i in images if i.id == image.id), None)
                    if current is None or current.status.lower() in FAILED_STATUSES:
                        status = "gone" if current is None else current.status
                        self.context.report_error(
                            ClientError(
                                f"Snapshot {image.name} failed ({status}); nothing was saved."
                            ),
                            context="Snapshot",
                        )
                        return
                    if current.status.lower() == "active":
                        self.notify(
                            f"Snapshot {current.name} is active "
                            f"({human_size(current.size_bytes)}).",
                            title="Snapshot",
                        )
                        self.remind_snapshot_active(current)
                        self.refresh_cloud_views()
                        return
                    minutes, seconds = divmod(int(time.monotonic() - started), 60)
                    self.watching[image.id] = (
                        f"snapshot {image.name}: {current.status} {minutes}:{seconds:02d}"
                    )
                    self._update_status()
            finally:
                self.watching.pop(image.id, None)
                self._update_status()

        self.run_worker(
            follow(), name=f"Snapshot {image.name}", group="snapshot-watch", exit_on_error=False
        )

    # ------------------------------------------------------------------ console

    def action_console_log(self) -> None:
        instance = self._instance()
        if instance is None:
            return
        client = self.client
        if not isinstance(client, SupportsConsoleLog):
            self.notify("This cloud does not provide console logs.", severity="warning")
            return

        async def load() -> str:
            text: str = await client.console_log(instance.id, lines=500)
            return text

        self.app.push_screen(ConsoleLogScreen(f"Console log · {instance.name}", load))

    # ------------------------------------------------------------------ delete

    def action_delete(self) -> None:
        if self.context.read_only:
            return
        rows = self.poller.rows if self.poller is not None else {}
        targets: list[Instance] = [rows[key] for key in sorted(self.marked) if key in rows]
        if not targets:
            instance = self._instance()
            if instance is None:
                return
            targets = [instance]
        unsaved = self._without_snapshot(targets)
        if len(targets) == 1:
            target = targets[0]
            title = "Delete instance"
            message = (
                f"Delete {target.name}? Everything on its disks that is not in a snapshot or "
                "in VOSpace is lost."
            )
        else:
            names = ", ".join(instance.name for instance in targets)
            title = f"Delete {len(targets)} instances"
            message = (
                f"Delete {len(targets)} marked instances ({names})? Everything on their disks "
                "that is not in a snapshot or in VOSpace is lost."
            )
        if unsaved:
            message += f" No snapshot was taken of {', '.join(unsaved)}."
        self.confirm_then(title, message, lambda: self._delete(targets))

    def _without_snapshot(self, targets: Sequence[Instance]) -> list[str]:
        """Names of targets known to have no snapshot (from the Snapshots tab's last rows)."""
        snapshots = self.context.navigation.view("snapshots")
        if not isinstance(snapshots, SnapshotsView) or snapshots.poller is None:
            return []
        if not snapshots.poller.loaded:
            return []
        sources = {image.source_instance_id for image in snapshots.poller.rows.values()}
        return [instance.name for instance in targets if instance.id not in sources]

    def _delete(self, targets: Sequence[Instance]) -> None:
        async def delete_all() -> list[str]:
            failures: list[str] = []
            for instance in targets:
                try:
                    await self.client.delete_instance(instance.id)
                except ClientError as error:
                    failures.append(instance.name)
                    self.context.report_error(error, context=f"Delete {instance.name}")
                else:
                    self.marked.discard(instance.id)
            return failures

        def deleted(failures: list[str]) -> None:
            self._update_status()
            count = len(targets) - len(failures)
            if count:
                names = ", ".join(i.name for i in targets if i.name not in failures)
                self.notify(f"Deleting {names}", title="Delete instance")

        self.act(delete_all, description="Delete instance", then=deleted)

    # ------------------------------------------------------------------ SSH

    def _ssh_ready(self, instance: Instance) -> bool:
        if not instance.floating_ip:
            self.notify(
                f"{instance.name} has no floating IP: press a to associate one first.",
                severity="warning",
            )
            return False
        return True

    def _login(self, instance: Instance) -> InstanceLogin | None:
        try:
            return self.preferences.instance_login(instance.id)
        except PreferencesError:
            return None

    def action_ssh_command(self) -> None:
        instance = self._instance()
        if instance is None or not self._ssh_ready(instance):
            return

        def show(images: Sequence[Image]) -> None:
            assert instance.floating_ip is not None
            default_user = login_user_for(instance, images)
            identity = identity_for(instance.key_name, ssh_dir())
            login = self._login(instance)
            commands: list[tuple[str, str]] = []
            if login is not None and login.user != default_user:
                commands.append(
                    (
                        display_command(
                            ssh_command(login.user, instance.floating_ip, identity=identity)
                        ),
                        f"as {login.user} (made with canfar_create_user)",
                    )
                )
            commands.append(
                (
                    display_command(
                        ssh_command(default_user, instance.floating_ip, identity=identity)
                    ),
                    f"default user of {instance.image_name or 'the image'}",
                )
            )
            if instance.key_name and identity is None:
                key_note = (
                    f"Key pair {instance.key_name}: no ~/.ssh/{instance.key_name} here, so ssh "
                    "uses your default keys or agent."
                )
            elif instance.key_name:
                key_note = f"Key pair {instance.key_name}: private key ~/.ssh/{instance.key_name}."
            else:
                key_note = "This instance was launched without a key pair."
            self.app.push_screen(
                SshCommandScreen(f"SSH to {instance.name}", key_note, commands),
                lambda answer: self.action_connect() if answer == "connect" else None,
            )

        self.act(self.client.list_images, description="SSH command", then=show, changes=False)

    def action_connect(self) -> None:
        instance = self._instance()
        if (
            instance is None
            or not self._ssh_ready(instance)
            or not self._require_active(instance, "connect")
        ):
            return

        async def load() -> tuple[Sequence[Image], str]:
            images = await self.client.list_images()
            user = ""
            credentials = self.context.clients.credentials
            if credentials is not None:
                try:
                    user = (await credentials.status()).username or ""
                except ClientError:
                    user = ""
            return images, user

        def plan(data: tuple[Sequence[Image], str]) -> None:
            images, cadc_user = data
            self.start_session(instance, login_user_for(instance, images), cadc_user)

        self.act(load, description="Connect", then=plan, changes=False)

    def start_session(self, instance: Instance, default_user: str, cadc_user: str) -> None:
        """Connect as the remembered user, or offer the seed's setup on the first connection."""
        host = instance.floating_ip
        if host is None:
            return
        identity = identity_for(instance.key_name, ssh_dir())
        scratch = not instance.flavor_name.startswith("p")
        login = self._login(instance)
        if login is not None or self.context.read_only:
            user = login.user if login is not None else default_user
            self.run_session(instance, connect_plan(user, host, identity=identity))
            return

        def preview(user: str) -> list[str]:
            steps = setup_commands(default_user, user, host, identity=identity, scratch=scratch)
            return [display_command(step.argv) for step in steps]

        def answered(user: str | None) -> None:
            if user is None:
                return
            if not user:
                self._remember_login(instance, InstanceLogin(default_user))
                self.run_session(instance, connect_plan(default_user, host, identity=identity))
                return
            setup = setup_commands(default_user, user, host, identity=identity, scratch=scratch)
            result = self.run_session(
                instance, connect_plan(user, host, identity=identity, setup=setup)
            )
            if result is not None and result.setup_ok:
                self._remember_login(instance, InstanceLogin(user, setup_done=True))

        self.app.push_screen(
            FirstConnectionScreen(instance.name, default_user, cadc_user, preview, scratch=scratch),
            answered,
        )

    def _remember_login(self, instance: Instance, login: InstanceLogin) -> None:
        try:
            self.preferences.set_instance_login(instance.id, login)
        except PreferencesError as error:
            self.notify(str(error), severity="warning")

    def run_session(self, instance: Instance, steps: Sequence[SshStep]) -> PlanResult | None:
        """Suspend the dashboard, run the steps in this terminal, and come back."""
        try:
            with self.app.suspend():
                result = execute_plan(steps)
        except SuspendNotSupported:
            command = display_command(steps[-1].argv)
            self.app.copy_to_clipboard(command)
            self.notify(
                f"This terminal cannot be handed over to ssh; run it yourself (copied): {command}",
                severity="warning",
                timeout=LONG_NOTICE_SECONDS,
            )
            return None
        if result.failed is not None:
            self.context.report_error(
                ClientError(f"{instance.name}: {result.message}"), context="Connect"
            )
        else:
            self.notify(f"Back from {instance.name}.", title="Connect")
        return result


# --------------------------------------------------------------------------- Floating IPs


class FloatingIPsView(CloudView):
    """Public addresses of the project and the instance each is on.

    | key       | action                                 |
    |-----------|----------------------------------------|
    | `n`       | allocate an address                    |
    | `a`       | associate with an instance (pick one)  |
    | `A`       | disassociate                           |
    | `d`       | release the address (confirmed)        |
    """

    AREA = "floating_ips"
    TITLE = "Floating IPs"
    COLUMNS = (
        Column("address", "ADDRESS"),
        Column("status", "STATUS"),
        Column("instance", "INSTANCE"),
        Column("fixed", "FIXED ADDRESS"),
        Column("network", "NETWORK"),
    )
    EMPTY_TEXT = "No floating IP. Press n to allocate one; an instance needs it for SSH."
    DESTRUCTIVE_ACTIONS = frozenset({"allocate", "associate", "disassociate", "release"})
    BINDINGS = [
        Binding(
            "n",
            "allocate",
            "Allocate",
            id="floating_ips.allocate",
            tooltip="Allocate an address from the external network to the project",
        ),
        Binding(
            "a",
            "associate",
            "Associate",
            id="floating_ips.associate",
            tooltip="Associate the selected address with an instance",
        ),
        Binding(
            "A",
            "disassociate",
            "Disassociate",
            id="floating_ips.disassociate",
            tooltip="Take the selected address off its instance",
            show=False,
        ),
        Binding(
            "d",
            "release",
            "Release",
            id="floating_ips.release",
            tooltip="Release the selected address (asks first)",
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        #: instance id -> name, refreshed with every fetch.
        self.instance_names: dict[str, str] = {}

    async def fetch(self) -> Iterable[FloatingIP]:
        addresses: Iterable[FloatingIP] = await self.client.list_floating_ips()
        try:
            instances: Sequence[Instance] = await self.client.list_instances()
        except ClientError:
            instances = ()
        self.instance_names = {instance.id: instance.name for instance in instances}
        return addresses

    def item_title(self, item: Any) -> str:
        address: FloatingIP = item
        return address.address

    def row(self, item: Any) -> Sequence[object]:
        address: FloatingIP = item
        instance = (
            self.instance_names.get(address.instance_id, address.instance_id)
            if address.instance_id
            else None
        )
        return (address.address, address.status, instance, address.fixed_address, address.network)

    def _address(self) -> FloatingIP | None:
        address: FloatingIP | None = self.selected_or_warn("a floating IP")
        return address

    def action_allocate(self) -> None:
        if self.context.read_only:
            return

        async def allocate() -> FloatingIP:
            address: FloatingIP = await self.client.allocate_floating_ip()
            return address

        self.act(
            allocate,
            description="Allocate floating IP",
            done=lambda address: (
                f"Allocated {address.address}. Press a to associate it with an instance."
            ),
        )

    def action_associate(self) -> None:
        if self.context.read_only:
            return
        address = self._address()
        if address is None:
            return
        if address.instance_id:
            holder = self.instance_names.get(address.instance_id, address.instance_id)
            self.notify(
                f"{address.address} is on {holder}; A disassociates it first.", severity="warning"
            )
            return

        def pick(instances: Sequence[Instance]) -> None:
            free = [
                instance
                for instance in instances
                if not instance.floating_ip and instance.task_state != "deleting"
            ]
            if not free:
                self.notify(
                    "Every instance already has a floating IP (or there is none): "
                    "launch one on the Instances tab (2, then n).",
                    severity="warning",
                )
                return
            choices: list[tuple[str, str | Text, bool]] = [
                (
                    instance.id,
                    Text(f"{instance.name:<24} {instance.status:<8} {instance.image_name}"),
                    True,
                )
                for instance in free
            ]

            def chosen(choice: str | None) -> None:
                instance = next((i for i in free if i.id == choice), None)
                if instance is None:
                    return

                async def associate() -> FloatingIP:
                    result: FloatingIP = await self.client.associate_floating_ip(
                        address.id, instance.id
                    )
                    return result

                self.act(
                    associate,
                    description="Associate floating IP",
                    done=f"{address.address} is associated with {instance.name}",
                )

            self.app.push_screen(
                ChoiceScreen(
                    f"Associate {address.address}",
                    "With which instance? (instances without a floating IP)",
                    choices,
                ),
                chosen,
            )

        self.act(
            self.client.list_instances,
            description="Associate floating IP",
            then=pick,
            changes=False,
        )

    def action_disassociate(self) -> None:
        if self.context.read_only:
            return
        address = self._address()
        if address is None:
            return
        if not address.instance_id:
            self.notify(f"{address.address} is not associated.", severity="warning")
            return

        async def disassociate() -> FloatingIP:
            result: FloatingIP = await self.client.disassociate_floating_ip(address.id)
            return result

        self.act(
            disassociate,
            description="Disassociate floating IP",
            done=f"{address.address} is free again",
        )

    def action_release(self) -> None:
        address = self._address()
        if address is None or self.context.read_only:
            return
        message = f"Release {address.address}? The project may not get the same address back."
        if address.instance_id:
            holder = self.instance_names.get(address.instance_id, address.instance_id)
            message += f" {holder} loses its public address."
        self.confirm_then(
            "Release floating IP",
            message,
            lambda: self.act(
                lambda: self.client.release_floating_ip(address.id),
                done=f"Released {address.address}",
                description="Release floating IP",
            ),
            confirm_label="Release",
        )


# --------------------------------------------------------------------------- Snapshots


class SnapshotsView(CloudView):
    """Images and instance snapshots; snapshots being saved show their progress live.

    | key | action                                                          |
    |-----|-----------------------------------------------------------------|
    | `b` | use for batch: the default VM image of batch submission (again: unset) |
    | `d` | delete the snapshot (confirmed by typing its name)              |
    """

    AREA = "snapshots"
    TITLE = "Snapshots"
    FAST_INTERVAL = 2.0
    COLUMNS = (
        Column("name", "NAME"),
        Column("batch", "", width=1),
        Column("kind", "KIND"),
        Column("status", "STATUS"),
        Column("size", "SIZE", justify="right"),
        Column("created", "CREATED"),
        Column("visibility", "VISIBILITY"),
    )
    EMPTY_TEXT = "No image or snapshot is visible to this project."
    DESTRUCTIVE_ACTIONS = frozenset({"delete"})
    BINDINGS = [
        Binding(
            "b",
            "use_for_batch",
            "Use for batch",
            id="snapshots.use_for_batch",
            tooltip="Make the selected image the default for batch submission (★)",
        ),
        Binding(
            "d",
            "delete",
            "Delete",
            id="snapshots.delete",
            tooltip="Delete the selected snapshot (asks first)",
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        self.batch_image_id: str | None = None
        self._statuses: dict[str, str] = {}

    async def fetch(self) -> Iterable[Image]:
        images: Iterable[Image] = await self.client.list_images()
        self.batch_image_id = self._read_batch_image_id()
        return images

    def _read_batch_image_id(self) -> str | None:
        batch = self.preferences.batch_image()
        return batch.id if batch is not None else None

    def wants_fast(self, items: Iterable[Any]) -> bool:
        return any(image.status.lower() in SAVING_STATUSES for image in items)

    def row(self, item: Any) -> Sequence[object]:
        image: Image = item
        status = image.status
        if image.status.lower() in SAVING_STATUSES and image.created_at is not None:
            status = f"{image.status} {elapsed_text(image.created_at)}"
        return (
            image.name,
            "★" if image.id == self.batch_image_id else "",
            image.kind.value,
            status,
            human_size(image.size_bytes),
            image.created_at,
            image.visibility,
        )

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        # Saving rows change every tick (their elapsed time), so re-render them too.
        if self.poller is not None:
            saving = {
                key: image
                for key, image in self.poller.rows.items()
                if image.status.lower() in SAVING_STATUSES
                and key not in diff.added
                and key not in diff.changed
            }
            if saving:
                diff = Diff(diff.added, {**diff.changed, **saving}, diff.removed)
        super()._apply_diff(diff)
        for key, image in diff.changed.items():
            before = self._statuses.get(str(key), "")
            if (
                image.kind is ImageKind.SNAPSHOT
                and image.status.lower() == "active"
                and before in SAVING_STATUSES
            ):
                self.remind_snapshot_active(image)
        if self.poller is not None:
            self._statuses = {
                str(key): image.status.lower() for key, image in self.poller.rows.items()
            }
        self._update_status()

    def _update_status(self, extra: str = "") -> None:
        notes = [extra] if extra else []
        if self.poller is not None:
            saving = [
                f"{image.name} {image.status} {elapsed_text(image.created_at)}".rstrip()
                for image in self.poller.rows.values()
                if image.status.lower() in SAVING_STATUSES
            ]
            if saving:
                notes.append("saving: " + ", ".join(saving))
        super()._update_status(" · ".join(notes))

    def _rerender(self) -> None:
        if self.poller is not None:
            rows = {key: self.row(image) for key, image in self.poller.rows.items()}
            self.table.apply_diff({}, rows, frozenset())

    def action_use_for_batch(self) -> None:
        image: Image | None = self.selected_or_warn("an image or snapshot")
        if image is None:
            return
        try:
            if image.id == self.batch_image_id:
                self.preferences.set_batch_image(None)
                self.batch_image_id = None
                self.notify(f"{image.name} is no longer the default image for batch jobs.")
            else:
                if image.status.lower() != "active":
                    self.notify(
                        f"{image.name} is {image.status}: wait until it is active.",
                        severity="warning",
                    )
                    return
                project = self.context.navigation.project
                self.preferences.set_batch_image(
                    BatchImage(
                        id=image.id,
                        name=image.name,
                        project_id=project.id if project else "",
                        project_name=project.name if project else "",
                    )
                )
                self.batch_image_id = image.id
                self.notify(
                    f"{image.name} is now the default VM image for batch submission (★).",
                    title="Use for batch",
                )
        except PreferencesError as error:
            self.notify(str(error), title="Use for batch", severity="error")
            return
        self._rerender()

    def action_delete(self) -> None:
        image: Image | None = self.selected_item
        if image is None or self.context.read_only:
            return
        if image.kind is not ImageKind.SNAPSHOT:
            self.notify("Only your own instance snapshots can be deleted here.", severity="warning")
            return
        message = f"Delete snapshot {image.name}? Batch jobs that name it will no longer start."
        if image.id == self.batch_image_id:
            message += " It is your default image for batch submission."

        async def delete() -> None:
            await self.client.delete_image(image.id)
            if image.id == self.batch_image_id:
                try:
                    self.preferences.set_batch_image(None)
                except PreferencesError as error:
                    log.warning("%s", error)
                self.batch_image_id = None

        self.confirm_then(
            "Delete snapshot",
            message,
            lambda: self.act(delete, done=f"Deleted {image.name}", description="Delete snapshot"),
            require_text=image.name,
        )
