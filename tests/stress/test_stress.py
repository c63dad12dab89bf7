"""Random-timing stress of the life cycle (``make stress``; not part of ``make test``).

Bounded in time by ``STRESS_SECONDS`` (per test, default 30):

* saves and deletes of the same ids (one a Zeebe 8.7 backup, one an 8.10 one,
  whose deletes claim it as a DELETED tombstone) race with random delays injected
  into every request through :class:`~backup_store.io.HookedIO`;
* a subprocess saving (as an 8.7 or an 8.9 broker), marking failed and
  deleting backups is killed with SIGKILL at random moments (its catalog shards
  shrunk so that kills land mid-split; most of its files unchanged from one
  backup to the next, so that kills land mid-copy of incremental saves too);
  after each kill a list says what the manifests say.

After every round: no COMPLETED manifest whose files are not all there, and a
delete of every backup finishes the job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backup_store import (
    Backup,
    BackupAlreadyExistsError,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
    InvalidBackupStateError,
    ObjectBackupStore,
    catalog,
    open_store,
)
from testbed.cloud_stores import s3_url
from tests.support.api_server import ROOT
from tests.support.races import (
    Script,
    actor,
    assert_no_completed_without_data,
    check_outcome,
    delete_finishes,
    leftover_keys,
    outcome,
    same_files_again,
)
from tests.support.stress import SECONDS, NewStore

pytestmark = pytest.mark.stress

IDS = [BackupIdentifier(1, 1, 7), BackupIdentifier(1, 1, 8)]
BROKER_VERSIONS = {IDS[0]: "8.7.0", IDS[1]: "8.10.1"}
"""One id of each life cycle: FAILED claims (8.7), DELETED tombstones (8.9+, S3: ``manifests/``)."""
KILLED_SHARD_ENTRIES = 3


async def test_saves_and_deletes_of_the_same_ids_with_random_delays(
    new_store: NewStore, backup_factory: Callable[..., Backup], tmp_path: Path
) -> None:
    rng = random.Random(os.environ.get("STRESS_SEED"))
    versions = {
        backup_id: [
            of_version(
                same_files_again(backup_factory(backup_id), tmp_path / f"v{v}-{backup_id}"),
                BROKER_VERSIONS[backup_id],
            )
            for v in range(3)
        ]
        for backup_id in IDS
    }
    deadline = time.monotonic() + SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        store = await new_store(f"round-{rounds}")
        actions = []
        for _ in range(rng.randint(2, 6)):
            backup_id = rng.choice(IDS)
            hooked = actor(store, Script(max_delay=rng.choice([0.001, 0.005, 0.02]), rng=rng))
            if rng.random() < 0.5:
                actions.append(outcome(hooked.save(rng.choice(versions[backup_id]))))
            else:
                actions.append(outcome(hooked.delete(backup_id)))
        for error in await asyncio.gather(*actions):
            check_outcome(error, BackupAlreadyExistsError, InvalidBackupStateError)
        for backup_id in IDS:
            await assert_no_completed_without_data(store, backup_id, tmp_path / "restored")
            await delete_finishes(store, backup_id)
        assert await leftover_keys(store) == [], rounds
        rounds += 1
    print(f"{rounds} rounds")
    assert rounds > 0


def of_version(backup: Backup, broker_version: str) -> Backup:
    assert backup.descriptor is not None
    descriptor = dataclasses.replace(backup.descriptor, broker_version=broker_version)
    return Backup(backup.id, descriptor, backup.snapshot, backup.segments)


@pytest.mark.parametrize("where", ["filesystem", "s3"])
async def test_kill_9_of_a_saving_process(
    where: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(os.environ.get("STRESS_SEED"))
    # Small catalog shards, here and in the saver: kills land mid-split too.
    monkeypatch.setattr(catalog.codec, "SHARD_ENTRIES", KILLED_SHARD_ENTRIES)
    monkeypatch.setenv("STRESS_SHARD_ENTRIES", str(KILLED_SHARD_ENTRIES))
    if where == "filesystem":
        url = (tmp_path / "store").as_uri()
    else:
        url = s3_url(request.getfixturevalue("s3_bucket"), "killed")
    deadline = time.monotonic() + SECONDS
    kills = 0
    while time.monotonic() < deadline:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.stress.saver",
            url,
            str(tmp_path / "work"),
            str(kills),
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(rng.uniform(0.2, 2.0))  # a random moment to kill it
        if process.returncode is not None:
            assert process.stderr is not None
            raise AssertionError(f"the saver exited: {await process.stderr.read()!r}")
        process.send_signal(signal.SIGKILL)
        await process.wait()
        kills += 1
        async with open_store(url) as store:
            assert isinstance(store, ObjectBackupStore)
            manifests = await store.list_manifests(BackupIdentifierWildcard())
            # Whatever the kill left of the catalog, a list says what the manifests say.
            assert {s.id: s for s in await store.list()} == {
                m.manifest.id: m.manifest.to_status() for m in manifests
            }
            for stored in manifests:
                backup_id = stored.manifest.id
                await assert_no_completed_without_data(store, backup_id, tmp_path / "restored")
                if stored.manifest.status_code is BackupStatusCode.IN_PROGRESS:
                    # What the service's restart recovery does with an interrupted save.
                    await store.mark_failed(backup_id, "killed")
                if rng.random() < 0.3:
                    await delete_finishes(store, backup_id)
    print(f"{kills} kills")
    assert kills > 0
