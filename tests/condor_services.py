"""Finding the real HTCondor pool started by ``scripts/condor/start.sh`` for the integration tests.

``start.sh`` writes ``.services/condor/env`` (``KEY=value`` lines). The tests read those
variables from the environment (the test command sources the file) or, when they are not set,
from that file directly, so a developer who ran ``start.sh`` can run ``pytest`` as is:

* ``CANFAR_TUI_CONDOR_CONFIG``: the client's HTCondor config (collector, IDTOKENS);
* ``CANFAR_TUI_CONDOR_TOKEN``: the test user's IDTOKEN (0600);
* ``CANFAR_TUI_CONDOR_JOB_DIR``: the job folder mounted at the same path inside the chroot;
* ``CANFAR_TUI_CONDOR_USER`` / ``CANFAR_TUI_CONDOR_UID``: who jobs run as;
* ``CANFAR_TUI_CONDOR_OTHER_USERS``: owners of the jobs queued so that "all users" shows some;
* ``CANFAR_TUI_CANFAR_SUBMIT_DIR`` / ``CANFAR_TUI_CANFAR_SUBMIT_0_3_DIR``: folders holding the
  ``canfar_submit`` stand-in of the current form and of the 0.3 form (put one first on PATH);
  ``CANFAR_TUI_CANFAR_SUBMIT_LOG``: their log of image transfers and shares (optional: a pool
  started by an older ``start.sh`` has none; tests that need them skip).

The pool is faithful to CANFAR's cloud scheduler: a job whose Requirements names neither
``group_name`` nor ``VMType`` stays idle for ever. A test whose jobs must run submits them as
``canfar_submit`` would (:func:`as_canfar_submit`).

Without them the HTCondor tests skip, unless ``CANFAR_TUI_REQUIRE_SERVICES=1``: then a missing
or unreachable pool FAILS them (:func:`condor_service_or_skip`), and
the hook in ``tests/conftest.py`` turns any skip of an HTCondor test (:func:`is_condor_test`)
into a failure, so a CI run cannot pass without them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from cadc_services import CadcService
from real_services import REPO, require_or_skip, service_settings

CONDOR_ENV = "CANFAR_TUI_CONDOR_CONFIG"
DEFAULT_ENV_FILE = REPO / ".services" / "condor" / "env"
_KEYS = (
    "CANFAR_TUI_CONDOR_CONFIG",
    "CANFAR_TUI_CONDOR_TOKEN",
    "CANFAR_TUI_CONDOR_JOB_DIR",
    "CANFAR_TUI_CONDOR_USER",
    "CANFAR_TUI_CONDOR_UID",
    "CANFAR_TUI_CONDOR_OTHER_USERS",
)
_STANDIN_KEYS = (
    "CANFAR_TUI_CANFAR_SUBMIT_DIR",
    "CANFAR_TUI_CANFAR_SUBMIT_0_3_DIR",
    "CANFAR_TUI_CANFAR_SUBMIT_LOG",
)
#: What the current canfar_submit puts before the user's job file (its Requirements is what
#: cloudscheduler needs to boot a VM for the job; scripts/condor's pool refuses the others).
CANFAR_SUBMIT_PREAMBLE = (
    'Universe = vanilla\nRequirements = group_name =?= "canfar" && Arch == "x86_64"\n'
)
#: The seed's four Megacam exposures (do_catalogue.sub's ``queue arguments from``).
SEED_IDS = ("1056215p", "1056216p", "1056217p", "1056218p")
#: Reads the MD5 the vault gives each node, or deletes nodes, with the real ``vos`` client and
#: the user's certificate: ``python -c TOOL CERT md5|remove URI…`` prints a JSON object.
_VOS_TOOL = """
import json, sys
import vos
from cadcutils import exceptions
certificate, action, uris = sys.argv[1], sys.argv[2], sys.argv[3:]
client = vos.Client(vospace_certfile=certificate)

def remove(uri):
    if client.isdir(uri):
        for name in client.listdir(uri, force=True):
            remove(uri.rstrip("/") + "/" + name)
    client.delete(uri)

found = {}
for uri in uris:
    try:
        node = client.get_node(uri, force=True)
    except exceptions.NotFoundException:
        continue
    if action == "remove":
        remove(uri)
    else:
        found[uri] = node.props.get("MD5")
