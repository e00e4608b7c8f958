"""The preferences file: batch image, reminders and logins, per profile, written atomically."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from canfar_tui.config import Settings
from canfar_tui.preferences import (
    FILE_NAME,
    BatchImage,
    InstanceLogin,
    PreferencesError,
    PreferenceStore,
)


def test_an_empty_store_knows_nothing(tmp_path: Path) -> None:
    store = PreferenceStore(tmp_path / "prefs.json", "sandbox")
    assert store.batch_image() is None
    assert not store.was_reminded("img-1")
    assert store.instance_login("vm-1") is None
    assert not (tmp_path / "prefs.json").exists(), "reading creates nothing"


def test_batch_image_round_trip_and_unset(tmp_path: Path) -> None:
    path = tmp_path / "data" / "prefs.json"
    store = PreferenceStore(path, "sandbox")
    image = BatchImage("img-1", "image-reduction-2023-08-21", "p-1", "canfar-batch-demo")
    store.set_batch_image(image)
    assert PreferenceStore(path, "sandbox").batch_image() == image
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    store.set_batch_image(None)
    assert store.batch_image() is None


def test_profiles_do_not_mix(tmp_path: Path) -> None:
    path = tmp_path / "prefs.json"
    PreferenceStore(path, "sandbox").set_batch_image(BatchImage("a", "sandbox-image"))
    PreferenceStore(path, "arbutus").set_batch_image(BatchImage("b", "real-image"))
    assert PreferenceStore(path, "sandbox").batch_image() == BatchImage("a", "sandbox-image")
    assert PreferenceStore(path, "arbutus").batch_image() == BatchImage("b", "real-image")


def test_a_reminder_is_given_once(tmp_path: Path) -> None:
    store = PreferenceStore(tmp_path / "prefs.json", "sandbox")
    assert store.mark_reminded("img-1") is True
    assert store.mark_reminded("img-1") is False
    assert PreferenceStore(tmp_path / "prefs.json", "sandbox").was_reminded("img-1")
    assert store.mark_reminded("img-2") is True


def test_instance_logins(tmp_path: Path) -> None:
    store = PreferenceStore(tmp_path / "prefs.json", "sandbox")
    store.set_instance_login("vm-1", InstanceLogin("jdoe", setup_done=True))
    store.set_instance_login("vm-2", InstanceLogin("ubuntu"))
    assert store.instance_login("vm-1") == InstanceLogin("jdoe", True)
    assert store.instance_login("vm-2") == InstanceLogin("ubuntu", False)
    assert store.instance_login("vm-3") is None


def test_a_damaged_file_reads_as_empty_and_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "prefs.json"
    path.write_text("{not json")
    store = PreferenceStore(path, "sandbox")
    assert store.batch_image() is None
    store.set_batch_image(BatchImage("a", "x"))
    assert json.loads(path.read_text())["profiles"]["sandbox"]["batch_image"]["name"] == "x"
    path.write_text('["a list"]')
    assert store.batch_image() is None


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    store = PreferenceStore(tmp_path / "data" / "prefs.json", "sandbox")
    for index in range(5):
        store.set_instance_login(f"vm-{index}", InstanceLogin("ubuntu"))
    assert sorted(os.listdir(tmp_path / "data")) == ["prefs.json"]


def test_a_failed_write_is_one_line(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("in the way")
    store = PreferenceStore(not_a_directory / "prefs.json", "sandbox")
    with pytest.raises(PreferencesError) as caught:
        store.set_batch_image(BatchImage("a", "x"))
    assert "Cannot save preferences" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_store_of_the_settings_lives_in_the_data_dir(settings: Settings) -> None:
    store = PreferenceStore.for_settings(settings)
    assert store.path == settings.paths.data_dir / FILE_NAME
    assert store.profile == settings.profile.name
