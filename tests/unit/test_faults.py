"""Fault injection (``clients/faults.py``): delegation, seeded rates, the expired-token window,
counters, the environment switch, the app recovering by itself when the faults stop, and a
download onto a full disk (injected, and a real 1 MB tmpfs when run as root)."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import FixedCloud
from textual.pilot import Pilot
from textual.widgets import Input

from canfar_tui.app import CanfarApp
from canfar_tui.clients.base import AuthError, CloudClient, InvalidInput, Unavailable
from canfar_tui.clients.bundle import Clients
from canfar_tui.clients.credentials import CadcCredentials, SelfSignedIssuer
from canfar_tui.clients.faults import (
    FaultPlan,
    FaultyClient,
    check_local_write,
    fault_counters,
    parse_plan,
    plan_from_env,
    token_expired,
    with_faults,
    wrap_service,
)
from canfar_tui.clients.storage.loopback import start_server
from canfar_tui.clients.storage.vospace import RetryPolicy, VOSpaceStorage
from canfar_tui.models import TransferState
from canfar_tui.screens.password import PasswordScreen
from canfar_tui.screens.vospace_dialogs import PromptScreen
from canfar_tui.widgets.resource_view import ResourceView
from canfar_tui.widgets.transfers import TransferJob
from canfar_tui.widgets.vospace.view import VOSpaceView

# --------------------------------------------------------------------------- the wrapper


async def test_a_quiet_plan_delegates_everything() -> None:
    inner = FixedCloud()
    cloud = with_faults(inner, FaultPlan(), name="cloud")
    assert isinstance(cloud, CloudClient)
    assert cloud.backend_label == "SANDBOX"
    assert [i.id for i in await cloud.list_instances()] == ["i-001", "i-002", "i-003"]
    await cloud.delete_instance("i-002")
    assert inner.deleted == ["i-002"]
    assert cloud.instances == inner.instances  # passes through
    assert (await cloud.current_project()).id == "p-demo"  # type: ignore[union-attr]
    counters = fault_counters(cloud)
    assert counters is not None and counters.calls == 3 and counters.injected == 0
    assert fault_counters(inner) is None
    with pytest.raises(AttributeError):
        _ = cloud.home_uri  # type: ignore[attr-defined]
    await cloud.aclose()


async def test_a_fault_never_reaches_the_client() -> None:
    inner = FixedCloud()
    cloud = with_faults(inner, FaultPlan(error_rate=1.0, seed=3))
    with pytest.raises(Unavailable, match="HTTP 503"):
        await cloud.delete_instance("i-001")
    assert inner.calls == 0 and inner.deleted == []
    assert len(inner.instances) == 3
    await cloud.aclose()  # closing is never faulted


async def outcomes(plan: FaultPlan, calls: int) -> list[str]:
    cloud = with_faults(FixedCloud(), plan, name="cloud")
    seen: list[str] = []
    for _ in range(calls):
        try:
            await cloud.list_instances()
            seen.append("ok")
        except Unavailable as error:
            seen.append(error.message.split(":")[0])
    return seen


async def test_rates_are_reproducible_with_a_seed() -> None:
    plan = {"error_rate": 0.2, "server_error_rate": 0.1, "seed": 7}
    first = await outcomes(FaultPlan(**plan), 400)  # type: ignore[arg-type]
    second = await outcomes(FaultPlan(**plan), 400)  # type: ignore[arg-type]
    assert first == second
    other = await outcomes(FaultPlan(error_rate=0.2, server_error_rate=0.1, seed=8), 400)
    assert other != first
    # 400 draws: 80 and 40 expected; wide bounds, still proves the rates are used.
    assert 50 <= first.count("HTTP 503") <= 110
    assert 20 <= first.count("HTTP 500") <= 65
    assert first.count("ok") == 400 - first.count("HTTP 503") - first.count("HTTP 500")


async def test_counters_by_kind() -> None:
    cloud = with_faults(FixedCloud(), FaultPlan(error_rate=0.5, seed=1, latency=0.001))
    failures = 0
    for _ in range(50):
        try:
            await cloud.list_flavors()
        except Unavailable:
            failures += 1
    counters = fault_counters(cloud)
    assert counters is not None
    assert counters.calls == 50 and counters.delayed == 50
    assert counters.by_kind["http_503"] == failures == counters.injected
    assert 0 < failures < 50


async def test_timeouts_wait_then_raise_unavailable() -> None:
    cloud = with_faults(FixedCloud(), FaultPlan(timeout_rate=1.0, timeout_after=0.01, seed=1))
    with pytest.raises(Unavailable, match="injected timeout"):
        await cloud.list_instances()
    assert fault_counters(cloud).by_kind["timeout"] == 1  # type: ignore[union-attr]


async def test_expired_token_for_a_window_then_recovery() -> None:
    inner = FixedCloud()
    cloud = with_faults(inner, FaultPlan(auth_after=2, auth_window=3))
    seen = []
    for _ in range(8):
        try:
            await cloud.list_projects()
            seen.append("ok")
        except AuthError as error:
            assert "token expired" in error.message
            seen.append("auth")
    assert seen == ["ok", "ok", "auth", "auth", "auth", "ok", "ok", "ok"]
    assert inner.calls == 5
    assert fault_counters(cloud).by_kind["auth_expired"] == 3  # type: ignore[union-attr]


async def test_expired_token_can_repeat() -> None:
    cloud = with_faults(FixedCloud(), FaultPlan(auth_after=1, auth_window=1, auth_repeat=True))
    seen = []
    for _ in range(6):
        try:
            await cloud.list_projects()
            seen.append("ok")
        except AuthError:
            seen.append("auth")
    assert seen == ["ok", "auth"] * 3


async def test_scripted_failures_then_disabled_plan() -> None:
    plan = FaultPlan()
    plan.fail_next(2)
    cloud = with_faults(FixedCloud(), plan)
    for _ in range(2):
        with pytest.raises(Unavailable, match="HTTP 503"):
            await cloud.list_instances()
    assert len(await cloud.list_instances()) == 3
    plan.error_rate = 1.0
    plan.enabled = False  # switched off: only counting
    assert len(await cloud.list_instances()) == 3
    assert fault_counters(cloud).injected == 2  # type: ignore[union-attr]


async def test_methods_and_exempt_select_what_is_faulted() -> None:
    plan = FaultPlan(error_rate=1.0, methods=frozenset({"list_instances", "list_flavors"}))
    plan.exempt = frozenset({"list_flavors"})
    cloud = with_faults(FixedCloud(), plan)
    with pytest.raises(Unavailable):
        await cloud.list_instances()
    assert await cloud.list_flavors()
    assert await cloud.list_projects()


def test_wrap_service_keeps_factories_lazy() -> None:
    built: list[FixedCloud] = []

    def factory() -> FixedCloud:
        built.append(FixedCloud())
        return built[-1]

    plan = FaultPlan(services=frozenset({"cloud"}))
    wrapped = wrap_service(factory, plan, "cloud")
    assert built == [] and callable(wrapped)
    client = wrapped()
    assert isinstance(client, FaultyClient) and client.wrapped is built[0]
    assert wrap_service(factory, plan, "queue") is factory  # not in services
    assert wrap_service(factory, None, "cloud") is factory
    assert wrap_service(None, plan, "cloud") is None
    direct = wrap_service(FixedCloud(), plan, "cloud")
    assert isinstance(direct, FaultyClient)
    bundle = Clients("sandbox", cloud=direct)
    assert bundle.cloud is direct  # the bundle does not mistake it for a factory


# --------------------------------------------------------------------------- environment


def test_plan_from_env() -> None:
    assert plan_from_env({}) is None
    assert plan_from_env({"CANFAR_TUI_FAULTS": "  "}) is None
    plan = plan_from_env(
        {
            "CANFAR_TUI_FAULTS": "latency=0.2, error_rate=0.1,seed=1,services=cloud+queue,"
            "auth_after=5,auth_repeat=yes,timeout_rate=0.01,timeout_after=2"
        }
    )
    assert plan is not None
    assert plan.latency == 0.2 and plan.error_rate == 0.1 and plan.seed == 1
    assert plan.services == {"cloud", "queue"} and plan.auth_after == 5 and plan.auth_repeat
    assert plan.timeout_rate == 0.01 and plan.timeout_after == 2.0
    assert plan.covers("cloud") and not plan.covers("storage")


@pytest.mark.parametrize(
    "text",
    ["latency", "speed=3", "error_rate=2", "error_rate=x", "seed=-1", "enabled=maybe"],
)
def test_bad_plans_are_one_line_errors(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(text)
    assert "CANFAR_TUI_FAULTS" in caught.value.message and "\n" not in caught.value.message


# --------------------------------------------------------------------------- the real app


async def wait_for(pilot: Pilot[None], condition: Callable[[], object], steps: int = 400) -> None:
    """Poll ``condition`` at most ``steps`` × 50 ms."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition never became true")


