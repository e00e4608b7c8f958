"""The whole Batch Quick Start with a real (non-sandbox) profile, against the local replicas.

Every step goes through canfar-tui's real-profile code path, never the sandbox:

1. ``canfar-tui login`` (the CLI, the CADC password on stdin) in a HOME prepared like a batch
   host's: the replica's registry cache, the project's ``<project>-openrc.sh`` (the test
   OpenStack's), ``canfar_submit`` on PATH and the pool's schedd; it gets a proxy certificate
   from the replica's credential service and writes one profile per project, no secret;
2. with that profile (``build_clients``: OpenStack through the openrc file, the password asked
   once): the project, an SSH key imported, the project's floating IP, an instance of
   ``canfar-ubuntu-20.04`` on ``c2-7.5gb-30``, the IP associated, a snapshot made and active;
3. ``canfar-tui get cadc:CFHT/1056213p.fits.fz`` (the replica's archive, MD5 checked),
   ``canfar-tui detect``, ``canfar-tui put`` (the replica's vault, MD5 checked);
4. for each ``canfar_submit`` form (parametrised): the pipeline's job script and submit file
   (:mod:`canfar_tui.batch.pipeline`, the seed's steps, ``x509userproxy`` naming the login's
   certificate) submitted by ``canfar-tui submit FILE SNAPSHOT FLAVOR`` through that form's
   stand-in (the 0.3 form gets the profile's OS_* and the password, asked once, in its
   environment), four jobs on the pool, four catalogues in VOSpace whose MD5 (the vault's)
   equals the MD5 the job printed after reading its upload back, a source-extractor run of
   the same exposure made here with the pipeline's columns and (current form) the catalogue
   HTCondor sent back to the submit folder — the 0.3 form's ``transfer_output_files =
   /dev/null`` sends back none; the jobs' certificate is the login's, handed to them by
   ``x509userproxy``;
5. the instance deleted (and the key, the IP, the snapshot and the folders cleaned up).

The HOME is inside the pool's job folder (the same path in its chroot), as the user's home on
the batch host is where condor_submit reads the submit file and the certificate; the files the
jobs' owner must read or write there are given to it (on the batch host, the user who logs in
and the user who submits are one account).

Needs the OpenStack, the HTCondor pool, the CADC replica and root; skips without them, fails
without them when ``CANFAR_TUI_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from cadc_services import CadcService, cadc_service_or_skip
from condor_services import SEED_IDS, CondorService, PoolWithCadc
from openstack_services import OpenStackService, finish_snapshot, openstack_service_or_skip
from real_services import REPO

from canfar_tui.batch.pipeline import PipelineSpec, job_script, submit_file
from canfar_tui.clients.base import ClientError, NotFound, QuotaExceeded
from canfar_tui.clients.bundle import Clients, build_clients
from canfar_tui.clients.cloud.openstack import OpenStackCloud
from canfar_tui.clients.queue.condor.client import CondorQueue
from canfar_tui.config import Settings, load_settings
from canfar_tui.detection.params import DEFAULT_COLUMNS
from canfar_tui.models import ImageKind, Job, JobId, JobStatus, LaunchRequest

pytestmark = pytest.mark.integration

T = TypeVar("T")

IMAGE = "canfar-ubuntu-20.04"
FLAVOR = "c2-7.5gb-30"
EXPOSURE = "1056213p"
PATIENCE = 240.0
SUBMITTED = re.compile(r"Submitted (\d+) jobs? to cluster (\d+) with (\S+);")
STORED = re.compile(r"stored in (\S+) \(read back identical, MD5 ([0-9a-f]{32})\)")


@dataclass
class Walk:
    """What the walk made, for the pipeline steps and the clean-up."""

    openstack: OpenStackService
    condor: CondorService
    cadc: CadcService
    pool: PoolWithCadc
    home: Path
    #: ``vos:<user>/walk-<hex>``: everything this walk stores in VOSpace is below it.
    folder: str
    snapshot_name: str = ""
    snapshot_id: str | None = None
    instance_id: str | None = None
    floating_ip_id: str | None = None
    allocated_ip: bool = False
    key_name: str = ""
    project_id: str = ""
    settings: Settings | None = None
    #: Folders of the pipeline runs (``pipeline-<form>``), one per form.
    runs: dict[str, Path] = field(default_factory=dict)

    @property
    def certificate(self) -> Path:
        return self.home / ".ssl" / "cadcproxy.pem"

    def env(self, form: str = "current") -> dict[str, str]:
        """The environment of ``canfar-tui`` as the user runs it on the batch host: this HOME,
        the CADC clients trusting the replica's CA, the pool's schedd, ``canfar_submit`` of
        ``form`` on PATH, no OS_* (the profile's openrc says it)."""
        env = self.cadc.client_env(self.home)
        env["PYTHONPATH"] = os.pathsep.join((str(self.cadc.pythonpath), str(REPO)))
        for name in list(env):
            if name.startswith(("OS_", "XDG_", "CANFAR_TUI_FAULTS", "CANFAR_TUI_SANDBOX")):
                del env[name]
        env["XDG_CONFIG_HOME"] = str(self.home / ".config")
        env["XDG_DATA_HOME"] = str(self.home / ".local" / "share")
        env["XDG_STATE_HOME"] = str(self.home / ".local" / "state")
        env["CONDOR_CONFIG"] = str(self.condor.config)
        folder = self.condor.canfar_submit_dir(form)
        env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def run(
        self, *args: str, cwd: Path | None = None, stdin: str = "", form: str = "current"
    ) -> subprocess.CompletedProcess[str]:
        """``canfar-tui ARGS`` as a subprocess (its own session: no terminal to prompt on)."""
        return subprocess.run(
            [sys.executable, "-m", "canfar_tui", *args],
            cwd=cwd or self.home,
            env=self.env(form),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            start_new_session=True,
        )


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


async def wait_until(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    deadline = time.monotonic() + PATIENCE
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(1.0)


def run_async(coroutine: Awaitable[T]) -> T:
    """Run ``coroutine`` to the end on a loop of its own, in a thread of its own (the module
    fixture runs outside the tests' event loops and must not disturb them)."""

    async def main() -> T:
        return await coroutine

    with ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, main()).result()


def profile_clients(walk: Walk) -> Clients:
    """The login's default profile, as the dashboard builds it (the password asked once)."""
    assert walk.settings is not None
    return build_clients(walk.settings, password_provider=walk.openstack.password)


# --------------------------------------------------------------------------- the walk


def horizon_openrc(openstack: OpenStackService) -> str:
    """The test cloud's openrc file as Horizon writes it for a project: with its
    ``OS_PROJECT_ID`` (the test cloud's file names the project only; canfar_submit 0.3 needs
    the ID, and arbutus-canfar's "OpenStack RC file" has it)."""
    text = openstack.openrc.read_text(encoding="utf-8")
    if "OS_PROJECT_ID=" in text:
        return text

    async def project_id() -> str:
        cloud = OpenStackCloud.from_openrc(openstack.openrc, password_provider=openstack.password)
        try:
            current = await cloud.current_project()
        finally:
            await cloud.aclose()
        assert current is not None
        return current.id

    identifier = run_async(project_id())
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("export OS_PROJECT_NAME="))
    lines.insert(at, f'export OS_PROJECT_ID="{identifier}"\n')
    return "".join(lines)


