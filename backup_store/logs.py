"""Deprecated: re-exports :mod:`backup_store.service.logs`."""

from backup_store.service.logs import (
    CONTEXT_FIELDS,
    LOG_FORMATS,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    log_context,
)

__all__ = [
    "CONTEXT_FIELDS",
    "LOG_FORMATS",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "log_context",
]