async def test_view_goes_stale_under_503s_and_recovers_by_itself(
    make_app: Callable[..., CanfarApp],
) -> None:
    plan = FaultPlan(seed=1)
    cloud = with_faults(FixedCloud(), plan, name="cloud")
    app = make_app(clients=Clients("sandbox", cloud=cloud, mode_label="SANDBOX"))
    async with app.run_test() as pilot:
        await pilot.press("2")
        view = app.view("instances")
        assert isinstance(view, ResourceView)
        await wait_for(pilot, lambda: view.state == "ready")
        assert view.table.row_count == 3
        plan.error_rate = 1.0  # every call: HTTP 503
        await wait_for(pilot, lambda: view.state == "stale" and app.header.stale)
        assert view.table.row_count == 3, "the last good rows stay on screen"
        assert app.header.stale
        assert any("HTTP 503" in n.message for n in app._notifications)
        assert fault_counters(cloud).by_kind["http_503"] >= 1  # type: ignore[union-attr]
        plan.error_rate = 0.0  # the service is back; no key pressed
        # The header follows the view through a message, a moment later.
        await wait_for(pilot, lambda: view.state == "ready" and not app.header.stale)
        assert view.table.row_count == 3 and not app.header.stale
        assert app.unexpected_errors == 0


async def test_expired_token_mid_session_recovers_without_losing_the_place(
    make_app: Callable[..., CanfarApp],
) -> None:
    plan = FaultPlan()
    cloud = with_faults(FixedCloud(instances=6), plan, name="cloud")
    app = make_app(clients=Clients("sandbox", cloud=cloud, mode_label="SANDBOX"))
    async with app.run_test() as pilot:
        await pilot.press("2")
        view = app.view("instances")
        assert isinstance(view, ResourceView)
        await wait_for(pilot, lambda: view.state == "ready")
        view.table.focus()
        await pilot.press("down", "down")
        cursor = view.table.cursor_row
        plan.fail_next(2, token_expired())
        await wait_for(pilot, lambda: view.state == "stale")
        assert any("token expired" in n.message for n in app._notifications)
        await wait_for(pilot, lambda: view.state == "ready")
        assert view.table.row_count == 6
        assert view.table.cursor_row == cursor, "the user's place is kept"
        assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- a full disk


