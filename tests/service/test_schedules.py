"""Schedules (durations, Spring cron), scheduled backup ids, and the schedulers on a fake clock.

Every clock here is a :class:`ManualClock`; the store's own timestamps follow
it too (``Instant.now`` is pointed at it), as they follow one machine's clock
in production. Tests wait for the scheduler to go back to sleep, never sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backup_store import (
    BackupIdentifier,
    BackupStatusCode,
    FilesystemBackupStore,
    MemoryBackupStore,
)
from backup_store.cli import main
from backup_store.errors import InvalidInputError
from backup_store.format.instant import Instant
from backup_store.service import (
    BackupIdConflictError,
    BackupService,
    BackupState,
    Checkpoint,
    CheckpointContent,
    SourceError,
)
from backup_store.service.clock import ManualClock
from backup_store.service.cron import CronError, CronExpression
from backup_store.service.metrics import BackupMetrics
from backup_store.service.schedules import (
    BackupScheduler,
    CronSchedule,
    IntervalSchedule,
    RetentionScheduler,
    parse_schedule,
    scheduled_backup_id,
)
from backup_store.tools.retention import RetentionPolicy
from testbed.histories import DAY, craft, history
from tests.support.api_server import cli_server, client, wait_until
from tests.support.services import MemorySource

T0 = Instant.parse_iso("2026-11-30T10:20:00Z")
HOUR_NS = 3600 * 10**9


def at(text: str) -> Instant:
    return Instant.parse_iso(text)


def ms(text: str) -> int:
    return at(text).epoch_nanos // 1_000_000


# ---------------------------------------------------------------- parsing


def test_schedules_in_camundas_forms() -> None:
    assert parse_schedule(None) is None
    assert parse_schedule("none") is None
    assert parse_schedule(" NONE ") is None
    hourly = parse_schedule("PT1H")
    assert isinstance(hourly, IntervalSchedule) and hourly.interval == timedelta(hours=1)
    assert parse_schedule("1h") == IntervalSchedule(timedelta(hours=1), "1h")
    cron = parse_schedule("0 0 * * * *")
    assert isinstance(cron, CronSchedule)
    assert cron.text == "0 0 * * * *"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every hour", "Spring's six-field form"),
        ("0 * * * *", "has 5 fields"),
        ("PT0.5S", "at least 1 second"),
        ("0 0 0 L * *", "L, W and # are not supported"),
        ("0 0 0 30 2 *", "never fires"),
        ("61 0 * * * *", "second field: 61 is outside 0-59"),
        ("0 0 * * * FUNDAY", "day of week field"),
        ("0 0 5-1 * * *", "runs backwards"),
    ],
)
def test_bad_schedules_say_why(text: str, expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        parse_schedule(text, what="--schedule")


@pytest.mark.parametrize(
    ("expression", "after", "expected_next", "expected_latest"),
    [
        ("0 0 * * * *", "2026-11-30T10:20:00Z", "2026-11-30T11:00:00Z", "2026-11-30T10:00:00Z"),
        ("@hourly", "2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z", "2026-11-30T10:00:00Z"),
        ("*/15 * * * * *", "2026-11-30T10:20:07Z", "2026-11-30T10:20:15Z", "2026-11-30T10:20:00Z"),
        # Monday to Friday at 02:30; 2026-11-28 is a Saturday.
        (
            "0 30 2 * * MON-FRI",
            "2026-11-28T12:00:00Z",
            "2026-11-30T02:30:00Z",
            "2026-11-27T02:30:00Z",
        ),
        ("0 0 0 * * 7", "2026-11-30T00:00:00Z", "2026-12-06T00:00:00Z", "2026-11-29T00:00:00Z"),
        ("0 0 0 29 FEB ?", "2026-11-30T00:00:00Z", "2028-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
        ("@daily", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "2026-12-31T00:00:00Z"),
        (
            "0 0/20 8-9 1,15 * *",
            "2026-11-15T08:50:00Z",
            "2026-11-15T09:00:00Z",
            "2026-11-15T08:40:00Z",
        ),
    ],
)
def test_cron_fire_times(
    expression: str, after: str, expected_next: str, expected_latest: str
) -> None:
    cron = CronExpression.parse(expression)
    moment = datetime.fromisoformat(after)
    assert cron.next_after(moment) == datetime.fromisoformat(expected_next)
    assert cron.latest_at_or_before(moment) == datetime.fromisoformat(expected_latest)


def test_cron_day_fields_must_both_match_as_in_spring() -> None:
    # The 13th of a month that is a Friday (Spring requires both fields).
    cron = CronExpression.parse("0 0 0 13 * FRI")
    assert cron.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 2, 13, tzinfo=UTC)
    with pytest.raises(CronError):
        CronExpression.parse("0 0 0 ? * MON#2")


def test_interval_slots_are_whole_multiples_since_the_epoch() -> None:
    hourly = IntervalSchedule(timedelta(hours=1))
    assert hourly.latest_slot(T0) == at("2026-11-30T10:00:00Z")
    assert hourly.next_slot(T0) == at("2026-11-30T11:00:00Z")
    assert hourly.next_slot(at("2026-11-30T11:00:00Z")) == at("2026-11-30T12:00:00Z")
    weekly = IntervalSchedule(timedelta(days=7))
    assert weekly.latest_slot(T0) == at("2026-11-26T00:00:00Z")  # the epoch was a Thursday


# ---------------------------------------------------------------- ids


def test_the_id_is_the_slot_in_epoch_milliseconds() -> None:
    slot = at("2026-11-30T10:00:00Z")
    assert scheduled_backup_id(slot, []) == ms("2026-11-30T10:00:00Z")
    # The slot's own backups (created at or after it, by any node) do not move it.
    assert (
        scheduled_backup_id(slot, [(ms("2026-11-30T10:00:00Z"), slot)]) == slot.epoch_nanos // 10**6
    )
    # A higher id created before the slot does: the schedule continues above it.
    manual = ms("2026-11-30T10:00:00Z") + 5000
    assert scheduled_backup_id(slot, [(manual, at("2026-11-30T09:30:00Z"))]) == manual + 1
    # A manifest whose date cannot be read counts as created before.
    assert scheduled_backup_id(slot, [(manual, None)]) == manual + 1


# ---------------------------------------------------------------- the backup scheduler


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """A fake clock that the store's and the service's timestamps follow too."""
    fake = ManualClock(T0)
    monkeypatch.setattr(Instant, "now", classmethod(lambda cls: fake.now()))
    return fake


class Node:
    """One node: a backup service over shared ``store`` with a scheduler on ``clock``."""

    def __init__(
        self,
        store: MemoryBackupStore,
        clock: ManualClock,
        node_id: int,
        partitions: list[MemorySource],
        schedule: str = "PT1H",
        partition_count: int = 2,
    ) -> None:
        self.store, self.clock, self.node_id = store, clock, node_id
        self.sources, self.schedule, self.partition_count = partitions, schedule, partition_count
        self._stack = AsyncExitStack()

    async def start(self) -> BackupScheduler:
        schedule = parse_schedule(self.schedule)
        assert schedule is not None
        self.service = await self._stack.enter_async_context(
            BackupService(
                self.store, self.sources, node_id=self.node_id, partition_count=self.partition_count
            )
        )
        self.scheduler = await self._stack.enter_async_context(
            BackupScheduler(self.service, schedule, clock=self.clock)
        )
        return self.scheduler

    async def stop(self) -> None:
        await self._stack.aclose()
        self._stack = AsyncExitStack()


@pytest.fixture
def store() -> MemoryBackupStore:
    return MemoryBackupStore()


@pytest.fixture
async def nodes(
    store: MemoryBackupStore, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[list[Node]]:
    made = [
        Node(
            store,
            clock,
            0,
            [MemorySource(1, tmp_path), MemorySource(2, tmp_path)],
            partition_count=4,
        ),
        Node(
            store,
            clock,
            1,
            [MemorySource(3, tmp_path), MemorySource(4, tmp_path)],
            partition_count=4,
        ),
    ]
    yield made
    for node in made:
        await node.stop()


async def settle(clock: ManualClock, *nodes: Node) -> None:
    """Wait until the nodes' schedulers did what was due, and their backups ended."""
    await clock.wait_for_sleepers(max(1, len(nodes)))
    for node in nodes:
        await node.service.wait_for_backups()


