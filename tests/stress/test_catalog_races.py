"""Random-timing races of the catalog's writers (``make stress``; not part of ``make test``).

Shards are shrunk to a few entries so that splits and emptied shards happen all
the time. Writers (each its own store object over one location, as separate
processes would be) save, mark failed and delete backups of two nodes and two
partitions at once, with random delays in every request. After every round:

* a list (fresh store object, and one that kept catalog shards from earlier
  rounds) says exactly what the manifests say, and lists made while the writers
  race find every backup no writer touches, as it is;
* after ``rebuild_catalog``, a list reads no manifest at all.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable

import pytest

from backup_store import (
    BackupAlreadyExistsError,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    InvalidBackupStateError,
    ObjectBackupStore,
)
from backup_store.catalog import codec as catalog_codec
from tests.support.catalog import SHARD, Counted, hooked, manifest, save
from tests.support.races import Script, actor, check_outcome, outcome
from tests.support.stress import SECONDS, NewStore

pytestmark = pytest.mark.stress

CHECKPOINTS = 40
"""Checkpoint ids 1..CHECKPOINTS: ten shards of four at most per (node, partition)."""
WRITERS = 6


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_codec, "SHARD_ENTRIES", SHARD)


def fresh(store: ObjectBackupStore) -> ObjectBackupStore:
    """Another store object over the same location, with nothing kept in memory."""
    return actor(store, Script())


def by_id(statuses: list[BackupStatus]) -> dict[BackupIdentifier, BackupStatus]:
    return {s.id: s for s in statuses}


async def truth(store: ObjectBackupStore) -> dict[BackupIdentifier, BackupStatus]:
    """What the manifests say, each one read."""
    found = await store.list_manifests(BackupIdentifierWildcard())
    return {m.manifest.id: m.manifest.to_status() for m in found}


def stable(backup_id: BackupIdentifier) -> bool:
    """Saved before a round and touched by no writer during it, amid those that are."""
    return backup_id.checkpoint_id % 5 == 0


async def writer_steps(store: ObjectBackupStore, rng: random.Random, steps: int) -> None:
    for _ in range(steps):
        backup_id = BackupIdentifier(
            rng.randint(0, 1), rng.randint(1, 2), rng.randint(1, CHECKPOINTS)
        )
        if stable(backup_id):
            continue
        action = rng.random()
        if action < 0.6:
            done: Awaitable[object] = save(store, manifest(backup_id, completed=rng.random() < 0.8))
        elif action < 0.75:
            done = store.mark_failed(backup_id, "stress")
        else:
            done = store.delete(backup_id)
        check_outcome(await outcome(done), BackupAlreadyExistsError, InvalidBackupStateError)


async def test_catalog_writers_racing_never_change_what_a_list_says(new_store: NewStore) -> None:
    rng = random.Random(os.environ.get("STRESS_SEED"))
    deadline = time.monotonic() + SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        base = await new_store(f"round-{rounds}")
        long_lived = fresh(base)  # keeps the shards it read
        stable_ids = [
            BackupIdentifier(node, partition, checkpoint)
            for node in (0, 1)
            for partition in (1, 2)
            for checkpoint in range(5, CHECKPOINTS + 1, 5)
        ]
        for backup_id in stable_ids:
            await save(base, manifest(backup_id))
        stable_statuses = await truth(base)
        for _ in range(3):
            writers = [
                actor(base, Script(max_delay=rng.choice([0.0005, 0.002, 0.005]), rng=rng))
                for _ in range(WRITERS)
            ]
            racing = asyncio.gather(*(writer_steps(w, rng, rng.randint(5, 15)) for w in writers))
            while not racing.done():
                # Every list during the race finds every untouched backup as it is.
                for reader in (long_lived, fresh(base)):
                    listed = by_id(await reader.list())
                    assert {i: listed.get(i) for i in stable_ids} == stable_statuses, rounds
            await racing
            expected = await truth(base)
            assert by_id(await fresh(base).list()) == expected, rounds
            assert by_id(await long_lived.list()) == expected, rounds
        await base.rebuild_catalog()
        counted = Counted()
        assert by_id(await hooked(base, counted).list()) == await truth(base)
        read = [r.key for r in counted.requests if r.key.endswith("manifest.json")]
        assert read == [], (rounds, read)
        rounds += 1
    print(f"{rounds} rounds")
    assert rounds > 0
