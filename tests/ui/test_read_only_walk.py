"""Read-only mode, walked: every tab, every destructive binding, by key and by palette name.

The list of actions is derived from the code (each tab's view class: its ``DESTRUCTIVE_ACTIONS``
and the ``BINDINGS`` that run them), so a destructive action added later is walked too. The
backends are the real sandbox ones (cloud, queue, VOSpace, credentials) with something for every
action to act on (an instance, a key pair, a floating IP on the instance, a snapshot, a job of
the user's, a VOSpace file); their state is compared before and after the walk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.widgets import Input

from canfar_tui.app import CanfarApp, CanfarCommands, create_app
from canfar_tui.clients.bundle import Clients, start_sandbox_storage
from canfar_tui.clients.cloud.sandbox import SandboxCloud
from canfar_tui.clients.credentials import CadcCredentials
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.config import Settings
from canfar_tui.models import LaunchRequest
from canfar_tui.widgets.resource_view import ResourceView
from canfar_tui.widgets.tabs import TABS, view_class

SIZE = (120, 36)
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


def destructive_bindings() -> Iterator[tuple[str, str, Binding]]:
    """(tab id, palette name, binding) for every binding of every tab that runs a destructive
    action; the name is the one the palette provider gives it (``area: action``)."""
    for tab_id, title, _ in TABS:
        cls = view_class(tab_id)
        destructive = getattr(cls, "DESTRUCTIVE_ACTIONS", frozenset[str]())
        area = str(getattr(cls, "TITLE", title)).lower()
        for binding in cls.BINDINGS:
            if isinstance(binding, Binding) and binding.action in destructive:
                yield tab_id, f"{area}: {binding.description.lower()}", binding


def test_the_walk_covers_every_declared_destructive_action() -> None:
    """Each declared destructive action has a binding (else the walk could not press it)."""
    bound = {(tab, b.action) for tab, _, b in destructive_bindings()}
    for tab_id, _, _ in TABS:
        declared = getattr(view_class(tab_id), "DESTRUCTIVE_ACTIONS", frozenset[str]())
        assert {(tab_id, action) for action in declared} <= bound, tab_id
    assert len(bound) >= 20


async def state(clients: Clients, vospace_root: Path) -> dict[str, object]:
    """Everything a destructive action could change, in comparable form."""
    cloud, queue = clients.cloud, clients.queue
    assert cloud is not None and queue is not None
    return {
        "instances": sorted(
            (i.id, i.name, i.status, i.floating_ip or "") for i in await cloud.list_instances()
        ),
        "keypairs": sorted(k.name for k in await cloud.list_keypairs()),
        "floating_ips": sorted(
            (f.id, f.instance_id or "") for f in await cloud.list_floating_ips()
        ),
        "images": sorted((i.id, i.name) for i in await cloud.list_images()),
        "project": (await cloud.current_project()).id,  # type: ignore[union-attr]
        "jobs": sorted((str(j.id), j.status.name) for j in await queue.list_jobs(all_users=True)),
        "vospace": sorted(
            (str(p.relative_to(vospace_root)), p.stat().st_size if p.is_file() else -1)
            for p in vospace_root.rglob("*")
            if ".vospace-tmp" not in p.parts
        ),
    }


@pytest.fixture
async def sandbox(settings: Settings, tmp_path: Path) -> Any:
    """Real sandbox backends with one thing of each kind to act on."""
    data = settings.paths.data_dir / "sandbox"
    cloud = SandboxCloud(data / "cloud.sqlite", build_seconds=0.0, snapshot_seconds=0.0)
    image = next(i for i in await cloud.list_images() if i.name == "canfar-ubuntu-20.04")
    flavor = (await cloud.list_flavors())[0]
    await cloud.import_keypair("laptop", ED25519)
    vm = await cloud.launch_instance(
        LaunchRequest(name="catalogue-vm", image_id=image.id, flavor_id=flavor.id)
    )
    fip = await cloud.allocate_floating_ip()
    await cloud.associate_floating_ip(fip.id, vm.id)
    await cloud.create_snapshot(vm.id, "image-reduction-2023-08-21")
    queue = SandboxQueue(data / "queue", slots=1, kill_grace=0.2)
    job = tmp_path / "job"
    job.mkdir()
    (job / "wait.sh").write_text(
        f"#!/bin/sh\nwhile [ ! -e {tmp_path}/gate ]; do sleep 0.05; done\n"
    )
    (job / "wait.sh").chmod(0o755)
    await queue.submit("executable = wait.sh\nqueue 2\n", submit_dir=job)
    storage = start_sandbox_storage(data)
    server = storage.sandbox_server
    assert server is not None
    (server.root / server.username / "raw").mkdir()
    (server.root / server.username / "1056213p.cat").write_bytes(b"catalogue\n")
    clients = Clients(
        settings.profile.name,
        cloud=cloud,
        queue=queue,
        storage=storage,
        credentials=lambda: CadcCredentials.for_sandbox(
            data / "credentials", initial_validity=timedelta(days=10)
        ),
        mode_label="SANDBOX",
    )
    yield clients, server.root
    (tmp_path / "gate").touch()


async def until(pilot: Any, condition: Callable[[], object], what: str) -> None:
    for _ in range(400):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def palette_hits(app: CanfarApp) -> list[str]:
    """The command names the open palette lists (each hit's first line; the help follows)."""
    commands = app.screen.query_one(CommandList)
    prompts = (commands.get_option_at_index(i).prompt for i in range(commands.option_count))
    return [str(getattr(prompt, "plain", prompt)).split("\n")[0] for prompt in prompts]


async def test_read_only_walk_changes_nothing(settings: Settings, sandbox: Any) -> None:
    clients, vospace_root = sandbox
    before = await state(clients, vospace_root)
    app = create_app(replace(settings, read_only=True), clients)
    walked: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        assert app.header.read_only
        for index, (tab_id, _, _) in enumerate(TABS, start=1):
            app.set_focus(None)  # not into a text field (Detect, Pipeline)
            await pilot.press(str(index))

            def mounted(tab_id: str = tab_id) -> bool:
                return app.view(tab_id) is not None

            await until(pilot, mounted, tab_id)
            view = app.view(tab_id)
            assert view is not None

            def loaded(view: object = view) -> bool:
                return getattr(view, "state", "ready") != "loading"

            await until(pilot, loaded, "a load")
            await pilot.pause(0.2)
            provider_names = {name for name, _, _ in CanfarCommands(app.screen)._commands()}
            here = [(name, b) for tab, name, b in destructive_bindings() if tab == tab_id]
            for name, binding in here:
                walked.append(name)
                # Hidden: refused by check_action, so not in the footer, help or palette.
                assert view.check_action(binding.action, ()) is False, name
                assert name not in provider_names, name
                # The key does nothing: no dialog opens.
                app.set_focus(None)
                view.focus_default()
                await pilot.press(binding.key.split(",")[0].strip())
                await pilot.pause(0.1)
                assert app.screen is app.screen_stack[0], f"{name}: {app.screen!r} opened"
            if not here:
                continue
            # The palette, searched for each name, offers no such command.
            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
            if isinstance(view, ResourceView):  # the search works: a harmless command is found
                refresh = f"{view.TITLE.lower()}: refresh"
                app.screen.query_one(Input).value = refresh

                def offered(refresh: str = refresh) -> bool:
                    return refresh in palette_hits(app)

                await until(pilot, offered, refresh)
            for name, _ in here:
                app.screen.query_one(Input).value = name  # as if typed
                await pilot.pause(0.3)
                assert name not in palette_hits(app), name
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.screen_stack[0], "the dashboard")
        help_ids = {row[2] for _, rows in app.help_sections() for row in rows}
        for _tab, _, binding in destructive_bindings():
            assert binding.id not in help_ids, binding.id
        await pilot.pause(0.5)
        assert app.unexpected_errors == 0
        after = await state(clients, vospace_root)
    assert after == before
    assert len(walked) == len(list(destructive_bindings()))
