"""Login's headless parts: the config writer, the netrc hosts read from the registry, discovery.

The netrc hosts are derived by cadcutils itself from a registry cache and capabilities
caches written here (dated in the future, so nothing is fetched): the same files cadcutils
keeps under ``~/.config/cadc-registry``.
"""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

import pytest

from canfar_tui.clients.base import AuthError, InvalidInput, Unavailable
from canfar_tui.clients.credentials import (
    CadcCredentials,
    SelfSignedIssuer,
    password_subject,
    registry_netrc_hosts,
)
from canfar_tui.clients.login import (
    Discovery,
    LoginRequest,
    check_vospace,
    discover,
    plan_profiles,
)
from canfar_tui.config import ConfigError, Profile, load_settings, save_profiles

CERT = Path("/home/u/.ssl/cadcproxy.pem")


def real_profile(name: str, **values: object) -> Profile:
    return Profile(
        name=name,
        kind="canfar",
        username="jdoe",
        vospace="vos:jdoe",
        certificate=Path("~/.ssl/cadcproxy.pem").expanduser(),
        **values,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- config writer

USER_CONFIG = """\
# my settings
read_only = true   # careful
theme = "textual-light"

[refresh]
queue = 3

[keymap]
"app.tab_queue" = "f5"

[profiles.old]
kind = "canfar"
cloud = "arbutus-canfar"
"""


def test_save_profiles_keeps_the_users_settings_and_comments(isolated_home: Path) -> None:
    config = isolated_home / ".config" / "canfar-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(USER_CONFIG)
    openrc = isolated_home / "proj-openrc.sh"
    save_profiles(config, [real_profile("proj", openrc=openrc)], default="proj", home=isolated_home)

    text = config.read_text()
    assert "# my settings" in text and "# careful" in text
    data = tomllib.loads(text)
    assert data["read_only"] is True and data["theme"] == "textual-light"
    assert data["refresh"] == {"queue": 3} and data["keymap"] == {"app.tab_queue": "f5"}
    assert data["profiles"]["old"] == {"kind": "canfar", "cloud": "arbutus-canfar"}
    assert data["default_profile"] == "proj"
    assert data["profiles"]["proj"] == {
        "kind": "canfar",
        "username": "jdoe",
        "openrc": "~/proj-openrc.sh",
        "vospace": "vos:jdoe",
        "certificate": "~/.ssl/cadcproxy.pem",
    }
    settings = load_settings()
    assert settings.profile.name == "proj" and settings.profile.openrc == openrc
    assert [p.name for p in config.parent.iterdir()] == ["config.toml"]  # no temporary left


def test_save_profiles_refuses_an_existing_profile_unless_forced(isolated_home: Path) -> None:
    config = isolated_home / "config.toml"
    config.write_text(USER_CONFIG)
    with pytest.raises(ConfigError, match="exists already"):
        save_profiles(config, [real_profile("old")], default="old")
    assert config.read_text() == USER_CONFIG

    save_profiles(config, [real_profile("old", cloud="other")], default="old", force=True)
    data = tomllib.loads(config.read_text())
    assert data["profiles"]["old"]["cloud"] == "other"
    assert data["profiles"]["old"]["username"] == "jdoe"
    assert data["default_profile"] == "old" and data["theme"] == "textual-light"


def test_save_profiles_replaces_the_default_line_and_rewrites_odd_files(
    isolated_home: Path,
) -> None:
    config = isolated_home / "config.toml"
    config.write_text('default_profile = "sandbox"\nprofiles = { a = { kind = "canfar" } }\n')
    save_profiles(config, [real_profile("b")], default="b")
    data = tomllib.loads(config.read_text())
    assert data["default_profile"] == "b"
    assert set(data["profiles"]) == {"a", "b"}  # an inline table: written afresh, still equal


def test_save_profiles_never_writes_a_secret_or_the_sandbox(isolated_home: Path) -> None:
    config = isolated_home / "config.toml"
    with pytest.raises(ConfigError, match="built in"):
        save_profiles(config, [Profile(name="sandbox")], default="sandbox")
    text = save_profiles(config, [real_profile("p")], default="p", write=False)
    assert not config.exists()
    assert "password" not in text


def test_broken_config_is_refused_and_kept(isolated_home: Path) -> None:
    config = isolated_home / "config.toml"
    config.write_text("this is = = not toml\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        save_profiles(config, [real_profile("p")], default="p")
    assert config.read_text() == "this is = = not toml\n"


# --------------------------------------------------------------------------- netrc hosts


def capabilities(features: dict[str, str]) -> str:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<vosi:capabilities'
        ' xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">'
    ]
    for standard_id, url in features.items():
        parts.append(
            f'<capability standardID="{standard_id}"><interface xsi:type="vs:ParamHTTP" '
            f'role="std"><accessURL use="base">{url}</accessURL></interface>'
            f'<interface xsi:type="vs:ParamHTTP" role="std"><accessURL use="base">{url}'
            '</accessURL><securityMethod standardID="ivo://ivoa.net/sso#BasicAA"/>'
            "</interface></capability>"
        )
    parts.append("</vosi:capabilities>\n")
    return "".join(parts)


AVAILABILITY = "ivo://ivoa.net/std/VOSI#availability"
#: CADC-like: the services spread over hosts; the UMS login on a host of its own here.
SERVICES = {
    "cred": {
        AVAILABILITY: "https://ws-cadc.canfar.net/cred/availability",
        "ivo://ivoa.net/std/CDP#proxy-1.0": "https://ws-cadc.canfar.net/cred/generate",
    },
    "gms": {
        AVAILABILITY: "https://ws-cadc.canfar.net/ac/availability",
        "ivo://ivoa.net/std/UMS#login-0.1": "https://ws-ac.canfar.net/ac/login",
    },
    "vault": {AVAILABILITY: "https://ws-uv.canfar.net/vault/availability"},
    "cadc/minoc": {AVAILABILITY: "https://ws-minoc.canfar.net/minoc/availability"},
}


def registry_cache(
    folder: Path, monkeypatch: pytest.MonkeyPatch, services: dict[str, dict[str, str]]
) -> None:
    """cadcutils' registry and capabilities caches, fresh for ten years."""
    from cadcutils.net import ws

    future = time.time() + 10 * 365 * 86400
    lines = []
    for name, features in services.items():
        lines.append(f"ivo://cadc.nrc.ca/{name} = https://example.invalid/{name}/capabilities")
        head, _, last = name.rpartition("/")
        path = folder / "cadc.nrc.ca" / head / f".{last}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(capabilities(features))
        os.utime(path, (future, future))
    registry = folder / "resource-caps"
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text("\n".join(lines) + "\n")
    os.utime(registry, (future, future))
    monkeypatch.setattr(ws, "CACHE_LOCATION", str(folder))
    monkeypatch.setattr(ws, "DEFAULT_REGISTRY", "https://127.0.0.1:9/reg/resource-caps")


def test_netrc_hosts_come_from_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry_cache(tmp_path / "reg", monkeypatch, SERVICES)
    # cred's and vault's own hosts (the realm cadcutils asks), gms's login host; not minoc.
    assert registry_netrc_hosts() == ("ws-cadc.canfar.net", "ws-ac.canfar.net", "ws-uv.canfar.net")


def test_a_replica_registry_gives_its_one_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = {
        name: {key: url.replace(url.split("/")[2], "127.0.0.1:8443") for key, url in feats.items()}
        for name, feats in SERVICES.items()
        if name != "vault"  # a registry without VOSpace: no host for it
    }
    registry_cache(tmp_path / "reg", monkeypatch, local)
    assert registry_netrc_hosts() == ("127.0.0.1",)


def test_no_registry_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cadcutils.net import ws

    monkeypatch.setattr(ws, "CACHE_LOCATION", str(tmp_path / "empty"))
    monkeypatch.setattr(ws, "DEFAULT_REGISTRY", "https://127.0.0.1:9/reg/resource-caps")
    with pytest.raises(Unavailable, match="registry"):
        registry_netrc_hosts()


async def test_the_netrc_is_written_for_the_registry_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import netrc

    from canfar_tui.clients.credentials import CdpIssuer

    registry_cache(tmp_path / "reg", monkeypatch, SERVICES)
    path = tmp_path / ".netrc"
    path.write_text("machine example.org login bob password other\n")
    os.chmod(path, 0o600)
    client = CadcCredentials(certificate=tmp_path / "cert.pem", netrc_path=path)
    assert isinstance(client.issuer, CdpIssuer)
    status = await client.save_netrc_entry("alice", "s3cret")
    assert status.netrc_has_entry and status.username == "alice"
    parsed = netrc.netrc(str(path))
    assert set(parsed.hosts) == {
        "example.org",
        "ws-cadc.canfar.net",
        "ws-ac.canfar.net",
        "ws-uv.canfar.net",
    }
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_password_subject_never_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    def no_prompt(*args: object, **kwargs: object) -> str:
        raise AssertionError("getpass was called")

    monkeypatch.setattr(getpass, "getpass", no_prompt)
    subject = password_subject("alice", {"ws-cadc.canfar.net": ("alice", "pw")})
    assert subject.get_auth("ws-cadc.canfar.net") == ("alice", "pw")
    with pytest.raises(AuthError, match=r"other\.example"):
        subject.get_auth("other.example")


# --------------------------------------------------------------------------- discovery, plan

OPENRC = """\
export OS_AUTH_URL=https://arbutus-canfar.cloud.computecanada.ca:5000/v3
export OS_PROJECT_NAME="{project}"
export OS_USER_DOMAIN_NAME="CANFAR"
export OS_USERNAME=$OS_USERNAME_INPUT
echo "Please enter your OpenStack Password for project $OS_PROJECT_NAME: "
read -sr OS_PASSWORD_INPUT
export OS_PASSWORD=$OS_PASSWORD_INPUT
"""


def test_openrc_files_sourced_environment_and_clouds_yaml_are_found(tmp_path: Path) -> None:
    for project in ("canfar-batch", "my-project"):
        (tmp_path / f"{project}-openrc.sh").write_text(OPENRC.format(project=project))
    (tmp_path / "broken-openrc.sh").write_bytes(b"\0binary")
    clouds = tmp_path / ".config" / "openstack" / "clouds.yaml"
    clouds.parent.mkdir(parents=True)
    clouds.write_text("clouds:\n  arbutus-canfar:\n    auth: {}\n")
    env = {
        "PATH": str(tmp_path / "no-bin"),
        "OS_AUTH_URL": "https://keystone.example/v3",
        "OS_PROJECT_NAME": "my-project",
    }
    found = discover(tmp_path, env)
    names = [choice.name for choice in found.clouds]
    # The sourced project first (from its file), then the other files, then clouds.yaml.
    assert names == ["my-project", "canfar-batch", "arbutus-canfar"]
    assert found.clouds[0].openrc == tmp_path / "my-project-openrc.sh"
    assert found.clouds[2].cloud == "arbutus-canfar"
    assert len(found.problems) == 1 and "binary" in found.problems[0]
    assert found.canfar_submit is None

    request = LoginRequest(username="jdoe", password="pw", profile_name="main")
    profiles, default = plan_profiles(request, found, CERT)
    assert default == "main"
    assert [p.name for p in profiles] == ["main", "canfar-batch", "arbutus-canfar"]
    assert all(p.vospace == "vos:jdoe" and p.username == "jdoe" for p in profiles)


def test_a_sourced_environment_without_file_is_a_profile_of_its_own(tmp_path: Path) -> None:
    env = {"PATH": "", "OS_AUTH_URL": "https://k.example/v3", "OS_PROJECT_NAME": "proj x"}
    found = discover(tmp_path, env)
    assert [(c.name, c.environment) for c in found.clouds] == [("proj-x", True)]
    profiles, _ = plan_profiles(LoginRequest("jdoe", "pw"), found, CERT)
    assert profiles[0].openrc is None and profiles[0].cloud is None


def test_no_cloud_gives_one_cadc_profile_and_project_spaces_are_accepted() -> None:
    request = LoginRequest("jdoe", "pw", vospace="vos:myproject/")
    profiles, default = plan_profiles(request, Discovery(), CERT)
    assert default == "jdoe" and profiles[0].vospace == "vos:myproject/"
    assert check_vospace("vault:jdoe") == "vault:jdoe"
    for bad in ("ivo://cadc.nrc.ca/vault", "vos:", "jdoe", "vos:a b"):
        with pytest.raises(InvalidInput):
            check_vospace(bad)


def test_the_sandbox_issuer_has_no_registry_hosts(tmp_path: Path) -> None:
    client = CadcCredentials(
        certificate=tmp_path / "c.pem", netrc_path=tmp_path / "n", issuer=SelfSignedIssuer("a")
    )
    assert client._netrc_hosts_sync()[0] == "ws.cadc-ccda.hia-iha.nrc-cnrc.gc.ca"


def test_a_clouds_yaml_that_is_endless_or_huge_is_one_problem(tmp_path: Path) -> None:
    """Issue 16 item 6: every small file read is bounded (``/dev/zero`` as clouds.yaml)."""
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(2 * 1024 * 1024)
    for config in ("/dev/zero", str(huge)):
        env = {"PATH": str(tmp_path / "no-bin"), "OS_CLIENT_CONFIG_FILE": config}
        found = discover(tmp_path, env)
        assert found.clouds == ()
        assert len(found.problems) == 1
        assert "too large for a clouds.yaml" in found.problems[0]