def test_disk_full_makes_local_writes_fail_with_enospc(tmp_path: Path) -> None:
    plan = FaultPlan(disk_full=True, disk_free_bytes=1000)
    client = with_faults(FixedCloud(), plan, name="storage")
    check_local_write(tmp_path / "a.part", 1000)  # fits
    with pytest.raises(OSError) as caught:
        check_local_write(tmp_path / "a.part", 1001)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "a.part")
    assert fault_counters(client).by_kind["disk_full"] == 1  # type: ignore[union-attr]
    plan.enabled = False
    check_local_write(tmp_path / "a.part", 10**9)
    plan.enabled, plan.disk_full = True, False
    check_local_write(tmp_path / "a.part", 10**9)
    assert not FaultPlan(disk_full=True).is_quiet
    parsed = parse_plan("disk_full=yes,disk_free_bytes=4096,services=storage")
    assert parsed.disk_full and parsed.disk_free_bytes == 4096
    del client


@dataclass
class Box:
    """An app whose VOSpace tab talks to a loopback service with one 3 MB file."""

    app: Any
    plan: FaultPlan
    md5: str


@pytest.fixture
def vospace_box(make_app: Callable[..., CanfarApp], tmp_path: Path) -> Iterator[Box]:
    server = start_server(tmp_path / "root")
    data = os.urandom(3 * 1024 * 1024)
    (server.root / server.username / "big.fits").write_bytes(data)
    plan = FaultPlan()
    storage = with_faults(
        VOSpaceStorage.for_sandbox(
            server, tmp_path / "vos-client", owns_server=True, retry=RetryPolicy(2, 0.05)
        ),
        plan,
        name="storage",
    )
    app = make_app(clients=Clients("sandbox", cloud=FixedCloud(), storage=storage))
    try:
        yield Box(app, plan, hashlib.md5(data).hexdigest())
    finally:
        server.stop()


