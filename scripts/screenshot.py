"""Make docs/screenshot.svg: the real app, in a throwaway sandbox, on the Instances tab.

.venv/bin/python scripts/screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        for variable, sub in (
            ("HOME", ""),
            ("XDG_CONFIG_HOME", "c"),
            ("XDG_DATA_HOME", "d"),
            ("XDG_STATE_HOME", "s"),
        ):
            os.environ[variable] = str(Path(home) / sub)
        from canfar_tui.app import create_app
        from canfar_tui.clients.bundle import build_clients
        from canfar_tui.clients.cloud.sandbox import SandboxCloud
        from canfar_tui.config import load_settings
        from canfar_tui.models import LaunchRequest

        settings = load_settings()
        cloud = SandboxCloud(settings.paths.data_dir / "sandbox" / "cloud.sqlite", build_seconds=0)
        images = {image.name: image for image in await cloud.list_images()}
        flavors = {flavor.name: flavor for flavor in await cloud.list_flavors()}
        for name, image, flavor in (
            ("catalogue-builder", "canfar-ubuntu-20.04", "c2-7.5gb-30"),
            ("rocky-test", "canfar-rocky-8", "p2-3gb"),
        ):
            await cloud.launch_instance(LaunchRequest(name, images[image].id, flavors[flavor].id))
        address = await cloud.allocate_floating_ip()
        instance = next(i for i in await cloud.list_instances() if i.name == "catalogue-builder")
        await cloud.associate_floating_ip(address.id, instance.id)
        await cloud.aclose()

        app = create_app(settings, build_clients(settings))
        async with app.run_test(size=(110, 24)) as pilot:
            await pilot.press("2")
            for _ in range(100):
                view = app.active_view
                if getattr(view, "state", "") == "ready":
                    break
                await pilot.pause(0.05)
            await pilot.pause(0.2)
            app.save_screenshot("screenshot.svg", str(ROOT / "docs"))
    print(ROOT / "docs" / "screenshot.svg")


if __name__ == "__main__":
    asyncio.run(main())
