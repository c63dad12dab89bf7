"""Deprecated: re-exports :mod:`backup_store.service.schedules`."""

from backup_store.service.schedules import (
    MIN_INTERVAL,
    NONE,
    BackupScheduler,
    CronSchedule,
    IntervalSchedule,
    RetentionScheduler,
    Schedule,
    log,
    parse_schedule,
    read_scheduled_backup_id,
    scheduled_backup_id,
)

__all__ = [
    "MIN_INTERVAL",
    "NONE",
    "BackupScheduler",
    "CronSchedule",
    "IntervalSchedule",
    "RetentionScheduler",
    "Schedule",
    "log",
    "parse_schedule",
    "read_scheduled_backup_id",
    "scheduled_backup_id",
]
