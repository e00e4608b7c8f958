"""Tutorial mode (sandbox only): a guided walk through the Batch Quick Start, step by step.

:class:`TutorialPanel` is a short panel at the bottom of the dashboard (full width, above the
footer: at 80×24 it hides no tab and leaves the tables their width). It follows the seed's
steps in order — project → SSH key → floating IP → launch → associate the IP → VM set-up →
detection → certificate → VOSpace upload → snapshot → batch (the Pipeline tab) → queue →
delete the instance — with ✓ for the steps done and → for the current one, and a line or two
saying where that step lives and which key does it ("Tab 3 Floating IPs: n allocates a public
address"). The key names come from the real bindings and the user's keymap, so a rebound key
is named right.

Whether a step is done is read from the real state, every few seconds in a worker (skipped
while a modal is open): through the clients (a key pair, a floating IP, an ACTIVE instance, an
instance with the IP, a valid proxy certificate, a ``.cat`` file in VOSpace, an active
snapshot, a batch submitted, no job of the user's left in the queue, no instance left beside
the snapshot), the preferences (the VM set-up ran on an instance) and the Detect tab (its run
wrote a catalogue). A step once done stays done for the rest of the walk. The current step's
tab title is highlighted (:meth:`~canfar_tui.widgets.tab_bar.TabBar.set_target`);
notifications are lifted above the panel while it is shown.

Start it with ``canfar-tui --tutorial`` or ``T`` (:func:`toggle_tutorial`); ``T`` again, or
``escape`` in the panel, ends it. Outside the sandbox profile it refuses in one line.

| key (in the panel) | action                                  |
|--------------------|-----------------------------------------|
| `enter`, `g`       | show the current step's tab             |
| `escape`           | end the tutorial                        |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, Static

from canfar_tui.clients.base import ClientError, SupportsHistory, expiry_text
from canfar_tui.models import ImageKind, JobStatus
from canfar_tui.preferences import PreferencesError, PreferenceStore
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.tab_bar import TabBar
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
#: The CSS class of the dashboard while the panel is shown (lifts the notifications).
RUNNING_CLASS: Final = "-tutorial"
#: How long the "step done" notices stay.
NOTICE_SECONDS: Final = 4.0
#: ``{k:binding.id}`` in a step's text: the key of another binding, after the keymap.
_KEY_PLACEHOLDER: Final = re.compile(r"\{k:([\w.]+)\}")


@dataclass(frozen=True, slots=True)
class TutorialStep:
    """One step of the walk: where it lives and the binding that does it."""

    id: str
    title: str
    #: The tab the step is done on.
    tab: str
    #: The binding id of the key that does it (``app.…`` for the app's own keys).
    binding_id: str | None
    #: What to do, with ``{tab}`` (``Tab 2 Instances``), ``{key}`` and ``{k:binding.id}``.
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
        "Launch",
        "instances",
        "instances.launch",
        "{tab}: {key} launches a VM (canfar-ubuntu-20.04, c2-7.5gb-30); wait for ACTIVE.",
    ),
    TutorialStep(
        "associate_ip",
        "Associate IP",
        "instances",
        "instances.associate_ip",
        "{tab}: {key} attaches the floating IP to the VM (its IP column shows it).",
    ),
    TutorialStep(
        "connect",
        "VM set-up",
        "instances",
        "instances.setup_vm",
        "{tab}: {key} sets the VM up as the seed does (canfar_create_user, scratch, "
        "software); {k:instances.connect} connects. The sandbox shows what would run.",
    ),
    TutorialStep(
        "detect",
        "Detection",
        "detect",
        "detect.run",
        "{tab}: {k:detect.browse} picks the image (Tab 6 VOSpace, {k:vospace.archive_fetch} "
        "fetches cadc:CFHT/1056213p.fits.fz), {key} detects its sources into a .cat.",
    ),
    TutorialStep(
        "certificate",
        "Certificate",
        "vospace",
        "app.renew_certificate",
        "Your CADC proxy certificate (cadc-get-cert -n): {key} gets a new one; the header "
        "shows its time left.",
    ),
    TutorialStep(
        "upload",
        "VOSpace upload",
        "vospace",
        "vospace.upload",
        "{tab}: {key} uploads your catalogue (e.g. 1056213p.cat) to your VOSpace.",
    ),
    TutorialStep(
        "snapshot",
        "Snapshot",
        "instances",
        "instances.snapshot",
        "{tab}: {key} snapshots the VM (e.g. image-reduction-2023-08-21); done when active.",
    ),
    TutorialStep(
        "batch",
        "Batch",
        "pipeline",
        "pipeline.submit",
        "{tab}: {k:pipeline.generate} writes do_catalogue.bash and .sub for the image IDs, "
        "{key} submits them on your snapshot.",
    ),
    TutorialStep(
        "queue",
        "Queue",
        "queue",
        "queue.nobatch",
        "{tab}: watch your jobs go idle → running → done ({key}: one row per job, "
        "{k:queue.output}: a job's output).",
    ),
    TutorialStep(
        "delete",
        "Delete the VM",
        "instances",
        "instances.delete",
        "{tab}: {key} deletes the interactive VM; the snapshot stays for batch jobs.",
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
    #: ``vm ↔ 206.12.92.10``: an instance with a floating IP.
    associated: str | None = None
    #: ``jdoe@vm``: an instance the VM set-up ran on.
    set_up: str | None = None
    #: The catalogue the Detect tab wrote (its file name).
    detected: str | None = None
    #: ``valid 9d 23h``: a proxy certificate that has not expired.
    certificate: str | None = None
    #: ``4 jobs done``: none of the user's jobs is left in the queue, some are in the history.
    jobs_done: str | None = None
    #: How many instances the project has (None: not looked).
    instances: int | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)


def evidence_of(facts: SandboxFacts) -> dict[str, str]:
    """Step id → what shows it is done, for the steps the facts show done."""
    instance = facts.instance
    if instance is None and facts.any_snapshot is not None:
        # A snapshot is taken from an instance: that step was done even if the VM is gone.
        instance = f"snapshot {facts.any_snapshot} taken"
    deleted = None
    if facts.instances == 0 and facts.any_snapshot is not None:
        deleted = f"no VM left; {facts.any_snapshot} kept"
    found = {
        "project": facts.project,
        "keypair": facts.keypair,
        "floating_ip": facts.floating_ip,
        "instance": instance,
        "associate_ip": facts.associated,
        "connect": facts.set_up,
        "detect": facts.detected,
        "certificate": facts.certificate,
        "upload": facts.catalogue.rsplit("/", 1)[-1] if facts.catalogue else None,
        "snapshot": facts.snapshot,
        "batch": facts.batch,
        "queue": facts.jobs_done if facts.batch is not None else None,
        "delete": deleted,
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


async def gather_facts(
    clients: Clients,
    *,
    skip: Iterable[str] = (),
    preferences: PreferenceStore | None = None,
    detected: Callable[[], str | None] | None = None,
) -> SandboxFacts:
    """Read the sandbox's state through the clients; a failing service is one problem line.

    ``skip`` names steps already done: their (slower) checks are left out. ``preferences``
    tells whether the VM set-up ran on an instance; ``detected`` names the catalogue the
    Detect tab wrote (None: none yet).
    """
    skipped = set(skip)
    problems: list[str] = []
    values: dict[str, Any] = {}
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
            instances = [i for i in await cloud.list_instances() if i.task_state != "deleting"]
            values["instances"] = len(instances)
            active = [i for i in instances if i.status.upper() == "ACTIVE"]
            values["instance"] = active[0].name if active else None
            attached = [i for i in instances if i.floating_ip]
            if attached:
                values["associated"] = f"{attached[0].name} ↔ {attached[0].floating_ip}"
            if preferences is not None and "connect" not in skipped:
                values["set_up"] = _set_up(preferences, instances)
            snapshots = [i for i in await cloud.list_images() if i.kind is ImageKind.SNAPSHOT]
            ready = [image for image in snapshots if image.status == "active"]
            values["snapshot"] = ready[0].name if ready else None
            values["any_snapshot"] = snapshots[0].name if snapshots else None
        except ClientError as error:
            problems.append(f"Cloud: {error.message}")
    if detected is not None:
        values["detected"] = detected()
    credentials = clients.credentials
    if credentials is not None and "certificate" not in skipped:
        try:
            status = await credentials.status()
        except ClientError as error:
            problems.append(f"Certificate: {error.message}")
        else:
            now = datetime.now(UTC)
            left = status.time_left_seconds(now)
            if left is not None and left > 0:
                values["certificate"] = f"valid {expiry_text(status.expires_at, now)}"
    if not {"batch", "queue"} <= skipped:
        await _read_queue(clients, values, problems)
    if "upload" not in skipped:
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


def _set_up(preferences: PreferenceStore, instances: Sequence[Any]) -> str | None:
    """``user@vm`` for the first instance the VM set-up ran on (None: none)."""
    for instance in instances:
        try:
            login = preferences.instance_login(instance.id)
        except PreferencesError:
            return None
        if login is not None and login.setup_done:
            return f"{login.user}@{instance.name}"
    return None


async def _read_queue(clients: Clients, values: dict[str, Any], problems: list[str]) -> None:
    """The user's batch, and whether all of the user's jobs have left the queue."""
    queue = clients.queue
    if queue is None:
        problems.append(f"Queue: {clients.why_missing('queue')}")
        return
    try:
        jobs = list(await queue.list_jobs())
        done = list(await queue.history(limit=50)) if isinstance(queue, SupportsHistory) else []
    except ClientError as error:
        problems.append(f"Queue: {error.message}")
        return
    newest = jobs or done
    values["batch"] = newest[0].batch_name if newest else None
    completed = [job for job in done if job.status is JobStatus.COMPLETED]
    if not jobs and completed:
        plural = "" if len(completed) == 1 else "s"
        values["jobs_done"] = f"{len(completed)} job{plural} done"


# --------------------------------------------------------------------------- the panel


class TutorialPanel(Vertical, can_focus=True):
    """The steps with ✓ / →, where the current one lives and which key does it."""

    # Unscoped: the rules for the highlighted tab label and the notifications must reach
    # the dashboard's tabs and toast rack.
    SCOPED_CSS: ClassVar[bool] = False
    DEFAULT_CSS = """
    /* Below the tabs and above the footer, full width: no tab hidden, no table narrowed. */
    TutorialPanel {
        width: 100%;
        height: 7;
        padding: 0 1;
        background: $panel;
        border-top: tall $primary;
    }
    TutorialPanel:focus {
        border-top: tall $accent;
    }
    TutorialPanel #tutorial-title {
        text-style: bold;
        color: $accent;
    }
    TutorialPanel #tutorial-hint {
        color: $foreground;
        height: 3;
    }
    TutorialPanel #tutorial-done, TutorialPanel #tutorial-keys {
        color: $text-muted;
        height: 1;
    }
    TutorialPanel #tutorial-problems {
        color: $warning;
        height: 1;
    }
    /* Notifications above the panel (7 lines) and the footer (1), never over the panel. */
    Screen.-tutorial ToastRack {
        margin-bottom: 8;
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
        yield Label("Tutorial · Batch Quick Start", id="tutorial-title", markup=False)
        yield Static("Looking at the sandbox…", id="tutorial-hint", markup=False)
        yield Static("", id="tutorial-done", markup=False)
        yield Static("", id="tutorial-problems", markup=False)
        yield Static("", id="tutorial-keys", markup=False)

    def on_mount(self) -> None:
        context = self.context
        self.screen.add_class(RUNNING_CLASS)
        seconds = self.poll_seconds or context.settings.refresh.get("tutorial", POLL_SECONDS)
        self.set_interval(seconds, self.poll)
        self.poll()
        self.show()

    def on_unmount(self) -> None:
        self._highlight(None)
        stack = self.app.screen_stack
        if stack:
            stack[0].remove_class(RUNNING_CLASS)

    # ------------------------------------------------------------------ keys and labels

    def key_of(self, binding_id: str | None, bindings: Iterable[BindingType] | None = None) -> str:
        """How the first key bound to ``binding_id`` is shown (``?`` for a missing binding).

        Without ``bindings``, those of the binding's owner: the app for ``app.…``, else the
        view of the tab the id starts with (``vospace.upload`` → the VOSpace tab).
        """
        if binding_id is None:
            return "?"
        if bindings is None:
            owner = binding_id.partition(".")[0]
            if owner == "app":
                bindings = type(self.app).BINDINGS
            elif any(tab_id == owner for tab_id, _, _ in TABS):
                bindings = view_class(owner).BINDINGS
            else:
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
        text = _KEY_PLACEHOLDER.sub(lambda match: self.key_of(match.group(1)), step.how)
        text = text.format(tab=self.tab_label(step.tab), key=self.key_of(step.binding_id))
        if self.context.read_only:
            text += " (Read-only mode: changes are disabled; restart without --read-only.)"
        return text

    # ------------------------------------------------------------------ showing

    def steps_line(self) -> Text:
        """``✓✓✓→·········``: one mark per step, the current one bold."""
        marks = self.progress.marks()
        line = Text()
        for step in self.progress.steps:
            mark = marks[step.id]
            style = "bold" if mark == "→" else ("dim" if mark == " " else "")
            line.append("·" if mark == " " else mark, style=style)
        return line

    def show(self) -> None:
        """Render the current step, its hint, the last step done and the keys."""
        progress = self.progress
        current = progress.current
        total = len(progress.steps)
        title = Text("Tutorial · ", style="bold")
        if current is None or not self._loaded:
            title.append("Batch Quick Start")
        else:
            number = progress.steps.index(current) + 1
            title.append(f"{number}/{total} {current.title}")
        title.append("  ")
        title.append_text(self.steps_line())
        self.query_one("#tutorial-title", Label).update(title)
        close = self.key_of("app.tutorial", type(self.app).BINDINGS)
        if current is None:
            hint = "All done: that is the whole Batch Quick Start, from the project to the batch."
            keys = f"{close}: end the tutorial"
        else:
            hint = self.hint(current)
            keys = f"enter: go there · {close}/escape: end"
        if self._loaded:
            self.query_one("#tutorial-hint", Static).update(hint)
        # The step done just before the current one (the last one when all are done).
        before = progress.steps[: progress.steps.index(current)] if current else progress.steps
        done = [step for step in before if step.id in progress.done]
        last = done[-1] if done else None
        done_line = self.query_one("#tutorial-done", Static)
        done_line.update(f"✓ {last.title}: {progress.done[last.id]}" if last is not None else "")
        done_line.display = not self.problems
        problems = self.query_one("#tutorial-problems", Static)
        problems.update(" · ".join(self.problems))
        problems.display = bool(self.problems)
        self.query_one("#tutorial-keys", Static).update(keys)
        self._highlight(current.tab if current is not None and self._loaded else None)

    def _highlight(self, tab_id: str | None) -> None:
        """Highlight the title of ``tab_id``'s tab only (None: none)."""

        stack = self.app.screen_stack
        if not stack:  # the app is closing
            return
        for tabs in stack[0].query(TabBar):
            tabs.set_target(tab_id)

    @property
    def step_text(self) -> str:
        """Every step, one a line, with its mark and evidence (for tests and screen readers)."""
        marks = self.progress.marks()
        lines = []
        for number, step in enumerate(self.progress.steps, start=1):
            line = f"{marks[step.id]} {number} {step.title}"
            done = self.progress.done.get(step.id)
            if done:
                line += f"  {done}"
            lines.append(line)
        return "\n".join(lines)

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

    def _detected(self) -> str | None:
        """The catalogue the Detect tab's last run wrote (its name), if any."""
        view = self.context.navigation.view("detect")
        if view is None or getattr(view, "result", None) is None:
            return None
        path = getattr(view, "catalogue_path", None)
        if not isinstance(path, Path) or not path.is_file():
            return None
        return path.name

    async def _poll(self) -> None:
        try:
            facts = await gather_facts(
                self.context.clients,
                skip=self.progress.done,
                preferences=PreferenceStore.for_settings(self.context.settings),
                detected=self._detected,
            )
        finally:
            self._polling = False
        self.polls += 1
        newly = self.progress.update(facts)
        self.problems = facts.problems
        self._loaded = True
        self.show()
        current = self.progress.current
        if newly and self.polls > 1:
            titles = ", ".join(step.title for step in self.progress.steps if step.id in newly)
            after = f" Next: {current.title}." if current is not None else " All done!"
            self.app.notify(f"{titles}: done.{after}", title="Tutorial", timeout=NOTICE_SECONDS)

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
    # In the flow after the tabs (not docked: docked widgets on one edge overlap the footer).
    dashboard.mount(panel, after=dashboard.query_one("#tabs"))
    panel.focus()


def tutorial_running(app: App[Any]) -> bool:
    """Whether the tutorial panel is on the dashboard."""
    return bool(app.screen_stack[0].query(TutorialPanel))