def log_in(walk: Walk) -> None:
    """``canfar-tui login`` on a batch-host-like HOME; the profile it writes is loaded."""
    walk.home.joinpath(walk.openstack.openrc.name).write_text(horizon_openrc(walk.openstack))
    result = walk.run(
        "login", "--username", walk.cadc.user, "--password-stdin", stdin=walk.cadc.password()
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert walk.cadc.password() not in output and walk.openstack.password() not in output
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line[:6].strip()}
    for service in ("certificate", "cloud", "queue", "batch", "storage", "profile"):
        assert lines.get(service, "").split()[0] == "ok", result.stdout
    project = walk.openstack.openrc.name.removesuffix("-openrc.sh")
    assert f"{project} (~/{walk.openstack.openrc.name})" in lines["cloud"]
    assert "0.4.x form" in lines["batch"]
    assert f"VOSpace home vos:{walk.cadc.user}" in lines["storage"]
    assert walk.certificate.stat().st_mode & 0o777 == 0o600
    config = walk.home / ".config" / "canfar-tui" / "config.toml"
    text = config.read_text()
    assert "password" not in text.lower()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(walk.home))
        walk.settings = load_settings(config_file=config)
    profile = walk.settings.profile
    assert (profile.name, profile.kind, profile.username) == (project, "canfar", walk.cadc.user)
    assert not profile.is_sandbox and profile.openrc is not None
    # The batch host's user submits: the jobs' owner reads the certificate (x509userproxy).
    for path in (walk.certificate.parent, walk.certificate):
        os.chown(path, walk.condor.uid, walk.condor.uid)