async def ids_in(store: MemoryBackupStore) -> set[int]:
    return {i.checkpoint_id for i in await store.list_ids()}


async def test_backups_at_the_right_slots(
    nodes: list[Node], clock: ManualClock, store: MemoryBackupStore
) -> None:
    node = nodes[0]
    scheduler = await node.start()
    await settle(clock, node)
    # Started at 10:20: the current slot (10:00) is taken at once, then each hour.
    assert scheduler.taken_ids == [ms("2026-11-30T10:00:00Z")]
    assert clock.wakeups == [at("2026-11-30T11:00:00Z")]
    await node.service.wait_for_backups()
    await clock.set(at("2026-11-30T11:00:00Z"))
    await settle(clock, node)
    await node.service.wait_for_backups()
    await clock.advance(3600 * 2.5)  # 13:30: two slots passed (12:00 missed), one taken
    await settle(clock, node)
    assert scheduler.taken_ids == [
        ms("2026-11-30T10:00:00Z"),
        ms("2026-11-30T11:00:00Z"),
        ms("2026-11-30T13:00:00Z"),
    ]
    await node.service.wait_for_backups()
    # The API lists scheduled backups like any other.
    listed = await node.service.list_backups()
    assert [b.backup_id for b in listed] == sorted(scheduler.taken_ids, reverse=True)
    assert all(
        d.state is BackupStatusCode.COMPLETED
        for b in listed
        for d in b.details
        if d.partition_id in (1, 2)
    )


