"""Deprecated: re-exports :mod:`backup_store.tools.migrate`."""

from backup_store.tools.migrate import (
    REPLACED_REASON,
    Action,
    MigrationReport,
    MigrationResult,
    Outcome,
    PlannedMigration,
    decide,
    migrate,
    plan_migration,
)

__all__ = [
    "REPLACED_REASON",
    "Action",
    "MigrationReport",
    "MigrationResult",
    "Outcome",
    "PlannedMigration",
    "decide",
    "migrate",
    "plan_migration",
]