print(json.dumps(found))
"""
#: Lets the pool's jobs reach the CADC replica (see scripts/condor/README.md); run as root.
TRUST_CADC_SCRIPT = REPO / "scripts" / "condor" / "trust_cadc_replica.sh"
_COLLECTOR = re.compile(r"^\s*COLLECTOR_HOST\s*=\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CondorService:
    """Where the test pool is and who the tests are on it."""

    config: Path
    token: Path
    job_dir: Path
    user: str
    uid: int
    other_users: tuple[str, ...]
    collector: tuple[str, int]
    #: ``{"current": folder, "0.3": folder}``: each holds that form's ``canfar_submit``.
    canfar_submit_dirs: tuple[tuple[str, Path], ...] = ()
    #: The stand-ins' log of image transfers (current form) and shares (0.3 form).
    canfar_submit_log: Path | None = None

    def canfar_submit_dir(self, form: str) -> Path:
        """The folder holding the ``canfar_submit`` stand-in of ``form``; skips without it."""
        folder = dict(self.canfar_submit_dirs).get(form)
        if folder is None or not (folder / "canfar_submit").is_file():
            require_or_skip(f"no canfar_submit stand-in of the {form} form (rerun start.sh)")
        return folder

    def new_job_dir(self, name: str) -> Path:
        """A fresh folder for one test's jobs, owned by the test user (jobs write there)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:60] or "test"
        path = self.job_dir / "tests" / f"{safe}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True, exist_ok=False)
        for directory in (path.parent, path):
            if os.geteuid() == 0:
                os.chown(directory, self.uid, self.uid)
            directory.chmod(0o755)
        return path

    @property
    def run_dir(self) -> Path:
        """The pool's run folder (``$RUN``: the job folder is ``$RUN/jobs``, the chroot
        ``$RUN/root``)."""
        return self.job_dir.parent

    def trust_cadc_replica(
        self, cadc_env: Mapping[str, str], certificate: Path | None = None, *, undo: bool = False
    ) -> None:
        """Run ``scripts/condor/trust_cadc_replica.sh`` (root): the jobs' owner gets the
        replica's registry cache (and ``certificate`` as ``~/.ssl/cadcproxy.pem``) in its home in
        the chroot, the chroot's CADC tools trust the replica's test CA; ``undo`` reverts it.

        ``cadc_env`` holds the replica's ``CANFAR_TUI_CADC_*`` variables (``CA_CERT``,
        ``CLIENT_HOME``, ``USER``).
        """
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CANFAR_TUI_CADC_", "CANFAR_TUI_CONDOR_"))
        }
        env.update(cadc_env)
        env["CANFAR_TUI_CONDOR_RUN"] = str(self.run_dir)
        env["CANFAR_TUI_CONDOR_USER"] = self.user
        argv = ["bash", str(TRUST_CADC_SCRIPT)]
        if undo:
            argv.append("--undo")
        elif certificate is not None:
            argv += ["--certificate", str(certificate)]
        result = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{TRUST_CADC_SCRIPT.name} failed: {result.stderr.strip()}")

    def remove_job_dir(self, path: Path) -> None:
        """Delete a folder made by :meth:`new_job_dir` (errors are ignored)."""
        if path.parent == self.job_dir / "tests":
            shutil.rmtree(path, ignore_errors=True)


def _settings() -> dict[str, str]:
    return service_settings(_KEYS + _STANDIN_KEYS, CONDOR_ENV, DEFAULT_ENV_FILE)


def _collector(config: Path) -> tuple[str, int]:
    found = _COLLECTOR.search(config.read_text(encoding="utf-8"))
    address = found.group(1) if found else "127.0.0.1"
    host, _, port = address.partition(":")
    return host or "127.0.0.1", int(port) if port.isdigit() else 9618


@cache
def _find() -> tuple[CondorService | None, str]:
    values = _settings()
    if not values.get(CONDOR_ENV):
        return None, (
            f"{CONDOR_ENV} is not set and {DEFAULT_ENV_FILE} does not exist "
            "(run scripts/condor/install.sh and start.sh)"
        )
    missing = [key for key in _KEYS if not values.get(key)]
    if missing:
        return None, f"the HTCondor test environment lacks {', '.join(missing)}"
    config = Path(values["CANFAR_TUI_CONDOR_CONFIG"])
    token = Path(values["CANFAR_TUI_CONDOR_TOKEN"])
    job_dir = Path(values["CANFAR_TUI_CONDOR_JOB_DIR"])
    for path in (config, token):
        if not path.is_file():
            return None, f"{path} is missing (was the pool stopped?)"
    if not job_dir.is_dir():
        return None, f"the job folder {job_dir} is missing (was the pool stopped?)"
    try:
        uid = int(values["CANFAR_TUI_CONDOR_UID"])
    except ValueError:
        return None, "CANFAR_TUI_CONDOR_UID is not a number"
    collector = _collector(config)
    try:
        with socket.create_connection(collector, 3):
            pass
    except OSError as error:
        return None, f"the HTCondor collector at {collector[0]}:{collector[1]} is down ({error})"
    service = CondorService(
        config=config,
        token=token,
        job_dir=job_dir,
        user=values["CANFAR_TUI_CONDOR_USER"],
        uid=uid,
        other_users=tuple(values["CANFAR_TUI_CONDOR_OTHER_USERS"].split()),
        collector=collector,
        canfar_submit_dirs=tuple(
            (form, Path(values[key]))
            for form, key in (
                ("current", "CANFAR_TUI_CANFAR_SUBMIT_DIR"),
                ("0.3", "CANFAR_TUI_CANFAR_SUBMIT_0_3_DIR"),
            )
            if values.get(key)
        ),
        canfar_submit_log=(
            Path(values["CANFAR_TUI_CANFAR_SUBMIT_LOG"])
            if values.get("CANFAR_TUI_CANFAR_SUBMIT_LOG")
            else None
        ),
    )
    return service, ""


