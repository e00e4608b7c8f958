"""A real profile's VOSpace against the CADC replica's vault (``scripts/cadc/start.sh``).

Everything goes through the real-profile path: :func:`~canfar_tui.clients.bundle.build_clients`
with a ``kind = "canfar"`` profile, in a HOME holding only the replica's registry cache and the
proxy certificate the installed ``cadc-get-cert -n`` obtained there from the replica's credential
service; the real ``vos`` client talks HTTPS to the replica, verified against its test CA. Never
the sandbox. Covered: the home (``vos:<user>``; from the profile's username, the certificate's CN,
the legacy ``ivo://cadc.nrc.ca/vault``, ``vault:<user>``), MD5-verified upload and download,
``vos:``/``vault:``/``vos://`` names of one node, ``canfar-tui put`` as a subprocess, the
pipeline's outcome check in a ``vault:`` folder, the ``status`` storage line, the VOSpace tab
(Textual pilot), and a missing or expired certificate (one line saying how to get one).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cadc_services import CadcService, cadc_service_or_skip
from real_services import REPO

from canfar_tui.clients.base import AuthError
from canfar_tui.clients.bundle import Clients, build_clients
from canfar_tui.config import DEFAULT_REFRESH, Profile, Settings, load_settings

BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (BIN / "cadc-get-cert").exists(),
        reason="cadc-get-cert is not installed next to this Python",
    ),
]


@pytest.fixture(scope="module")
def cadc_service() -> CadcService:
    """The running replica; skips without it (fails when services are required)."""
    return cadc_service_or_skip()


@pytest.fixture(scope="module")
def account_home(cadc_service: CadcService, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME with the replica's registry cache and a proxy from ``cadc-get-cert -n``."""
    home = cadc_service.new_home(tmp_path_factory.mktemp("cadc-account") / "home")
    cadc_service.login(home)
    return home


