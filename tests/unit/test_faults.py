"""Fault injection (``clients/faults.py``): delegation, seeded rates, the expired-token window,
counters, the environment switch, and the app recovering by itself when the faults stop."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FixedCloud

from canfar_tui.clients.base import AuthError, CloudClient, InvalidInput, Unavailable
from canfar_tui.clients.bundle import Clients
from canfar_tui.clients.faults import (
    FaultPlan,
    FaultyClient,
    fault_counters,
    parse_plan,
    plan_from_env,
    token_expired,
    with_faults,
    wrap_service,
)
from canfar_tui.widgets.resource_view import ResourceView

# --------------------------------------------------------------------------- the wrapper


async def test_a_quiet_plan_delegates_everything() -> None:
    inner = FixedCloud()
    cloud = with_faults(inner, FaultPlan(), name="cloud")
    assert isinstance(cloud, CloudClient)
    assert cloud.backend_label == "SANDBOX"
    assert [i.id for i in await cloud.list_instances()] == ["i-001", "i-002", "i-003"]
    await cloud.delete_instance("i-002")
    assert inner.deleted == ["i-002"]
    assert cloud.instances == inner.instances  # type: ignore[attr-defined]  # passes through
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


async def wait_for(pilot: Any, condition: Any, steps: int = 400) -> None:
    """Poll ``condition`` at most ``steps`` × 50 ms."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition never became true")


async def test_view_goes_stale_under_503s_and_recovers_by_itself(make_app) -> None:  # type: ignore[no-untyped-def]
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


async def test_expired_token_mid_session_recovers_without_losing_the_place(make_app) -> None:  # type: ignore[no-untyped-def]
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
