"""VOSpace URIs as the real ``vos`` client reads them, a profile's home, the certificate check."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from canfar_tui.batch.pipeline import PipelineError, validate_vospace_folder
from canfar_tui.clients.base import AuthError
from canfar_tui.clients.bundle import build_clients, build_real_storage
from canfar_tui.clients.credentials import SelfSignedIssuer
from canfar_tui.clients.storage.vospace_certificate import (
    CertificateCheck,
    certificate_problem,
    certificate_user,
)
from canfar_tui.clients.storage.vospace_uris import (
    is_vospace_uri,
    normalise_vospace_uri,
    public_vospace_uri,
    vospace_home,
)
from canfar_tui.config import Profile, Settings
from canfar_tui.widgets.vospace.view import resolve_destination


@pytest.mark.parametrize(
    ("typed", "public"),
    [
        ("vos:jdoe", "vos:jdoe"),
        ("vault:jdoe/cats/", "vos:jdoe/cats/"),
        ("VAULT:jdoe/x", "vos:jdoe/x"),
        ("vos:/jdoe/x", "vos:jdoe/x"),
        ("vos://cadc.nrc.ca!vault/jdoe/x", "vos:jdoe/x"),
        ("vos://cadc.nrc.ca~vault/jdoe/x", "vos:jdoe/x"),
        ("vos://cadc.nrc.ca!arc/projects/p/x", "arc:projects/p/x"),
        ("arc:projects/p", "arc:projects/p"),
        ("cavern:home/jdoe", "cavern:home/jdoe"),
        ("vos://example.org!vospace/a", "vos://example.org!vospace/a"),
    ],
)
def test_typed_uris_get_the_name_vls_prints(typed: str, public: str) -> None:
    assert normalise_vospace_uri(typed) == public
    assert is_vospace_uri(typed)


@pytest.mark.parametrize(
    "bad", ["jdoe/cats", "vos:", "vault:", "ivo://cadc.nrc.ca/vault", "http://x/y", "s3:b/k", ""]
)
def test_what_is_not_a_vospace_node(bad: str) -> None:
    assert not is_vospace_uri(bad)


def test_public_names_of_the_services_answers() -> None:
    assert public_vospace_uri("vos://cadc.nrc.ca!vault/jdoe/a b") == "vos:jdoe/a b"
    assert public_vospace_uri("vos://cadc.nrc.ca!cavern/home/x") == "cavern:home/x"
    assert public_vospace_uri("vos:jdoe") == "vos:jdoe"
    assert public_vospace_uri("vos://other!vault/x") == "vos://other!vault/x"


def test_a_profile_home() -> None:
    assert vospace_home("ivo://cadc.nrc.ca/vault", "jdoe") == "vos:jdoe"  # the legacy default
    assert vospace_home("", "jdoe") == "vos:jdoe"
    assert vospace_home("vos:jdoe", None) == "vos:jdoe"
    assert vospace_home("vault:jdoe", None) == "vos:jdoe"
    assert vospace_home("vos:project/", None) == "vos:project"
    assert vospace_home("vos://cadc.nrc.ca!vault/project/sub/", None) == "vos:project/sub"
    with pytest.raises(ValueError, match="username"):
        vospace_home("ivo://cadc.nrc.ca/vault", None)
    for bad in ("jdoe", "ivo://cadc.nrc.ca/arc", "https://ws-cadc.canfar.net/vault"):
        with pytest.raises(ValueError, match="vospace = "):
            vospace_home(bad, "jdoe")


def test_the_pipeline_folder_takes_every_form() -> None:
    assert validate_vospace_folder("vault:me/cats") == "vos:me/cats/"
    assert validate_vospace_folder("vos://cadc.nrc.ca!vault/me/cats/") == "vos:me/cats/"
    assert validate_vospace_folder("arc:projects/p/cats") == "arc:projects/p/cats/"
    for bad in ("vault:", "vault:me/$(x)", "ivo://cadc.nrc.ca/vault"):
        with pytest.raises(PipelineError, match="not a VOSpace folder"):
            validate_vospace_folder(bad)


def test_the_tab_moves_to_a_vault_uri_under_its_vos_name() -> None:
    assert resolve_destination("vault:me/data/x", "vos:me", "vos:me") == "vos:me/data/x"
    with pytest.raises(ValueError, match="not a VOSpace URI"):
        resolve_destination("http://x/y", "vos:me", "vos:me")


# --------------------------------------------------------------------------- certificates


def _certificate(path: Path, user: str, validity: timedelta) -> Path:
    path.write_bytes(SelfSignedIssuer(user).issue_for(validity))
    return path


def test_certificate_problems_are_one_line_with_the_way_out(tmp_path: Path) -> None:
    good = _certificate(tmp_path / "good.pem", "jdoe", timedelta(days=10))
    old = _certificate(tmp_path / "old.pem", "jdoe", timedelta(minutes=-1))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    assert certificate_problem(good) is None
    assert certificate_user(good) == "jdoe"
    for path, words in (
        (tmp_path / "none.pem", "No CADC certificate at"),
        (old, "expired on"),
        (junk, "holds no readable CADC certificate"),
    ):
        problem = certificate_problem(path)
        assert problem is not None and words in problem and "\n" not in problem
        assert "canfar-tui login" in problem and "cadc-get-cert -n" in problem
        with pytest.raises(AuthError, match=words):
            CertificateCheck(path)()
    assert certificate_user(tmp_path / "none.pem") is None


def test_the_check_follows_a_renewal_and_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "cadcproxy.pem"
    check = CertificateCheck(path)
    with pytest.raises(AuthError):
        check()
    _certificate(path, "jdoe", timedelta(hours=1))
    check()
    with pytest.raises(AuthError, match="expired"):
        check(now=datetime.now(UTC) + timedelta(hours=2))


# --------------------------------------------------------------------------- the bundle


def test_a_real_profile_has_the_vault_as_storage(settings: Settings, tmp_path: Path) -> None:
    certificate = _certificate(tmp_path / "cadcproxy.pem", "jdoe", timedelta(days=1))
    profile = Profile(name="cadc", kind="canfar", certificate=certificate)
    clients = build_clients(replace(settings, profile=profile))
    assert clients.storage is not None
    assert clients.storage.home_uri == "vos:jdoe", "the certificate's CN"
    assert clients.storage.backend_label == "CADC VOSpace"

    storage = build_real_storage(replace(profile, username="alice", vospace="vault:proj/"))
    assert storage.home_uri == "vos:proj"
    assert build_real_storage(replace(profile, username="alice")).home_uri == "vos:alice"


def test_a_real_profile_that_cannot_name_its_home_says_why(
    settings: Settings, tmp_path: Path
) -> None:
    profile = Profile(name="cadc", kind="canfar", certificate=tmp_path / "none.pem")
    clients = build_clients(replace(settings, profile=profile))
    assert clients.storage is None
    reason = clients.why_missing("storage")
    assert "No CADC certificate at" in reason and "cadc-get-cert -n" in reason
    assert "storage" in clients.failed

    clients = build_clients(
        replace(settings, profile=replace(profile, username="jdoe", vospace="jdoe"))
    )
    assert clients.storage is None
    assert "Profile cadc: vospace = 'jdoe'" in clients.why_missing("storage")


async def test_status_fails_for_a_real_vospace_that_cannot_start(
    settings: Settings, tmp_path: Path
) -> None:
    from canfar_tui.cli.status import collect_status, status_exit_code

    profile = Profile(name="cadc", kind="canfar", certificate=tmp_path / "none.pem")
    clients = build_clients(replace(settings, profile=profile))
    statuses = {status.service: status for status in await collect_status(clients, timeout=5)}
    await clients.aclose()
    assert not statuses["storage"].reachable
    assert "No CADC certificate at" in str(statuses["storage"].error)
    assert status_exit_code(list(statuses.values())) == 1