async def cloud_steps(walk: Walk) -> None:
    """Project → key pair → floating IP → instance → IP associated → snapshot, active."""
    clients = profile_clients(walk)
    cloud = clients.cloud
    assert cloud is not None, clients.why_missing("cloud")
    try:
        projects = {project.name for project in await cloud.list_projects()}
        current = await cloud.current_project()
        assert current is not None and current.name in projects
        walk.project_id = current.id

        # Import an SSH public key (made with ssh-keygen, as the seed says).
        key = walk.home / ".ssh" / "id_ed25519"
        key.parent.mkdir(mode=0o700)
        made = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "walk", "-f", str(key)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        public = key.with_suffix(".pub").read_text().strip()
        keypair = await cloud.import_keypair(walk.key_name, public)
        assert keypair.name == walk.key_name
        assert walk.key_name in {item.name for item in await cloud.list_keypairs()}

        # A public IP: the project's free one, else allocate it ("Allocate IP to Project").
        free = [ip for ip in await cloud.list_floating_ips() if ip.instance_id is None]
        if free:
            fip = free[0]
        else:
            try:
                fip = await cloud.allocate_floating_ip()
            except QuotaExceeded as error:
                pytest.fail(f"no floating IP for the walk: {error.message}")
            walk.allocated_ip = True
        walk.floating_ip_id = fip.id

        # Launch the seed's image on the seed's flavor with the key; wait for Running.
        image = next(i for i in await cloud.list_images() if i.name == IMAGE)
        flavor = next(f for f in await cloud.list_flavors() if f.name == FLAVOR)
        launched = await cloud.launch_instance(
            LaunchRequest(
                f"walk-vm-{walk.folder[-6:]}", image.id, flavor.id, key_name=walk.key_name
            )
        )
        walk.instance_id = launched.id
        running = await wait_until(
            lambda: cloud.get_instance(launched.id),
            lambda inst: inst.status == "ACTIVE" and inst.task_state is None,
            "the instance to be ACTIVE",
        )
        assert running.power_state == "Running" and running.key_name == walk.key_name

        # Associate the floating IP: ssh ubuntu@IP.
        associated = await cloud.associate_floating_ip(fip.id, running.id)
        assert associated.instance_id == running.id
        assert (await cloud.get_instance(running.id)).floating_ip == fip.address

        # Snapshot it; it becomes active (nova's fake driver uploads nothing: finish_snapshot).
        snapshot = await cloud.create_snapshot(running.id, walk.snapshot_name)
        walk.snapshot_id = snapshot.id
        assert snapshot.kind is ImageKind.SNAPSHOT
        await finish_snapshot(walk.openstack, walk.project_id, snapshot.id)
        await wait_until(
            cloud.list_images,
            lambda found: any(i.id == snapshot.id and i.status == "active" for i in found),
            "the snapshot to be active",
        )
    finally:
        await clients.aclose()


def get_detect_put(walk: Walk) -> None:
    """The seed's interactive test on the VM: cadcget, detect, vcp — with canfar-tui."""
    scratch = walk.home / "scratch"
    scratch.mkdir()
    result = walk.run("get", "-q", f"cadc:CFHT/{EXPOSURE}.fits.fz", cwd=scratch)
    assert result.returncode == 0, result.stderr
    fetched = scratch / f"{EXPOSURE}.fits.fz"
    assert result.stdout.strip() == str(fetched)
    assert "sandbox" not in result.stdout + result.stderr
    assert md5_of(fetched) == md5_of(walk.cadc.archive_root / "CFHT" / fetched.name)

    result = walk.run("detect", fetched.name, "-o", f"{EXPOSURE}.cat", "-q", cwd=scratch)
    assert result.returncode == 0, result.stderr
    catalogue = scratch / f"{EXPOSURE}.cat"
    assert catalogue.stat().st_size > 1000

    result = walk.run("put", catalogue.name, f"{walk.folder}/", cwd=scratch)
    assert result.returncode == 0, result.stderr
    uri = f"{walk.folder}/{catalogue.name}"
    size = catalogue.stat().st_size
    assert result.stdout.strip() == f"{uri}  md5={md5_of(catalogue)}  {size} bytes"
    assert "sandbox" not in result.stdout + result.stderr
    assert walk.pool.vault("md5", [uri]) == {uri: md5_of(catalogue)}


