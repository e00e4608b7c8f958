"""CADC archive: the cadcdata backend and the sandbox archive."""
