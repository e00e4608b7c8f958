"""Tutorial mode (sandbox only): a guided walk through the Batch Quick Start, step by step.

:class:`TutorialPanel` is a compact panel on the right of the dashboard listing the seed's
steps — project → SSH key → floating IP → instance → snapshot → batch → catalogues — with ✓
for the steps done and → for the current one, and one or two lines saying where that step
lives and which key does it ("Tab 3 Floating IPs: n allocates a public address"). The key
names come from the real bindings and the user's keymap, so a rebound key is named right.

Whether a step is done is read from the sandbox through the clients, every few seconds in a
worker (skipped while a modal is open): a key pair exists, a floating IP is allocated, an
instance is ACTIVE (or a snapshot was taken from one), a snapshot is active, a batch was
submitted, a ``.cat`` file is in VOSpace (the home folder or one folder down). A step once
done stays done for the rest of the walk (the seed deletes the instance after its snapshot).
The current step's tab label carries the ``tutorial-target`` class (highlighted).

Start it with ``canfar-tui --tutorial`` or ``T`` (:func:`toggle_tutorial`); ``T`` again, or
``escape`` in the panel, ends it. Outside the sandbox profile it refuses in one line.

| key (in the panel) | action                                  |
|--------------------|-----------------------------------------|
| `enter`, `g`       | show the current step's tab             |
| `escape`           | end the tutorial                        |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Final

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Label, Static, TabbedContent

from canfar_tui.clients.base import ClientError, SupportsHistory
from canfar_tui.models import ImageKind
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.tabs import TABS, tab_title, view_class

if TYPE_CHECKING:
    from textual.app import App

    from canfar_tui.clients.base import StorageClient
    from canfar_tui.clients.bundle import Clients

__all__ = [
    "STEPS",
    "SandboxFacts",
    "TutorialPanel",
    "TutorialProgress",
    "TutorialStep",
    "binding_keys",
    "evidence_of",
    "gather_facts",
    "toggle_tutorial",
    "tutorial_running",
]

#: Seconds between two looks at the sandbox (``settings.refresh["tutorial"]`` overrides it).
POLL_SECONDS: Final = 3.0
#: A catalogue is looked for in this many folders under the VOSpace home at most.
MAX_FOLDERS: Final = 20
#: Nodes listed per folder when looking for a catalogue.
MAX_NODES: Final = 500
#: The suffix of the catalogues the seed's jobs make.
CATALOGUE_SUFFIX: Final = ".cat"
#: The CSS class of the tab label of the current step.
TARGET_CLASS: Final = "tutorial-target"


@dataclass(frozen=True, slots=True)
class TutorialStep:
    """One step of the walk: where it lives and the binding that does it."""

    id: str
    title: str
    #: The tab the step is done on.
    tab: str
    #: The binding id of the key that does it (None: no single key).
    binding_id: str | None
    #: What to do, with ``{tab}`` (``Tab 2 Instances``) and ``{key}`` filled in.
    how: str


STEPS: Final[tuple[TutorialStep, ...]] = (
    TutorialStep(
        "project",
        "Project",
        "projects",
        "projects.use",
        "{tab}: choose your project; {key} switches to the one under the cursor.",
    ),
    TutorialStep(
        "keypair",
        "SSH key",
        "projects",
        "projects.import_key",
        "{tab}: {key} imports your SSH public key from ~/.ssh.",
    ),
    TutorialStep(
        "floating_ip",
        "Floating IP",
        "floating_ips",
        "floating_ips.allocate",
        "{tab}: {key} allocates a public address.",
    ),
    TutorialStep(
        "instance",
        "Instance",
        "instances",
        "instances.launch",
        "{tab}: {key} launches a VM (canfar-ubuntu-20.04, c2-7.5gb-30); wait for ACTIVE.",
    ),
    TutorialStep(
        "snapshot",
        "Snapshot",
        "instances",
        "instances.snapshot",
        "{tab}: {key} snapshots the VM under the cursor; done when it is active.",
    ),
    TutorialStep(
        "batch",
        "Batch",
        "queue",
        "queue.submit",
        "{tab}: {key} submits do_catalogue.sub on your snapshot (or the Pipeline tab makes"
        " the batch from a Detect run).",
    ),
    TutorialStep(
        "catalogues",
        "Catalogues",
        "vospace",
        "vospace.upload",
        "{tab}: the jobs' .cat files arrive here ({key} uploads one by hand).",
    ),
)


# --------------------------------------------------------------------------- pure helpers


def binding_keys(
    bindings: Iterable[BindingType], binding_id: str, keymap: Mapping[str, str]
) -> str | None:
    """The keys bound to ``binding_id`` after the user's keymap, or None when none has it."""
    for binding in bindings:
        if isinstance(binding, Binding) and binding.id == binding_id:
            return keymap.get(binding_id, binding.key)
    return None