async def download_into(pilot: Any, view: VOSpaceView, folder: Path) -> TransferJob:
    """Select big.fits, press w, answer the folder prompt; wait for the transfer to end."""
    await wait_for(pilot, lambda: view.table.get_row("big.fits") is not None)
    view.table.focus()
    view.table.move_cursor_to_key("big.fits")
    before = len(view.transfers.jobs)
    await pilot.press("w")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptScreen))
    pilot.app.screen.query_one("#prompt-input", Input).value = str(folder)
    await pilot.press("enter")
    await wait_for(
        pilot,
        lambda: (
            len(view.transfers.jobs) == before + 1
            and list(view.transfers.jobs.values())[-1].finished_state
        ),
    )
    return list(view.transfers.jobs.values())[-1]


async def open_vospace(pilot: Pilot[None]) -> VOSpaceView:
    app = pilot.app
    assert isinstance(app, CanfarApp)
    await pilot.press("6")
    await wait_for(pilot, lambda: isinstance(app.view("vospace"), VOSpaceView))
    view = app.view("vospace")
    assert isinstance(view, VOSpaceView)
    await wait_for(pilot, lambda: view.state == "ready")
    return view


def state_now(view: VOSpaceView) -> str:
    """The view's state as it is now (read by a call, which no earlier assert narrows)."""
    return view.state


def assert_disk_full_failure(job: TransferJob, folder: Path, view: VOSpaceView) -> None:
    assert job.state is TransferState.FAILED
    assert job.message == f"No space left on {folder} for big.fits; nothing was kept"
    assert list(folder.iterdir()) == [], "no partial file, no temp file"
    row = view.transfers.table.get_row(job.id)
    assert row is not None and str(row[3]).startswith("failed: No space left on ")


