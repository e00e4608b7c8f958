"""Small remembered choices of the OpenStack tabs, kept in one JSON file per user.

The file is ``preferences.json`` under the XDG data dir (``settings.paths.data_dir``), written
atomically with mode ``0600`` (:func:`canfar_tui.clients.files.atomic_write`).
Everything is stored per profile, so the sandbox and a real cloud never mix. It holds:

* the **batch image**: the image or snapshot chosen with "use for batch" on the Snapshots tab,
  which batch submission offers as its default VM image (:meth:`PreferenceStore.batch_image`);
* the snapshots the user was already **reminded** about (the "you can delete the interactive
  instance now" notice is shown once per snapshot, across restarts);
* per instance, the **login** decided on the first connection: the user to SSH in as (the CADC
  user made by ``canfar_create_user``, or the image's default user when setup was skipped);
* the snapshots the user marked as **having canfar-tui** installed, whose pipeline jobs may run
  ``canfar-tui`` instead of the seed's own steps (:meth:`PreferenceStore.canfar_tui_images`);
* the **last launch**: the image and flavor of the last instance launched, which the launch
  wizard starts on next time (:meth:`PreferenceStore.last_launch`).

Every call reads the file afresh, so two views (or two processes) never hold diverging copies.
A missing or damaged file reads as empty; a failed write raises :class:`PreferencesError` with
one line for the user. No Textual here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from canfar_tui.clients.files import atomic_write
from canfar_tui.logs import get_logger

if TYPE_CHECKING:
    from canfar_tui.config import Settings

__all__ = [
    "FILE_NAME",
    "BatchImage",
    "InstanceLogin",
    "LaunchChoice",
    "PreferenceStore",
    "PreferencesError",
]

#: The file's name inside the data dir.
FILE_NAME = "preferences.json"
_VERSION = 1
#: Lists and maps that only grow are trimmed to their newest entries.
_KEEP = 200

log = get_logger("preferences")

_T = TypeVar("_T")


class PreferencesError(Exception):
    """The preferences file could not be written; ``str()`` is one line for the user."""


@dataclass(frozen=True, slots=True)
class BatchImage:
    """The image batch submission uses by default (chosen with "use for batch")."""

    id: str
    name: str
    project_id: str = ""
    project_name: str = ""


@dataclass(frozen=True, slots=True)
class InstanceLogin:
    """How to log in to one instance, decided on the first connection.

    ``user`` is the account to SSH in as; ``setup_done`` is True when ``canfar_create_user``
    (and ``canfar_setup_scratch``) ran successfully on it.
    """

    user: str
    setup_done: bool = False


@dataclass(frozen=True, slots=True)
class LaunchChoice:
    """The image and flavor of the last instance launched (IDs, and names for another project)."""

    image_id: str
    image_name: str
    flavor_id: str
    flavor_name: str


class PreferenceStore:
    """Read and update the preferences of one profile in ``path``."""

    def __init__(self, path: Path, profile: str) -> None:
        self.path = Path(path)
        self.profile = profile

    @classmethod
    def for_settings(cls, settings: Settings) -> PreferenceStore:
        """The store of the active profile, under the XDG data dir."""
        return cls(settings.paths.data_dir / FILE_NAME, settings.profile.name)

    # ------------------------------------------------------------------ file

    def _load_all(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": _VERSION, "profiles": {}}
        except OSError as error:
            log.warning("cannot read %s: %s", self.path, error.strerror or error)
            return {"version": _VERSION, "profiles": {}}
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("ignoring damaged preferences file %s", self.path)
            return {"version": _VERSION, "profiles": {}}
        if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
            log.warning("ignoring preferences file %s of an unknown shape", self.path)
            return {"version": _VERSION, "profiles": {}}
        return data

    def _section(self, data: dict[str, Any]) -> dict[str, Any]:
        profiles: dict[str, Any] = data["profiles"]
        section = profiles.get(self.profile)
        if not isinstance(section, dict):
            section = {}
            profiles[self.profile] = section
        return section

    def _read(self) -> dict[str, Any]:
        return self._section(self._load_all())

    def _write(self, data: dict[str, Any]) -> None:
        data["version"] = _VERSION
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        try:
            atomic_write(self.path, text, mode=0o600, folder_mode=0o700)
        except OSError as error:
            raise PreferencesError(
                f"Cannot save preferences to {self.path}: {error.strerror or error}"
            ) from error

    def _update(self, change: Callable[[dict[str, Any]], _T]) -> _T:
        """Apply ``change(section)`` to a fresh copy of the file and write it back."""
        data = self._load_all()
        result = change(self._section(data))
        self._write(data)
        return result

    # ------------------------------------------------------------------ batch image

    def batch_image(self) -> BatchImage | None:
        """The default VM image for batch submission, or None when none was chosen."""
        raw = self._read().get("batch_image")
        if not isinstance(raw, dict):
            return None
        try:
            return BatchImage(
                id=str(raw["id"]),
                name=str(raw["name"]),
                project_id=str(raw.get("project_id", "")),
                project_name=str(raw.get("project_name", "")),
            )
        except KeyError:
            return None

    def set_batch_image(self, image: BatchImage | None) -> None:
        """Remember (or with None, forget) the default image for batch submission."""

        def change(section: dict[str, Any]) -> None:
            if image is None:
                section.pop("batch_image", None)
            else:
                section["batch_image"] = asdict(image)

        self._update(change)

    # ------------------------------------------------------------------ reminders

    def was_reminded(self, snapshot_id: str) -> bool:
        reminded = self._read().get("reminded_snapshots")
        return isinstance(reminded, list) and snapshot_id in reminded

    def mark_reminded(self, snapshot_id: str) -> bool:
        """Record the reminder for ``snapshot_id``; False when it had been given already."""

        def change(section: dict[str, Any]) -> bool:
            reminded = section.get("reminded_snapshots")
            if not isinstance(reminded, list):
                reminded = []
            if snapshot_id in reminded:
                return False
            reminded.append(snapshot_id)
            section["reminded_snapshots"] = reminded[-_KEEP:]
            return True

        if self.was_reminded(snapshot_id):
            return False
        return self._update(change)

    # ------------------------------------------------------------------ logins

    def instance_login(self, instance_id: str) -> InstanceLogin | None:
        """How to log in to an instance, or None before its first connection."""
        logins = self._read().get("instance_logins")
        if not isinstance(logins, dict):
            return None
        raw = logins.get(instance_id)
        if not isinstance(raw, dict) or not isinstance(raw.get("user"), str):
            return None
        return InstanceLogin(user=raw["user"], setup_done=bool(raw.get("setup_done", False)))

    def set_instance_login(self, instance_id: str, login: InstanceLogin) -> None:
        def change(section: dict[str, Any]) -> None:
            logins = section.get("instance_logins")
            if not isinstance(logins, dict):
                logins = {}
            logins.pop(instance_id, None)
            logins[instance_id] = asdict(login)
            # dicts keep insertion order: drop the oldest entries beyond the limit.
            section["instance_logins"] = dict(list(logins.items())[-_KEEP:])

        self._update(change)

    # ------------------------------------------------------------------ canfar-tui on snapshots

    def canfar_tui_images(self) -> frozenset[str]:
        """The IDs of the images the user marked as having canfar-tui installed."""
        marked = self._read().get("canfar_tui_images")
        if not isinstance(marked, list):
            return frozenset()
        return frozenset(item for item in marked if isinstance(item, str))

    def set_canfar_tui_image(self, image_id: str, has_canfar_tui: bool) -> None:
        """Mark (or unmark) the image ``image_id`` as having canfar-tui installed."""

        def change(section: dict[str, Any]) -> None:
            marked = section.get("canfar_tui_images")
            if not isinstance(marked, list):
                marked = []
            marked = [item for item in marked if item != image_id]
            if has_canfar_tui:
                marked.append(image_id)
            section["canfar_tui_images"] = marked[-_KEEP:]

        self._update(change)

    # ------------------------------------------------------------------ last launch

    def last_launch(self) -> LaunchChoice | None:
        """The image and flavor of the last launch, or None before the first one."""
        raw = self._read().get("last_launch")
        if not isinstance(raw, dict):
            return None
        try:
            return LaunchChoice(
                image_id=str(raw["image_id"]),
                image_name=str(raw["image_name"]),
                flavor_id=str(raw["flavor_id"]),
                flavor_name=str(raw["flavor_name"]),
            )
        except KeyError:
            return None

    def set_last_launch(self, choice: LaunchChoice) -> None:
        """Remember the image and flavor just launched."""

        def change(section: dict[str, Any]) -> None:
            section["last_launch"] = asdict(choice)

        self._update(change)
