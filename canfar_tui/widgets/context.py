"""What a view is handed when it is built: :class:`ViewContext`.

Views never reach back into the app (no ``CanfarApp`` import anywhere below ``app.py``). The
app builds one :class:`ViewContext` and passes it to every tab view, the tutorial panel and the
trace screen:

- the services (``clients``), the ``settings``, ``read_only`` and the clock (``now``);
- ``report_error``: the one way a failure reaches the screen (one line, details in the log);
- ``navigation``: the few things a view may ask of the dashboard around it — show another
  tab, find a mounted view, the active project (shared by the cloud tabs), reload the views
  of a service, offer to renew the certificate. :class:`CanfarApp` implements
  :class:`Navigation`; tests may hand a view any object that does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from textual.widget import Widget

    from canfar_tui.clients.base import ClientError
    from canfar_tui.clients.bundle import Clients
    from canfar_tui.config import Settings
    from canfar_tui.models import Project

__all__ = ["ErrorReporter", "Navigation", "ViewContext"]


class ErrorReporter(Protocol):
    """Turn a failure into one line on screen and its details in the log."""

    def __call__(self, error: BaseException, *, context: str = "") -> None: ...


class Navigation(Protocol):
    """The dashboard around a view: tabs, the views mounted so far, the active project."""

    @property
    def active_tab_id(self) -> str:
        """The id of the tab on screen (``projects``, ``queue``…)."""
        ...

    @property
    def project(self) -> Project | None:
        """The project the cloud tabs show (None until the Projects tab has read it)."""
        ...

    def set_project(self, project: Project | None) -> None:
        """Make ``project`` the active one (the header follows)."""
        ...

    def show_tab(self, tab_id: str) -> None:
        """Bring a tab to the screen (building its view on first use)."""
        ...

    def view(self, tab_id: str) -> Widget | None:
        """The view of a tab, or None while that tab has never been shown."""
        ...

    @property
    def views(self) -> Sequence[Widget]:
        """The views mounted so far, in tab order."""
        ...

    async def ensure_view(self, tab_id: str) -> Widget:
        """The view of a tab, mounting it first if it was never shown."""
        ...

    async def switch_to(self, tab_id: str) -> Widget:
        """Show a tab right after a modal closed (pausing the others first); its view."""
        ...

    def reload_service_views(self, service: str) -> None:
        """Forget and refetch every view of ``service`` (after a project switch)."""
        ...

    def offer_renewal(self, error: ClientError, retry: Callable[[], None]) -> None:
        """A service refused the proxy certificate: offer to renew it, then ``retry``."""
        ...


@dataclass(frozen=True, slots=True)
class ViewContext:
    """Everything a view needs from outside itself."""

    clients: Clients
    settings: Settings
    read_only: bool
    now: Callable[[], datetime]
    report_error: ErrorReporter
    navigation: Navigation
    #: Asks the user's password (OpenStack/CADC) from a worker thread; None: nobody to ask.
    password_provider: Callable[[], str] | None = None
