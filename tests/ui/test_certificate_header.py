"""The certificate in the header: a warning under 24 hours, and `c` renews it (sandbox)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fakes import FixedCloud

from canfar_tui.app import CanfarApp
from canfar_tui.clients.bundle import Clients
from canfar_tui.clients.credentials import CadcCredentials
from canfar_tui.config import Settings


async def test_expiring_certificate_warns_and_c_renews(
    make_app: Callable[..., CanfarApp], settings: Settings
) -> None:
    folder = settings.paths.data_dir / "sandbox" / "credentials"
    credentials = CadcCredentials.for_sandbox(folder, initial_validity=timedelta(hours=20))
    clients = Clients("sandbox", cloud=FixedCloud(), credentials=credentials, mode_label="SANDBOX")
    app = make_app(clients=clients)
    async with app.run_test() as pilot:
        header = app.header
        for _ in range(200):
            if header.certificate != "—":
                break
            await pilot.pause(0.05)
        assert header.certificate.startswith(("19h", "20h")), header.certificate
        assert header.certificate_warning
        cert = header.part("cert")
        assert cert is not None and cert.component == "header--cert-warning"

        await pilot.press("c")
        for _ in range(200):
            if not header.certificate_warning:
                break
            await pilot.pause(0.05)
        assert not header.certificate_warning
        assert header.certificate.startswith(("9d", "10d")), header.certificate
        cert = header.part("cert")
        assert cert is not None and cert.component == "header--text"
        assert any("New proxy certificate" in n.message for n in app._notifications)
        assert oct((folder / "cadcproxy.pem").stat().st_mode & 0o777) == "0o600"
