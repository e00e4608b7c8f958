"""Exceptions of the detection engine; ``str()`` of each is a one-line message for users."""

from __future__ import annotations

__all__ = ["DetectionError", "ExtensionError", "InputError"]


class DetectionError(Exception):
    """Base class: something the user can fix (bad file, bad parameter, bad pixels)."""

    def __init__(self, message: str) -> None:
        # Keep messages on one line whatever the underlying library said.
        super().__init__(" ".join(str(message).split()))


class InputError(DetectionError):
    """The input file cannot be used at all (missing, empty, not FITS, truncated, no image)."""


class ExtensionError(DetectionError):
    """One image extension cannot be processed (all NaN, constant, wrong dimensions…)."""