def as_canfar_submit(text: str) -> str:
    """``text`` as the current ``canfar_submit`` hands it to condor_submit (its image aside), so
    that the pool runs its jobs; a description that already names ``group_name`` is kept."""
    if "group_name" in text:
        return text
    return CANFAR_SUBMIT_PREAMBLE + text


def condor_service_or_skip() -> CondorService:
    """The running test pool; skips (or fails when required) when there is none."""
    service, reason = _find()
    if service is None:
        require_or_skip(reason)
    return service


def condor_configured() -> bool:
    """Whether the environment names a test pool (cheap: reads variables and one file)."""
    return bool(_settings().get(CONDOR_ENV))


def is_condor_test(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("queue_backend") == "condor":
        return True
    return "condor_service" in getattr(item, "fixturenames", ())


@dataclass(frozen=True)
class PoolWithCadc:
    """The pool whose jobs reach the CADC replica like the seed's snapshot reaches CADC."""

    condor: CondorService
    cadc: CadcService
    #: A HOME of the replica's user on this machine (registry cache, ``~/.netrc``, certificate):
    #: for the test's own checks with the real CADC clients (``vls``, ``vrm``).
    home: Path
    #: The user's proxy certificate (``cadc-get-cert -n``), also in the jobs' owner's
    #: ``~/.ssl/cadcproxy.pem`` in the chroot.
    certificate: Path

    def vault(self, action: str, uris: Iterable[str]) -> dict[str, str]:
        """``md5``: what the vault says of each node that exists (its MD5 property), or
        ``remove``: delete the nodes (a folder with what it holds); with the real ``vos`` client
        as the replica's user, in a subprocess (cadcutils reads HOME once, at import)."""
        result = subprocess.run(
            [sys.executable, "-c", _VOS_TOOL, str(self.certificate), action, *uris],
            env=self.cadc.client_env(self.home),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"vos {action} failed: {result.stderr[-2000:]}")
        found: dict[str, str] = json.loads(result.stdout)
        return found

    def reference_catalogues(
        self,
        folder: Path,
        ids: Iterable[str] = SEED_IDS,
        columns: Iterable[str] = ("NUMBER", "MAG_AUTO", "X_IMAGE", "Y_IMAGE"),
    ) -> dict[str, Path]:
        """Each exposure's catalogue made by the seed's interactive steps (funpack, the
        default configuration, ``columns`` in default.param — the seed's four by default —,
        source-extractor) with the snapshot's own tools (the pool's chroot, as root), from the
        replica archive's file: the bytes a job running those steps must store. ``folder``
        must be inside the job folder."""
        param = "\\n".join(columns)
        folder.mkdir()
        made: dict[str, Path] = {}
        clean_env = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin"]
        for obs_id in ids:
            work = folder / obs_id
            work.mkdir()
            shutil.copy(self.cadc.archive_root / "CFHT" / f"{obs_id}.fits.fz", work)
            steps = (
                f"cd {work} && funpack -D {obs_id}.fits.fz && "
                "cp /usr/share/source-extractor/default* . && "
                f"printf '{param}\\n' > default.param && "
                f"source-extractor {obs_id}.fits -CATALOG_NAME {obs_id}.cat -VERBOSE_TYPE QUIET"
            )
            result = subprocess.run(
                ["chroot", str(self.condor.run_dir / "root"), *clean_env, "sh", "-c", steps],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if result.returncode != 0:
                raise AssertionError(f"source-extractor on {obs_id}: {result.stderr[-2000:]}")
            made[obs_id] = work / f"{obs_id}.cat"
        return made


def cadc_variables(cadc: CadcService) -> dict[str, str]:
    """What ``scripts/condor/trust_cadc_replica.sh`` reads of the replica's env file."""
    return {
        "CANFAR_TUI_CADC_CA_CERT": str(cadc.ca_cert),
        "CANFAR_TUI_CADC_CLIENT_HOME": str(cadc.client_home),
        "CANFAR_TUI_CADC_USER": cadc.user,
    }
