"""Deprecated: re-exports :mod:`backup_store.service.cron`."""

from backup_store.service.cron import (
    CronError,
    CronExpression,
)

__all__ = [
    "CronError",
    "CronExpression",
]