async def test_a_slot_due_while_a_backup_runs_is_skipped(
    nodes: list[Node], clock: ManualClock, store: MemoryBackupStore
) -> None:
    node = nodes[0]
    for source in node.sources:
        source.content_gate.clear()  # the first backup hangs
    scheduler = await node.start()
    await clock.wait_for_sleepers()
    await clock.set(at("2026-11-30T11:00:00Z"))
    await clock.wait_for_sleepers()
    assert scheduler.taken == 1 and scheduler.skipped == 1
    for source in node.sources:
        source.content_gate.set()
    await node.service.wait_for_backups()
    await clock.set(at("2026-11-30T12:00:00Z"))
    await clock.wait_for_sleepers()
    assert scheduler.taken_ids == [ms("2026-11-30T10:00:00Z"), ms("2026-11-30T12:00:00Z")]
    registry = node.service.metrics.registry

    def count(result: str) -> float | None:
        return registry.get_sample_value("backup_store_scheduled_backups_total", {"result": result})

    assert (count("taken"), count("skipped")) == (2, 1)


async def test_ids_keep_increasing_across_a_restart_and_a_clock_set_back(
    nodes: list[Node], clock: ManualClock, store: MemoryBackupStore
) -> None:
    node = nodes[0]
    await node.start()
    await settle(clock, node)
    await clock.set(at("2026-11-30T11:00:00Z"))
    await settle(clock, node)
    await node.service.wait_for_backups()
    await node.stop()
    assert await ids_in(store) == {ms("2026-11-30T10:00:00Z"), ms("2026-11-30T11:00:00Z")}

    # Restarted in the same slot: not taken twice.
    await clock.set(at("2026-11-30T11:30:00Z"))
    scheduler = await node.start()
    await settle(clock, node)
    assert scheduler.taken == 0 and scheduler.skipped == 1
    await node.stop()

    # Restarted after the clock was set back two hours: nothing lower is taken.
    await clock.set(at("2026-11-30T09:45:00Z"))
    scheduler = await node.start()
    await settle(clock, node)
    await clock.set(at("2026-11-30T10:00:00Z"))
    await settle(clock, node)
    await clock.set(at("2026-11-30T11:00:00Z"))
    await settle(clock, node)
    assert scheduler.taken == 0
    assert await ids_in(store) == {ms("2026-11-30T10:00:00Z"), ms("2026-11-30T11:00:00Z")}
    await clock.set(at("2026-11-30T12:00:00Z"))
    await settle(clock, node)
    assert scheduler.taken_ids == [ms("2026-11-30T12:00:00Z")]

    # Set back while running: nothing until the clock passes the last slot again.
    await clock.set(at("2026-11-30T10:30:00Z"))
    await clock.set(at("2026-11-30T11:00:00Z"))
    await settle(clock, node)
    assert scheduler.taken_ids == [ms("2026-11-30T12:00:00Z")]
    assert clock.wakeups == [at("2026-11-30T13:00:00Z")]
    await clock.set(at("2026-11-30T13:00:00Z"))
    await settle(clock, node)
    assert scheduler.taken_ids == [ms("2026-11-30T12:00:00Z"), ms("2026-11-30T13:00:00Z")]


