"""Config errors never show a value under a secret-looking key (issue 16 item 10).

``[refresh] password = "TopSecretE"`` gave "refresh.password must be a number, got
'TopSecretE'"; ``theme = {password=…}`` and ``cloud = {password=…}`` printed the value the
same way, and ``[keymap] password = …`` was accepted silently.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from canfar_tui.config import ConfigError, load_settings, looks_secret

SECRET = "TopSecretE"
REFUSAL = "looks like a secret; canfar-tui asks for passwords and never reads them from a file"

CASES = {
    "refresh": (f'[refresh]\npassword = "{SECRET}"\n', "refresh.password"),
    "theme_table": (f'theme = {{password = "{SECRET}"}}\n', "theme.password"),
    "profile_cloud_table": (
        f'[profiles.arbutus]\ncloud = {{password = "{SECRET}"}}\n',
        "profiles.arbutus.cloud.password",
    ),
    "keymap": (f'[keymap]\npassword = "{SECRET}"\n', "keymap.password"),
    "top_level": (f'os_password = "{SECRET}"\n', "os_password"),
    "api_token": (f'[refresh]\napi-token = "{SECRET}"\n', "refresh.api-token"),
    "nested_list": (
        f'[profiles.x]\nssh_options = [{{client_secret = "{SECRET}"}}]\n',
        "profiles.x.ssh_options.client_secret",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_secret_looking_keys_are_refused_without_their_value(case: str, tmp_path: Path) -> None:
    text, dotted = CASES[case]
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config)
    message = str(caught.value)
    assert SECRET not in message
    assert message.startswith(f"{config}: {dotted} {REFUSAL}")
    assert "\n" not in message


def test_a_table_where_a_value_belongs_is_not_printed(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'theme = {{colour = "{SECRET}"}}\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config)
    assert str(caught.value) == f"{config}: theme must be a string, got a table"


def test_binding_ids_that_mention_a_password_dialog_are_not_secrets() -> None:
    assert not looks_secret("password.cancel")  # the password dialog's binding id
    assert not looks_secret("credentials")  # a refresh area
    assert looks_secret("password") and looks_secret("OS_PASSWORD") and looks_secret("api_key")
    assert looks_secret("db-passwd") and looks_secret("private_key_file")


def test_status_with_a_secret_in_refresh_prints_no_value(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CASES["refresh"][0])
    proc = subprocess.run(
        [sys.executable, "-m", "canfar_tui", "--config", str(config), "status"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert SECRET not in proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"canfar-tui: {config}: refresh.password {REFUSAL}")
