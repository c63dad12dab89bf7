"""Scheduled backups and scheduled retention in the service, as Camunda 8.9 configures them.

A schedule is an ISO-8601 duration (``PT1H``; also ``1h``), a cron expression in
Spring's six-field form (``0 0 * * * *``, see :mod:`backup_store.service.cron`) or
``none``. Its *slots* are fixed instants every node computes alike: a duration's
slots are the whole multiples of it since the Unix epoch (``PT1H``: every full
hour, UTC); a cron expression's slots are its fire times in UTC.

**Backup ids.** Camunda 8.9 names a scheduled backup by the epoch milliseconds at
which its scheduler fires (``CheckpointIdGenerator``: ``now().toEpochMilli()`` plus
an optional configured ``offset``), from one scheduler for the cluster. Here every
node runs its own scheduler over a shared store, so the id is derived from the
slot instead of the moment: the slot's start in epoch milliseconds, or, when the
store already holds a higher id created *before* the slot began (a manual backup
above the slot, an id from another numbering), the next id above it
(:func:`scheduled_backup_id`). Only manifests created before the slot count, so
the backups other nodes write for the same slot do not move it: every node
sharing the store gives one slot the same id, and ids grow from slot to slot.

**Not doubled, never lower.** A slot whose id is not above this node's latest
backup (the slot was already taken before a restart, or the clock was set back)
is skipped, as is a slot that comes due while a backup of this node is still
running. On start the current slot is taken if it was not taken yet (one missed
slot, never a backlog). A scheduled backup that fails is FAILED like any other;
the schedule goes on.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from backup_store.concurrency import run_bounded
from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import ForeignStoreKindError, InvalidInputError, ManifestParseError
from backup_store.format.instant import Instant
from backup_store.model import MAX_CHECKPOINT_ID, BackupIdentifier, BackupIdentifierWildcard
from backup_store.resources import AsyncResource
from backup_store.service.clock import Clock, SystemClock
from backup_store.service.cron import CronExpression
from backup_store.service.errors import BackupIdConflictError
from backup_store.service.metrics import BackupMetrics
from backup_store.service.service import BackupService
from backup_store.tools.retention import (
    DEFAULT_CONCURRENCY,
    Outcome,
    RetentionPolicy,
    prune,
)
from backup_store.units import format_duration, parse_duration

log = logging.getLogger("backup_store.schedule")

NONE = "none"
_NANOS_PER_MILLI = 1_000_000
MIN_INTERVAL = timedelta(seconds=1)


class Schedule(abc.ABC):
    """When something runs: a sequence of slot instants every node computes alike."""

    text: str

    @abc.abstractmethod
    def latest_slot(self, now: Instant) -> Instant | None:
        """The latest slot at or before ``now`` (None before the first)."""

    @abc.abstractmethod
    def next_slot(self, after: Instant) -> Instant | None:
        """The first slot strictly after ``after`` (None when there is none)."""


@dataclass(frozen=True)
class IntervalSchedule(Schedule):
    """Every ``interval``, at whole multiples of it since the Unix epoch."""

    interval: timedelta
    text: str = ""

    def __post_init__(self) -> None:
        if self.interval < MIN_INTERVAL:
            raise InvalidInputError(
                "a schedule interval must be at least 1 second, "
                f"got {format_duration(self.interval)}"
            )
        if not self.text:
            object.__setattr__(self, "text", format_duration(self.interval))

    @property
    def _step(self) -> int:
        return self.interval // timedelta(microseconds=1) * 1000

    def latest_slot(self, now: Instant) -> Instant:
        return Instant(now.epoch_nanos // self._step * self._step)

    def next_slot(self, after: Instant) -> Instant:
        return Instant((after.epoch_nanos // self._step + 1) * self._step)


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """The fire times of a Spring cron expression, in UTC."""

    expression: CronExpression

    @property
    def text(self) -> str:  # type: ignore[override]
        return self.expression.text

    def latest_slot(self, now: Instant) -> Instant | None:
        found = self.expression.latest_at_or_before(now.to_datetime())
        return Instant.from_datetime(found) if found is not None else None

    def next_slot(self, after: Instant) -> Instant | None:
        found = self.expression.next_after(after.to_datetime())
        return Instant.from_datetime(found) if found is not None else None


def parse_schedule(text: str | None, *, what: str = "schedule") -> Schedule | None:
    """A schedule from Camunda's setting: a duration, a six-field cron expression, or ``none``.

    ``None``, an empty text and ``none`` (any case) mean no schedule.

    Raises:
        InvalidInputError: neither form; the message names ``what`` and the text.
    """
    if text is None or not text.strip() or text.strip().lower() == NONE:
        return None
    cleaned = text.strip()
    if " " in cleaned or cleaned.startswith("@"):
        try:
            return CronSchedule(CronExpression.parse(cleaned))
        except InvalidInputError as error:
            raise InvalidInputError(
                f"{what}: {error.message}; a schedule is a cron expression in Spring's "
                "six-field form, an ISO-8601 duration (PT1H) or 'none'"
            ) from None
    try:
        return IntervalSchedule(parse_duration(cleaned, what=what), cleaned)
    except InvalidInputError as error:
        raise InvalidInputError(
            f"{error.message}; or give a cron expression in Spring's six-field form "
            "('0 0 * * * *') or 'none'"
        ) from None


def scheduled_backup_id(slot: Instant, stored: Iterable[tuple[int, Instant | None]]) -> int:
    """The backup id of the scheduled backup of ``slot`` (pure: no I/O).

    The slot's start in epoch milliseconds, or one more than the highest stored id
    whose manifest was created before the slot began, if that is higher. ``stored``
    holds ``(backup id, createdAt)`` of manifests; a manifest without a readable
    date counts as created before.
    """
    slot_id = max(1, slot.epoch_nanos // _NANOS_PER_MILLI)
    before = [backup_id for backup_id, created in stored if created is None or created < slot]
    return min(max(slot_id, max(before, default=0) + 1), MAX_CHECKPOINT_ID)


async def read_scheduled_backup_id(
    store: InspectableStore, slot: Instant, *, concurrency: int = DEFAULT_CONCURRENCY
) -> int:
    """:func:`scheduled_backup_id` for ``slot`` over what ``store`` holds.

    Lists ids by key and reads only the manifests of ids at or above the slot's
    own id (usually none, or the slot's backups other nodes wrote).
    """
    slot_id = scheduled_backup_id(slot, ())
    ids = [
        i for i in await store.list_ids(BackupIdentifierWildcard()) if i.checkpoint_id >= slot_id
    ]

    async def created(backup_id: BackupIdentifier) -> tuple[int, Instant | None]:
        try:
            return backup_id.checkpoint_id, (await store.get_status(backup_id)).created
        except (ManifestParseError, ForeignStoreKindError):
            return backup_id.checkpoint_id, None  # unreadable: an id without a date

    found = await run_bounded([functools.partial(created, i) for i in ids], concurrency)
    return scheduled_backup_id(slot, found)


async def take_backup_at(service: BackupService, slot: Instant) -> int:
    """Take a backup with the id :func:`read_scheduled_backup_id` gives ``slot``.

    The scheduler passes each slot; a backup asked for while a schedule is
    configured (``POST /v2/backups/runtime`` without an id) passes the current
    instant, as Camunda names such a backup by the moment it is asked for.

    Raises:
        BackupIdConflictError: that id is not above the latest one taken.
    """
    backup_id = await read_scheduled_backup_id(service.store, slot)
    await service.take_backup(backup_id)
    return backup_id


class _SlotRunner(AsyncResource):
    """Runs :meth:`run_slot` once per slot of a schedule until closed.

    Use as ``async with runner:``; the loop runs in a background task.
    """

    name = "schedule"

    def __init__(self, schedule: Schedule, clock: Clock | None) -> None:
        self.schedule = schedule
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.last_slot: Instant | None = None
        self._task: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def run_slot(self, slot: Instant) -> None:
        """Do what is due at ``slot``; errors are logged and the schedule goes on."""

    async def run(self) -> None:
        """The loop: the current slot if not done yet, then each next one."""
        while True:
            now = self.clock.now()
            slot = self.schedule.latest_slot(now)
            if slot is not None and (self.last_slot is None or slot > self.last_slot):
                try:
                    await self.run_slot(slot)
                except Exception as error:
                    log.error("%s: slot %s failed: %s", self.name, slot, error)
                self.last_slot = slot
            after = now if self.last_slot is None or now > self.last_slot else self.last_slot
            upcoming = self.schedule.next_slot(after)
            if upcoming is None:
                log.warning("%s %r has no further slot; stopping", self.name, self.schedule.text)
                return
            await self.clock.sleep_until(upcoming)

    async def start(self) -> None:
        """Start the loop in a background task."""
        self._task = asyncio.create_task(self.run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class BackupScheduler(_SlotRunner):
    """Takes a backup of every partition of ``service``'s node at each slot.

    Counts what it did in ``taken``, ``skipped`` and ``failed`` (the ids taken are
    in ``taken_ids``), and in the service's metrics.
    """

    name = "backup schedule"

    def __init__(
        self, service: BackupService, schedule: Schedule, *, clock: Clock | None = None
    ) -> None:
        super().__init__(schedule, clock)
        self.service = service
        self.taken_ids: list[int] = []
        self.skipped = 0
        self.failed = 0

    @property
    def taken(self) -> int:
        return len(self.taken_ids)

    def _count(self, result: str) -> None:
        self.service.metrics.scheduled_backups.labels(result).inc()

    async def run_slot(self, slot: Instant) -> None:
        running = self.service.running_backups
        if running:
            self.skipped += 1
            self._count("skipped")
            log.warning(
                "scheduled backup of %s skipped: backup %d of this node is still running",
                slot,
                running[0].checkpoint_id,
            )
            return
        try:
            backup_id = await take_backup_at(self.service, slot)
        except BackupIdConflictError as conflict:
            self.skipped += 1
            self._count("skipped")
            log.info("scheduled backup of %s skipped: %s", slot, conflict)
            return
        except Exception:
            self.failed += 1
            self._count("failed")
            raise
        self.taken_ids.append(backup_id)
        self._count("taken")
        log.info("scheduled backup %d of slot %s started", backup_id, slot)


class RetentionScheduler(_SlotRunner):
    """Prunes ``store`` with ``policy`` at each slot (:func:`backup_store.tools.retention.prune`).

    ``pruned_ids`` lists every id deleted so far; ``runs`` counts the clean-ups;
    ``metrics`` (the service's) counts the ids by outcome.
    """

    name = "retention schedule"

    def __init__(
        self,
        store: InspectableStore,
        policy: RetentionPolicy,
        schedule: Schedule,
        *,
        clock: Clock | None = None,
        partition_count: int | None = None,
        metrics: BackupMetrics | None = None,
    ) -> None:
        super().__init__(schedule, clock)
        self.metrics = metrics
        self.store = store
        self.policy = policy
        self.partition_count = partition_count
        self.pruned_ids: list[int] = []
        self.runs = 0

    async def run_slot(self, slot: Instant) -> None:
        self.runs += 1
        report = await prune(
            self.store, self.policy, now=self.clock.now(), partition_count=self.partition_count
        )
        deleted = [r.entry.backup_id for r in report.results if r.outcome is Outcome.DELETED]
        self.pruned_ids.extend(deleted)
        if self.metrics is not None:
            for result in report.results:
                self.metrics.pruned_ids.labels(result.outcome.value).inc()
        for result in report.results:
            if result.outcome is Outcome.FAILED:
                log.error(
                    "retention: backup %d not deleted: %s", result.entry.backup_id, result.message
                )
        if deleted:
            log.info("retention (%s): deleted backups %s", self.policy.describe(), deleted)