async def delete_instance(walk: Walk) -> None:
    clients = profile_clients(walk)
    cloud = clients.cloud
    assert cloud is not None
    try:
        if walk.instance_id is not None:
            instance_id = walk.instance_id
            await cloud.delete_instance(instance_id)

            async def gone() -> bool:
                try:
                    await cloud.get_instance(instance_id)
                except NotFound:
                    return True
                return False

            await wait_until(gone, bool, "the instance to be deleted")
            walk.instance_id = None
    finally:
        await clients.aclose()


async def clean_up(walk: Walk) -> None:
    """Whatever the walk left in the cloud, when a step failed halfway (errors ignored)."""
    if walk.settings is None:
        return
    clients = profile_clients(walk)
    cloud = clients.cloud
    if cloud is None:
        return
    try:
        with contextlib.suppress(ClientError):
            if walk.instance_id is not None:
                await cloud.delete_instance(walk.instance_id)
                await asyncio.sleep(3)
        with contextlib.suppress(ClientError):
            if walk.snapshot_id is not None:
                await cloud.delete_image(walk.snapshot_id)
        with contextlib.suppress(ClientError):
            if walk.floating_ip_id is not None and walk.allocated_ip:
                await cloud.release_floating_ip(walk.floating_ip_id)
        with contextlib.suppress(ClientError):
            await cloud.delete_keypair(walk.key_name)
    finally:
        await clients.aclose()


@pytest.fixture(scope="module")
def walk(pool_with_cadc: PoolWithCadc) -> Iterator[Walk]:
    """Steps 1-3 of the seed (module scope: both canfar_submit forms share them)."""
    openstack = openstack_service_or_skip()
    cadc = cadc_service_or_skip()
    condor = pool_with_cadc.condor
    suffix = uuid.uuid4().hex[:6]
    job_dir = condor.new_job_dir(f"seed-walk-{suffix}")
    home = cadc.new_home(job_dir / "home")
    home.chmod(0o755)
    made = Walk(
        openstack=openstack,
        condor=condor,
        cadc=cadc,
        pool=pool_with_cadc,
        home=home,
        folder=f"vos:{cadc.user}/walk-{suffix}",
        snapshot_name=f"image-reduction-{suffix}",
        key_name=f"walk-key-{suffix}",
    )
    try:
        log_in(made)
        run_async(cloud_steps(made))
        get_detect_put(made)
        yield made
    finally:
        try:
            run_async(clean_up(made))
        finally:
            with contextlib.suppress(AssertionError):
                pool_with_cadc.vault("remove", [made.folder])
            condor.remove_job_dir(job_dir)


@pytest.fixture
def openstack_service() -> OpenStackService:
    return openstack_service_or_skip()


@pytest.fixture
def cadc_service() -> CadcService:
    return cadc_service_or_skip()


# --------------------------------------------------------------------------- the tests


def test_login_project_key_ip_instance_snapshot_get_detect_put(
    walk: Walk,
    openstack_service: OpenStackService,
    condor_service: CondorService,
    cadc_service: CadcService,
) -> None:
    """Steps 1-3 ran in the fixture (shared by the forms); here, what they left."""
    assert walk.instance_id is not None and walk.snapshot_id is not None
    assert walk.certificate.is_file()
    assert walk.pool.vault("md5", [f"{walk.folder}/{EXPOSURE}.cat"])


