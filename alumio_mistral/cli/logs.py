"""Where log records go for every command: ``-v``/``-q``, ``--log-level`` and ``--log-format``.

Records are written to stderr, looked up at each write (not bound once): a live progress
display swaps stderr for a proxy that prints above it, and a log line must go there too.
Secrets are masked before any handler sees a record (``install_log_redaction``); the JSON
format masks the exception text as well, which the record factory never sees.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from alumio_mistral.secrets import install_log_redaction, redact

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

#: attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def level_for(verbose: int, quiet: int, log_level: str | None) -> int:
    """``--log-level`` wins; otherwise WARNING, one step down per ``-v``, one up per ``-q``."""
    if log_level:
        return logging.getLevelName(log_level.upper())
    return min(logging.CRITICAL, max(logging.DEBUG, logging.WARNING - 10 * verbose + 10 * quiet))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        line.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on whatever ``sys.stderr`` is at the moment of each write."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the stream is always the current stderr."""


def configure_logging(level: int, log_format: str = "text") -> None:
    """Send records at ``level`` and above to stderr in ``log_format``, secrets masked.

    Replaces a handler this function installed before (tests invoke many commands in one
    process), and leaves other handlers alone.
    """
    install_log_redaction()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    # INFO records are made even when only warnings are printed: a live progress display reads
    # retry waits from them. On the root, so a logger below keeps any level set on it.
    root.setLevel(min(level, logging.INFO))
