"""Widgets: the ResourceTable, one view per tab, and the status header."""
