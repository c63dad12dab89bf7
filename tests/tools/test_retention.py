"""Retention: the policy as a pure function (property tests) and ``prune`` against every backend.

The backend tests craft one history (manifests with chosen dates, real data) on
the filesystem, S3 (moto), GCS (fake-gcs-server) and Azure (Azurite), then check
that ``--dry-run`` changes nothing, that the real run deletes exactly the
planned ids (every object of them, nothing else), that a prune killed half-way
and run again, and two prunes at once, end where one uninterrupted run does.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup_store import (
    BackupDescriptor,
    BackupIdentifier,
    BackupStatus,
    BackupStatusCode,
    FilesystemBackupStore,
    StoreUnavailableError,
    open_store,
)
from backup_store.engine import ObjectBackupStore
from backup_store.errors import ConfigurationError
from backup_store.format.instant import Instant
from backup_store.io import HookedIO, Request
from backup_store.tools.retention import (
    Action,
    Outcome,
    RetentionPlan,
    RetentionPolicy,
    Rule,
    plan_retention,
    prune,
)
from testbed.cloud_stores import azure_url, gcs_url, s3_url
from testbed.histories import DAY, HOUR, PLANNED, Crafted, ago, craft, history
from tests.support.filesystem_stores import invoke
from tests.support.retention import checkpoint_of, object_keys

NOW = Instant.parse_iso("2026-11-30T12:00:00Z")

# ---------------------------------------------------------------- the policy, by example


def status(
    checkpoint: int,
    partition: int,
    code: BackupStatusCode,
    age: timedelta,
    *,
    node: int = 0,
    partitions: int = 2,
) -> BackupStatus:
    created = ago(NOW, age)
    descriptor = BackupDescriptor("1-1-1-1", 1, partitions, "8.7.0")
    return BackupStatus(
        BackupIdentifier(node, partition, checkpoint), code, descriptor, None, created, created
    )


def completed(checkpoint: int, age: timedelta) -> list[BackupStatus]:
    return [status(checkpoint, p, BackupStatusCode.COMPLETED, age) for p in (1, 2)]


def decisions(plan: RetentionPlan) -> dict[int, tuple[Action, Rule]]:
    return {e.backup_id: (e.action, e.rule) for e in plan.entries}


def test_the_policy_by_example() -> None:
    c, f, ip = BackupStatusCode.COMPLETED, BackupStatusCode.FAILED, BackupStatusCode.IN_PROGRESS
    statuses = [
        *completed(1, 30 * DAY),
        status(2, 1, c, 20 * DAY),
        status(2, 2, f, 20 * DAY),
        status(3, 1, c, 15 * DAY),
        status(4, 1, c, 12 * DAY),
        status(4, 2, ip, 12 * DAY, node=1),
        status(5, 2, c, 10 * DAY),
        *completed(6, 9 * DAY),
        *completed(7, 3 * DAY),
        *completed(8, 1 * DAY),
        status(9, 1, f, HOUR),
    ]
    damaged = [BackupStatus.of_damaged(BackupIdentifier(0, 1, 5), "not JSON")]
    plan = plan_retention([*statuses, *damaged], RetentionPolicy(2, timedelta(days=7)), NOW)
    assert [e.backup_id for e in plan.entries] == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # oldest first
    delete, keep = Action.DELETE, Action.KEEP
    assert decisions(plan) == {
        1: (delete, Rule.OUTSIDE_POLICY),
        2: (delete, Rule.OUTSIDE_POLICY),
        3: (delete, Rule.OUTSIDE_POLICY),
        4: (keep, Rule.IN_PROGRESS),
        5: (keep, Rule.DAMAGED),
        6: (delete, Rule.OUTSIDE_POLICY),
        7: (keep, Rule.KEEP_LAST),
        8: (keep, Rule.NEWEST_COMPLETED),
        9: (keep, Rule.NEWER_THAN_NEWEST_COMPLETED),
    }
    reasons = {e.backup_id: e.reason for e in plan.entries}
    assert reasons[1] == "older than P7D, not one of the 2 newest completed"
    assert reasons[2] == "older than P7D, failed, not completed"
    assert reasons[3] == "older than P7D, incomplete, not completed"
    assert reasons[4] == "kept: in progress since 2026-11-18T12:00:00Z (12d 0h ago)"
    assert reasons[5] == "kept: damaged manifest (partition 1, node 0: not JSON)"
    assert reasons[7] == "kept: one of the 2 newest completed"
    assert reasons[8] == "kept: newest completed"
    assert reasons[9] == "kept: newer than the newest completed"
    assert [e.state for e in plan.entries] == [
        "COMPLETED",
        "FAILED",
        "INCOMPLETE",
        "IN_PROGRESS",
        "DAMAGED",
        "COMPLETED",
        "COMPLETED",
        "COMPLETED",
        "FAILED",
    ]


def ranged(checkpoint: int, partition: int, code: BackupStatusCode, first: int) -> BackupStatus:
    """A Zeebe 8.9 partition backup: checkpoint at 100 x id, its log from ``first``."""
    created = ago(NOW, (10 - checkpoint) * DAY)
    descriptor = BackupDescriptor("1-1-1-1", 100 * checkpoint, 2, "8.9.0", first, created)
    return BackupStatus(
        BackupIdentifier(0, partition, checkpoint), code, descriptor, None, created, created
    )


def test_an_id_a_kept_range_still_needs_is_kept_as_zeebe_89_keeps_ranges_whole() -> None:
    c, f = BackupStatusCode.COMPLETED, BackupStatusCode.FAILED
    # Partition 1: one range 1..4 (each log starts where the last checkpoint was).
    # Partition 2: backup 2 failed; backup 3's log starts after 1's: its own range.
    statuses = [
        *(ranged(i, 1, c, 100 * (i - 1) + 1) for i in (1, 2, 3, 4)),
        ranged(1, 2, c, 1),
        ranged(2, 2, f, 101),
        ranged(3, 2, c, 201),
        ranged(4, 2, c, 301),
    ]
    plan = plan_retention(statuses, RetentionPolicy(keep_last=3), NOW)
    assert decisions(plan) == {
        1: (Action.KEEP, Rule.KEEP_LAST),
        2: (Action.KEEP, Rule.RANGE),  # INCOMPLETE, but partition 1's range runs through it
        3: (Action.KEEP, Rule.KEEP_LAST),
        4: (Action.KEEP, Rule.NEWEST_COMPLETED),
    }
    assert plan.entries[1].reason == (
        "kept: partition 1's range 1..4 needs it between kept backups 1 and 3"
    )
    # The oldest end of a range may go (Zeebe moves the range's start up): no hole.
    shorter = plan_retention(statuses, RetentionPolicy(keep_last=2), NOW)
    assert [e.backup_id for e in shorter.to_delete] == [1, 2]
    # An id FAILED on one partition is kept for another partition's range.
    chained = [
        *(ranged(i, 1, c, 100 * (i - 1) + 1) for i in (1, 2, 3)),
        ranged(4, 1, f, 301),
        ranged(1, 2, f, 1),
        *(ranged(i, 2, c, 100 * (i - 1) + 1) for i in (2, 3, 4, 5)),
        ranged(5, 1, c, 301),
    ]
    kept = plan_retention(chained, RetentionPolicy(keep_last=3), NOW)
    assert [e.backup_id for e in kept.to_delete] == [1]  # the oldest end of both ranges
    assert {e.backup_id: e.rule for e in kept.entries}[4] is Rule.RANGE


def test_backups_that_record_no_first_log_position_form_no_ranges() -> None:
    """Zeebe before 8.9 records no first log position and keeps no ranges: the same
    history without it is pruned by the policy alone (2 is INCOMPLETE and goes)."""
    c, f = BackupStatusCode.COMPLETED, BackupStatusCode.FAILED
    older = [
        replace(s, descriptor=replace(s.descriptor, first_log_position=None))
        for s in (
            *(ranged(i, 1, c, 100 * (i - 1) + 1) for i in (1, 2, 3, 4)),
            ranged(1, 2, c, 1),
            ranged(2, 2, f, 101),
            ranged(3, 2, c, 201),
            ranged(4, 2, c, 301),
        )
        if s.descriptor is not None
    ]
    plan = plan_retention(older, RetentionPolicy(keep_last=3), NOW)
    assert decisions(plan)[2][0] is Action.DELETE
    assert [e.backup_id for e in plan.to_delete] == [2]


def test_either_rule_keeps() -> None:
    statuses = [
        *completed(1, 10 * DAY),
        *completed(2, 9 * DAY),
        *completed(3, 2 * DAY),
        *completed(4, DAY),
    ]
    by_age = plan_retention(statuses, RetentionPolicy(max_age=timedelta(days=5)), NOW)
    assert [e.backup_id for e in by_age.to_delete] == [1, 2]
    by_count = plan_retention(statuses, RetentionPolicy(keep_last=3), NOW)
    assert [e.backup_id for e in by_count.to_delete] == [1]
    both = plan_retention(statuses, RetentionPolicy(3, timedelta(days=5)), NOW)
    assert [e.backup_id for e in both.to_delete] == [1]
    assert decisions(both)[2] == (Action.KEEP, Rule.KEEP_LAST)
    young = plan_retention(statuses, RetentionPolicy(1, timedelta(days=9, hours=1)), NOW)
    assert decisions(young)[2] == (Action.KEEP, Rule.MAX_AGE)
    assert young.entries[1].reason == "kept: younger than P9DT1H"


def test_the_newest_completed_stays_even_when_old() -> None:
    statuses = [*completed(1, 100 * DAY), status(2, 1, BackupStatusCode.FAILED, 50 * DAY)]
    plan = plan_retention(statuses, RetentionPolicy(max_age=timedelta(days=1)), NOW)
    assert decisions(plan) == {
        1: (Action.KEEP, Rule.NEWEST_COMPLETED),
        2: (Action.KEEP, Rule.NEWER_THAN_NEWEST_COMPLETED),
    }


def test_without_any_completed_backup_nothing_goes() -> None:
    statuses = [status(1, 1, BackupStatusCode.FAILED, 100 * DAY)]
    plan = plan_retention(statuses, RetentionPolicy(keep_last=1), NOW)
    assert plan.to_delete == []
    assert plan.entries[0].reason == "kept: no completed backup yet"


def test_the_highest_completed_id_stays_when_clocks_disagree() -> None:
    # Id 5 was created "before" id 2 by a node whose clock was behind.
    statuses = [*completed(5, 10 * DAY), *completed(2, DAY)]
    plan = plan_retention(statuses, RetentionPolicy(max_age=timedelta(days=2)), NOW)
    assert plan.to_delete == []


def test_the_cluster_partition_count_and_the_descriptors_both_count() -> None:
    # Descriptors say 2 partitions; the cluster has 3: id 1 lacks a partition.
    statuses = [*completed(1, 10 * DAY), *completed(2, 9 * DAY), *completed(3, DAY)]
    policy = RetentionPolicy(keep_last=2)
    assert [e.state for e in plan_retention(statuses, policy, NOW).entries] == ["COMPLETED"] * 3
    wider = plan_retention(statuses, policy, NOW, partition_count=3)
    assert [e.state for e in wider.entries] == ["INCOMPLETE"] * 3
    assert wider.to_delete == []  # no completed id at all: nothing goes
    # A smaller configured count never makes an id look complete.
    narrower = plan_retention(statuses[1:], policy, NOW, partition_count=1)
    assert narrower.entries[0].state == "INCOMPLETE"


def test_a_policy_needs_a_rule() -> None:
    with pytest.raises(ConfigurationError):
        RetentionPolicy()
    with pytest.raises(ConfigurationError):
        RetentionPolicy(keep_last=0)


# ---------------------------------------------------------------- the policy, by property

CODES = [BackupStatusCode.COMPLETED, BackupStatusCode.FAILED, BackupStatusCode.IN_PROGRESS]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[BackupStatus], list[BackupStatus]]:
    partitions = draw(st.integers(1, 3))
    statuses: list[BackupStatus] = []
    damaged: list[BackupStatus] = []
    for checkpoint in draw(st.sets(st.integers(1, 40), max_size=12)):
        hours = draw(st.integers(0, 24 * 40))
        for partition in range(1, partitions + 1):
            for node in draw(st.sets(st.integers(0, 2), max_size=2)):
                if draw(st.integers(0, 20)) == 0:
                    damaged.append(
                        BackupStatus.of_damaged(
                            BackupIdentifier(node, partition, checkpoint), "unreadable"
                        )
                    )
                    continue
                code = draw(st.sampled_from(CODES + [BackupStatusCode.COMPLETED] * 3))
                skew = draw(st.integers(0, 3))
                statuses.append(
                    status(
                        checkpoint,
                        partition,
                        code,
                        timedelta(hours=hours + skew),
                        node=node,
                        partitions=partitions,
                    )
                )
    return statuses, damaged


policies = (
    st.tuples(
        st.one_of(st.none(), st.integers(1, 5)),
        st.one_of(st.none(), st.integers(1, 24 * 30).map(lambda h: timedelta(hours=h))),
    )
    .filter(lambda t: t != (None, None))
    .map(lambda t: RetentionPolicy(*t))
)


def completed_ids(plan: RetentionPlan) -> list[int]:
    return sorted(e.backup_id for e in plan.entries if e.state == "COMPLETED")


@settings(max_examples=150, deadline=None)
@given(histories(), policies)
def test_never_deleted(
    contents: tuple[list[BackupStatus], list[BackupStatus]], policy: RetentionPolicy
) -> None:
    statuses, damaged = contents
    plan = plan_retention([*statuses, *damaged], policy, NOW)
    deleted = {e.backup_id for e in plan.to_delete}
    # Worked out here from the history itself, not from the plan.
    ids = {s.id.checkpoint_id for s in statuses} | {d.id.checkpoint_id for d in damaged}
    age = {
        b: max(s.created.epoch_nanos for s in statuses if s.id.checkpoint_id == b and s.created)
        for b in {s.id.checkpoint_id for s in statuses}
    }
    first = statuses[0].descriptor if statuses else None
    count = first.number_of_partitions if first else 0
    spoiled = {d.id.checkpoint_id for d in damaged}

    def complete(b: int) -> bool:
        return b not in spoiled and all(
            any(
                s.id.checkpoint_id == b
                and s.id.partition_id == p
                and s.status_code is BackupStatusCode.COMPLETED
                for s in statuses
            )
            for p in range(1, count + 1)
        )

    done = sorted((b for b in ids if complete(b)), key=lambda b: (age[b], b))
    assert completed_ids(plan) == sorted(done)
    if done:
        newest = done[-1]
        assert newest not in deleted
        assert max(done) not in deleted
        # Ids newer than the newest completed one stay too.
        assert not deleted & {b for b in age if (age[b], b) > (age[newest], newest)}
    else:
        assert not deleted
    in_progress = {
        s.id.checkpoint_id for s in statuses if s.status_code is BackupStatusCode.IN_PROGRESS
    }
    assert not deleted & in_progress
    assert not deleted & {d.id.checkpoint_id for d in damaged}
    for entry in plan.to_delete:
        assert policy.max_age is None or (
            entry.age is not None
            and (NOW.epoch_nanos - entry.age.epoch_nanos)
            >= policy.max_age // timedelta(microseconds=1) * 1000
        )
        if policy.keep_last is not None:
            assert entry.backup_id not in done[-policy.keep_last :]


@settings(max_examples=100, deadline=None)
@given(histories(), policies, st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_the_listing_order(
    contents: tuple[list[BackupStatus], list[BackupStatus]],
    policy: RetentionPolicy,
    shuffler: random.Random,
) -> None:
    statuses, damaged = contents
    plan = plan_retention([*statuses, *damaged], policy, NOW)
    statuses, damaged = list(statuses), list(damaged)
    shuffler.shuffle(statuses)
    shuffler.shuffle(damaged)
    assert plan_retention([*statuses, *damaged], policy, NOW) == plan


@settings(max_examples=100, deadline=None)
@given(histories(), policies, st.data())
def test_a_partial_run_leaves_the_rest_of_the_same_plan(
    contents: tuple[list[BackupStatus], list[BackupStatus]],
    policy: RetentionPolicy,
    data: st.DataObject,
) -> None:
    """What a prune killed half-way leaves plans the remainder of the first plan."""
    statuses, damaged = contents
    plan = plan_retention([*statuses, *damaged], policy, NOW)
    planned = [e.backup_id for e in plan.to_delete]
    # Killed after some partition backups of the planned ids were deleted, and while
    # others were claimed (a delete marks the manifest FAILED first, spec section 5).
    partition_backups = sorted(s.id for s in statuses if s.id.checkpoint_id in planned)
    touched = (
        data.draw(st.lists(st.sampled_from(partition_backups), unique=True))
        if partition_backups
        else []
    )
    claimed = set(touched[: data.draw(st.integers(0, len(touched)))])
    gone = set(touched) - claimed
    left = [
        replace(s, status_code=BackupStatusCode.FAILED) if s.id in claimed else s
        for s in statuses
        if s.id not in gone
    ]
    again = plan_retention([*left, *damaged], policy, NOW)
    remaining = {s.id.checkpoint_id for s in left}
    assert {e.backup_id for e in again.to_delete} == set(planned) & remaining
    assert (
        plan_retention(
            [*(s for s in statuses if s.id.checkpoint_id not in planned), *damaged], policy, NOW
        ).to_delete
        == []
    )


# ---------------------------------------------------------------- prune against every backend


@pytest.fixture(params=["filesystem", "s3", "gcs", "azure"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = request.param
    if kind == "filesystem":
        return (tmp_path / "store").as_uri()
    if kind == "s3":
        return s3_url(request.getfixturevalue("s3_bucket"))
    if kind == "gcs":
        return gcs_url(request.getfixturevalue("gcs_bucket"))
    return azure_url(request.getfixturevalue("azure_container"))


@pytest.fixture
def crafted(store_url: str) -> Iterator[tuple[str, set[str]]]:
    """The history of :func:`tests.support.retention.history` at the URL; its object keys."""

    async def build() -> set[str]:
        async with open_store(store_url) as store:
            await craft(store, history(), Instant.now())
            return await object_keys(store)

    yield store_url, asyncio.run(build())


def keys_at(url: str) -> set[str]:
    async def read() -> set[str]:
        async with open_store(url) as store:
            return await object_keys(store)

    return asyncio.run(read())


def expected_after(before: set[str]) -> set[str]:
    return {k for k in before if checkpoint_of(k) not in PLANNED}


def test_prune_deletes_exactly_the_planned_ids(crafted: tuple[str, set[str]]) -> None:
    url, before = crafted
    dry = invoke("prune", url, "--keep-last", "2", "--max-age", "P7D", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert keys_at(url) == before  # --dry-run changes nothing
    assert plan["dryRun"] is True
    assert {b["backupId"] for b in plan["backups"] if b["action"] == "delete"} == PLANNED
    assert {b["backupId"]: b["outcome"] for b in plan["backups"]} == {
        1: "planned",
        2: "planned",
        3: "planned",
        4: "kept",
        5: "kept",
        6: "planned",
        7: "kept",
        8: "kept",
        9: "kept",
    }

    real = invoke("prune", url, "--keep-last", "2", "--max-age", "P7D", "--yes", "--json")
    assert real.exit_code == 0, real.output
    report = json.loads(real.stdout)
    assert sorted(report["deleted"]) == sorted(PLANNED)
    assert report["failed"] == []
    # The real run executed the plan the dry run printed.
    strip = ("outcome", "message")
    assert [{k: v for k, v in b.items() if k not in strip} for b in report["backups"]] == [
        {k: v for k, v in b.items() if k not in strip} for b in plan["backups"]
    ]
    assert keys_at(url) == expected_after(before)

    again = invoke("prune", url, "--keep-last", "2", "--max-age", "P7D", "--yes", "--json")
    assert json.loads(again.stdout)["deleted"] == []


def test_prune_killed_half_way_and_run_again(crafted: tuple[str, set[str]]) -> None:
    url, before = crafted
    policy = RetentionPolicy(2, timedelta(days=7))

    async def interrupted(stop_after: int) -> None:
        done = 0

        async def count(backup_id: BackupIdentifier) -> None:
            nonlocal done
            done += 1
            if done == stop_after:
                raise asyncio.CancelledError  # killed right after this delete

        async with open_store(url) as store:
            with pytest.raises(asyncio.CancelledError):
                await prune(store, policy, concurrency=1, on_deleted=count)

    async def rerun() -> None:
        async with open_store(url) as store:
            report = await prune(store, policy)
            assert report.ok

    asyncio.run(interrupted(1))  # killed with id 1 half deleted (one of its two partitions)
    half = keys_at(url)
    assert half != before and half != expected_after(before)
    asyncio.run(interrupted(2))  # killed again, further on (id 1 done, id 2 begun)
    asyncio.run(rerun())
    assert keys_at(url) == expected_after(before)


def test_two_prunes_at_once_end_as_one(crafted: tuple[str, set[str]]) -> None:
    url, before = crafted
    policy = RetentionPolicy(2, timedelta(days=7))

    async def both() -> None:
        async with open_store(url) as one, open_store(url) as other:
            reports = await asyncio.gather(prune(one, policy), prune(other, policy))
        assert all(r.ok for r in reports), [r.results for r in reports]
        deleted = [
            {r.entry.backup_id for r in rep.results if r.outcome is Outcome.DELETED}
            for rep in reports
        ]
        assert deleted[0] | deleted[1] == PLANNED

    asyncio.run(both())
    assert keys_at(url) == expected_after(before)


# ---------------------------------------------------------------- the command


@pytest.fixture
def fs_crafted(tmp_path: Path) -> tuple[str, set[str]]:
    url = (tmp_path / "store").as_uri()

    async def build() -> set[str]:
        async with open_store(url) as store:
            await craft(store, history(), Instant.now())
            return await object_keys(store)

    return url, asyncio.run(build())


def test_dry_run_prints_the_plan_with_reasons(fs_crafted: tuple[str, set[str]]) -> None:
    url, before = fs_crafted
    result = invoke("prune", url, "--keep-last", "2", "--max-age", "7d", "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "older than P7D",
        "kept: newest completed",
        "kept: in progress since",
        "kept: damaged manifest (partition 1, node 0",
        "kept: newer than the newest completed",
        "kept: one of the 2 newest completed",
        "Dry run: 4 ids (7 partition backups) to delete, 5 kept. Nothing was deleted.",
    ):
        assert text in out, out
    assert keys_at(url) == before


def test_confirmation_is_asked_and_no_keeps_everything(fs_crafted: tuple[str, set[str]]) -> None:
    url, before = fs_crafted
    result = invoke("prune", url, "--max-age", "P7D", input="n\n")
    assert result.exit_code == 1
    assert "Delete 4 ids (7 partition backups) from" in result.stderr
    assert keys_at(url) == before
    result = invoke("prune", url, "--max-age", "P7D", input="y\n")
    assert result.exit_code == 0, result.output
    assert "4 deleted, 0 failed, 0 skipped, 5 kept." in result.stdout
    assert keys_at(url) == expected_after(before)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], "give --keep-last N, --max-age DURATION, or both"),
        (["--keep-last", "0"], "--keep-last"),
        (["--max-age", "seven days"], "--max-age"),
        (["--max-age", "PT0S"], "longer than zero"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, options: list[str], expected: str) -> None:
    result = invoke("prune", (tmp_path / "s").as_uri(), *options)
    assert result.exit_code == 2
    assert expected in result.stderr


class FailingDeletes(FilesystemBackupStore):
    """A filesystem store whose deletes of one backup id fail (the storage refuses)."""

    failing = 2

    async def delete(self, backup_id: BackupIdentifier) -> None:
        if backup_id.checkpoint_id == self.failing:
            raise StoreUnavailableError("the storage refused the delete", backup_id=backup_id)
        await super().delete(backup_id)


async def test_a_failed_id_does_not_stop_the_others(tmp_path: Path) -> None:
    async with FailingDeletes(tmp_path / "store") as store:
        await craft(store, history(), Instant.now())
        report = await prune(store, RetentionPolicy(2, timedelta(days=7)))
        outcomes = {r.entry.backup_id: r.outcome for r in report.results}
        assert outcomes == {
            1: Outcome.DELETED,
            2: Outcome.FAILED,
            3: Outcome.DELETED,
            6: Outcome.DELETED,
        }
        assert not report.ok
        assert "the storage refused the delete" in report.results[1].message
        left = {i.checkpoint_id for i in await store.list_ids()}
        assert left == {2, 4, 5, 7, 8, 9}


def test_the_command_exits_1_when_an_id_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def build() -> None:
        async with FailingDeletes(tmp_path / "store") as store:
            await craft(store, history(), Instant.now())

    asyncio.run(build())
    monkeypatch.setattr(
        "backup_store.cli.prune.open_url", lambda url, param: FailingDeletes(tmp_path / "store")
    )
    result = invoke("prune", "file:///ignored", "--max-age", "P7D", "--yes", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["failed"] == [2]
    assert sorted(report["deleted"]) == [1, 3, 6]
    text = invoke("prune", "file:///ignored", "--max-age", "P7D", "--yes")
    assert text.exit_code == 1
    assert "the storage refused the delete" in text.stdout


async def test_an_id_that_changed_since_the_plan_is_left_alone(tmp_path: Path) -> None:
    async with FilesystemBackupStore(tmp_path / "store") as store:
        await craft(store, history(), Instant.now())

        async def start_a_backup(backup_id: BackupIdentifier) -> None:
            if backup_id.checkpoint_id == 1:  # meanwhile a node writes under id 3
                await craft(
                    store,
                    [Crafted(BackupIdentifier(2, 2, 3), BackupStatusCode.IN_PROGRESS, HOUR)],
                    Instant.now(),
                )

        report = await prune(
            store, RetentionPolicy(2, timedelta(days=7)), on_deleted=start_a_backup
        )
        outcomes = {r.entry.backup_id: r.outcome for r in report.results}
        assert outcomes[3] is Outcome.SKIPPED
        assert 3 in {i.checkpoint_id for i in await store.list_ids()}


async def test_planning_reads_the_listing_catalog_not_each_manifest(tmp_path: Path) -> None:
    """A prune on a store our writers keep reads no manifest to plan, however many ids it
    holds: the statuses come from the store's own (catalog-backed) list."""
    async with FilesystemBackupStore(tmp_path / "store") as store:
        await craft(store, history(), Instant.now())
        await store.rebuild_catalog()
        requests: list[Request] = []

        async def record(request: Request) -> None:
            requests.append(request)

        watched = ObjectBackupStore(
            HookedIO(store.io, record), kind=store.kind, format=store.format,
            base_path=store.base_path,
        )  # fmt: skip
        report = await prune(watched, RetentionPolicy(2, timedelta(days=7)), dry_run=True)
        assert {e.backup_id for e in report.plan.to_delete} == PLANNED
        manifests_read = [
            r.key for r in requests if r.operation == "get" and r.key.endswith("manifest.json")
        ]
        # Only the torn manifest of the history is read again: a damaged entry is never cached.
        assert manifests_read == ["manifests/1/5/0/manifest.json"]
        assert not [r for r in requests if r.writes]
