"""The Projects tab: the user's OpenStack projects, the active one's quota, key pairs, flavors.

| key | action                                             |
|-----|----------------------------------------------------|
| `u` | use (switch to) the selected project               |
| `i` | import a key pair from `~/.ssh/*.pub`              |
| `K` | delete a key pair (confirmed)                      |
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget

from canfar_tui.clients.base import ClientError, InvalidInput
from canfar_tui.clients.cloud.sshkeys import parse_public_key
from canfar_tui.clients.refresh import Diff
from canfar_tui.models import Flavor, KeyPair, Project, Quota, QuotaUsage
from canfar_tui.widgets.cloud.base import CloudView, ssh_dir
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.plain_table import PlainTable
from canfar_tui.widgets.resource_table import Column, ResourceTable

#: A public key file larger than this is not a public key.
MAX_PUBLIC_KEY_BYTES = 16 * 1024
_BROWSE = "__browse__"
_KEYPAIR_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.@-"
)


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


#: Cells of a quota line: the name, then the bar (the rest), then the numbers.
QUOTA_NAME_CELLS = 13
QUOTA_NUMBERS_CELLS = 16


#: The Flavors panel's note under its table.
FLAVORS_NOTE = (
    "c… flavors have an ephemeral scratch disk (/mnt); p… flavors are persistent, without scratch."
)


class ProjectPanels(Widget):
    """What the Projects tab shows under its table, in two columns drawn by one widget: the
    active project's quota (a bar a line) and key pairs on the left, flavors on the right.

    One widget, not a dozen (titles, bars, messages, two columns): every widget here was paid
    for by the first paint. A quota's bar is coloured like the theme's primary colour,
    warning from 80 % and error when full.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "panel--title",
        "panel--message",
        "quota-bar",
        "quota-bar--high",
        "quota-bar--full",
    }
    DEFAULT_CSS = """
    ProjectPanels {
        height: 1fr;
        min-height: 8;
        padding: 0 1;
    }
    ProjectPanels > .panel--title {
        text-style: bold;
        color: $accent;
    }
    ProjectPanels > .panel--message {
        color: $text-muted;
    }
    ProjectPanels > .quota-bar {
        color: $primary;
    }
    ProjectPanels > .quota-bar--high {
        color: $warning;
    }
    ProjectPanels > .quota-bar--full {
        color: $error;
    }
    """

    #: Cells between the two columns (and after the right one).
    GAP = 2

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.quota_title = "Quota"
        self.usages: tuple[QuotaUsage, ...] = ()
        self.quota_message = ""
        self.keypairs: RenderableType = Text("")
        self.flavors: RenderableType = Text("")

    def show(
        self,
        *,
        quota_title: str,
        usages: Sequence[QuotaUsage],
        quota_message: str,
        keypairs: RenderableType,
        flavors: RenderableType,
    ) -> None:
        """Show these (the quotas in this order)."""
        self.quota_title = quota_title
        self.usages = tuple(usages)
        self.quota_message = quota_message
        self.keypairs = keypairs
        self.flavors = flavors
        self.refresh()

    @property
    def left_width(self) -> int:
        """Cells of the left column's content (quota and key pairs)."""
        return max(1, self.size.width // 2 - self.GAP)

    def line(self, usage: QuotaUsage, width: int) -> Text:
        """The line of one quota, ``width`` cells wide."""
        name = QUOTA_LABELS.get(usage.resource, usage.resource)
        bar_cells = max(1, width - QUOTA_NAME_CELLS - QUOTA_NUMBERS_CELLS)
        filled = min(bar_cells, round(usage.fraction * bar_cells))
        if usage.fraction >= 1.0:
            component = "quota-bar--full"
        elif usage.fraction >= 0.8:
            component = "quota-bar--high"
        else:
            component = "quota-bar"
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(name[: QUOTA_NAME_CELLS - 1].ljust(QUOTA_NAME_CELLS))
        text.append(
            "█" * filled + "░" * (bar_cells - filled), self.get_component_rich_style(component)
        )
        text.append(" " + quota_numbers(usage))
        return text

    def text_of(self, resource: str) -> str | None:
        """The plain text of one quota's line as shown (None when it is not shown)."""
        usage = next((u for u in self.usages if u.resource == resource), None)
        return None if usage is None else self.line(usage, self.left_width).plain

    def render(self) -> RenderableType:
        title = self.get_component_rich_style("panel--title")
        muted = self.get_component_rich_style("panel--message")
        left_width = self.left_width
        right_width = max(1, self.size.width - left_width - 2 * self.GAP)
        left: list[RenderableType] = [Text(self.quota_title, title, no_wrap=True)]
        if self.usages:
            left.append(Text("\n").join(self.line(usage, left_width) for usage in self.usages))
        if self.quota_message:
            left.append(Text(self.quota_message, muted))
        left += [Text(" "), Text("Key pairs (i: import)", title), self.keypairs]
        right: list[RenderableType] = [Text("Flavors", title), self.flavors]
        right.append(Text(FLAVORS_NOTE, muted))
        grid = Table.grid(padding=(0, self.GAP, 0, 0))
        grid.add_column(width=left_width)
        grid.add_column(width=right_width)
        grid.add_row(Group(*left), Group(*right))
        return grid


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

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield ProjectPanels(id="project-panels")

    async def load(self) -> tuple[Sequence[Project], Project | None, ProjectExtras]:
        # The five calls are made together (one round trip's wait, not five); a failing
        # extra does not hide the projects, a failing project list fails the fetch.
        extras = asyncio.ensure_future(self._fetch_extras())
        try:
            projects, current = await asyncio.gather(
                self.client.list_projects(), self.client.current_project()
            )
        except BaseException:
            extras.cancel()
            with contextlib.suppress(BaseException):
                await extras
            raise
        return projects, current, await extras

    def present(self, loaded: Any) -> Iterable[Any]:
        projects, current, self.extras = loaded
        self.current_project_id = current.id if current else None
        self.context.navigation.set_project(current)
        return [(project, project.id == self.current_project_id) for project in projects]

    async def _fetch_extras(self) -> ProjectExtras:
        """Quota, key pairs and flavors; one failing does not hide the others."""
        values: dict[str, Any] = {}
        names = ("quota", "keypairs", "flavors")
        results = await asyncio.gather(
            self.client.get_quota(),
            self.client.list_keypairs(),
            self.client.list_flavors(),
            return_exceptions=True,
        )
        for name, result in zip(names, results, strict=True):
            if isinstance(result, ClientError):
                values[f"{name}_error"] = result.message
            elif isinstance(result, BaseException):
                raise result
            else:
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
        if not self.is_attached:
            # The app is closing (it may exit right after its first paint): nothing to show.
            return
        extras = self.extras
        project = self.context.navigation.project
        usages: list[QuotaUsage] = []
        if extras.quota is not None:
            known = [u for key in QUOTA_LABELS if (u := extras.quota.get(key)) is not None]
            usages = known + [u for u in extras.quota.usages if u.resource not in QUOTA_LABELS]
        message = ""
        if extras.quota_error:
            message = f"Quota unavailable: {extras.quota_error}"
        elif extras.quota is not None and not usages:
            message = "This cloud reports no quota."
        self.query_one(ProjectPanels).show(
            quota_title=f"Quota · {project.name}" if project else "Quota",
            usages=usages,
            quota_message=message,
            keypairs=self._keypairs_renderable(extras),
            flavors=self._flavors_renderable(extras),
        )

    @staticmethod
    def _keypairs_renderable(extras: ProjectExtras) -> Text | PlainTable:
        if extras.keypairs_error:
            return Text(f"Unavailable: {extras.keypairs_error}")
        if not extras.keypairs:
            return Text(
                "No key pair yet. Press i to import your public key (~/.ssh/*.pub); "
                "make one first with ssh-keygen -t ed25519 if you have none."
            )
        return PlainTable(
            [(keypair.name, keypair.fingerprint) for keypair in extras.keypairs],
            justify=("left", "left"),
            styles=("bold", "dim"),
            gap=2,
            shrink=1,
        )

    @staticmethod
    def _flavors_renderable(extras: ProjectExtras) -> Text | PlainTable:
        if extras.flavors_error:
            return Text(f"Unavailable: {extras.flavors_error}")
        if not extras.flavors:
            return Text("No flavor is available to this project.")
        rows: list[tuple[str, str, str, str]] = []
        for flavor in sorted(extras.flavors, key=lambda f: (f.is_persistent, f.vcpus, f.ram_mb)):
            scratch = (
                "none"
                if flavor.is_persistent or flavor.ephemeral_gb <= 0
                else f"{flavor.ephemeral_gb} GB"
            )
            rows.append((flavor.name, str(flavor.vcpus), f"{flavor.ram_mb / 1024:g} GB", scratch))
        return PlainTable(
            rows,
            header=("NAME", "vCPU", "RAM", "SCRATCH"),
            justify=("left", "right", "right", "right"),
        )

    @on(ResourceTable.RowSelected)
    def _project_selected(self, event: ResourceTable.RowSelected) -> None:
        # A row is a (project, active) pair: show the project and, when active, its quota.
        event.stop()
        event.prevent_default()
        item = self.poller.rows.get(event.key) if self.poller is not None else None
        if item is None:
            return
        project, active = item
        from canfar_tui.screens.details import DetailsScreen, fields_of

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

        from canfar_tui.screens.cloud_dialogs import ChoiceScreen

        def chosen(choice: str | None) -> None:
            if choice is None:
                return
            if choice == _BROWSE:
                from canfar_tui.screens.file_picker import FilePickerScreen

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
        from canfar_tui.screens.cloud_dialogs import TextPromptScreen

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
        from canfar_tui.screens.cloud_dialogs import ChoiceScreen

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
