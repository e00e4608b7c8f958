"""The test doubles of ``tests/fakes.py`` stay true to the client Protocols they stand in for.

Twice: mypy checks this module (pyproject's ``files``), so the annotated assignments below fail
type checking when a fake drifts from its Protocol; and :func:`drift` compares every member's
signature at test time (names, kinds, defaults, types, ``async``), so the drift fails the test
run too, with or without mypy.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Protocol

import fakes
import pytest
from fakes import FixedCloud, FixedQueue

from canfar_tui.clients.base import CloudClient, QueueClient, SupportsHistory
from canfar_tui.models import Project

#: Each fake with every Protocol it stands in for.
FAKES: Sequence[tuple[type, type]] = (
    (FixedCloud, CloudClient),
    (FixedQueue, QueueClient),
    (FixedQueue, SupportsHistory),
)


def test_the_fakes_type_check_as_their_protocols() -> None:
    # mypy checks these assignments; at run time the runtime_checkable isinstance does its part.
    cloud: CloudClient = FixedCloud()
    queue: QueueClient = FixedQueue()
    history: SupportsHistory = FixedQueue()
    assert isinstance(cloud, CloudClient)
    assert isinstance(queue, QueueClient)
    assert isinstance(history, SupportsHistory)


#: Marks a Protocol member declared by an annotation alone (``name: type``).
DATA = object()


def protocol_members(protocol: type) -> dict[str, object]:
    """The public members a Protocol declares, its Protocol bases' included."""
    members: dict[str, object] = {}
    for cls in reversed(protocol.__mro__):
        if cls in (object, Protocol, typing.Generic) or not getattr(cls, "_is_protocol", False):
            continue
        declared = {**dict.fromkeys(vars(cls).get("__annotations__", {}), DATA), **vars(cls)}
        members.update({name: value for name, value in declared.items() if name[0] != "_"})
    return members


def _hints(function: Callable[..., object]) -> dict[str, object]:
    module = sys.modules[function.__module__]
    return typing.get_type_hints(function, vars(module))


def _shape(function: Callable[..., object]) -> tuple[object, ...]:
    """What must match: async or not, each parameter and the return type."""
    signature = inspect.signature(function)
    hints = _hints(function)
    parameters = tuple(
        (name, parameter.kind, parameter.default, hints.get(name))
        for name, parameter in signature.parameters.items()
    )
    return (inspect.iscoroutinefunction(function), parameters, hints.get("return"))


def drift(fake: type, protocol: type) -> list[str]:
    """How ``fake`` differs from ``protocol``: one line per missing or different member."""
    problems: list[str] = []
    for name, declared in sorted(protocol_members(protocol).items()):
        where = f"{fake.__name__}.{name} ({protocol.__name__})"
        if not hasattr(fake, name) and name not in typing.get_type_hints(fake):
            problems.append(f"{where}: missing")
        elif declared is DATA:
            continue  # an attribute: mypy checks its type
        elif isinstance(declared, property):
            assert declared.fget is not None
            expected = _hints(declared.fget)["return"]
            actual = getattr(fake, name)
            if isinstance(actual, property):
                assert actual.fget is not None
                if _hints(actual.fget).get("return") != expected:
                    problems.append(f"{where}: property type differs")
            elif isinstance(expected, type) and not isinstance(actual, expected):
                problems.append(f"{where}: {actual!r} is not a {expected.__name__}")
        elif callable(declared):
            implemented = getattr(fake, name)
            if not callable(implemented):
                problems.append(f"{where}: not a method")
            elif _shape(implemented) != _shape(declared):
                problems.append(
                    f"{where}: {inspect.signature(implemented)} should be "
                    f"{inspect.signature(declared)}"
                    + (" (async)" if inspect.iscoroutinefunction(declared) else "")
                )
    return problems


@pytest.mark.parametrize(
    ("fake", "protocol"), FAKES, ids=[f"{f.__name__}-{p.__name__}" for f, p in FAKES]
)
def test_each_fake_matches_its_protocol_member_by_member(fake: type, protocol: type) -> None:
    problems = drift(fake, protocol)
    assert not problems, "The fake drifted from its Protocol:\n  " + "\n  ".join(problems)


def test_every_fake_is_checked() -> None:
    defined = {
        cls
        for cls in vars(fakes).values()
        if isinstance(cls, type) and cls.__module__ == fakes.__name__
    }
    assert defined == {fake for fake, _ in FAKES}


# --------------------------------------------------------------------------- the check's tests


class DriftedCloud:
    """A fake that went wrong in every way the check must see."""

    backend_label = 3

    def aclose(self) -> None:  # not async
        return None

    async def list_projects(self, *, all_projects: bool = False) -> Sequence[Project]:
        return []

    async def current_project(self) -> Project:  # the Protocol returns Project | None
        raise NotImplementedError

    async def switch_project(self, project: str) -> Project:  # renamed parameter
        raise NotImplementedError

    async def reboot_instance(self, instance_id: str, *, hard: bool = True) -> None:
        return None

    async def get_quota(self) -> None:
        return None


def test_the_check_sees_every_kind_of_drift() -> None:
    problems = drift(DriftedCloud, CloudClient)
    named = {line.split(" ", 1)[0] for line in problems}
    assert {
        "DriftedCloud.backend_label",
        "DriftedCloud.aclose",
        "DriftedCloud.list_projects",
        "DriftedCloud.current_project",
        "DriftedCloud.switch_project",
        "DriftedCloud.reboot_instance",
        "DriftedCloud.get_quota",
        "DriftedCloud.list_instances",
    } <= named
    assert "DriftedCloud.list_instances (CloudClient): missing" in problems
    assert len(problems) == len(protocol_members(CloudClient))  # every member is wrong here


def test_protocol_members_include_the_base_protocols() -> None:
    members = protocol_members(CloudClient)
    assert {"backend_label", "aclose", "list_instances", "create_snapshot"} <= set(members)
    assert set(protocol_members(SupportsHistory)) == {"history"}
