"""Prometheus metrics of the backup service, named as Zeebe 8.7 names its own.

Zeebe 8.7's ``BackupManagerMetrics`` (``io.camunda.zeebe.backup.metrics``)
exposes, per partition, through its Prometheus registry:

=========================================  =========  ================================
metric                                     type       labels
=========================================  =========  ================================
``zeebe_backup_operations_total``          counter    partition, operation, result
``zeebe_backup_operations_in_progress``    gauge      partition, operation
``zeebe_backup_operations_latency_seconds`` histogram partition, operation
=========================================  =========  ================================

with ``operation`` one of ``take``, ``status``, ``list``, ``delete`` and
``result`` one of ``completed``, ``failed``; the latency buckets are Zeebe's
(10 ms, 100 ms, 1 s, 10 s, 1 min, 5 min). (8.7's Micrometer code tags the
latency series with the upper-case enum name, ``TAKE``; later Zeebe versions use
the lower-case values everywhere, as its dashboards do, and so does this module.)
A ``take`` runs from the checkpoint until the partition's backup is stored (or
failed); ``status``, ``list`` and ``delete`` requests count once for each
partition this node serves, as each of Zeebe's partitions answers them. This project adds:

=========================================  =========  ================================
``backup_store_backups_in_progress``       gauge      (none): partition backups running
``backup_store_transferred_bytes_total``   counter    partition, operation
``backup_store_transferred_files_total``   counter    partition, operation
``backup_store_scheduled_backups_total``   counter    result: taken, skipped, failed
``backup_store_pruned_ids_total``          counter    result: deleted, failed, skipped
=========================================  =========  ================================

and the ``process_*`` and ``python_*`` metrics of ``prometheus_client``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Final

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from backup_store.contract.inspectable import TransferCounters

TAKE: Final = "take"
STATUS: Final = "status"
LIST: Final = "list"
DELETE: Final = "delete"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
LATENCY_BUCKETS: Final = (0.01, 0.1, 1.0, 10.0, 60.0, 300.0)
"""Zeebe's service-level objectives of ``zeebe.backup.operations.latency``, in seconds."""


class OperationTimer:
    """One running operation on one partition; :meth:`complete` ends it once."""

    def __init__(self, metrics: BackupMetrics, operation: str, partition: int) -> None:
        self._metrics = metrics
        self._labels = (str(partition), operation)
        self._started = metrics.clock()
        self._done = False
        metrics.in_progress.labels(*self._labels).inc()
        if operation == TAKE:
            metrics.backups_in_progress.inc()

    def complete(self, *, failed: bool) -> None:
        if self._done:
            return
        self._done = True
        metrics = self._metrics
        metrics.latency.labels(*self._labels).observe(max(0.0, metrics.clock() - self._started))
        metrics.in_progress.labels(*self._labels).dec()
        if self._labels[1] == TAKE:
            metrics.backups_in_progress.dec()
        metrics.operations.labels(*self._labels, FAILED if failed else COMPLETED).inc()


class BackupMetrics:
    """The metrics of one backup service, in their own registry.

    Args:
        registry: where to register them; a new one by default.
        clock: seconds, for latencies (``time.monotonic`` by default).
        process: also register the process, platform and garbage-collector
            collectors of ``prometheus_client`` (off for a registry shared with them).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        process: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock
        if process:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        self.operations = Counter(
            "zeebe_backup_operations",
            "Total number of backup operations",
            ["partition", "operation", "result"],
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "zeebe_backup_operations_in_progress",
            "Number of backup operations that are in progress",
            ["partition", "operation"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "zeebe_backup_operations_latency_seconds",
            "Latency of backup operations",
            ["partition", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.backups_in_progress = Gauge(
            "backup_store_backups_in_progress",
            "Partition backups this process is taking",
            registry=self.registry,
        )
        self.transferred_bytes = Counter(
            "backup_store_transferred_bytes",
            "Bytes of the files of completed operations (before compression)",
            ["partition", "operation"],
            registry=self.registry,
        )
        self.transferred_files = Counter(
            "backup_store_transferred_files",
            "Files of completed operations",
            ["partition", "operation"],
            registry=self.registry,
        )

        self.scheduled_backups = Counter(
            "backup_store_scheduled_backups",
            "Slots of the backup schedule: backups taken, slots skipped, takes that failed",
            ["result"],
            registry=self.registry,
        )
        self._transfers = _TransferCollector()
        self.registry.register(self._transfers)
        self.pruned_ids = Counter(
            "backup_store_pruned_ids",
            "Backup ids the retention policy selected: deleted, failed, or left alone",
            ["result"],
            registry=self.registry,
        )

    def start(self, operation: str, partition: int) -> OperationTimer:
        """Count ``operation`` on ``partition`` as in progress until its timer completes."""
        return OperationTimer(self, operation, partition)

    @contextmanager
    def operation(self, operation: str, partitions: Iterable[int]) -> Iterator[None]:
        """Time the block as ``operation`` on each partition; failed if it raises."""
        timers = [self.start(operation, partition) for partition in sorted(partitions)]
        failed = True
        try:
            yield
            failed = False
        finally:
            for timer in timers:
                timer.complete(failed=failed)

    def watch_transfers(self, counters: TransferCounters) -> None:
        """Expose a store's :class:`TransferCounters`, read at each scrape:
        ``backup_store_uploaded_bytes_total``, ``backup_store_copied_bytes_total``
        and ``backup_store_copied_files_total`` (incremental saves)."""
        if not any(watched is counters for watched in self._transfers.watched):
            self._transfers.watched.append(counters)

    def transferred(self, operation: str, partition: int, *, size: int, files: int) -> None:
        """Record the bytes and files ``operation`` moved for ``partition``."""
        labels = (str(partition), operation)
        self.transferred_bytes.labels(*labels).inc(size)
        self.transferred_files.labels(*labels).inc(files)


class _TransferCollector(Collector):
    """The watched stores' transfer counters as Prometheus counters (summed)."""

    def __init__(self) -> None:
        self.watched: list[TransferCounters] = []

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, documentation, value in (
            ("backup_store_uploaded_bytes", "Bytes saves sent (as stored)", "bytes_uploaded"),
            (
                "backup_store_copied_bytes",
                "Bytes saves copied inside the store from earlier backups",
                "bytes_copied",
            ),
            (
                "backup_store_copied_files",
                "Files saves copied inside the store from earlier backups",
                "files_copied",
            ),
        ):
            family = CounterMetricFamily(name, documentation)
            family.add_metric([], sum(getattr(counters, value) for counters in self.watched))
            yield family


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
