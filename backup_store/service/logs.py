"""Logging of the server: text or JSON lines, with the backup id, partition and operation.

:func:`log_context` attaches ``backupId``, ``partitionId`` and ``operation`` to
every record logged inside it, including by tasks started inside it (asyncio
copies context variables into new tasks). :func:`configure_logging` sends
everything, uvicorn included, to stderr in one of :data:`LOG_FORMATS`:

* ``text``: ``2026-11-30 03:00:00,123 INFO    backup_store.service: backup 100
  scheduled [backupId=100 operation=take]``
* ``json``: one object per line with ``time`` (UTC, ISO 8601), ``level``,
  ``logger``, ``message``, the context fields that are set, and ``exception``
  when there is one.

uvicorn logs its normal start-up and shutdown under ``uvicorn.error``; they are
renamed ``uvicorn.server`` (warnings and errors keep ``uvicorn.error``), and the
access lines of successful probes and scrapes are dropped.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

LOG_FORMATS: Final = ("text", "json")
CONTEXT_FIELDS: Final = ("backupId", "partitionId", "operation")
"""The keys a record may carry, in output order."""

QUIET_PATHS: Final = ("/actuator/health", "/actuator/prometheus")
"""Paths (and sub-paths) whose successful access lines are not logged."""

_context: ContextVar[Mapping[str, object]] = ContextVar(
    "backup_store_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(
    *,
    backup_id: object | None = None,
    partition_id: int | None = None,
    operation: str | None = None,
) -> Iterator[None]:
    """Add the given fields (those not ``None``) to every record logged inside."""
    given = {"backupId": backup_id, "partitionId": partition_id, "operation": operation}
    token = _context.set({**_context.get(), **{k: v for k, v in given.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class _ContextFilter(logging.Filter):
    """Stamps each record with the context of the code that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.backup_store_context = _context.get()
        return True


class _UvicornNames(logging.Filter):
    """``uvicorn.error`` is uvicorn's logger for everything; start-up lines are not errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.error" and record.levelno < logging.WARNING:
            record.name = "uvicorn.server"
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn's access args: (client, method, path, http version, status).
            path, status = str(record.args[2]), record.args[4]
            quiet = any(path == p or path.startswith(p + "/") for p in QUIET_PATHS)
            if quiet and isinstance(status, int) and status < 400:
                return False
        return True


def _context_of(record: logging.LogRecord) -> dict[str, object]:
    found: dict[str, object] = getattr(record, "backup_store_context", {})
    return {key: found[key] for key in CONTEXT_FIELDS if key in found}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [key=value ...]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context_of(record)
        if not context:
            return text
        fields = " ".join(f"{key}={value}" for key, value in context.items())
        first, newline, rest = text.partition("\n")
        return f"{first} [{fields}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context_of(record),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level`` in ``log_format`` (``text`` or ``json``), uvicorn included.

    Replaces any handler configured before. Store URLs are never logged, only
    their descriptions.

    Raises:
        ValueError: an unknown format.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}: use one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    handler.addFilter(_UvicornNames())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


__all__ = [
    "CONTEXT_FIELDS",
    "LOG_FORMATS",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "log_context",
]