async def test_a_download_onto_a_full_disk_injected_is_one_line_and_leaves_nothing(
    vospace_box: Box, tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    vospace_box.plan.disk_full = True
    vospace_box.plan.disk_free_bytes = 600_000  # a few chunks get written, then ENOSPC
    app = vospace_box.app
    async with app.run_test(size=(120, 36)) as pilot:
        view = await open_vospace(pilot)
        job = await download_into(pilot, view, folder)
        assert_disk_full_failure(job, folder, view)
        assert fault_counters(app.clients.storage).by_kind["disk_full"] == 1  # type: ignore[union-attr]
        # The view still works, and once there is room the same download is verified.
        view.action_refresh()
        await pilot.pause(0.3)
        assert view.state == "ready" and view.table.get_row("big.fits") is not None
        vospace_box.plan.disk_full = False
        again = await download_into(pilot, view, folder)
        assert again.state is TransferState.DONE, again.message
        assert [p.name for p in folder.iterdir()] == ["big.fits"]
        assert hashlib.md5((folder / "big.fits").read_bytes()).hexdigest() == vospace_box.md5
        assert app.unexpected_errors == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
async def test_a_download_onto_a_real_full_disk_is_one_line_and_leaves_nothing(
    vospace_box: Box, tmp_path: Path
) -> None:
    folder = tmp_path / "small-disk"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    try:
        app = vospace_box.app
        async with app.run_test(size=(120, 36)) as pilot:
            view = await open_vospace(pilot)
            job = await download_into(pilot, view, folder)  # 3 MB onto 1 MB
            assert_disk_full_failure(job, folder, view)
            view.action_refresh()
            await pilot.pause(0.3)
            assert view.state == "ready"
            assert app.unexpected_errors == 0
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# --------------------------------------------------------------------------- re-authentication


async def test_expired_certificate_prompts_renews_and_refetches_in_place(
    make_app: Callable[..., CanfarApp], tmp_path: Path
) -> None:
    """A storage call refused for credentials: the password prompt, a renewed certificate, and
    the same folder, filter and cursor fetched again. Escape declines (one offer); c renews."""
    server = start_server(tmp_path / "root")
    raw = server.root / server.username / "raw"
    raw.mkdir()
    for name in ("a.cat", "b.cat", "c.cat", "d.cat"):
        (raw / name).write_bytes(name.encode())
    plan = FaultPlan()
    storage = with_faults(
        VOSpaceStorage.for_sandbox(server, tmp_path / "vos-client", owns_server=True),
        plan,
        name="storage",
    )
    credentials = with_faults(
        CadcCredentials.for_sandbox(tmp_path / "cred", initial_validity=timedelta(hours=2)),
        plan,
        name="credentials",
    )
    certificate = tmp_path / "cred" / "cadcproxy.pem"
    first_pem = certificate.read_bytes()
    app = make_app(
        clients=Clients("sandbox", cloud=FixedCloud(), storage=storage, credentials=credentials)
    )
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            view = await open_vospace(pilot)
            view.open_folder(f"{storage.home_uri}/raw")
            await wait_for(pilot, lambda: view.state == "ready" and view.table.row_count == 4)
            view.table.set_filter("!a.cat")
            view.table.focus()
            view.table.move_cursor_to_key("c.cat")
            place = (view.cwd, view.table.filter_text, view.table.cursor_key)
            assert place[2] == "c.cat" and view.table.visible_count == 3

            plan.expired_until_renewed = True  # the certificate expires mid-session
            await wait_for(pilot, lambda: isinstance(app.screen, PasswordScreen))
            assert view.state == "stale" and view.table.row_count == 4
            assert any("token expired" in n.message for n in app._notifications)
            await pilot.press(*"secret", "enter")
            await wait_for(pilot, lambda: state_now(view) == "ready" and not app.header.stale)
            assert not plan.expired_until_renewed
            assert certificate.read_bytes() != first_pem, "a new proxy certificate"
            assert (view.cwd, view.table.filter_text, view.table.cursor_key) == place
            assert view.table.visible_count == 3
            assert any("New proxy certificate" in n.message for n in app._notifications)

            # Declined: one line, no second prompt while it stays refused; c renews later.
            plan.expired_until_renewed = True
            await wait_for(pilot, lambda: isinstance(app.screen, PasswordScreen))
            await pilot.press("escape")
            await wait_for(
                pilot, lambda: any("not renewed" in n.message for n in app._notifications)
            )
            await pilot.pause(1.5)  # a few more refused fetches
            assert not isinstance(app.screen, PasswordScreen) and view.state == "stale"
            assert fault_counters(storage).by_kind["auth_expired"] >= 2  # type: ignore[union-attr]
            await pilot.press("c")
            await wait_for(pilot, lambda: state_now(view) == "ready" and not app.header.stale)
            assert (view.cwd, view.table.filter_text, view.table.cursor_key) == place
            assert app.unexpected_errors == 0
    finally:
        server.stop()


class PasswordIssuer(SelfSignedIssuer):
    """Issues like the sandbox, and records how it was authenticated."""

    def __init__(self) -> None:
        super().__init__("alice")
        self.asked: list[tuple[str, str]] = []

    def issue_with_password(self, days_valid: int, username: str, password: str) -> bytes:
        self.asked.append((username, password))
        return self.issue(days_valid)


async def test_renewing_with_a_typed_password_uses_the_certificates_username(
    tmp_path: Path,
) -> None:
    issuer = PasswordIssuer()
    certificate = tmp_path / "cadcproxy.pem"
    credentials = CadcCredentials(
        certificate=certificate, netrc_path=tmp_path / "netrc", issuer=issuer
    )
    with pytest.raises(AuthError, match="No CADC username known"):
        await credentials.renew_certificate(password="pw")  # no netrc, no certificate
    certificate.write_bytes(SelfSignedIssuer("alice").issue_for(timedelta(minutes=-1)))
    with pytest.raises(AuthError, match="No CADC entry"):
        await credentials.renew_certificate()  # the netrc way still needs the netrc
    status = await credentials.renew_certificate(password="pw", days_valid=3)
    assert issuer.asked == [("alice", "pw")]
    assert status.problem is None and status.username == "alice"
    assert not (tmp_path / "netrc").exists(), "the password is not written anywhere"
    with pytest.raises(InvalidInput):
        await credentials.renew_certificate(password="two\nlines")
