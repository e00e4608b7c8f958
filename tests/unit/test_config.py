"""Settings: defaults, profiles, overrides and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from canfar_tui.config import ConfigError, Paths, load_settings


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg" / "canfar-tui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_file_means_sandbox(tmp_path: Path) -> None:
    settings = load_settings(env=env_for(tmp_path))
    assert settings.profile.name == "sandbox" and settings.profile.is_sandbox
    assert not settings.read_only
    assert settings.paths.config_file == tmp_path / "cfg" / "canfar-tui" / "config.toml"
    assert settings.paths.data_dir == tmp_path / ".local/share/canfar-tui"
    assert settings.paths.log_file == tmp_path / ".local/state/canfar-tui/canfar-tui.log"


def test_relative_xdg_paths_are_ignored(tmp_path: Path) -> None:
    paths = Paths.from_env({"HOME": str(tmp_path), "XDG_DATA_HOME": "relative/dir"})
    assert paths.data_dir == tmp_path / ".local/share/canfar-tui"


def test_profiles_keymap_refresh_and_read_only(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
default_profile = "arbutus"
read_only = true
[refresh]
instances = 3
[keymap]
"app.tab_queue" = "f5"
[profiles.arbutus]
openrc = "~/canfar-batch-openrc.sh"
certificate = "/tmp/cert.pem"
""",
    )
    settings = load_settings(env=env_for(tmp_path))
    assert settings.profile.name == "arbutus" and settings.profile.kind == "canfar"
    assert (
        settings.profile.openrc is not None
        and settings.profile.openrc.name == "canfar-batch-openrc.sh"
    )
    assert settings.profile.certificate == Path("/tmp/cert.pem")
    assert settings.read_only
    assert settings.refresh_interval("instances") == 3.0
    assert settings.refresh_interval("queue") == 2.0
    assert settings.keymap == {"app.tab_queue": "f5"}
    assert load_settings(env=env_for(tmp_path), profile="sandbox").profile.is_sandbox


def test_openrc_on_the_command_line_makes_a_real_profile(tmp_path: Path) -> None:
    settings = load_settings(env=env_for(tmp_path), openrc=Path("/x/proj-openrc.sh"))
    assert settings.profile.kind == "canfar"
    assert settings.profile.openrc == Path("/x/proj-openrc.sh")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("read_only = 'yes'", "read_only must be true or false"),
        ("[refresh]\ninstances = 'fast'", "refresh.instances must be a number"),
        ("[refresh]\ninstances = true", "refresh.instances must be a number"),
        ("[refresh]\nnope = 3", "unknown refresh area 'nope'"),
        ("[refresh]\nqueue = 0.01", "between 0.2 and 3600"),
        ("[keymap]\n'app.quit' = 3", "keymap.app.quit must be a string"),
        ("colour = 'red'", "unknown key 'colour'"),
        ("default_profile = 'nope'", "unknown profile 'nope'"),
        ("[profiles.x]\npassword = 'hunter2'", "looks like a secret"),
        ("[profiles.x]\nkind = 'aws'", "kind must be 'sandbox' or 'canfar'"),
        ("[profiles.x]\nverify_tls = 'no'", "verify_tls must be true or false"),
        ("[profiles.x]\nssh_options = 'Port=22'", "ssh_options must be a list of strings"),
        ("[profiles.x]\nssh_options = ['-p 22']", "is not an ssh option like Port=2222"),
        (
            "[profiles.x]\ncloud = 'arbutus'\nopenrc = '~/p-openrc.sh'",
            "profiles.x sets both cloud and openrc; keep one",
        ),
        ("this is = not toml =", "not valid TOML"),
    ],
)
def test_bad_config_gives_one_line_error(tmp_path: Path, text: str, expected: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env_for(tmp_path))
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "config.toml" in message
    assert "hunter2" not in message


def test_explicit_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(config_file=tmp_path / "missing.toml", env=env_for(tmp_path))


def test_unknown_profile_on_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'prod' \(profiles: sandbox\)"):
        load_settings(env=env_for(tmp_path), profile="prod")


def test_ssh_options_of_a_profile(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "default_profile = 'arbutus'\n[profiles.arbutus]\n"
        "ssh_options = ['Port=2222', 'ProxyJump bastion.example']\n",
    )
    settings = load_settings(env=env_for(tmp_path))
    assert settings.profile.ssh_options == ("Port=2222", "ProxyJump bastion.example")
    assert settings.profiles["sandbox"].ssh_options == ()
