"""The Detect tab: source detection on a local FITS image (:mod:`canfar_tui.widgets.detect.view`).

Nothing is imported here, so the tab's module (and what it imports) is loaded only when the tab
is first shown (:func:`canfar_tui.widgets.tabs.view_class`).
"""
