"""Where the login screen is offered: the SANDBOX badge of the header and the first start."""

from __future__ import annotations

from collections.abc import Callable

from canfar_tui.app import CanfarApp
from canfar_tui.screens.login import LoginScreen


async def test_clicking_the_sandbox_badge_opens_the_login_screen(
    make_app: Callable[..., CanfarApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not isinstance(app.screen, LoginScreen)
        badge = app.header.part("mode")
        assert badge is not None and badge.text.strip() == "SANDBOX"
        await pilot.click("#header", offset=(badge.start + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LoginScreen)


async def test_the_first_start_offers_login_and_escape_keeps_the_sandbox(
    make_app: Callable[..., CanfarApp],
) -> None:
    app = make_app()
    app.offer_login = True
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            if isinstance(app.screen, LoginScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, LoginScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.header.mode == "SANDBOX"
        assert app.unexpected_errors == 0
