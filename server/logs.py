"""Logging, configured once at the start of every gamif process (`gamif serve`, `gamif worker` and its
worker processes, every other command): one handler on stderr, one line format (or JSON lines), and
``GAMIF_LOG_LEVEL`` applied to gamif's own loggers (``gamif.*``) and to uvicorn's and taskiq's, which
are routed through the same handler rather than configuring their own.

Other libraries' loggers show warnings and errors only, whatever the level: their debug output is not
what ``GAMIF_LOG_LEVEL=debug`` is for.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from server.config import LogFormat, LogLevel

LOGGERS = ("gamif", "uvicorn", "taskiq")
"""The loggers ``GAMIF_LOG_LEVEL`` sets (their children too: ``uvicorn.error``, ``taskiq.worker``...)."""


def _timestamp(created: float) -> str:
    """UTC, ISO 8601 to the millisecond: the same in both formats and on every machine."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``INFO:     2026-11-24T11:45:00.123Z gamif.serve: message``: the level first, as uvicorn has
    always printed it (so a gamif log reads as it did, and greps the same), then the time and the
    logger, which uvicorn left out."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return f"{record.levelname + ':':<9} {_timestamp(record.created)} {record.name}: {record.message}"


# What every record carries: anything else on a record came from `extra=` and is worth shipping.
# (uvicorn's `color_message` is its message again, with terminal colours.)
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the record's `extra=` fields, and a
    traceback as one string (`exception`), so that a log shipper never sees a record split in lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((key, value) for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to ``sys.stderr`` as it is when a record is emitted, not as it was when logging was
    configured (as the standard library's last-resort handler does): a command run in-process, by a
    test or another tool that swaps stderr, never writes to a stream closed since."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _stream: TextIO) -> None:
        """The stream is always the current stderr."""


def dict_config(level: LogLevel, log_format: LogFormat) -> dict[str, Any]:
    """The `logging.config.dictConfig` configuration of a gamif process."""
    others = max(logging.WARNING, logging.getLevelNamesMapping()[level.upper()])
    return {
        "version": 1,
        # Loggers created at import time (every module's `log = logging.getLogger(...)`) keep working.
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"()": TextFormatter},
            "json": {"()": JsonLinesFormatter},
        },
        "handlers": {"stderr": {"()": StderrHandler, "formatter": log_format}},
        # No handlers of their own (those uvicorn or taskiq may have added are removed): their records
        # reach the root's, once.
        "loggers": {name: {"level": level.upper(), "handlers": [], "propagate": True} for name in LOGGERS},
        "root": {"level": logging.getLevelName(others), "handlers": ["stderr"]},
    }


def configure(level: LogLevel, log_format: LogFormat) -> None:
    """Configure this process's logging (again, if it was: the last call wins)."""
    logging.config.dictConfig(dict_config(level, log_format))
    # `warnings.warn` (deprecations, resource warnings) in the same format, JSON included.
    logging.captureWarnings(True)
