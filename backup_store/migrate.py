"""Deprecated: re-exports :mod:`backup_store.tools.migrate` and its plan's module."""

from backup_store.tools.migrate import REPLACED_REASON, migrate
from backup_store.tools.migration_plan import (
    Action,
    MigrationReport,
    MigrationResult,
    Outcome,
    PlannedMigration,
    decide,
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
