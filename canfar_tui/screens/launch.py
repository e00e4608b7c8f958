"""The launch wizard: Horizon's "Launch Instance" form, one step per screen, keys only.

The steps follow the Batch Quick Start: **Details** (a meaningful instance name), **Source**
(an active image or instance snapshot, e.g. ``canfar-ubuntu-20.04``; its login user is shown),
**Flavor** (with its vCPUs, RAM and scratch disk; ``p…`` flavors are persistent and have no
scratch, which the wizard says), **Key pair** (the SSH key injected into the VM), then a
**Review** of everything. The result is a :class:`~canfar_tui.models.LaunchRequest`, or None
when cancelled. The lists start on the Quick Start's choices, ``canfar-ubuntu-20.04`` and
``c2-7.5gb-30`` (or the image and flavor the caller prefers: the Instances tab passes the last
ones launched with this profile), so ``enter`` through every step launches what the Quick
Start launches, or what was launched last. Each step is validated before the next one opens.

| key      | action                                        |
|----------|-----------------------------------------------|
| `enter`  | accept this step (on Review: launch)          |
| `↑`/`↓`  | move in the list of a step                    |
| `escape` | back one step (on the first step: cancel)     |
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ContentSwitcher, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from canfar_tui.batch.choices import DEFAULT_FLAVOR, DEFAULT_IMAGE
from canfar_tui.models import Flavor, Image, ImageKind, KeyPair, LaunchRequest, Quota

#: The wizard's steps, in order: (id, title).
STEPS: tuple[tuple[str, str], ...] = (
    ("details", "Details"),
    ("source", "Source"),
    ("flavor", "Flavor"),
    ("key", "Key pair"),
    ("review", "Review"),
)

NO_KEY = "__no_key__"
_MAX_NAME = 255


def validate_instance_name(name: str, existing: Collection[str] = ()) -> str | None:
    """Why ``name`` cannot be used for a new instance, or None when it can."""
    if not name.strip():
        return "Give the instance a name (e.g. catalogue-vm)."
    if name != name.strip():
        return "The name must not start or end with a space."
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "The name must not contain control characters."
    if len(name) > _MAX_NAME:
        return f"The name is {len(name)} characters long (at most {_MAX_NAME})."
    if name in existing:
        return f"An instance named {name} exists already in this project; choose another name."
    return None


def gigabytes(megabytes: float) -> str:
    """``7680`` → ``"7.5 GB"``."""
    return f"{megabytes / 1024:g} GB"


def flavor_resources(flavor: Flavor) -> str:
    """One line: vCPUs, RAM and scratch (or that the flavor is persistent)."""
    scratch = (
        "no scratch"
        if flavor.is_persistent or flavor.ephemeral_gb <= 0
        else f"{flavor.ephemeral_gb} GB scratch"
    )
    return f"{flavor.vcpus} vCPU, {gigabytes(flavor.ram_mb)} RAM, {scratch}"


def flavor_details(flavor: Flavor) -> str:
    """What the flavor gives the VM, and the warning for persistent flavors."""
    text = (
        f"{flavor.name}: {flavor.vcpus} vCPU, {gigabytes(flavor.ram_mb)} RAM, "
        f"{flavor.disk_gb} GB root disk"
    )
    if flavor.is_persistent or flavor.ephemeral_gb <= 0:
        return (
            f"{text}. Persistent flavor: NO scratch disk. Fine for a long-lived VM; for batch "
            "processing choose a c… flavor, whose ephemeral disk is the job's scratch space."
        )
    return (
        f"{text}, {flavor.ephemeral_gb} GB ephemeral scratch disk on /mnt "
        "(wiped when the instance is deleted)."
    )


def quota_problems(flavor: Flavor, quota: Quota | None) -> list[str]:
    """What launching one instance of ``flavor`` would exceed in ``quota`` (empty: fits)."""
    if quota is None:
        return []
    problems = []
    for resource, needed, label in (
        ("instances", 1.0, "instances"),
        ("cores", float(flavor.vcpus), "vCPU"),
        ("ram", float(flavor.ram_mb), "MB RAM"),
    ):
        usage = quota.get(resource)
        if usage is None or usage.limit < 0:
            continue
        free = max(0.0, usage.limit - usage.used)
        if needed > free:
            problems.append(f"{label}: needs {needed:g}, {free:g} free")
    return problems


def _source_label(image: Image) -> Text:
    kind = "snapshot" if image.kind is ImageKind.SNAPSHOT else "image"
    label = Text(f"{image.name:<28} ", style="bold")
    label.append(f"{kind:<9} user {image.default_login_user}", style="dim")
    return label


def _flavor_label(flavor: Flavor, quota: Quota | None) -> Text:
    label = Text(f"{flavor.name:<14} ", style="bold")
    label.append(flavor_resources(flavor))
    if quota_problems(flavor, quota):
        label.append(" over quota", style="dim")
    return label


def _first_index(ids: Sequence[str], *wanted: str | None) -> int:
    """The position in ``ids`` of the first of ``wanted`` that is there (0 when none is)."""
    for candidate in wanted:
        if candidate is not None and candidate in ids:
            return ids.index(candidate)
    return 0


class LaunchScreen(ModalScreen[LaunchRequest | None]):
    """Collect a LaunchRequest step by step."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="launch.back", tooltip="Back one step (or cancel)"),
    ]

    def __init__(
        self,
        *,
        images: Sequence[Image],
        flavors: Sequence[Flavor],
        keypairs: Sequence[KeyPair],
        quota: Quota | None = None,
        existing_names: Collection[str] = (),
        project_name: str = "",
        preferred_image_id: str | None = None,
        preferred_flavor_id: str | None = None,
        name: str = "",
    ) -> None:
        super().__init__()
        self.images = sorted(
            (image for image in images if image.status.lower() == "active"),
            key=lambda image: (image.kind is ImageKind.SNAPSHOT, image.name.lower()),
        )
        self.flavors = sorted(
            flavors, key=lambda flavor: (flavor.is_persistent, flavor.vcpus, flavor.ram_mb)
        )
        self.keypairs = sorted(keypairs, key=lambda keypair: keypair.name.lower())
        self.quota = quota
        self.existing_names = set(existing_names)
        self.project_name = project_name
        self.preferred_image_id = preferred_image_id
        self.preferred_flavor_id = preferred_flavor_id
        self.initial_name = name
        self.step = 0
        self.instance_name = ""
        self.image: Image | None = None
        self.flavor: Flavor | None = None
        self.key_name: str | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(id="launch-dialog", classes="dialog"):
            yield Label("", id="launch-title", classes="dialog-title")
            with ContentSwitcher(initial="launch-details", id="launch-steps"):
                with Vertical(id="launch-details", classes="launch-step"):
                    yield Static(
                        "Choose a meaningful instance name (what the VM is for).", markup=False
                    )
                    yield Input(self.initial_name, placeholder="instance name", id="launch-name")
                with Vertical(id="launch-source", classes="launch-step"):
                    yield Static(
                        "Boot source: an image or an instance snapshot (only active ones). "
                        "For batch processing start from an image or a snapshot, e.g. "
                        "canfar-ubuntu-20.04.",
                        markup=False,
                    )
                    yield OptionList(
                        *[Option(_source_label(i), id=i.id) for i in self.images],
                        id="launch-source-list",
                        markup=False,
                    )
                with Vertical(id="launch-flavor", classes="launch-step"):
                    yield Static(self._quota_text(), id="launch-quota", markup=False)
                    yield OptionList(
                        *[Option(_flavor_label(f, self.quota), id=f.id) for f in self.flavors],
                        id="launch-flavor-list",
                        markup=False,
                    )
                    yield Static("", id="launch-flavor-info", markup=False)
                with Vertical(id="launch-key", classes="launch-step"):
                    yield Static(self._key_text(), id="launch-key-info", markup=False)
                    yield OptionList(
                        *[
                            Option(
                                Text(f"{keypair.name:<24} {keypair.fingerprint}"), id=keypair.name
                            )
                            for keypair in self.keypairs
                        ],
                        Option(Text("(no key pair: you will not be able to log in)"), id=NO_KEY),
                        id="launch-key-list",
                        markup=False,
                    )
                with Vertical(id="launch-review", classes="launch-step"):
                    yield Static("", id="launch-summary", markup=False)
                    with Horizontal(classes="dialog-buttons"):
                        yield Button("Launch", id="launch-go", variant="primary")
            yield Static("", id="launch-error", classes="dialog-error", markup=False)
            yield Label(
                "enter: next, escape: back (cancel on the first step)", classes="dialog-hint"
            )

    def on_mount(self) -> None:
        image_ids = [image.id for image in self.images]
        flavor_ids = [flavor.id for flavor in self.flavors]
        for list_id, index in (
            (
                "#launch-source-list",
                _first_index(
                    image_ids,
                    self.preferred_image_id,
                    *(i.id for i in self.images if i.name == DEFAULT_IMAGE),
                ),
            ),
            (
                "#launch-flavor-list",
                _first_index(
                    flavor_ids,
                    self.preferred_flavor_id,
                    *(f.id for f in self.flavors if f.name == DEFAULT_FLAVOR),
                ),
            ),
            ("#launch-key-list", 0),
        ):
            options = self.query_one(list_id, OptionList)
            if options.option_count:
                options.highlighted = index
        self._show_step()

    def _quota_text(self) -> str:
        if self.quota is None:
            return "The resources each flavor gives the VM:"
        parts = []
        for resource, label in (("instances", "instances"), ("cores", "vCPU"), ("ram", "RAM")):
            usage = self.quota.get(resource)
            if usage is None:
                continue
            if usage.limit < 0:
                parts.append(f"unlimited {label}")
                continue
            free = max(0.0, usage.limit - usage.used)
            parts.append(f"{gigabytes(free)} {label}" if resource == "ram" else f"{free:g} {label}")
        where = f" in {self.project_name}" if self.project_name else ""
        return f"Free{where}: {', '.join(parts)}." if parts else "Choose the VM's resources:"

    def _key_text(self) -> str:
        if not self.keypairs:
            return (
                "No key pair in this project yet: import your public key on the Projects tab "
                "(1, then i) first, or launch without one (you will not be able to log in)."
            )
        return "The SSH public key injected into the VM (check it is the right one):"

    # ------------------------------------------------------------------ steps

    def _show_step(self) -> None:
        step_id, title = STEPS[self.step]
        where = f" in {self.project_name}" if self.project_name else ""
        self.query_one("#launch-title", Label).update(
            f"Launch instance{where} · {self.step + 1}/{len(STEPS)} {title}"
        )
        self.query_one("#launch-steps", ContentSwitcher).current = f"launch-{step_id}"
        self._error("")
        focus = {
            "details": "#launch-name",
            "source": "#launch-source-list",
            "flavor": "#launch-flavor-list",
            "key": "#launch-key-list",
            "review": "#launch-go",
        }[step_id]
        if step_id == "flavor":
            self._show_flavor_info()
        if step_id == "review":
            self.query_one("#launch-summary", Static).update(self.summary())
        self.query_one(focus).focus()

    def _error(self, text: str) -> None:
        error = self.query_one("#launch-error", Static)
        error.update(text)
        error.display = bool(text)

    def _next(self) -> None:
        self.step = min(self.step + 1, len(STEPS) - 1)
        self._show_step()

    def action_back(self) -> None:
        if self.step == 0:
            self.dismiss(None)
            return
        self.step -= 1
        self._show_step()

    def summary(self) -> str:
        """The review text: everything the launch will use."""
        if self.image is None or self.flavor is None:
            return ""
        kind = "snapshot" if self.image.kind is ImageKind.SNAPSHOT else "image"
        key = self.key_name or "none (you will not be able to log in by SSH)"
        lines = [
            f"Name:      {self.instance_name}",
            f"Source:    {self.image.name} ({kind}; log in as {self.image.default_login_user})",
            f"Flavor:    {self.flavor.name} ({flavor_resources(self.flavor)})",
            f"Key pair:  {key}",
        ]
        problems = quota_problems(self.flavor, self.quota)
        if problems:
            lines.append(f"Warning:   this exceeds the project's quota ({'; '.join(problems)}).")
        if self.flavor.is_persistent:
            lines.append("Note:      persistent flavor, no scratch disk.")
        return "\n".join(lines)

    def request(self) -> LaunchRequest | None:
        """The LaunchRequest the wizard collected so far (None until the flavor is chosen)."""
        if self.image is None or self.flavor is None:
            return None
        return LaunchRequest(
            name=self.instance_name,
            image_id=self.image.id,
            flavor_id=self.flavor.id,
            key_name=self.key_name,
        )

    # ------------------------------------------------------------------ events

    @on(Input.Submitted, "#launch-name")
    def _name_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = validate_instance_name(event.value, self.existing_names)
        if problem:
            self._error(problem)
            return
        self.instance_name = event.value
        if not self.images:
            self._error("No active image or snapshot is available in this project.")
            return
        self._next()

    @on(OptionList.OptionSelected, "#launch-source-list")
    def _source_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.image = next((i for i in self.images if i.id == event.option_id), None)
        if self.image is not None:
            self._next()

    @on(OptionList.OptionHighlighted, "#launch-flavor-list")
    def _flavor_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._show_flavor_info()

    def _show_flavor_info(self) -> None:
        options = self.query_one("#launch-flavor-list", OptionList)
        info = self.query_one("#launch-flavor-info", Static)
        if options.highlighted is None or not self.flavors:
            info.update("No flavor is available to this project.")
            return
        flavor = self.flavors[options.highlighted]
        text = flavor_details(flavor)
        problems = quota_problems(flavor, self.quota)
        if problems:
            text += f"\nExceeds the project's quota: {'; '.join(problems)}."
        info.update(text)
        info.set_class(flavor.is_persistent or bool(problems), "dialog-warning")

    @on(OptionList.OptionSelected, "#launch-flavor-list")
    def _flavor_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.flavor = next((f for f in self.flavors if f.id == event.option_id), None)
        if self.flavor is not None:
            self._next()

    @on(OptionList.OptionSelected, "#launch-key-list")
    def _key_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.key_name = None if event.option_id == NO_KEY else event.option_id
        self._next()

    @on(Button.Pressed, "#launch-go")
    def _launch(self) -> None:
        request = self.request()
        if request is not None:
            self.dismiss(request)
