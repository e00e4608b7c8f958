"""The log file: details of every failure go here, never to the screen, never with secrets.

One file under the XDG state dir (``~/.local/state/canfar-tui/canfar-tui.log``), created with
mode 0600. A filter masks anything that looks like a password, token or private key before a
record is written, as a second line of defence behind code that never logs secrets at all.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

LOGGER_NAME = "canfar_tui"

_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(password|passwd|os_password|token|secret|api_key)(\s*[=:]\s*)(\S+)"),
    re.compile(r"(?i)(X-Auth-Token['\"]?\s*[:=]\s*['\"]?)([A-Za-z0-9_\-]+)"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
)


def redact(text: str) -> str:
    """Mask secrets in ``text``."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}***", text)
    return _SECRET_PATTERNS[2].sub("[private key removed]", text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose output (message and traceback) has secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(log_file: Path, *, level: int = logging.INFO) -> logging.Logger:
    """Send the ``canfar_tui`` logger to ``log_file`` (mode 0600); idempotent."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        if getattr(handler, "baseFilename", None) == str(log_file):
            return logger
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(log_file, 0o600)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    return logger


def get_logger(name: str = "") -> logging.Logger:
    """A child of the ``canfar_tui`` logger."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)
