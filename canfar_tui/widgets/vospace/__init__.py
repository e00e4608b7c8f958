"""The VOSpace tab: browse the user's VOSpace, move files both ways, fetch archive files.

:mod:`canfar_tui.widgets.vospace.view` holds :class:`~canfar_tui.widgets.vospace.view.VOSpaceView`.
"""
