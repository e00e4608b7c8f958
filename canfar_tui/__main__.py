"""``python -m canfar_tui``: the same as the ``canfar-tui`` command (:mod:`canfar_tui.cli.main`)."""

from canfar_tui.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
