"""Deprecated: re-exports :mod:`backup_store.service.metrics`."""

from backup_store.service.metrics import (
    COMPLETED,
    DELETE,
    FAILED,
    LATENCY_BUCKETS,
    LIST,
    STATUS,
    TAKE,
    BackupMetrics,
    OperationTimer,
)

__all__ = [
    "COMPLETED",
    "DELETE",
    "FAILED",
    "LATENCY_BUCKETS",
    "LIST",
    "STATUS",
    "TAKE",
    "BackupMetrics",
    "OperationTimer",
]
