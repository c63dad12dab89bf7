"""Random-timing races of the service's verbs (``make stress``; not part of ``make test``).

Takes, deletes and lists run at once on one service, with random delays in every
request to the store and catalog shards shrunk to a few entries. What an
operator relies on, checked for every list and status answered:

* a backup whose take returned before the read was asked is there, unless a
  delete of it started before the answer came;
* a backup whose delete returned before the read was asked is not there, and
  never comes back (ids are never reused).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from backup_store.catalog import codec as catalog_codec
from backup_store.service import BackupIdConflictError, BackupService, BackupState
from tests.support.races import Script, actor
from tests.support.services import MemorySource
from tests.support.stress import SECONDS, NewStore

pytestmark = pytest.mark.stress


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_codec, "SHARD_ENTRIES", 3)


class History:
    """What finished, and what started, of the takes and deletes."""

    def __init__(self) -> None:
        self.taken: set[int] = set()
        self.deleting: set[int] = set()
        self.deleted: set[int] = set()

    def check(self, found: set[int], taken_before: set[int], deleted_before: set[int]) -> None:
        missing = taken_before - found - self.deleting
        assert not missing, f"taken before the read, not found: {sorted(missing)}"
        back = found & deleted_before
        assert not back, f"deleted before the read, found: {sorted(back)}"


async def one_round(service: BackupService, rng: random.Random) -> None:
    history = History()
    ids = itertools.count(1)
    reads: list[asyncio.Task[None]] = []

    async def read() -> None:
        taken, deleted = set(history.taken), set(history.deleted)
        if rng.random() < 0.7:
            found = {i.backup_id for i in await service.list_backups()}
        else:
            asked = rng.choice(sorted(taken | {1}))
            info = await service.get_backup(asked)
            found = {asked} if info.state is not BackupState.DOES_NOT_EXIST else set()
            taken, deleted = taken & {asked}, deleted & {asked}
        history.check(found, taken, deleted)

    def read_now() -> None:
        """A read asked the moment a take or delete returns, while others run."""
        reads.append(asyncio.ensure_future(read()))

    async def taker() -> None:
        for _ in range(rng.randint(3, 8)):
            backup_id = next(ids)
            try:
                await service.take_backup(backup_id)
            except BackupIdConflictError:
                continue  # a higher id was taken first
            history.taken.add(backup_id)
            read_now()

    async def deleter() -> None:
        for _ in range(rng.randint(1, 4)):
            await asyncio.sleep(rng.uniform(0, 0.02))  # a random moment
            if not history.taken:
                continue
            backup_id = rng.choice(sorted(history.taken))
            history.deleting.add(backup_id)
            await service.delete_backup(backup_id)
            history.deleted.add(backup_id)
            read_now()

    async def reader(writers: asyncio.Future[Any]) -> None:
        while not writers.done():
            await read()

    writers = asyncio.gather(taker(), taker(), deleter())
    await asyncio.gather(writers, reader(writers), reader(writers))
    await asyncio.gather(*reads)
    await service.wait_for_backups()
    # Settled: exactly the taken ones that were not deleted, all COMPLETED.
    infos = await service.list_backups()
    assert {i.backup_id for i in infos} == history.taken - history.deleted
    assert all(i.state is BackupState.COMPLETED for i in infos), infos


async def test_reads_never_miss_a_take_or_delete_that_finished_before_them(
    new_store: NewStore, tmp_path: Path
) -> None:
    rng = random.Random(os.environ.get("STRESS_SEED"))
    deadline = time.monotonic() + SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        store = actor(await new_store(f"round-{rounds}"), Script(max_delay=0.003, rng=rng))
        sources = [MemorySource(p, tmp_path) for p in (1, 2)]
        async with BackupService(store, sources, node_id=0) as service:
            await one_round(service, rng)
        rounds += 1
    print(f"{rounds} rounds")
    assert rounds > 0