@dataclass(frozen=True, slots=True)
class SandboxFacts:
    """What the sandbox holds, as far as the tutorial cares (None: not there, or not looked)."""

    project: str | None = None
    keypair: str | None = None
    floating_ip: str | None = None
    #: The name of an ACTIVE instance.
    instance: str | None = None
    #: The name of an active snapshot, and of any snapshot (saving included).
    snapshot: str | None = None
    any_snapshot: str | None = None
    #: A batch of the user's (its name).
    batch: str | None = None
    #: The URI of a catalogue in VOSpace.
    catalogue: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)


def evidence_of(facts: SandboxFacts) -> dict[str, str]:
    """Step id → what shows it is done, for the steps the facts show done."""
    instance = facts.instance
    if instance is None and facts.any_snapshot is not None:
        # A snapshot is taken from an instance: that step was done even if the VM is gone.
        instance = f"snapshot {facts.any_snapshot} taken"
    found = {
        "project": facts.project,
        "keypair": facts.keypair,
        "floating_ip": facts.floating_ip,
        "instance": instance,
        "snapshot": facts.snapshot,
        "batch": facts.batch,
        "catalogues": facts.catalogue.rsplit("/", 1)[-1] if facts.catalogue else None,
    }
    return {step: text for step, text in found.items() if text is not None}


class TutorialProgress:
    """The walk so far: which steps are done (and by what); a step once done stays done."""

    def __init__(self, steps: Sequence[TutorialStep] = STEPS) -> None:
        self.steps = tuple(steps)
        self.done: dict[str, str] = {}

    def update(self, facts: SandboxFacts) -> list[str]:
        """Take in new facts; returns the ids of the steps that became done, in order."""
        evidence = evidence_of(facts)
        newly = [step.id for step in self.steps if step.id in evidence and step.id not in self.done]
        for step in self.steps:
            if step.id in evidence:
                self.done[step.id] = evidence[step.id]
        return newly

    @property
    def current(self) -> TutorialStep | None:
        """The first step not done yet (None: the walk is complete)."""
        return next((step for step in self.steps if step.id not in self.done), None)

    def marks(self) -> dict[str, str]:
        """Step id → ``✓`` (done), ``→`` (current) or a space."""
        current = self.current
        return {
            step.id: "✓"
            if step.id in self.done
            else ("→" if current is not None and step.id == current.id else " ")
            for step in self.steps
        }


# --------------------------------------------------------------------------- reading the sandbox


async def _find_catalogue(storage: StorageClient) -> str | None:
    """The URI of a ``.cat`` file in the VOSpace home or one folder below it."""
    home = storage.home_uri
    nodes = list(await storage.list_nodes(home, limit=MAX_NODES))
    folders = []
    for node in nodes:
        if node.is_container:
            folders.append(node)
        elif node.name.endswith(CATALOGUE_SUFFIX):
            return node.uri
    for folder in folders[:MAX_FOLDERS]:
        for node in await storage.list_nodes(folder.uri, limit=MAX_NODES):
            if not node.is_container and node.name.endswith(CATALOGUE_SUFFIX):
                return node.uri
    return None


