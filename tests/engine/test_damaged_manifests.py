"""Manifests that cannot be trusted (issue 10, items 1, 2 and 4).

One damaged manifest in a shared store affects only its own entry: library,
CLI and API list every other backup as before; the damaged entry is FAILED
with a reason naming the damage, flagged ``damaged`` in the library, and
nothing that deletes or migrates treats it as a FAILED backup. A manifest whose
content names another backup than its key, or states an absurd
``numberOfPartitions``, is damaged too and never drives iteration.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backup_store import BackupIdentifier, BackupIdentifierWildcard, BackupStatusCode
from backup_store.api import create_app
from backup_store.cli.sample import generate_sample_data
from backup_store.engine import ObjectBackupStore
from backup_store.errors import ManifestParseError
from backup_store.format.instant import Instant
from backup_store.format.keys import KeyLayout, owner_marker_key
from backup_store.format.manifest import Manifest
from backup_store.io import READ_WHOLE_LIMIT, HookedIO, Request
from backup_store.model import BackupDescriptor
from backup_store.service import BackupService, BackupState, DirectorySource
from backup_store.stores.memory import MemoryBackupStore
from backup_store.testing.data import make_backup
from backup_store.tools.migrate import migrate
from backup_store.tools.migration_plan import Action, Outcome
from backup_store.tools.verify import ProblemKind, verify_store
from tests.support.filesystem_stores import StoreDir, invoke, invoke_json, save_backups
from tests.support.services import serving

GOOD = BackupIdentifier(0, 1, 10)
GOOD_2 = BackupIdentifier(0, 2, 10)
OTHER = BackupIdentifier(0, 1, 12)
DAMAGED = BackupIdentifier(0, 1, 11)
DAMAGED_2 = BackupIdentifier(0, 2, 11)
LAYOUT = KeyLayout(None, manifests_apart=True)


def manifest_json(backup_id: BackupIdentifier, *, partitions: int = 2) -> bytes:
    """A COMPLETED manifest in the common form, with no files."""
    return json.dumps(
        {
            "id": {
                "nodeId": backup_id.node_id,
                "partitionId": backup_id.partition_id,
                "checkpointId": backup_id.checkpoint_id,
            },
            "descriptor": {
                "snapshotId": "1-1-1-1",
                "checkpointPosition": 5,
                "numberOfPartitions": partitions,
                "brokerVersion": "8.7.0",
            },
            "statusCode": "COMPLETED",
            "snapshot": {"files": []},
            "segments": {"files": []},
            "createdAt": "2024-01-01T00:00:00Z",
            "modifiedAt": "2024-01-01T00:00:01Z",
        }
    ).encode()


DAMAGES = {
    "not json": b"{not json",
    "another id": manifest_json(BackupIdentifier(0, 1, 99)),
    "absurd partition count": manifest_json(DAMAGED, partitions=2**31),  # over a Java int
}


def manifest_key(store: ObjectBackupStore, backup_id: BackupIdentifier) -> str:
    return KeyLayout(store.base_path, manifests_apart=True).manifest_key(backup_id)


async def place(store: ObjectBackupStore, backup_id: BackupIdentifier, data: bytes) -> None:
    await store.io.put(manifest_key(store, backup_id), data)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ObjectBackupStore]:
    async with MemoryBackupStore() as memory:
        await save_backups(memory, tmp_path / "data", [GOOD, GOOD_2, OTHER])
        yield memory


# ---------------------------------------------------------------- library


@pytest.mark.parametrize("damage", sorted(DAMAGES))
async def test_one_damaged_manifest_affects_only_its_own_entry(
    store: ObjectBackupStore, damage: str
) -> None:
    await place(store, DAMAGED, DAMAGES[damage])
    statuses = {s.id: s for s in await store.list()}
    assert set(statuses) == {GOOD, GOOD_2, OTHER, DAMAGED}
    assert all(not statuses[i].damaged for i in (GOOD, GOOD_2, OTHER))
    assert statuses[GOOD].status_code is BackupStatusCode.COMPLETED
    damaged = statuses[DAMAGED]
    assert damaged.damaged and damaged.damage
    assert damaged.status_code is BackupStatusCode.FAILED
    assert damaged.failure_reason is not None and "damaged" in damaged.failure_reason.lower()
    assert damaged.descriptor is None
    # The verb on the damaged id alone is a typed error.
    with pytest.raises(ManifestParseError):
        await store.get_status(DAMAGED)
    # A real FAILED backup is not damaged.
    await store.mark_failed(OTHER, "disk full")
    assert not (await store.get_status(OTHER)).damaged


def in_store_form(store: ObjectBackupStore, backup_id: BackupIdentifier) -> bytes:
    """A COMPLETED manifest as ``store`` writes it."""
    started = Manifest.in_progress(
        backup_id, BackupDescriptor("s1", 7, 2, "8.7.0"), (), (), Instant.now()
    )
    layout = store.format.write_layout(store.base_path, "8.7.0")
    return store.format.encode(started.completed(Instant.now()), layout)


async def test_a_manifest_too_large_to_be_one_is_damaged_and_never_read_whole(
    base_store: ObjectBackupStore,
) -> None:
    await place(base_store, GOOD, in_store_form(base_store, GOOD))
    # A valid manifest, padded with blanks past what a read takes whole.
    await place(base_store, DAMAGED, b" " * READ_WHOLE_LIMIT + in_store_form(base_store, DAMAGED))
    tracemalloc.start()
    try:
        statuses = {s.id: s for s in await base_store.list()}
        with pytest.raises(ManifestParseError, match="bytes, more than"):
            await base_store.get_status(DAMAGED)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < READ_WHOLE_LIMIT // 4
    assert statuses[GOOD].status_code is BackupStatusCode.COMPLETED
    assert statuses[DAMAGED].damaged and "bytes, more than" in (statuses[DAMAGED].damage or "")
    # Left in place by a delete, as every damaged manifest is.
    with pytest.raises(ManifestParseError):
        await base_store.delete(DAMAGED)
    assert await base_store.io.head(manifest_key(base_store, DAMAGED)) is not None


@pytest.mark.parametrize("body", [b"[]", b'"s3"', b"[" * 100_000 + b"]" * 100_000])
async def test_a_store_kind_marker_of_another_shape_is_a_typed_error(
    base_store: ObjectBackupStore, body: bytes
) -> None:
    await base_store.io.put(owner_marker_key(base_store.base_path), body)
    with pytest.raises(ManifestParseError, match="store-kind marker is unreadable"):
        await base_store.list()


async def test_a_manifest_naming_another_backup_is_damaged_in_listings(
    store: ObjectBackupStore,
) -> None:
    # Under backup 11's key, a manifest that says backup 10 (as a copy would).
    await place(store, DAMAGED, manifest_json(GOOD))
    listed = await store.list(BackupIdentifierWildcard(checkpoint=11))
    assert [s.id for s in listed] == [DAMAGED]
    assert listed[0].damaged and "not " + str(DAMAGED) in (listed[0].damage or "")
    assert [s.id for s in await store.list(BackupIdentifierWildcard(checkpoint=10))] == [
        GOOD,
        GOOD_2,
    ]
    with pytest.raises(ManifestParseError, match="names backup"):
        await store.read_manifest(DAMAGED)
    with pytest.raises(ManifestParseError, match="names backup"):
        await store.list_manifests(BackupIdentifierWildcard())


def test_number_of_partitions_is_a_java_int() -> None:
    BackupDescriptor("1-1-1-1", 1, 2**31 - 1, "8.7.0")
    with pytest.raises(ValueError, match="number of partitions"):
        BackupDescriptor("1-1-1-1", 1, 2**31, "8.7.0")


# ---------------------------------------------------------------- service and API


class CountingIO(HookedIO):
    """Counts requests; a run-away listing trips it long before it could finish."""

    LIMIT = 500

    def __init__(self, store: ObjectBackupStore) -> None:
        self.requests = 0
        super().__init__(store.io, self._count)

    async def _count(self, request: Request) -> None:
        self.requests += 1
        if self.requests > self.LIMIT:
            raise AssertionError(f"more than {self.LIMIT} requests: {request}")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    generate_sample_data(tmp_path / "sample", 2, seed=3)
    return tmp_path / "sample"


async def test_absurd_partition_count_never_drives_the_service(
    store: ObjectBackupStore, data: Path
) -> None:
    await place(store, DAMAGED, DAMAGES["absurd partition count"])
    counting = CountingIO(store)
    store.io = counting
    service = BackupService(store, DirectorySource.discover(data))
    infos = {i.backup_id: i for i in await service.list_backups()}
    assert [d.partition_id for d in infos[11].details] == [1, 2]
    assert infos[11].state is BackupState.FAILED
    assert infos[10].state is BackupState.INCOMPLETE  # partitions 1 and 2 of 5
    info = await service.get_backup(11)
    assert len(info.details) == 2 and counting.requests < 50


async def test_a_partition_count_zeebe_reads_shows_the_partitions_found_as_incomplete(
    store: ObjectBackupStore, data: Path
) -> None:
    # Zeebe reads any numberOfPartitions up to 2^31-1: a readable backup, never enumerated.
    await place(store, DAMAGED, manifest_json(DAMAGED, partitions=2**31 - 1))
    counting = CountingIO(store)
    store.io = counting
    service = BackupService(store, DirectorySource.discover(data))
    info = await service.get_backup(11)
    assert [(d.partition_id, d.state) for d in info.details] == [(1, BackupStatusCode.COMPLETED)]
    assert info.state is BackupState.INCOMPLETE and counting.requests < 50


async def test_partitions_are_discovered_from_the_keys(
    store: ObjectBackupStore, data: Path, tmp_path: Path
) -> None:
    # Partition 7 exists only as keys: descriptors say 5 partitions, the server 2.
    await store.save(make_backup(tmp_path / "more", BackupIdentifier(3, 7, 10)))
    service = BackupService(store, DirectorySource.discover(data))
    info = await service.get_backup(10)
    assert [d.partition_id for d in info.details] == [1, 2, 3, 4, 5, 7]


@pytest.mark.parametrize("damage", sorted(DAMAGES))
async def test_the_api_shows_the_damaged_partition_as_failed(
    store: ObjectBackupStore, data: Path, damage: str
) -> None:
    await place(store, DAMAGED, DAMAGES[damage])
    service = BackupService(store, DirectorySource.discover(data))
    async with serving(create_app(service)) as http:
        listed = await http.get("/actuator/backups")
        assert listed.status_code == 200
        by_id = {b["backupId"]: b for b in listed.json()}
        assert set(by_id) == {12, 11, 10}
        assert by_id[10]["state"] == "INCOMPLETE"  # partitions 1 and 2 of 5
        one = await http.get("/actuator/backups/11")
        assert one.status_code == 200
        body = one.json()
        assert body["backupId"] == 11 and body["state"] == "FAILED"
        assert "damaged manifest" in body["failureReason"].lower()
        assert body["details"][0]["state"] == "FAILED"
        assert "damaged manifest" in body["details"][0]["failureReason"].lower()
        # Deleting the id leaves the damaged manifest for an operator, and says so.
        await place(store, DAMAGED_2, manifest_json(DAMAGED_2))
        deleted = await http.delete("/actuator/backups/11")
        assert "damaged" in deleted.json()["message"]
        assert await store.io.get(LAYOUT.manifest_key(DAMAGED)) is not None
        assert await store.io.get(LAYOUT.manifest_key(DAMAGED_2)) is None


# ---------------------------------------------------------------- migrate, verify


async def test_migrate_and_verify_never_take_a_damaged_entry_for_a_failed_backup(
    store: ObjectBackupStore,
) -> None:
    await place(store, DAMAGED, DAMAGES["not json"])
    async with MemoryBackupStore("target") as target:
        report = await migrate(store, target)
        by_id = {r.plan.backup_id: r for r in report.results}
        assert by_id[DAMAGED].plan.action is Action.SKIP_DAMAGED
        assert by_id[DAMAGED].outcome is Outcome.FAILED and not report.ok
        assert by_id[GOOD].outcome is Outcome.MIGRATED
        assert await target.io.get(manifest_key(target, DAMAGED)) is None
        # A damaged manifest at the target is never replaced.
        await place(target, OTHER, b"[]")
        await target.delete(GOOD)
        again = {r.plan.backup_id: r for r in (await migrate(store, target)).results}
        assert again[OTHER].plan.action is Action.CONFLICT
        assert again[GOOD].outcome is Outcome.MIGRATED
        kept = await target.io.get(manifest_key(target, OTHER))
        assert kept is not None and kept.data == b"[]"
    verified = await verify_store(store)
    assert not verified.ok
    assert [p.kind for p in verified.all_problems] == [ProblemKind.DAMAGED]
    assert {b.backup_id for b in verified.backups} == {GOOD, GOOD_2, OTHER, DAMAGED}


# ---------------------------------------------------------------- CLI


@pytest.fixture
async def cli_store(tmp_path: Path) -> StoreDir:
    folder = StoreDir(tmp_path / "store")
    async with folder.open() as opened:
        await save_backups(opened, tmp_path / "data", [GOOD, GOOD_2])
        await opened.mark_failed(OTHER, "disk full")
    return folder


def write_damaged(folder: StoreDir, backup_id: BackupIdentifier, data: bytes) -> Path:
    path = folder.root / LAYOUT.manifest_key(backup_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_cli_list_and_status_with_a_damaged_manifest(cli_store: StoreDir, damage: str) -> None:
    write_damaged(cli_store, DAMAGED, DAMAGES[damage])
    result = invoke("list", cli_store.url)
    assert result.exit_code == 0, result.output
    assert "damaged manifest" in result.stdout
    result, listed = invoke_json("list", cli_store.url)
    assert result.exit_code == 0
    rows = {b["backupId"]: b for b in listed["backups"]}
    assert set(rows) == {12, 11, 10}
    assert rows[10]["state"] == "INCOMPLETE"  # partitions 1 and 2 of 5
    assert rows[12]["partitionBackups"][0].get("damaged") is None
    assert rows[11]["partitionBackups"][0]["damaged"] is True
    status = invoke("status", cli_store.url, "11")
    assert status.exit_code == 0 and "Traceback" not in status.output
    assert "FAILED" in status.stdout
    result, body = invoke_json("status", cli_store.url, "11")
    assert body["backupId"] == 11 and body["state"] == "FAILED"


def test_cli_delete_leaves_a_damaged_manifest_and_says_so(cli_store: StoreDir) -> None:
    damaged = write_damaged(cli_store, BackupIdentifier(0, 2, 12), b"{broken")
    result = invoke("delete", cli_store.url, "12", "--yes")
    assert result.exit_code == 1
    assert "damaged" in result.stderr
    assert damaged.exists()
    assert not (cli_store.root / LAYOUT.manifest_key(OTHER)).exists()
