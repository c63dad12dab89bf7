"""The backup service: backups of every partition of a node, as the management API sees them.

:class:`BackupService` is the layer between engine and store, usable from
Python without HTTP (the API module only maps it to status codes):

* :meth:`~BackupService.take_backup` records the checkpoint on every partition
  source, writes each partition backup's IN_PROGRESS manifest (so an accepted
  backup survives a crash as IN_PROGRESS, then FAILED, never as missing) and
  returns; the uploads run in background tasks the service owns. The id is
  checked without listing the store (a fixed number of requests, whatever it
  holds): against the sources (the truth), the highest id of this node the
  restart recovery found, each partition's record of ids accepted by every
  node (:meth:`InspectableStore.highest_taken`) and this node's manifests of
  the id; the create-only manifest write is the final guard.
* :meth:`~BackupService.get_backup` and :meth:`~BackupService.list_backups` read
  the store, so answers survive restarts and include backups that other nodes of
  the cluster wrote into the same store; they are aggregated per backup id by
  :mod:`backup_store.aggregate`.
* :meth:`~BackupService.delete_backup` marks in-progress partition backups
  FAILED (``The backup is being deleted.``), then deletes every copy.
* :meth:`~BackupService.start` marks FAILED every IN_PROGRESS backup of this node
  that no task of this process runs (the server was killed mid-backup), in the
  background: requests are answered meanwhile (such a backup reads IN_PROGRESS
  until it is marked, as its manifest says).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from backup_store import ZEEBE_VERSION
from backup_store.aggregate import BackupInfo, aggregate
from backup_store.concurrency import FreshShared, both, run_bounded
from backup_store.contract.inspectable import InspectableStore, StoredManifest
from backup_store.errors import (
    BackupStoreError,
    ConfigurationError,
    InvalidBackupStateError,
    StoreClosedError,
)
from backup_store.format.instant import Instant
from backup_store.format.manifest import Manifest
from backup_store.model import (
    MAX_PARTITIONS,
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    check_checkpoint_id,
)
from backup_store.operations import (
    damaged_left_error,
    delete_partition_backups,
    split_damaged,
)
from backup_store.resources import AsyncResource
from backup_store.service.errors import BackupIdConflictError
from backup_store.service.logs import log_context
from backup_store.service.metrics import DELETE, LIST, STATUS, TAKE, BackupMetrics
from backup_store.service.reads import Aggregates, aggregated, found_statuses
from backup_store.service.source import Checkpoint, PartitionSource
from backup_store.transfer.files import source_size

log = logging.getLogger("backup_store.service")

T = TypeVar("T")

RESTART_REASON = (
    "The backup was interrupted: the server was restarted while the backup was running."
)
"""Failure reason of an IN_PROGRESS backup found on start that no running task owns."""
CANCELLED_REASON = "The backup was cancelled before it completed."

STORE_CONCURRENCY = 4
"""Partitions (or backups) handled at once; each store call bounds its own reads too."""
RECOVERY_RETRY_SECONDS = (1.0, 60.0)
"""First and longest wait between attempts of the restart recovery."""


@dataclass
class _Running:
    """A partition backup this process runs, until its manifest is final."""

    backup_id: BackupIdentifier
    started: Instant
    descriptor: BackupDescriptor | None = None
    task: asyncio.Task[None] | None = None
    accepted: StoredManifest | None = None
    """Its IN_PROGRESS manifest written before the 202 (None if that failed)."""


class BackupService(AsyncResource):
    """Takes, queries and deletes backups of the partitions of one node.

    Use as ``async with BackupService(...) as service:`` (or call :meth:`start`
    and :meth:`close`). The service does not own ``store`` or ``sources``; close
    them after the service.

    Args:
        store: where backups go, shared by every node of the cluster.
        sources: this node's partitions.
        node_id: this node's (broker's) id.
        partition_count: the cluster's partition count (``numberOfPartitions``);
            by default the highest partition id among ``sources``. When reading,
            a larger count found in descriptors of the store wins.
        recovery_timeout: how long :meth:`start` waits for the first attempt of
            the restart recovery before leaving it to finish (or retry) in the
            background. Nothing else waits for it: reads and new backups are
            served meanwhile.
        metrics: where operations are counted and timed (Zeebe's backup metrics);
            its own by default.
    """

    def __init__(
        self,
        store: InspectableStore,
        sources: Iterable[PartitionSource],
        *,
        node_id: int = 0,
        partition_count: int | None = None,
        recovery_timeout: float = 30.0,
        metrics: BackupMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics if metrics is not None else BackupMetrics(process=False)
        self.metrics.watch_transfers(store.counters)
        self.sources: dict[int, PartitionSource] = {}
        for source in sources:
            if source.partition_id in self.sources:
                raise ConfigurationError(f"two sources for partition {source.partition_id}")
            self.sources[source.partition_id] = source
        highest = max(self.sources, default=1)
        if partition_count is None:
            partition_count = highest
        if partition_count < highest:
            raise ConfigurationError(
                f"partition count {partition_count} is lower than partition id {highest}"
            )
        if partition_count > MAX_PARTITIONS:
            raise ConfigurationError(
                f"partition count {partition_count} is above the limit of {MAX_PARTITIONS}"
            )
        # Validates the node id the same way as every backup id.
        BackupIdentifier(node_id, 1, 1)
        self.node_id = node_id
        self.partition_count = partition_count
        self.recovery_timeout = recovery_timeout
        self._running: dict[tuple[int, int], _Running] = {}
        self._started_here: set[int] = set()
        # Partition backups that failed here and could not be marked FAILED in the store
        # (it could not be written): read as FAILED, never as missing, until it holds them.
        self._unmarked: dict[BackupIdentifier, BackupStatus] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._take_lock = asyncio.Lock()
        self._recovery_lock = asyncio.Lock()
        self._recovered = asyncio.Event()
        self._first_recovery_attempt = asyncio.Event()
        self._store_floor = 0
        self._shared_reads = FreshShared(self._read)
        self._aggregates = Aggregates()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"BackupService(node {self.node_id}, partitions {sorted(self.sources)} of "
            f"{self.partition_count}, store {self.store!r})"
        )

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Start the restart recovery (see :meth:`recover_interrupted_backups`).

        Waits up to ``recovery_timeout`` for the first attempt; a recovery that
        takes longer (a store holding many backups) or fails (an unreachable
        store) goes on, or is retried, in the background.
        """
        self._spawn(self._recovery_loop())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.recovery_timeout):
                await self._first_recovery_attempt.wait()

    async def close(self) -> None:
        """Cancel every running backup (the store marks each FAILED) and wait for them."""
        self._closed = True
        # Loop: a take cancelled here may have started uploads just before.
        while tasks := [task for task in self._tasks if not task.done()]:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_for_recovery(self) -> None:
        """Wait until the restart recovery has succeeded once."""
        await self._recovered.wait()

    @property
    def running_backups(self) -> list[BackupIdentifier]:
        """Partition backups this process is running, in id order."""
        return sorted(running.backup_id for running in self._running.values())

    async def wait_for_backups(self) -> None:
        """Wait until no partition backup of this process is running."""
        while True:
            tasks = [r.task for r in self._running.values() if r.task is not None]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    async def latest_backup_id(self) -> int:
        """The highest backup id any partition of this node recorded (or the store holds)."""
        latest = await self._gather([s.latest_checkpoint_id for s in self.sources.values()])
        return max([self._store_floor, *latest])

    # ------------------------------------------------------------ take

    async def take_backup(self, backup_id: int) -> list[Checkpoint]:
        """Record checkpoint ``backup_id`` on every partition and start the backups.

        Returns once every partition has recorded the checkpoint; the uploads run
        in the background. If the caller is cancelled (a request timeout), the
        recording still completes and its backups still run.

        Raises:
            InvalidInputError: ``backup_id`` is not an int64 greater than zero.
            BackupIdConflictError: the id is not greater than the latest one taken
                (by any partition, or known to the store for this node: see the
                module's description), or lower than one another node took for
                one of these partitions; nothing is recorded.
            StoreUnavailableError: the store could not be reached.
            SourceUnavailableError: a partition source could not be reached. The
                partitions that did record the checkpoint back up anyway.
        """
        check_checkpoint_id(backup_id)
        self._check_open()
        with log_context(backup_id=backup_id, operation=TAKE):  # its tasks inherit it
            task = self._spawn(self._take(backup_id))
        return await asyncio.shield(task)

    async def _highest_in_store(self, partition_id: int, backup_id: int) -> tuple[int, int]:
        """The highest ids the store knows for the partition, by this node and by any
        node, in a fixed number of requests whatever it holds: the partition's record of
        ids accepted by every node's service (one read) and whether this node's
        manifest of ``backup_id`` exists (one existence check per read layout)."""
        this_copy = BackupIdentifier(self.node_id, partition_id, backup_id)
        highest, exists = await asyncio.gather(
            self.store.highest_taken(partition_id), self.store.has_manifest(this_copy)
        )
        own = max(highest.get(self.node_id, 0), backup_id if exists else 0)
        return own, max([own, *highest.values()])

    async def _take(self, backup_id: int) -> list[Checkpoint]:
        if not self.sources:
            raise ConfigurationError("this server has no partitions to back up")
        async with self._take_lock:
            # No wait for the restart recovery: it skips ids started here. What it
            # learned (this node's highest id in the store) counts once it is done.
            sources = list(self.sources.values())
            latest = await self._gather([s.latest_checkpoint_id for s in sources])
            highest = max([self._store_floor, *latest])
            if backup_id <= highest:
                raise BackupIdConflictError(backup_id, highest)
            # The store's record counts too, which also proves it reachable before
            # anything is recorded. Another node may hold a copy of the same id for a
            # partition (replicas); this node's own copy, or any higher id, conflicts.
            # The create-only write of the manifest (accept) is the final guard.
            in_store = await self._gather(
                [functools.partial(self._highest_in_store, p, backup_id) for p in self.sources]
            )
            own, others = max(i for i, _ in in_store), max(i for _, i in in_store)
            if backup_id <= own or backup_id < others:
                raise BackupIdConflictError(backup_id, max(highest, own, others))
            # Recording the checkpoint uses the id up for good: first make sure the store
            # can be written (a missing bucket answers reads as if it were empty).
            await self.store.probe(writing=True)
            await self._mark_unmarked()
            results = await asyncio.gather(
                *(s.record_checkpoint(backup_id) for s in sources), return_exceptions=True
            )
            taken = [
                (source, result)
                for source, result in zip(sources, results, strict=True)
                if isinstance(result, Checkpoint)
            ]
            # Durable before the 202: a server killed from now on leaves IN_PROGRESS
            # manifests, which the restart marks FAILED, never a backup that reads 404.
            accepted = await asyncio.gather(
                *(self._accept(source, checkpoint) for source, checkpoint in taken),
                return_exceptions=True,
            )
            checkpoints = []
            for (source, checkpoint), acceptance in zip(taken, accepted, strict=True):
                checkpoints.append(checkpoint)
                held = acceptance if isinstance(acceptance, StoredManifest) else None
                self._start_backup(source, checkpoint, held)
            errors = [r for r in [*results, *accepted] if isinstance(r, BaseException)]
            if errors:
                recorded = sorted(c.partition_id for c in checkpoints)
                log.error(
                    "backup %d: recorded on partitions %s only: %s", backup_id, recorded, errors[0]
                )
                raise errors[0]
            log.info("backup %d scheduled on partitions %s", backup_id, sorted(self.sources))
            return checkpoints

    def _backup_id(self, source: PartitionSource, checkpoint: Checkpoint) -> BackupIdentifier:
        return BackupIdentifier(self.node_id, source.partition_id, checkpoint.checkpoint_id)

    async def _accept(self, source: PartitionSource, checkpoint: Checkpoint) -> StoredManifest:
        """The partition backup's IN_PROGRESS manifest, before its content is known."""
        descriptor = BackupDescriptor(
            None, checkpoint.position, self.partition_count, ZEEBE_VERSION
        )
        manifest = Manifest.in_progress(
            self._backup_id(source, checkpoint), descriptor, (), (), Instant.now()
        )
        return await self.store.accept(manifest)

    def _start_backup(
        self, source: PartitionSource, checkpoint: Checkpoint, accepted: StoredManifest | None
    ) -> None:
        backup_id = self._backup_id(source, checkpoint)
        running = _Running(backup_id, Instant.now(), accepted=accepted)
        self._running[(backup_id.partition_id, backup_id.checkpoint_id)] = running
        self._started_here.add(backup_id.checkpoint_id)
        with log_context(partition_id=backup_id.partition_id):
            running.task = self._spawn(self._run_backup(source, checkpoint, running))

    async def _run_backup(
        self, source: PartitionSource, checkpoint: Checkpoint, running: _Running
    ) -> None:
        backup_id = running.backup_id
        timer = self.metrics.start(TAKE, backup_id.partition_id)
        stored = False
        try:
            content = await source.backup_content(checkpoint)
            running.descriptor = BackupDescriptor(
                content.snapshot_id,
                content.checkpoint_position,
                self.partition_count,
                content.broker_version,
            )
            backup = Backup(backup_id, running.descriptor, content.snapshot, content.segments)
            # Measured before saving, which checks the same sizes: nothing can fail after it.
            files = [*content.snapshot.sources.values(), *content.segments.sources.values()]
            size = sum(map(source_size, files))
            await self.store.save(backup, accepted=running.accepted)
            stored = True
            self.metrics.transferred(TAKE, backup_id.partition_id, size=size, files=len(files))
            log.info("backup %s completed", backup_id)
        except InvalidBackupStateError as error:
            # Someone else owns the manifest now (deleted, marked failed, or it
            # existed): leave it alone.
            log.warning("backup %s: %s", backup_id, error)
        except asyncio.CancelledError:
            await asyncio.shield(self._mark_failed_quietly(backup_id, CANCELLED_REASON, running))
            raise
        except Exception as error:
            reason = (
                error.message
                if isinstance(error, BackupStoreError)
                else (f"{type(error).__name__}: {error}")
            )
            log.error("backup %s failed: %s", backup_id, error)
            # The store marks FAILED what it started; this covers failures before
            # its manifest existed (a source file already gone, content unavailable).
            await self._mark_failed_quietly(backup_id, reason, running)
        finally:
            # Only once the manifest is final: readers fall back on _running meanwhile.
            self._running.pop((backup_id.partition_id, backup_id.checkpoint_id), None)
            timer.complete(failed=not stored)

    async def _mark_unmarked(self) -> None:
        """Mark FAILED in the store what could not be marked when it failed."""
        for backup_id, status in list(self._unmarked.items()):
            try:
                await self.store.mark_failed(backup_id, status.failure_reason or "")
            except Exception as error:  # still unwritable: kept for the next attempt
                log.warning("backup %s: still could not be marked failed: %s", backup_id, error)
            else:
                del self._unmarked[backup_id]

    async def _mark_failed_quietly(
        self, backup_id: BackupIdentifier, reason: str, running: _Running
    ) -> None:
        try:
            await self.store.mark_failed(backup_id, reason)
        except Exception as error:
            log.error("backup %s: could not be marked failed: %s", backup_id, error)
            self._unmarked[backup_id] = BackupStatus(
                backup_id, BackupStatusCode.FAILED, running.descriptor, reason,
                running.started, Instant.now(),
            )  # fmt: skip

    # ------------------------------------------------------------ read

    async def get_backup(self, backup_id: int) -> BackupInfo:
        """The aggregated state of one backup id; state ``DOES_NOT_EXIST`` when no partition has it.

        Raises:
            InvalidInputError: ``backup_id`` is not an int64 greater than zero.
            StoreUnavailableError: the store could not be reached.
        """
        check_checkpoint_id(backup_id)
        with (
            log_context(backup_id=backup_id, operation=STATUS),
            self.metrics.operation(STATUS, self.sources),
        ):
            infos = await self._shared_reads(backup_id)
        if infos:
            return infos[0]
        return aggregate(backup_id, [], self.partition_count)

    async def list_backups(self, prefix: str = "") -> list[BackupInfo]:
        """Every backup id in the store (of any node), highest first, aggregated.

        A backup whose partitions are all DELETED (or missing) is left out.

        Args:
            prefix: only ids whose decimal form starts with these digits
                (``"10"`` lists 10, 100, 101, ...).

        Raises:
            InvalidInputError: ``prefix`` is not decimal digits.
            StoreUnavailableError: the store could not be reached.
        """
        pattern = f"{prefix}*"
        BackupIdentifierWildcard(checkpoint=pattern)  # validates the prefix
        with log_context(operation=LIST), self.metrics.operation(LIST, self.sources):
            # (The store joins concurrent lists: each request reads for itself.)
            return await self._read(pattern)

    async def _read(self, checkpoint: int | str) -> list[BackupInfo]:
        """Aggregated backups of an id or a ``digits*`` pattern (requests answered by
        the same lists share one aggregation: ``_aggregates``)."""
        if isinstance(checkpoint, int):
            selects: Callable[[int], bool] = checkpoint.__eq__
        else:
            selects = _starts_with(checkpoint.removesuffix("*"))
        # What this process runs, taken before reading: a partition backup that
        # was running then and had no manifest yet when read is IN_PROGRESS.
        running = [
            BackupStatus(
                r.backup_id, BackupStatusCode.IN_PROGRESS, r.descriptor, None, r.started, r.started
            )
            for r in self._running.values()
            if selects(r.backup_id.checkpoint_id)
        ]
        unmarked = [s for s in self._unmarked.values() if selects(s.id.checkpoint_id)]
        listed = await self._listed(checkpoint)
        return self._aggregates.get(
            (checkpoint, tuple(running), tuple(unmarked)),
            listed,
            functools.partial(
                aggregated, checkpoint, listed, running, unmarked, self.partition_count
            ),
        )

    async def _statuses(self, checkpoint: int | str) -> list[BackupStatus]:
        return found_statuses(await self._listed(checkpoint))

    async def _listed(self, checkpoint: int | str) -> list[list[BackupStatus]]:
        """Statuses of every node's backups matching ``checkpoint``, partition by partition.

        Listing per partition keeps each listing under the narrowest key prefix.
        The partitions are ``1..partition_count`` and those whose keys exist in the
        store; a descriptor's ``numberOfPartitions`` never drives the listing.
        """
        # The known partitions are listed at once, while the store is asked for others
        # (a list asked during another's run then joins it from its start).
        known = range(1, self.partition_count + 1)
        found, listed = await both(
            self.store.list_partitions,
            functools.partial(self._gather, [self._listing(p, checkpoint) for p in known]),
        )
        others = sorted(set(found) - set(known))
        return listed + await self._gather([self._listing(p, checkpoint) for p in others])

    def _listing(
        self, partition: int, checkpoint: int | str
    ) -> Callable[[], Awaitable[list[BackupStatus]]]:
        wildcard = BackupIdentifierWildcard(partition_id=partition, checkpoint=checkpoint)
        return functools.partial(self.store.list, wildcard)

    # ------------------------------------------------------------ delete

    async def delete_backup(self, backup_id: int) -> None:
        """Delete backup ``backup_id`` on every partition and node; a missing one is fine.

        In-progress partition backups are first marked FAILED with reason
        ``The backup is being deleted.``; this process's own uploads of the id are
        stopped before anything is deleted. The id stays used.

        A partition backup whose manifest is damaged is not a backup to delete:
        it is left in place for an operator to inspect, and reported.

        Raises:
            InvalidInputError: ``backup_id`` is not an int64 greater than zero.
            StoreUnavailableError: the store could not be reached.
            ManifestParseError: some partition backups have damaged manifests; the
                others were deleted.
        """
        check_checkpoint_id(backup_id)
        self._check_open()
        with (
            log_context(backup_id=backup_id, operation=DELETE),
            self.metrics.operation(DELETE, self.sources),
        ):
            await self._delete(backup_id)

    async def _delete(self, backup_id: int) -> None:
        own = [r for r in self._running.values() if r.backup_id.checkpoint_id == backup_id]
        statuses, damaged = split_damaged(await self._statuses(backup_id))
        ids = {s.id for s in statuses}
        in_progress = {s.id for s in statuses if s.status_code is BackupStatusCode.IN_PROGRESS}
        # Our own running ones may have no manifest yet: a FAILED one stops their save.
        in_progress |= {r.backup_id for r in own}
        # Mark FAILED first, then stop our own uploads, then delete everything.
        await delete_partition_backups(self.store, (), in_progress)
        for running in own:
            if running.task is not None:
                running.task.cancel()
        await asyncio.gather(*(r.task for r in own if r.task is not None), return_exceptions=True)
        ids |= in_progress
        await delete_partition_backups(self.store, ids)
        for unmarked in [i for i in self._unmarked if i.checkpoint_id == backup_id]:
            del self._unmarked[unmarked]
        log.info("backup %d deleted (%d partition backups)", backup_id, len(ids))
        if damaged:
            raise damaged_left_error(damaged)

    # ------------------------------------------------------------ restart recovery

    async def recover_interrupted_backups(self) -> list[BackupIdentifier]:
        """Mark FAILED each IN_PROGRESS backup of this node that no task of this process runs.

        Such a backup was interrupted: the server stopped (or was killed) while it
        ran. Also learns the highest backup id this node has in the store, which
        later backups must exceed. Returns the backups marked failed.

        Raises:
            StoreUnavailableError: the store could not be reached.
        """
        async with self._recovery_lock:
            # As this node's writer, it also brings this node's catalogs up to date.
            # (A catalog it cannot write only makes lists slower: never a failed recovery.)
            statuses = await self.store.rebuild_catalog(
                BackupIdentifierWildcard(node_id=self.node_id), must_write=False
            )
            # Later POSTs check new ids against it without listing (see _take).
            self._store_floor = max([self._store_floor, *(s.id.checkpoint_id for s in statuses)])
            orphans = sorted(
                s.id
                for s in statuses
                if s.status_code is BackupStatusCode.IN_PROGRESS
                and s.id.checkpoint_id not in self._started_here
            )
            await self._gather(
                [functools.partial(self.store.mark_failed, i, RESTART_REASON) for i in orphans]
            )
            for orphan in orphans:
                log.warning("backup %s was interrupted by a restart: marked FAILED", orphan)
            self._recovered.set()
            return orphans

    async def _recovery_loop(self) -> None:
        delay, longest = RECOVERY_RETRY_SECONDS
        while not self._recovered.is_set():
            try:
                await self.recover_interrupted_backups()
            except StoreClosedError:
                return
            except Exception as error:
                log.error(
                    "could not check the store for interrupted backups (retrying in %.0fs): %s",
                    delay,
                    error,
                )
            finally:
                self._first_recovery_attempt.set()
            if not self._recovered.is_set():
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)

    # ------------------------------------------------------------ helpers

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the backup service is closed")

    def _spawn(self, coroutine: Awaitable[T]) -> asyncio.Task[T]:
        # Keep a reference until done (the event loop keeps only weak ones) and
        # log failures nobody awaited (a request that timed out).
        task: asyncio.Task[T] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[T]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here so asyncio does not warn; callers still see it.
            log.debug("background task ended with %r", task.exception())

    async def _gather(self, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run jobs with bounded concurrency; the first error cancels the rest."""
        return await run_bounded(jobs, STORE_CONCURRENCY)


def _starts_with(prefix: str) -> Callable[[int], bool]:
    return lambda checkpoint: str(checkpoint).startswith(prefix)