async def gather_facts(clients: Clients, *, skip: Iterable[str] = ()) -> SandboxFacts:
    """Read the sandbox's state through the clients; a failing service is one problem line.

    ``skip`` names steps already done: their (slower) queue and VOSpace checks are left out.
    """
    skipped = set(skip)
    problems: list[str] = []
    values: dict[str, str | None] = {}
    cloud = clients.cloud
    if cloud is None:
        problems.append(f"Cloud: {clients.why_missing('cloud')}")
    else:
        try:
            project = await cloud.current_project()
            values["project"] = project.name if project is not None else None
            keypairs = await cloud.list_keypairs()
            values["keypair"] = keypairs[0].name if keypairs else None
            addresses = await cloud.list_floating_ips()
            values["floating_ip"] = addresses[0].address if addresses else None
            active = [i for i in await cloud.list_instances() if i.status.upper() == "ACTIVE"]
            values["instance"] = active[0].name if active else None
            snapshots = [i for i in await cloud.list_images() if i.kind is ImageKind.SNAPSHOT]
            ready = [image for image in snapshots if image.status == "active"]
            values["snapshot"] = ready[0].name if ready else None
            values["any_snapshot"] = snapshots[0].name if snapshots else None
        except ClientError as error:
            problems.append(f"Cloud: {error.message}")
    if "batch" not in skipped:
        queue = clients.queue
        if queue is None:
            problems.append(f"Queue: {clients.why_missing('queue')}")
        else:
            try:
                jobs = list(await queue.list_jobs())
                if not jobs and isinstance(queue, SupportsHistory):
                    jobs = list(await queue.history(limit=1))
                values["batch"] = jobs[0].batch_name if jobs else None
            except ClientError as error:
                problems.append(f"Queue: {error.message}")
    if "catalogues" not in skipped:
        storage = clients.storage
        if storage is None:
            problems.append(f"VOSpace: {clients.why_missing('storage')}")
        else:
            try:
                values["catalogue"] = await _find_catalogue(storage)
            except ClientError as error:
                problems.append(f"VOSpace: {error.message}")
    known = {f.name for f in fields(SandboxFacts)} - {"problems"}
    return SandboxFacts(
        **{name: value for name, value in values.items() if name in known},
        problems=tuple(problems),
    )


# --------------------------------------------------------------------------- the panel