@dataclass
class RealAccount:
    """The replica user, logged in, and the settings of the app's isolated XDG folders."""

    service: CadcService
    home: Path
    settings: Settings
    #: This test's folder below the user's home (``rv-<hex>``), removed afterwards.
    folder: str

    @property
    def user(self) -> str:
        return self.service.user

    @property
    def certificate(self) -> Path:
        return self.home / ".ssl" / "cadcproxy.pem"

    def profile(self, **changes: Any) -> Profile:
        values: dict[str, Any] = {
            "name": "cadc",
            "kind": "canfar",
            "username": self.user,
            "certificate": self.certificate,
            "vospace": f"vos:{self.user}",
        }
        values.update(changes)
        return Profile(**values)

    def clients(self, **changes: Any) -> Clients:
        return build_clients(replace(self.settings, profile=self.profile(**changes)))

    def uri(self, *names: str) -> str:
        return "/".join((f"vos:{self.user}", self.folder, *names))

    def stored(self, *names: str) -> Path:
        """Where the replica's vault keeps ``uri(*names)``."""
        return self.service.vault_root.joinpath(self.user, self.folder, *names)

    def config_file(self, **changes: Any) -> Path:
        """A canfar-tui config whose default profile is this account (nothing secret)."""
        profile = self.profile(**changes)
        path = self.home.parent / f"config-{uuid.uuid4().hex[:6]}.toml"
        lines = ['default_profile = "cadc"', "", "[profiles.cadc]", 'kind = "canfar"']
        if profile.username:
            lines.append(f'username = "{profile.username}"')
        lines += [f'vospace = "{profile.vospace}"', f'certificate = "{profile.certificate}"']
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def run(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``canfar-tui ARGS`` as a subprocess, as the user would run it in this HOME."""
        env = self.service.client_env(self.home)
        env["PYTHONPATH"] = os.pathsep.join((str(self.service.pythonpath), str(REPO)))
        for name in ("OS_AUTH_URL", "OS_CLOUD", "CANFAR_TUI_SANDBOX_VOSPACE", "CANFAR_TUI_FAULTS"):
            env.pop(name, None)
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            env[name] = os.environ[name]
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "canfar_tui",
                "--config",
                str(config or self.config_file()),
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
            check=False,
        )


@pytest.fixture
async def account(
    cadc_service: CadcService,
    account_home: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RealAccount]:
    """The logged-in replica user with HOME at its account and a fresh test folder."""
    monkeypatch.setenv("HOME", str(account_home))
    for name in ("OS_AUTH_URL", "OS_CLOUD", "CANFAR_TUI_FAULTS"):
        monkeypatch.delenv(name, raising=False)
    cadc_service.trust_in_process(monkeypatch)
    settings = replace(load_settings(), refresh={area: 0.5 for area in DEFAULT_REFRESH})
    made = RealAccount(cadc_service, account_home, settings, f"rv-{uuid.uuid4().hex[:8]}")
    clients = made.clients()
    storage = clients.storage
    assert storage is not None, clients.why_missing("storage")
    await storage.mkdir(made.uri())
    try:
        yield made
    finally:
        try:
            await storage.delete(made.uri(), recursive=True)
        finally:
            await clients.aclose()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def catalogue(path: Path, lines: int = 2000) -> Path:
    rows = "".join(f"{n} {n * 0.5:.1f} {n * 1.5:.1f} {uuid.uuid4().hex}\n" for n in range(lines))
    path.write_text("# NUMBER X_IMAGE Y_IMAGE TAG\n" + rows, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the home


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({}, "the profile's vospace"),
        ({"vospace": "ivo://cadc.nrc.ca/vault"}, "the legacy default means the user's home"),
        ({"vospace": "ivo://cadc.nrc.ca/vault", "username": None}, "the certificate's CN"),
        ({"vospace": "vault:{user}"}, "vault: is vos's short form for the vault service"),
        ({"vospace": "vos://cadc.nrc.ca!vault/{user}/"}, "the service's full form"),
    ],
)
async def test_a_real_profile_lists_its_vault_home(
    account: RealAccount, changes: dict[str, Any], why: str
) -> None:
    changes = {
        key: value.format(user=account.user) if isinstance(value, str) else value
        for key, value in changes.items()
    }
    clients = account.clients(**changes)
    try:
        storage = clients.storage
        assert storage is not None, clients.why_missing("storage")
        assert storage.home_uri == f"vos:{account.user}", why
        assert storage.backend_label == "CADC VOSpace"
        assert "SANDBOX" not in clients.mode_label
        listed = await storage.list_nodes(storage.home_uri)
        assert f"vos:{account.user}/{account.folder}" in [node.uri for node in listed]
        home = await storage.stat(storage.home_uri)
        assert home.is_container and home.uri == f"vos:{account.user}"
    finally:
        await clients.aclose()


async def test_a_project_space_is_the_home_it_names(account: RealAccount) -> None:
    # the replica has no shared project spaces: a folder of the user's stands for one
    clients = account.clients(vospace=f"vos:{account.user}/{account.folder}/", username=None)
    try:
        storage = clients.storage
        assert storage is not None
        assert storage.home_uri == account.uri()
        assert await storage.list_nodes(storage.home_uri) == []
    finally:
        await clients.aclose()


# --------------------------------------------------------------------------- transfers


async def test_upload_is_md5_verified_and_downloads_back_identical(
    account: RealAccount, tmp_path: Path
) -> None:
    local = catalogue(tmp_path / "1056213p.cat")
    seen: list[int] = []
    clients = account.clients()
    try:
        storage = clients.storage
        assert storage is not None
        node = await storage.upload(
            local, account.uri("1056213p.cat"), progress=lambda done, total: seen.append(done)
        )
        assert node.uri == account.uri("1056213p.cat")
        assert node.md5 == md5_of(local)
        assert node.size == local.stat().st_size
        assert seen and seen[-1] == local.stat().st_size
        assert md5_of(account.stored("1056213p.cat")) == md5_of(local), "the vault holds it"

        back = tmp_path / "back"
        back.mkdir()
        downloaded = await storage.download(account.uri("1056213p.cat"), back)
        assert downloaded == back / "1056213p.cat"
        assert md5_of(downloaded) == md5_of(local)
        assert sorted(path.name for path in back.iterdir()) == ["1056213p.cat"], "no temp file"
    finally:
        await clients.aclose()


async def test_vault_and_vos_forms_name_the_same_node(account: RealAccount, tmp_path: Path) -> None:
    local = catalogue(tmp_path / "a.cat", lines=10)
    clients = account.clients()
    try:
        storage = clients.storage
        assert storage is not None
        vault_uri = f"vault:{account.user}/{account.folder}/a.cat"
        node = await storage.upload(local, vault_uri)
        assert node.uri == account.uri("a.cat"), "shown as vos:, like vls"
        full = f"vos://cadc.nrc.ca!vault/{account.user}/{account.folder}/a.cat"
        for name in (vault_uri, account.uri("a.cat"), full):
            found = await storage.stat(name)
            assert found.uri == account.uri("a.cat") and found.md5 == md5_of(local)
        listed = await storage.list_nodes(f"vault:{account.user}/{account.folder}")
        assert [item.uri for item in listed] == [account.uri("a.cat")]
        after = await storage.list_nodes(
            f"vault:{account.user}/{account.folder}", start_after=account.uri("a.cat")
        )
        assert after == [], "a page after a child named by its vos: URI"
        await storage.mkdir(f"vault:{account.user}/{account.folder}/sub")
        moved = await storage.move(
            account.uri("a.cat"), f"vault:{account.user}/{account.folder}/sub"
        )
        assert moved.uri == account.uri("sub", "a.cat")
        assert account.stored("sub", "a.cat").is_file()
    finally:
        await clients.aclose()


# --------------------------------------------------------------------------- canfar-tui put


def test_canfar_tui_put_uploads_to_the_real_vault(account: RealAccount, tmp_path: Path) -> None:
    first = catalogue(tmp_path / "1056215p.cat", lines=50)
    second = catalogue(tmp_path / "1056216p.cat", lines=60)

    result = account.run("put", str(first), f"vos:{account.user}/{account.folder}/cats/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{account.uri('cats', first.name)}  md5={md5_of(first)}  {first.stat().st_size} bytes"
    ], "one line, and no (sandbox)"
    assert md5_of(account.stored("cats", first.name)) == md5_of(first)

    result = account.run("put", str(second), f"vault:{account.user}/{account.folder}/cats/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"{account.uri('cats', second.name)}  md5={md5_of(second)}  {second.stat().st_size} bytes"
    )
    assert "sandbox" not in result.stdout + result.stderr
    assert md5_of(account.stored("cats", second.name)) == md5_of(second)


def test_canfar_tui_put_without_a_certificate_says_how_to_get_one(
    account: RealAccount, tmp_path: Path
) -> None:
    local = catalogue(tmp_path / "x.cat", lines=5)
    missing = tmp_path / "nowhere" / "cadcproxy.pem"
    for username in (account.user, None):
        config = account.config_file(certificate=missing, username=username)
        result = account.run(
            "put", str(local), f"vos:{account.user}/{account.folder}/", config=config
        )
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "No CADC certificate at" in lines[0]
        assert "canfar-tui login" in lines[0] and "cadc-get-cert -n" in lines[0]
        assert "Traceback" not in result.stderr and not result.stdout
    assert not account.stored("x.cat").exists()


async def test_the_pipeline_outcome_is_checked_in_the_real_vault(
    account: RealAccount, tmp_path: Path
) -> None:
    from canfar_tui.batch.pipeline import PipelineSpec, catalogue_name
    from canfar_tui.batch.pipeline_run import collect_outcome

    spec = PipelineSpec(
        ("1056215p", "1056216p"), f"vault:{account.user}/{account.folder}/catalogues"
    )
    assert spec.vospace_folder == account.uri("catalogues") + "/"
    submit_dir = tmp_path / "submit"
    submit_dir.mkdir()
    # the first job stored its catalogue as the job script does (canfar-tui put), and the
    # catalogue came back to the submit directory; the second failed with one line
    made = catalogue(submit_dir / catalogue_name("1056215p"), lines=30)
    result = account.run("put", str(made), spec.vospace_folder)
    assert result.returncode == 0, result.stderr
    (submit_dir / spec.error_file("1056216p")).write_text(
        "do_catalogue 1056216p: detect failed: no sources\n", encoding="utf-8"
    )
    clients = account.clients()
    try:
        storage = clients.storage
        assert storage is not None
        outcome = await collect_outcome(storage, spec, submit_dir)
    finally:
        await clients.aclose()
    assert [(item.obs_id, item.uri, item.md5) for item in outcome.arrived] == [
        ("1056215p", spec.catalogue_uri("1056215p"), md5_of(made))
    ]
    assert [(item.obs_id, item.reason) for item in outcome.failed] == [
        ("1056216p", "do_catalogue 1056216p: detect failed: no sources")
    ]


# --------------------------------------------------------------------------- status


async def test_status_storage_line_reports_the_real_vault(account: RealAccount) -> None:
    from canfar_tui.cli.status import collect_status, status_text

    clients = account.clients()
    try:
        statuses = {status.service: status for status in await collect_status(clients, timeout=30)}
    finally:
        await clients.aclose()
    storage = statuses["storage"]
    assert storage.reachable and storage.backend == "CADC VOSpace"
    assert storage.summary["home"] == f"vos:{account.user}"
    line = next(
        line
        for line in status_text("cadc", "real", list(statuses.values())).splitlines()
        if " storage " in line
    )
    assert line.split()[:4] == ["ok", "storage", "CADC", "VOSpace"]
    assert f"vos:{account.user}:" in line

    broken = account.clients(certificate=account.home / "missing.pem", username=None)
    try:
        statuses = {status.service: status for status in await collect_status(broken, timeout=30)}
    finally:
        await broken.aclose()
    assert not statuses["storage"].reachable, "a real profile's VOSpace that cannot start fails"
    assert "No CADC certificate at" in str(statuses["storage"].error)


# --------------------------------------------------------------------------- certificates


async def test_a_missing_or_expired_certificate_is_one_line(
    account: RealAccount, tmp_path: Path
) -> None:
    from canfar_tui.clients.credentials import SelfSignedIssuer

    expired = tmp_path / "expired.pem"
    expired.write_bytes(SelfSignedIssuer(account.user).issue_for(timedelta(minutes=-1)))
    expired.chmod(0o600)
    cases: list[tuple[Path, str]] = [
        (tmp_path / "missing.pem", "No CADC certificate at"),
        (expired, "expired on"),
    ]
    for certificate, words in cases:
        clients = account.clients(certificate=certificate)
        try:
            storage = clients.storage
            assert storage is not None
            with pytest.raises(AuthError) as caught:
                await storage.list_nodes(storage.home_uri)
            message = caught.value.message
            assert words in message and "\n" not in message
            assert "canfar-tui login" in message and "c on the dashboard" in message
            assert "cadc-get-cert -n" in message
        finally:
            await clients.aclose()

    # renewed in place (cadc-get-cert -n in another shell): the next call works
    renewed = tmp_path / "renewed.pem"
    renewed.write_bytes(expired.read_bytes())
    clients = account.clients(certificate=renewed)
    try:
        storage = clients.storage
        assert storage is not None
        with pytest.raises(AuthError):
            await storage.stat(storage.home_uri)
        renewed.write_bytes(account.certificate.read_bytes())
        assert (await storage.stat(storage.home_uri)).is_container
    finally:
        await clients.aclose()


# --------------------------------------------------------------------------- the VOSpace tab


async def until(pilot: Any, condition: Callable[[], object], *, steps: int = 400) -> None:
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


@pytest.fixture
def no_condor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app's queue needs no pool here: the schedd lookup fails fast."""
    monkeypatch.setenv("CONDOR_CONFIG", "/dev/null")
    yield


async def test_the_vospace_tab_shows_the_real_home(
    account: RealAccount, tmp_path: Path, no_condor: None
) -> None:
    from textual.widgets import Static

    from canfar_tui.app import create_app
    from canfar_tui.widgets.vospace.view import VOSpaceView

    clients = account.clients()
    storage = clients.storage
    assert storage is not None
    local = catalogue(tmp_path / "1056217p.cat", lines=20)
    await storage.upload(local, account.uri("1056217p.cat"))
    app = create_app(account.settings, clients)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6")
        await until(pilot, lambda: app.view("vospace") is not None)
        view = app.view("vospace")
        assert isinstance(view, VOSpaceView)
        await until(pilot, lambda: view.state == "ready")
        crumbs = str(view.query_one(".vospace-breadcrumbs", Static).render())
        assert crumbs.startswith(f"vos:{account.user}")
        rows = [str(view.table.get_row(key)[0]) for key in view.table.visible_keys()]  # type: ignore[index]
        assert f"{account.folder}/" in rows

        view.open_folder(account.uri())
        await until(pilot, lambda: view.cwd == account.uri() and view.state == "ready")
        rows = [str(view.table.get_row(key)[0]) for key in view.table.visible_keys()]  # type: ignore[index]
        assert rows == ["1056217p.cat"]
        assert app.unexpected_errors == 0
    await clients.aclose()


async def test_the_vospace_tab_without_a_certificate_says_how_to_get_one(
    account: RealAccount, tmp_path: Path, no_condor: None
) -> None:
    from textual.widgets import Static

    from canfar_tui.app import create_app
    from canfar_tui.screens.password import PasswordScreen
    from canfar_tui.widgets.vospace.view import VOSpaceView

    clients = account.clients(certificate=tmp_path / "missing.pem")
    app = create_app(account.settings, clients)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6")
        await until(pilot, lambda: app.view("vospace") is not None)
        view = app.view("vospace")
        assert isinstance(view, VOSpaceView)
        await until(pilot, lambda: view.state == "error")
        shown = str(view.query_one(".view-placeholder", Static).render())
        first = shown.splitlines()[0]
        assert "No CADC certificate at" in first and "cadc-get-cert -n" in first
        assert "canfar-tui login" in first and "c on the dashboard" in first
        # and the app offers to get one (the CADC password prompt), as for an expired one
        await until(pilot, lambda: isinstance(app.screen, PasswordScreen))
        await pilot.press("escape")
        assert app.unexpected_errors == 0
    await clients.aclose()