async def test_two_nodes_give_one_slot_the_same_id(
    nodes: list[Node], clock: ManualClock, store: MemoryBackupStore
) -> None:
    first, second = nodes
    await first.start()
    await settle(clock, first)
    await first.service.wait_for_backups()
    await second.start()  # later in the same slot, after the first node's backups exist
    await settle(clock, first, second)
    await clock.set(at("2026-11-30T11:00:00Z"))
    await settle(clock, first, second)
    await first.service.wait_for_backups()
    await second.service.wait_for_backups()
    assert (
        first.scheduler.taken_ids
        == second.scheduler.taken_ids
        == [ms("2026-11-30T10:00:00Z"), ms("2026-11-30T11:00:00Z")]
    )
    info = await first.service.get_backup(ms("2026-11-30T11:00:00Z"))
    assert info.state is BackupState.COMPLETED  # partitions 1-4 from both nodes


async def test_the_schedule_continues_above_a_manual_id(
    nodes: list[Node], clock: ManualClock, store: MemoryBackupStore
) -> None:
    first, second = nodes
    await first.start()
    await second.start()
    await settle(clock, first, second)
    # After the first scheduled id, a small manual id is refused (409 in the API).
    with pytest.raises(BackupIdConflictError):
        await first.service.take_backup(100)
    manual = ms("2026-12-31T00:00:00Z")  # far above the coming slots
    await clock.advance(60)
    await first.service.take_backup(manual)
    await second.service.take_backup(manual)
    await first.service.wait_for_backups()
    await second.service.wait_for_backups()
    await clock.set(at("2026-11-30T11:00:00Z"))
    await settle(clock, first, second)
    assert first.scheduler.taken_ids[-1] == second.scheduler.taken_ids[-1] == manual + 1
    await first.service.wait_for_backups()
    await second.service.wait_for_backups()
    await clock.set(at("2026-11-30T12:00:00Z"))
    await settle(clock, first, second)
    assert first.scheduler.taken_ids[-1] == second.scheduler.taken_ids[-1] == manual + 2


async def test_a_failed_scheduled_backup_is_failed_and_the_schedule_goes_on(
    nodes: list[Node], clock: ManualClock, store: MemoryBackupStore, tmp_path: Path
) -> None:
    node = nodes[0]
    broken = node.sources[1]
    original = broken.backup_content

    async def fail_once(checkpoint: Checkpoint) -> CheckpointContent:
        broken.backup_content = original  # type: ignore[method-assign]
        raise SourceError("the snapshot vanished")

    broken.backup_content = fail_once  # type: ignore[method-assign]
    scheduler = await node.start()
    await settle(clock, node)
    await node.service.wait_for_backups()
    first = await node.service.get_backup(scheduler.taken_ids[0])
    assert first.state is BackupState.FAILED
    await clock.set(at("2026-11-30T11:00:00Z"))
    await settle(clock, node)
    await node.service.wait_for_backups()
    assert len(scheduler.taken_ids) == 2
    status = await store.get_status(BackupIdentifier(0, 2, scheduler.taken_ids[1]))
    assert status.status_code is BackupStatusCode.COMPLETED


