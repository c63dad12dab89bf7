"""Deprecated: re-exports :mod:`backup_store.tools.retention`."""

from backup_store.tools.retention import (
    DEFAULT_CONCURRENCY,
    DELETE_ATTEMPTS,
    RULES,
    Action,
    Outcome,
    PlannedId,
    PruneReport,
    PruneResult,
    RetentionPlan,
    RetentionPolicy,
    Rule,
    between,
    entries_json,
    plan_retention,
    prune,
    summarize,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DELETE_ATTEMPTS",
    "RULES",
    "Action",
    "Outcome",
    "PlannedId",
    "PruneReport",
    "PruneResult",
    "RetentionPlan",
    "RetentionPolicy",
    "Rule",
    "between",
    "entries_json",
    "plan_retention",
    "prune",
    "summarize",
]