class TutorialPanel(Vertical, can_focus=True):
    """The steps with ✓ / →, where the current one lives and which key does it."""

    # Unscoped: the rule for the highlighted tab label must reach the dashboard's tabs.
    SCOPED_CSS: ClassVar[bool] = False
    DEFAULT_CSS = """
    /* Docked between the header and the footer (one line each), which keep the full width. */
    TutorialPanel {
        dock: right;
        width: 32;
        height: 100%;
        margin: 1 0 1 0;
        padding: 0 1;
        background: $panel;
        border-left: tall $primary;
    }
    TutorialPanel:focus {
        border-left: tall $accent;
    }
    TutorialPanel #tutorial-title {
        text-style: bold;
        color: $accent;
    }
    TutorialPanel #tutorial-steps {
        padding: 1 0;
    }
    TutorialPanel #tutorial-hint {
        color: $foreground;
    }
    TutorialPanel #tutorial-keys, TutorialPanel #tutorial-problems {
        color: $text-muted;
        padding-top: 1;
    }
    Tab.tutorial-target {
        text-style: bold reverse;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter,g",
            "go",
            "Go there",
            id="tutorial.go",
            tooltip="Show the tab of the tutorial's current step",
        ),
        Binding("escape", "close", "End tutorial", id="tutorial.close", tooltip="End the tutorial"),
    ]

    def __init__(self, context: ViewContext, *, poll_seconds: float | None = None) -> None:
        super().__init__(id="tutorial")
        self.context = context
        self.progress = TutorialProgress()
        self.poll_seconds = poll_seconds
        self.problems: tuple[str, ...] = ()
        self.polls = 0
        self._polling = False
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield Label("Tutorial · Batch Quick Start", id="tutorial-title")
        yield Static("Looking at the sandbox…", id="tutorial-steps", markup=False)
        yield Static("", id="tutorial-hint", markup=False)
        yield Static("", id="tutorial-problems", markup=False)
        yield Static("", id="tutorial-keys", markup=False)

    def on_mount(self) -> None:
        context = self.context
        seconds = self.poll_seconds or context.settings.refresh.get("tutorial", POLL_SECONDS)
        self.set_interval(seconds, self.poll)
        self.poll()
        self.show()

    def on_unmount(self) -> None:
        self._highlight(None)

    # ------------------------------------------------------------------ keys and labels

    def key_of(self, binding_id: str | None, bindings: Iterable[BindingType]) -> str:
        """How the first key bound to ``binding_id`` is shown (``?`` for a missing binding)."""
        if binding_id is None:
            return "?"
        keys = binding_keys(bindings, binding_id, self.context.settings.keymap)
        if not keys:
            return "?"
        first = keys.split(",")[0].strip()
        return self.app.get_key_display(Binding(first, ""))

    def tab_label(self, tab_id: str) -> str:
        """``Tab 2 Instances``, with the key that shows the tab after the keymap."""
        title = tab_title(tab_id)
        key = self.key_of(f"app.tab_{tab_id}", type(self.app).BINDINGS)
        return f"Tab {key} {title}"

    def hint(self, step: TutorialStep) -> str:
        """Where ``step`` lives and which key does it."""
        key = self.key_of(step.binding_id, view_class(step.tab).BINDINGS)
        text = step.how.format(tab=self.tab_label(step.tab), key=key)
        if self.context.read_only:
            text += " (Read-only mode: changes are disabled; restart without --read-only.)"
        return text

    # ------------------------------------------------------------------ showing

    def show(self) -> None:
        """Render the steps, the current step's hint and the keys."""
        marks = self.progress.marks()
        steps = Text()
        for number, step in enumerate(self.progress.steps, start=1):
            mark = marks[step.id]
            style = "bold" if mark == "→" else ("dim" if mark == " " else "")
            line = Text(f"{mark} {number} {step.title}", style=style)
            done = self.progress.done.get(step.id)
            if done:
                line.append(f"  {done}", style="dim")
            line.truncate(28, overflow="ellipsis")
            if number > 1:
                steps.append("\n")
            steps.append_text(line)
        if self._loaded:
            self.query_one("#tutorial-steps", Static).update(steps)
        current = self.progress.current
        close = self.key_of("app.tutorial", type(self.app).BINDINGS)
        if current is None:
            hint = "All done: your catalogues are in VOSpace. That is the whole Batch Quick Start."
            keys = f"{close}: end the tutorial"
        else:
            hint = self.hint(current)
            keys = f"enter: go there · {close}/escape: end"
        self.query_one("#tutorial-hint", Static).update(hint if self._loaded else "")
        self.query_one("#tutorial-keys", Static).update(keys)
        problems = "\n".join(self.problems)
        self.query_one("#tutorial-problems", Static).update(problems)
        self._highlight(current.tab if current is not None and self._loaded else None)

    def _highlight(self, tab_id: str | None) -> None:
        """Put :data:`TARGET_CLASS` on the label of ``tab_id``'s tab only (None: on none)."""

        stack = self.app.screen_stack
        if not stack:  # the app is closing
            return
        for tabs in stack[0].query(TabbedContent):
            for tid, _, _ in TABS:
                try:
                    tab = tabs.get_tab(f"tab-{tid}")
                except NoMatches:
                    continue
                tab.set_class(tid == tab_id, TARGET_CLASS)

    @property
    def step_text(self) -> str:
        """The steps as shown (for tests and screen readers)."""
        return str(self.query_one("#tutorial-steps", Static).content)

    @property
    def hint_text(self) -> str:
        return str(self.query_one("#tutorial-hint", Static).content)

    # ------------------------------------------------------------------ polling

    def poll(self) -> None:
        """Look at the sandbox again (skipped while one look runs or a modal is open)."""
        if self._polling or self.app.screen is not self.screen:
            return
        self._polling = True
        self.run_worker(self._poll(), name="tutorial", group="tutorial", exit_on_error=False)

    async def _poll(self) -> None:
        try:
            facts = await gather_facts(self.context.clients, skip=self.progress.done)
        finally:
            self._polling = False
        self.polls += 1
        newly = self.progress.update(facts)
        self.problems = facts.problems
        self._loaded = True
        self.show()
        current = self.progress.current
        if newly and self.polls > 1:
            titles = ", ".join(step.title for step in STEPS if step.id in newly)
            after = f" Next: {current.title}." if current is not None else " All done!"
            self.app.notify(f"{titles}: done.{after}", title="Tutorial")

    # ------------------------------------------------------------------ actions

    def action_go(self) -> None:
        current = self.progress.current
        tab = current.tab if current is not None else "vospace"
        self.context.navigation.show_tab(tab)

    def action_close(self) -> None:
        self._highlight(None)
        self.remove()

    def on_click(self, event: events.Click) -> None:
        self.focus()


def toggle_tutorial(
    app: App[Any], context: ViewContext, *, poll_seconds: float | None = None
) -> None:
    """Start the tutorial, or end it when it runs; outside the sandbox, say so in one line."""
    dashboard = app.screen_stack[0]
    running = list(dashboard.query(TutorialPanel))
    if running:
        for panel in running:
            panel.action_close()
        return
    if not context.settings.profile.is_sandbox:
        app.notify(
            f"The tutorial runs in the sandbox only; profile {context.settings.profile.name} is a "
            "real cloud (start with: canfar-tui --profile sandbox --tutorial).",
            title="Tutorial",
            severity="warning",
        )
        return
    panel = TutorialPanel(context, poll_seconds=poll_seconds)
    dashboard.mount(panel)
    panel.focus()


def tutorial_running(app: App[Any]) -> bool:
    """Whether the tutorial panel is on the dashboard."""
    return bool(app.screen_stack[0].query(TutorialPanel))
