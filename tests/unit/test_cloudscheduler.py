"""Why CANFAR's cloud scheduler ignores a job, read from its Requirements (issue 13 item 6).

Also the schedd the htcondor2 worker picks (this machine's first, then the pool's only one)
and how it reads ``CONDOR_Q_ONLY_MY_JOBS``, with a stand-in of the bindings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from canfar_tui.batch import canfar_submit
from canfar_tui.batch.joblog import idle_explanation
from canfar_tui.clients.base import Unavailable
from canfar_tui.clients.queue.cloudscheduler import (
    CANFAR_REQUIREMENTS,
    mentions_attribute,
    requirements_problem,
    vm_type_wanted,
)
from canfar_tui.clients.queue.condor.worker import CondorCalls, choose_schedd, config_boolean

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

#: Requirements as the schedd stores them after condor_submit added its own clauses.
SUBMITTED_CANFAR = (
    '(group_name is "canfar") && (Arch == "x86_64") && (TARGET.OpSys == "LINUX") && '
    "(TARGET.Disk >= RequestDisk) && (TARGET.Memory >= RequestMemory)"
)
PLAIN = (
    '(TARGET.Arch == "X86_64") && (TARGET.OpSys == "LINUX") && (TARGET.Disk >= RequestDisk) '
    "&& (TARGET.Memory >= RequestMemory) && (TARGET.HasFileTransfer)"
)
OLD_FORM = 'VMType =?= "rrg-astro:snap-1" && Arch == "x86_64"'


def test_the_constants_are_shared_with_the_batch_layer() -> None:
    assert canfar_submit.CANFAR_REQUIREMENTS == CANFAR_REQUIREMENTS
    assert CANFAR_REQUIREMENTS == 'group_name =?= "canfar" && Arch == "x86_64"'


@pytest.mark.parametrize(
    "expression",
    [CANFAR_REQUIREMENTS, SUBMITTED_CANFAR, 'TARGET.GROUP_NAME =?= "canfar"', "MY.group_name"],
)
def test_requirements_naming_group_name_are_fine(expression: str) -> None:
    assert mentions_attribute(expression, "group_name")
    assert requirements_problem(expression) is None


@pytest.mark.parametrize(
    "expression",
    [
        PLAIN,
        "",
        'Owner == "group_name"',  # a string, not the attribute
        "my_group_name == 1",  # a longer name
        "TARGET.group_names =?= 1",
    ],
)
def test_a_foreign_job_is_explained_in_one_line_with_the_fix(expression: str) -> None:
    problem = requirements_problem(expression)
    assert problem is not None
    assert "\n" not in problem
    assert "do not name group_name" in problem
    assert "foreign" in problem and "idle for ever" in problem
    assert "canfar_submit" in problem and CANFAR_REQUIREMENTS in problem


def test_no_requirements_at_all_is_foreign_too() -> None:
    assert requirements_problem(None) is not None


def test_the_old_form_names_its_vm_type() -> None:
    assert vm_type_wanted(OLD_FORM) == "rrg-astro:snap-1"
    assert vm_type_wanted('"p:img" == TARGET.VMType') == "p:img"
    # As the schedd gives it back: =?= unparsed as "is", condor_submit's clauses added.
    stored = '(VMType is "rrg-astro:x" && Arch == "x86_64") && (TARGET.OpSys == "LINUX")'
    assert vm_type_wanted(stored) == "rrg-astro:x"
    assert vm_type_wanted('VMTypeIsh is "x"') is None
    assert vm_type_wanted(PLAIN) is None
    unknown = requirements_problem(OLD_FORM)
    assert unknown is not None and '"rrg-astro:snap-1"' in unknown
    assert "unless such a VM is already running" in unknown
    missing = requirements_problem(OLD_FORM, vm_types=["other:img"])
    assert missing is not None and "no such VM is in the pool" in missing
    assert CANFAR_REQUIREMENTS in missing
    assert requirements_problem(OLD_FORM, vm_types=["rrg-astro:snap-1"]) is None
    # The old form plus group_name is a job the cloud scheduler takes.
    assert requirements_problem(f'{OLD_FORM} && group_name =?= "canfar"', vm_types=[]) is None


def _idle(requirements: str | None) -> dict[str, object]:
    ad: dict[str, object] = {
        "ClusterId": 7,
        "ProcId": 0,
        "JobStatus": 1,
        "EnteredCurrentStatus": int(NOW.timestamp()) - 65,
        "RequestCpus": 1,
        "VMInstanceType": "c2-7.5gb-30",
        "VMImage": "my-snap",
    }
    if requirements is not None:
        ad["Requirements"] = requirements
    return ad


def test_why_idle_puts_the_requirements_first_and_keeps_the_rest() -> None:
    why = idle_explanation(_idle(PLAIN), now=NOW)
    assert why is not None
    assert why.startswith("Idle for 0+00:01:05. Its Requirements do not name group_name")
    assert "It asks for 1 CPU." in why
    assert "fit a c2-7.5gb-30 VM" in why
    # No promise that a VM will boot for it.
    assert "It starts once the cloud scheduler has booted" not in why
    fine = idle_explanation(_idle(SUBMITTED_CANFAR), now=NOW)
    assert fine is not None and "group_name" not in fine
    assert "It starts once the cloud scheduler has booted a c2-7.5gb-30 VM" in fine
    # An ad without Requirements (a projection) claims nothing.
    assert "group_name" not in (idle_explanation(_idle(None), now=NOW) or "")
    # The sandbox runs every job itself: no cloud scheduler there.
    local = idle_explanation(_idle(PLAIN), now=NOW, executor_slots=2)
    assert local is not None and "group_name" not in local
    old = idle_explanation(_idle(OLD_FORM), now=NOW, vm_types=["x:y"])
    assert old is not None and "no such VM is in the pool" in old
    assert idle_explanation({**_idle(PLAIN), "JobStatus": 2}, now=NOW) is None


# --------------------------------------------------------------------------- the schedd


def test_config_booleans_read_like_param_boolean() -> None:
    assert config_boolean(None, default=True) is True
    assert config_boolean(False, default=True) is False
    for text in ("False", "false", "NO", "0", " f "):
        assert config_boolean(text, default=True) is False
    for text in ("True", "yes", "1", "T"):
        assert config_boolean(text, default=False) is True
    assert config_boolean("maybe", default=True) is True


def _ad(name: str) -> dict[str, str]:
    return {"Name": name, "MyAddress": f"<127.0.0.1:9618?sock={name}>"}


def test_this_machines_schedd_comes_first() -> None:
    asked: list[bool] = []

    def pool() -> Sequence[dict[str, str]]:
        asked.append(True)
        return [_ad("other"), _ad("here")]

    assert choose_schedd(_ad("here"), pool)["Name"] == "here"
    assert not asked  # the pool is not even listed


def test_without_a_local_schedd_the_pools_only_one() -> None:
    assert choose_schedd(None, lambda: [_ad("batch")])["Name"] == "batch"
    assert choose_schedd({"Name": "stale"}, lambda: [_ad("batch")])["Name"] == "batch"


def test_several_schedds_and_none_here_is_one_line() -> None:
    with pytest.raises(Unavailable) as error:
        choose_schedd(None, lambda: [_ad("b"), _ad("a")])
    message = error.value.message
    assert "\n" not in message
    assert "2 schedds (a, b)" in message and "none runs on this machine" in message
    assert "schedd = NAME" in message
    with pytest.raises(Unavailable, match="knows none"):
        choose_schedd(None, list)


class _FakeCollector:
    def __init__(self, local: dict[str, str] | None, pool: list[dict[str, str]]) -> None:
        self.local, self.pool = local, pool
        self.named: list[str] = []

    def locate(self, _kind: object, name: str | None = None) -> dict[str, str] | None:
        if name is not None:
            self.named.append(name)
            return next((ad for ad in self.pool if ad["Name"] == name), None)
        if self.local is None:
            raise RuntimeError("Unable to locate local daemon.")
        return self.local

    def locateAll(self, _kind: object) -> list[dict[str, str]]:
        return list(self.pool)


class _FakeBindings:
    class DaemonType:
        Schedd = "schedd"

    def __init__(self, collector: _FakeCollector, param: dict[str, Any]) -> None:
        self.collector, self.param = collector, param

    def Collector(self) -> _FakeCollector:
        return self.collector

    def Schedd(self, ad: dict[str, str]) -> tuple[str, str]:
        return ("schedd", ad["Name"])


def _calls(
    local: dict[str, str] | None,
    pool: list[dict[str, str]],
    param: dict[str, Any] | None = None,
    name: str | None = None,
) -> CondorCalls:
    pytest.importorskip("htcondor2")
    calls = CondorCalls(name)
    calls.htcondor = _FakeBindings(_FakeCollector(local, pool), param or {})
    return calls


def test_the_worker_uses_the_local_schedd_before_the_pools_first() -> None:
    calls = _calls(_ad("here"), [_ad("elsewhere"), _ad("here")])
    assert calls.schedd() == ("schedd", "here")


def test_the_profile_and_schedd_host_come_before_the_local_schedd() -> None:
    pool = [_ad("elsewhere"), _ad("here")]
    assert _calls(_ad("here"), pool, name="elsewhere").schedd() == ("schedd", "elsewhere")
    by_host = _calls(_ad("here"), pool, {"SCHEDD_HOST": "elsewhere"})
    assert by_host.schedd() == ("schedd", "elsewhere")
    with pytest.raises(Unavailable, match="knows no schedd named nosuch"):
        _calls(_ad("here"), pool, name="nosuch").schedd()


def test_the_worker_reads_the_pools_condor_q_default() -> None:
    assert _calls(None, [], {}).op_defaults() == {"only_my_jobs": True}
    everyone = _calls(None, [], {"CONDOR_Q_ONLY_MY_JOBS": False})
    assert everyone.op_defaults() == {"only_my_jobs": False}
    assert _calls(None, [], {"CONDOR_Q_ONLY_MY_JOBS": "False"}).op_defaults() == {
        "only_my_jobs": False
    }