@pytest.mark.parametrize("form", ["current", "0.3"])
def test_the_pipeline_through_canfar_submit(
    walk: Walk,
    form: str,
    openstack_service: OpenStackService,
    condor_service: CondorService,
    cadc_service: CadcService,
) -> None:
    # The Pipeline tab's files for the seed's four exposures (the seed's steps), the catalogues
    # to a folder of their own, the login's certificate handed to the jobs (x509userproxy).
    folder = f"{walk.folder}/catalogues-{form.replace('.', '')}"
    spec = PipelineSpec(SEED_IDS, folder, batch_name=f"walk-{form}")
    run_dir = walk.home / f"pipeline-{form.replace('.', '')}"
    run_dir.mkdir()
    (run_dir / spec.script_name).write_text(job_script(spec), encoding="utf-8")
    (run_dir / spec.script_name).chmod(0o755)
    (run_dir / spec.submit_name).write_text(
        submit_file(spec, proxy=walk.certificate), encoding="utf-8"
    )
    os.chown(run_dir, walk.condor.uid, walk.condor.uid)
    log = walk.condor.canfar_submit_log
    logged_before = log.read_text() if log is not None and log.exists() else ""

    # canfar-tui submit do_catalogue.sub SNAPSHOT FLAVOR, with that form on PATH: the password
    # is typed once (the cloud's and, for 0.3, canfar_submit's OS_PASSWORD).
    result = walk.run(
        "submit",
        spec.submit_name,
        walk.snapshot_name,
        FLAVOR,
        cwd=run_dir,
        stdin=walk.openstack.password() + "\n",
        form=form,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr)
    output = result.stdout + result.stderr
    assert walk.openstack.password() not in output
    submitted = SUBMITTED.search(result.stdout)
    assert submitted, result.stdout[-3000:]
    assert int(submitted.group(1)) == 4
    assert submitted.group(3) == str(walk.condor.canfar_submit_dir(form) / "canfar_submit")
    series = "0.3.x" if form == "0.3" else "0.4.x"
    assert f"Submitting with {submitted.group(3)} ({series} form)." in result.stdout
    cluster = int(submitted.group(2))
    if log is not None:
        logged = log.read_text()[len(logged_before) :]
        assert walk.snapshot_name in logged, logged

    # Four jobs on the pool, each completed with exit status 0.
    ids = [JobId(cluster, proc) for proc in range(4)]

    async def finished() -> Sequence[Job]:
        queue = CondorQueue(walk.condor.config, call_timeout=60.0)
        try:
            return await wait_until(
                lambda: queue.history(limit=200),
                lambda found: len({job.id for job in found} & set(ids)) == 4,
                f"the four jobs of cluster {cluster}",
            )
        finally:
            await queue.aclose()

    jobs = {job.id: job for job in run_async(finished()) if job.id in ids}
    references = walk.pool.reference_catalogues(
        run_dir / "reference", SEED_IDS, columns=DEFAULT_COLUMNS
    )
    uris = [spec.catalogue_uri(obs_id) for obs_id in SEED_IDS]
    in_vault = walk.pool.vault("md5", uris)
    for job_id, obs_id, uri in zip(ids, SEED_IDS, uris, strict=True):
        job = jobs[job_id]
        error = run_dir / spec.error_file(obs_id)
        assert (job.status, job.exit_code, job.arguments) == (JobStatus.COMPLETED, 0, obs_id), (
            error.read_text(errors="replace")[-2000:] if error.exists() else "no error file"
        )
        stored = STORED.search((run_dir / spec.output_file(obs_id)).read_text())
        assert stored is not None and stored.group(1) == spec.vospace_folder
        expected = md5_of(references[obs_id])
        assert (in_vault.get(uri), stored.group(2)) == (expected, expected)
        returned = run_dir / f"{obs_id}.cat"
        if form == "0.3":
            # canfar_submit 0.3 presets transfer_output_files = /dev/null: only the job's
            # out/err/log come back; the catalogue is in VOSpace only.
            assert not returned.exists()
        else:
            assert md5_of(returned) == expected
    # The jobs used the certificate the submission handed them (the login's), put where vcp
    # looks: the jobs' owner's ~/.ssl/cadcproxy.pem now holds it.
    owner_home = walk.condor.run_dir / "root" / "home" / walk.condor.user
    assert (owner_home / ".ssl" / "cadcproxy.pem").read_bytes() == walk.certificate.read_bytes()


def test_the_instance_is_deleted_at_the_end(
    walk: Walk, openstack_service: OpenStackService, condor_service: CondorService
) -> None:
    run_async(delete_instance(walk))
    assert walk.instance_id is None
