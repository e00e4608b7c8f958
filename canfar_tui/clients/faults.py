"""Fault injection around any client: latency, timeouts, HTTP 503/500, expired tokens, full disk.

:func:`with_faults` wraps a client (cloud, queue, storage or credentials) in an object that
implements the same Protocol: every ``async`` method is delegated to the wrapped client after
the :class:`FaultPlan` had its say; everything else (properties, sync helpers, capability
methods such as ``console_log``) passes straight through, so ``isinstance(wrapped,
SupportsConsoleLog)`` answers as it would for the client itself.

A fault fires *before* the call reaches the client, like a request that never got through: the
wrapped service's state is unchanged, which is what "an action that fails leaves the system as
it was" needs. Faults are drawn from a seeded :class:`random.Random`, so a run with a given
seed and the same sequence of calls meets the same faults. Each wrapper counts what it fired
in :attr:`FaultyClient.fault_counters`.

A full disk is not a fault of a call but of the local writes a call makes: with
``disk_full`` set, the backends' local write path (the download loop of
:mod:`canfar_tui.clients.storage.vospace`) asks :func:`check_local_write` before each write,
and gets ``OSError(ENOSPC)`` once a file would grow past ``disk_free_bytes``, exactly what a
full disk answers. Every :class:`FaultyClient` whose plan is enabled takes part (they are
tracked weakly).

The plan can come from the environment (see :func:`plan_from_env`)::

    CANFAR_TUI_FAULTS="latency=0.2,error_rate=0.1,seed=1" canfar-tui

Imports no Textual.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import inspect
import os
import random
import threading
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, cast

from canfar_tui.clients.base import AuthError, ClientError, InvalidInput, Unavailable

#: The environment variable :func:`plan_from_env` reads.
ENV_VARIABLE = "CANFAR_TUI_FAULTS"

#: Methods never faulted: closing must always work.
ALWAYS_EXEMPT = frozenset({"aclose"})

C = TypeVar("C")


@dataclass
class FaultPlan:
    """What faults to inject, and how often. Mutable: a test can change it mid-run.

    Rates are probabilities per call (one draw decides between 503, 500 and a timeout).
    The expired-token window: calls number ``auth_after + 1`` to ``auth_after + auth_window``
    raise :class:`AuthError`, later ones succeed again; with ``auth_repeat`` the cycle repeats.
    """

    #: Seconds added to every call, plus a uniform random ``0..jitter``.
    latency: float = 0.0
    jitter: float = 0.0
    #: Probability of ``Unavailable("HTTP 503 …")``.
    error_rate: float = 0.0
    #: Probability of ``Unavailable("HTTP 500 …")``.
    server_error_rate: float = 0.0
    #: Probability of a timeout: the call waits ``timeout_after`` seconds, then Unavailable.
    timeout_rate: float = 0.0
    timeout_after: float = 1.0
    #: Expired token: after this many calls (0: never), ``auth_window`` calls get AuthError.
    auth_after: int = 0
    auth_window: int = 1
    auth_repeat: bool = False
    #: Expired credentials that stay expired until renewed: every call of a service but
    #: ``credentials`` raises AuthError until a ``renew_certificate`` call through a wrapper of
    #: this plan succeeds (which switches this off).
    expired_until_renewed: bool = False
    #: Seed of the random draws (None: not reproducible).
    seed: int | None = None
    #: Only these method names are faulted (empty: every async method but ``aclose``).
    methods: frozenset[str] = frozenset()
    #: Methods never faulted.
    exempt: frozenset[str] = frozenset()
    #: Which services :func:`wrap_service` wraps (empty: all).
    services: frozenset[str] = frozenset()
    #: False switches every fault off (the wrapper then only counts calls).
    enabled: bool = True
    #: Scripted failures: the next faulted calls raise these, in order, before any draw.
    scripted: list[ClientError] = field(default_factory=list)
    #: A full local disk: local writes (downloads) fail with ENOSPC once a file would be
    #: larger than ``disk_free_bytes``.
    disk_full: bool = False
    disk_free_bytes: int = 0

    def fail_next(self, times: int, error: ClientError | None = None) -> None:
        """The next ``times`` faulted calls raise ``error`` (default: HTTP 503)."""
        self.scripted.extend([error or http_503()] * times)

    def applies_to(self, method: str) -> bool:
        if method in ALWAYS_EXEMPT or method in self.exempt:
            return False
        return not self.methods or method in self.methods

    def covers(self, service: str) -> bool:
        return not self.services or service in self.services

    @property
    def is_quiet(self) -> bool:
        """True when the plan would never inject anything."""
        return not self.enabled or not (
            self.latency
            or self.jitter
            or self.error_rate
            or self.server_error_rate
            or self.timeout_rate
            or self.auth_after
            or self.scripted
            or self.disk_full
            or self.expired_until_renewed
        )


@dataclass
class FaultCounters:
    """What one wrapper saw and fired."""

    calls: int = 0
    delayed: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def injected(self) -> int:
        """Faults that made a call fail (latency alone is not counted)."""
        return sum(self.by_kind.values())


def http_503() -> Unavailable:
    return Unavailable("HTTP 503: service unavailable (injected fault)")


def http_500() -> Unavailable:
    return Unavailable("HTTP 500: internal server error (injected fault)")


def token_expired() -> AuthError:
    return AuthError("token expired (injected fault); renew your credentials")


class FaultyClient:
    """A client with a :class:`FaultPlan` in front of its async methods. See :func:`with_faults`."""

    def __init__(self, client: object, plan: FaultPlan, *, name: str = "client") -> None:
        self._client = client
        self.fault_plan = plan
        self.fault_name = name
        self.fault_counters = FaultCounters()
        seed = None if plan.seed is None else f"{plan.seed}:{name}"
        self._random = random.Random(seed)
        self._faulted_calls = 0
        with _LIVE_LOCK:
            _LIVE.add(self)

    @property
    def wrapped(self) -> object:
        """The client behind the faults."""
        return self._client

    @property
    def backend_label(self) -> str:
        return str(cast(Any, self._client).backend_label)

    @property
    def home_uri(self) -> str:
        if not hasattr(self._client, "home_uri"):
            raise AttributeError("home_uri")
        return str(cast(Any, self._client).home_uri)

    async def aclose(self) -> None:
        await cast(Any, self._client).aclose()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_client":
            raise AttributeError(name)
        attribute = getattr(self._client, name)
        if not inspect.iscoroutinefunction(attribute) or not self.fault_plan.applies_to(name):
            return attribute
        return self._wrap(name, attribute)

    def __repr__(self) -> str:
        return f"FaultyClient({self._client!r}, name={self.fault_name!r})"

    def _wrap(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def faulted(*args: Any, **kwargs: Any) -> Any:
            await self._before_call()
            result = await method(*args, **kwargs)
            if name == "renew_certificate":
                self.fault_plan.expired_until_renewed = False  # the new credentials work
            return result

        return faulted

    async def _before_call(self) -> None:
        """Count the call; add latency; raise the fault this call meets, if any."""
        plan = self.fault_plan
        counters = self.fault_counters
        counters.calls += 1
        if not plan.enabled:
            return
        self._faulted_calls += 1
        delay = plan.latency + (self._random.uniform(0, plan.jitter) if plan.jitter else 0.0)
        if delay > 0:
            counters.delayed += 1
            await asyncio.sleep(delay)
        if plan.scripted:
            error = plan.scripted.pop(0)
            counters.by_kind["scripted"] += 1
            raise type(error)(error.message, details=error.details)
        if plan.expired_until_renewed and self.fault_name != "credentials":
            counters.by_kind["auth_expired"] += 1
            raise token_expired()
        if self._token_expired(self._faulted_calls):
            counters.by_kind["auth_expired"] += 1
            raise token_expired()
        draw = self._random.random()
        if draw < plan.error_rate:
            counters.by_kind["http_503"] += 1
            raise http_503()
        draw -= plan.error_rate
        if draw < plan.server_error_rate:
            counters.by_kind["http_500"] += 1
            raise http_500()
        draw -= plan.server_error_rate
        if draw < plan.timeout_rate:
            counters.by_kind["timeout"] += 1
            await asyncio.sleep(plan.timeout_after)
            raise Unavailable(f"no answer in {plan.timeout_after:g} s (injected timeout)")

    def _token_expired(self, call: int) -> bool:
        plan = self.fault_plan
        if plan.auth_after <= 0 or plan.auth_window <= 0:
            return False
        period = plan.auth_after + plan.auth_window
        position = call - 1
        if not plan.auth_repeat and position >= period:
            return False
        return position % period >= plan.auth_after


#: Every FaultyClient alive, for :func:`check_local_write` (weak: no client is kept alive).
_LIVE: weakref.WeakSet[FaultyClient] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def check_local_write(path: os.PathLike[str] | str, size_after: int) -> None:
    """Called by a backend before it grows the local file ``path`` to ``size_after`` bytes.

    Raises ``OSError(ENOSPC)`` (as the kernel would) when a live fault plan has ``disk_full``
    and ``size_after`` exceeds its ``disk_free_bytes``; counts it as ``disk_full``. Cheap when
    no plan asks for it. Thread-safe (downloads write from worker threads).
    """
    with _LIVE_LOCK:
        clients = list(_LIVE)
    for client in clients:
        plan = client.fault_plan
        if plan.enabled and plan.disk_full and size_after > plan.disk_free_bytes:
            client.fault_counters.by_kind["disk_full"] += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))


def with_faults(client: C, plan: FaultPlan, *, name: str = "client") -> C:
    """Wrap ``client`` so its async methods meet the faults of ``plan``.

    The result implements the same Protocol as ``client`` (typed as the same type for the
    caller); its :class:`FaultCounters` are at ``.fault_counters``.
    """
    return cast(C, FaultyClient(client, plan, name=name))


def fault_counters(client: object) -> FaultCounters | None:
    """The counters of a wrapped client, or None for a client without faults."""
    return client.fault_counters if isinstance(client, FaultyClient) else None


def wrap_service(source: Any, plan: FaultPlan | None, service: str) -> Any:
    """Wrap a bundle source (a client, a factory or None) for ``service`` if the plan says so.

    A factory stays a factory, so the service is still built on first use. This is the one
    call ``build_clients`` needs per service.
    """
    if source is None or plan is None or not plan.covers(service):
        return source
    if callable(source) and not hasattr(source, "backend_label"):
        factory = source

        def build() -> object:
            return FaultyClient(factory(), plan, name=service)

        return build
    return FaultyClient(source, plan, name=service)


# --------------------------------------------------------------------------- environment

_FLOATS = ("latency", "jitter", "error_rate", "server_error_rate", "timeout_rate", "timeout_after")
_INTS = ("auth_after", "auth_window", "seed", "disk_free_bytes")
_SETS = ("methods", "exempt", "services")
_BOOLS = ("auth_repeat", "enabled", "disk_full", "expired_until_renewed")
_KNOWN = frozenset(f.name for f in fields(FaultPlan)) - {"scripted"}


def parse_plan(text: str) -> FaultPlan:
    """Parse ``"latency=0.2,error_rate=0.1,seed=1"`` (sets use ``+``: ``services=cloud+queue``).

    Raises :class:`InvalidInput` with one line naming the bad item.
    """
    values: dict[str, Any] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or key not in _KNOWN:
            raise InvalidInput(
                f"{ENV_VARIABLE}: unknown item {item!r}; known: {', '.join(sorted(_KNOWN))}"
            )
        try:
            if key in _FLOATS:
                number = float(raw)
                if number < 0 or (key.endswith("_rate") and number > 1):
                    raise ValueError(raw)
                values[key] = number
            elif key in _INTS:
                values[key] = int(raw)
                if values[key] < 0:
                    raise ValueError(raw)
            elif key in _SETS:
                values[key] = frozenset(part for part in raw.split("+") if part)
            elif key in _BOOLS:
                if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(raw)
                values[key] = raw.lower() in ("1", "true", "yes", "on")
        except ValueError:
            raise InvalidInput(f"{ENV_VARIABLE}: bad value for {key}: {raw!r}") from None
    return FaultPlan(**values)


def plan_from_env(env: Mapping[str, str]) -> FaultPlan | None:
    """The plan in ``env["CANFAR_TUI_FAULTS"]``, or None when unset or empty."""
    text = env.get(ENV_VARIABLE, "").strip()
    if not text:
        return None
    return parse_plan(text)