# ---------------------------------------------------------------- the retention scheduler


async def test_retention_runs_on_its_schedule(clock: ManualClock, tmp_path: Path) -> None:
    async with FilesystemBackupStore(tmp_path / "store") as store:
        await craft(store, history(), clock.now())
        schedule = parse_schedule("0 30 * * * *")
        assert schedule is not None
        policy = RetentionPolicy(keep_last=2, max_age=7 * DAY)
        metrics = BackupMetrics(process=False)
        async with RetentionScheduler(
            store, policy, schedule, clock=clock, metrics=metrics
        ) as retention:
            await settle(clock)
            assert retention.runs == 1  # at once, for the current slot (09:30)
            assert sorted(retention.pruned_ids) == [1, 2, 3, 6]
            await clock.set(at("2026-11-30T10:30:00Z"))
            await settle(clock)
            assert retention.runs == 2 and sorted(retention.pruned_ids) == [1, 2, 3, 6]
        assert {i.checkpoint_id for i in await store.list_ids()} == {4, 5, 7, 8, 9}
        pruned = metrics.registry.get_sample_value(
            "backup_store_pruned_ids_total", {"result": "deleted"}
        )
        assert pruned == 4


# ---------------------------------------------------------------- serve


@pytest.mark.parametrize(
    ("options", "env", "expected"),
    [
        (["--schedule", "hourly"], {}, "--schedule"),
        ([], {"CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_SCHEDULE": "0 0 * * *"}, "has 5 fields"),
        (["--retention", "a week"], {}, "--retention"),
        ([], {"CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_RETENTION_WINDOW": "P0D"}, "longer than zero"),
        (
            ["--retention", "P7D"],
            {"CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_RETENTION_CLEANUPSCHEDULE": "L"},
            "--retention-schedule",
        ),
    ],
)
def test_bad_schedule_settings_are_usage_errors(
    tmp_path: Path, options: list[str], env: dict[str, str], expected: str
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "serve",
            "--store",
            (tmp_path / "s").as_uri(),
            "--data-dir",
            str(tmp_path / "d"),
            *options,
        ],
        env=env,
    )
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_serve_takes_scheduled_backups_and_prunes_them(tmp_path: Path) -> None:
    """The real server on the real clock: a backup every second, a two-second window."""
    env = {
        "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_SCHEDULE": "PT1S",
        "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_RETENTION_WINDOW": "PT2S",
        "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_RETENTION_CLEANUPSCHEDULE": "* * * * * *",
    }
    server = cli_server(
        tmp_path,
        "--store",
        (tmp_path / "store").as_uri(),
        "--data-dir",
        str(tmp_path / "data"),
        "--no-writer",
        env=env,
    )
    seen: set[int] = set()
    with server, client(server) as api:

        def listed() -> list[dict[str, Any]]:
            backups: list[dict[str, Any]] = api.get("/actuator/backups").json()
            seen.update(b["backupId"] for b in backups)
            return backups

        wait_until(lambda: len(listed()) >= 0 and len(seen) >= 4, what="four scheduled backups")
        wait_until(
            lambda: min(seen) not in {b["backupId"] for b in listed()},
            what="the oldest to be pruned",
        )
        backups = listed()
        assert any(b["state"] == "COMPLETED" for b in backups)
        scraped = api.get("/actuator/prometheus").text
        assert 'backup_store_scheduled_backups_total{result="taken"}' in scraped
        assert 'backup_store_pruned_ids_total{result="deleted"}' in scraped
    assert all(i % 1000 == 0 for i in seen)  # slots of whole seconds, in epoch milliseconds
    log = server.log()
    assert "Scheduled backups: PT1S (UTC)" in log
    assert "Retention: keep ids younger than PT2S, first clean-up now, then at * * * * * *" in log
