"""Listing at scale: request counts at the seam, the catalog's correctness, service start-up.

Correctness is asserted by counting requests (``HookedIO``), never by timing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from backup_store import (
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
)
from backup_store import catalog as catalog_module
from backup_store.catalog import codec as catalog_codec
from backup_store.catalog import reader as catalog_reader
from backup_store.catalog.codec import decode_catalog, normal_token
from backup_store.concurrency import FreshShared
from backup_store.engine import ObjectBackupStore
from backup_store.errors import StoreUnavailableError
from backup_store.format.instant import Instant
from backup_store.format.keys import owner_marker_key, shard_key
from backup_store.format.manifest import Manifest
from backup_store.io import READ_WHOLE_LIMIT, Request
from backup_store.model import CheckpointType
from backup_store.service import (
    RESTART_REASON,
    BackupIdConflictError,
    BackupService,
    BackupState,
)
from backup_store.stores.filesystem import FilesystemBackupStore
from testbed.cloud_stores import gcs_store, s3_store
from testbed.emulators.gcs import GcsBucket
from testbed.emulators.s3 import S3Bucket
from tests.support.catalog import SHARD, Counted, Hook, hooked, manifest, place, save
from tests.support.filesystem_stores import invoke
from tests.support.services import MemorySource

WRITES = {"put", "upload", "replace", "delete"}
MANY = 20
"""Backups of one partition in most tests: enough for the catalog to be read."""


def catalog_key(base_path: str | None, node_id: int, partition_id: int) -> str:
    """The first (and in most tests only) catalog shard of a node's partition."""
    return shard_key(base_path, node_id, partition_id, 0)


def ids(count: int, partition: int = 1, node: int = 0) -> list[BackupIdentifier]:
    return [BackupIdentifier(node, partition, c) for c in range(1, count + 1)]


# ------------------------------------------------------------------ prefix query


async def test_prefix_query_is_one_ordered_listing_per_layout(s3_bucket: S3Bucket) -> None:
    base = s3_store(s3_bucket, "bp")
    for backup_id in ids(120):
        await place(base, manifest(backup_id))
    counted = Counted()
    store = hooked(base, counted)
    await store.list_ids(BackupIdentifierWildcard())  # the ownership check once
    counted.clear()
    found = await store.list(BackupIdentifierWildcard(partition_id=1, checkpoint="10*"))
    assert sorted(s.id.checkpoint_id for s in found) == [10, *range(100, 110)]
    operations = store.format.read_layouts(store.base_path)
    lists = [r for r in counted.requests if r.operation.startswith("list")]
    # One start-after listing per layout the format reads; no folder-by-folder listing.
    assert [r.operation for r in lists] == ["list"] * len(operations)
    # Below the catalog threshold: the manifests themselves (and the ownership marker).
    assert sum(1 for r in counted.requests if r.key.endswith("manifest.json")) == 11


async def test_prefix_query_without_ordered_listings_lists_matching_folders(
    tmp_path: Path,
) -> None:
    base = FilesystemBackupStore(tmp_path / "store")
    for backup_id in ids(30):
        await place(base, manifest(backup_id))
    counted = Counted()
    store = hooked(base, counted)
    found = await store.list(BackupIdentifierWildcard(partition_id=1, checkpoint="2*"))
    assert sorted(s.id.checkpoint_id for s in found) == [2, *range(20, 30)]
    assert counted.operations()["list_with_delimiter"] == 1
    assert counted.operations()["list"] == 11  # the matching checkpoint folders only


# ------------------------------------------------------------------ catalog


async def test_warm_list_reads_catalogs_instead_of_manifests(
    base_store: ObjectBackupStore,
) -> None:
    count = MANY
    for partition in (1, 2):
        for backup_id in ids(count, partition):
            await save(base_store, manifest(backup_id))
    counted = Counted()
    store = hooked(base_store, counted)
    statuses = await store.list()
    assert len(statuses) == 2 * count
    assert {s.status_code for s in statuses} == {BackupStatusCode.COMPLETED}
    gets = [r.key for r in counted.requests if r.operation == "get"]
    catalogs = {catalog_key(store.base_path, 0, p) for p in (1, 2)}
    # Listing pages, the ownership marker, and one GET per (node, partition) catalog.
    assert set(gets) - catalogs <= {owner_marker_key(store.base_path)}
    assert catalogs <= set(gets)
    assert not {r.operation for r in counted.requests} & WRITES


def test_tokens_compare_quoted_or_not_and_weak_only_before_a_quote() -> None:
    # GCS's e-tags are base64: unquoted in listings, quoted in answers to a GET.
    assert normal_token("W/IuZFby9cDpzttL2LL0mg==") == "W/IuZFby9cDpzttL2LL0mg=="
    assert normal_token('"W/IuZFby9cDpzttL2LL0mg=="') == "W/IuZFby9cDpzttL2LL0mg=="
    assert normal_token('W/"5d41402a"') == normal_token('"5d41402a"') == "5d41402a"
    assert normal_token("") is None and normal_token('""') is None


async def test_a_manifest_whose_e_tag_begins_like_a_weak_one_is_taken_from_the_catalog(
    gcs_bucket: GcsBucket,
) -> None:
    """fake-gcs-server's e-tag is the base64 MD5 of the bytes: one manifest in 4,096
    has one beginning with ``W/``, which listings give unquoted."""
    base = gcs_store(gcs_bucket, "bp")
    layout = base.format.write_layout(base.base_path, "8.7.0")
    for attempt in itertools.count():
        weak_looking = manifest(BackupIdentifier(0, 1, 1), snapshot=f"s{attempt}")
        encoded = base.format.encode(weak_looking, layout)
        if base64.b64encode(hashlib.md5(encoded, usedforsecurity=False).digest()).startswith(b"W/"):
            break
    await base.io.put(layout.manifest_key(weak_looking.id), encoded)  # as Zeebe writes
    await place(base, manifest(BackupIdentifier(0, 1, 2)))
    await base.rebuild_catalog()
    counted = Counted()
    assert len(await hooked(base, counted).list()) == 2
    assert not [r.key for r in counted.requests if r.key.endswith("manifest.json")]


async def test_a_catalog_unchanged_since_it_was_read_is_not_read_again(
    base_store: ObjectBackupStore,
) -> None:
    for backup_id in ids(MANY):
        await save(base_store, manifest(backup_id))
    counted = Counted()
    store = hooked(base_store, counted)
    catalog = catalog_key(store.base_path, 0, 1)
    assert len(await store.list()) == MANY
    counted.clear()
    assert len(await store.list()) == MANY
    # Its e-tag in the listing of the catalog folder unchanged: nothing read.
    assert [r.operation for r in counted.requests if r.key == catalog] == []
    assert not [r for r in counted.requests if r.operation == "get"]
    # Another writer adds a backup: the catalog is read again, and used.
    await save(base_store, manifest(BackupIdentifier(0, 1, 100)))
    counted.clear()
    assert len(await store.list()) == MANY + 1
    assert [r.operation for r in counted.requests if r.key == catalog] == ["get"]
    assert not [r for r in counted.requests if r.key.endswith("manifest.json")]


async def test_catalogs_kept_in_memory_stay_within_the_bound(
    base_store: ObjectBackupStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long-lived store (serve) keeps the catalogs it read, but never more entries
    # than the bound, however many backups the location holds.
    monkeypatch.setattr(catalog_reader, "CACHED_ENTRIES", MANY)
    for partition in (1, 2):
        for backup_id in ids(MANY, partition):
            await save(base_store, manifest(backup_id))
    counted = Counted()
    store = hooked(base_store, counted)
    catalogs = [catalog_key(store.base_path, 0, p) for p in (1, 2)]
    assert len(await store.list()) == 2 * MANY
    counted.clear()
    statuses = await store.list()
    assert len(statuses) == 2 * MANY
    assert {s.status_code for s in statuses} == {BackupStatusCode.COMPLETED}
    # One catalog was kept (checked by its e-tag in the listing), the other is read again.
    reads = sorted(tuple(r.operation for r in counted.requests if r.key == k) for k in catalogs)
    assert reads == [(), ("get",)]
    assert not [r for r in counted.requests if r.key.endswith("manifest.json")]


async def wait_for_new_timestamp(path: Path) -> None:
    """Until the filesystem stamps writes with a later time than ``path``'s mtime."""
    probe = path.parent / ".probe"
    while True:
        probe.write_bytes(b"")
        if os.stat(probe).st_mtime_ns > os.stat(path).st_mtime_ns:
            probe.unlink()
            return
        await asyncio.sleep(0)


def rewrite_in_place(path: Path, data: bytes) -> None:
    with path.open("r+b") as file:
        file.write(data)


async def test_manifest_rewritten_behind_the_stores_back_is_read_again(
    base_store: ObjectBackupStore, tmp_path: Path
) -> None:
    for backup_id in ids(MANY):
        await save(base_store, manifest(backup_id, snapshot="s1"))
    changed = BackupIdentifier(0, 1, 3)
    layout = base_store.format.write_layout(base_store.base_path, "8.7.0")
    key = layout.manifest_key(changed)
    new = base_store.format.encode(manifest(changed, snapshot="s2"), layout)
    if isinstance(base_store, FilesystemBackupStore):
        # As Zeebe does: in place, same size, no truncation.
        path = tmp_path / "store" / key
        await wait_for_new_timestamp(path)
        old = path.read_bytes()
        new = old.replace(b'"s1"', b'"s2"')
        assert len(new) == len(old)
        rewrite_in_place(path, new)
    else:
        await base_store.io.put(key, new)
    counted = Counted()
    store = hooked(base_store, counted)
    statuses = {s.id: s for s in await store.list()}
    descriptor = statuses[changed].descriptor
    assert descriptor is not None and descriptor.snapshot_id == "s2"
    assert all(
        s.descriptor is not None and s.descriptor.snapshot_id == "s1"
        for i, s in statuses.items()
        if i != changed
    )
    manifest_gets = [
        r.key for r in counted.requests if r.operation == "get" and r.key.endswith("manifest.json")
    ]
    assert manifest_gets == [key]


async def test_deleted_manifest_is_not_listed_from_the_catalog(
    base_store: ObjectBackupStore,
) -> None:
    for backup_id in ids(MANY):
        await save(base_store, manifest(backup_id))
    gone = BackupIdentifier(0, 1, 5)
    key = base_store.format.write_layout(base_store.base_path, "8.7.0").manifest_key(gone)
    await base_store.io.delete([key])  # a person removes it; the catalog still has it
    assert gone not in {s.id for s in await base_store.list()}


async def test_deleted_catalog_is_rebuilt(base_store: ObjectBackupStore) -> None:
    count = MANY
    for backup_id in ids(count):
        await save(base_store, manifest(backup_id))
    catalog = catalog_key(base_store.base_path, 0, 1)
    await base_store.io.delete([catalog])
    counted = Counted()
    store = hooked(base_store, counted)
    assert len(await store.list()) == count  # correct without it: manifests read
    assert counted.operations()["get"] >= count
    statuses = await store.rebuild_catalog()
    assert len(statuses) == count
    found = await base_store.io.get(catalog)
    assert found is not None and len(decode_catalog(found.data)) == count
    counted.clear()
    assert len(await store.list()) == count
    assert not [r for r in counted.requests if r.key.endswith("manifest.json")]


async def test_damaged_catalog_is_ignored_then_rebuilt(base_store: ObjectBackupStore) -> None:
    for backup_id in ids(MANY):
        await save(base_store, manifest(backup_id, completed=True))
    catalog = catalog_key(base_store.base_path, 0, 1)
    await base_store.io.put(catalog, b'{"version": 1, "entries": {"x": 1}}')
    statuses = await base_store.list()
    assert len(statuses) == MANY
    # A writer rebuilds it from what it knows.
    await save(base_store, manifest(BackupIdentifier(0, 1, 100)))
    found = await base_store.io.get(catalog)
    assert found is not None and list(decode_catalog(found.data)) != []


async def saved_with_shard(store: ObjectBackupStore) -> tuple[str, bytes]:
    """Save :data:`MANY` backups of partition 1; their catalog shard's key and bytes."""
    for backup_id in ids(MANY):
        await save(store, manifest(backup_id))
    shard = catalog_key(store.base_path, 0, 1)
    found = await store.io.get(shard)
    assert found is not None
    return shard, found.data


async def test_damaged_catalog_entries_cost_only_their_manifests_reads(
    base_store: ObjectBackupStore,
) -> None:
    shard, data = await saved_with_shard(base_store)
    entries = catalog_module.raw_entries(data)
    layout = base_store.format.write_layout(base_store.base_path, "8.7.0")
    damaged = {c: layout.manifest_key(BackupIdentifier(0, 1, c)) for c in (2, 3, 4, 5)}
    entries[damaged[2]] = {"t": entries[damaged[2]][0]}  # not shaped like an entry
    entries[damaged[3]][3] = 9  # names another backup than its manifest
    entries[damaged[4]][4] = "BOGUS"  # an unknown status
    entries[damaged[5]][5] = ["s", "not a position", 3, "8.7.0"]  # a bad descriptor
    await base_store.io.put(shard, catalog_module.encode_catalog(entries))
    counted = Counted()
    statuses = await hooked(base_store, counted).list()
    assert sorted(s.id.checkpoint_id for s in statuses) == list(range(1, MANY + 1))
    assert {s.status_code for s in statuses} == {BackupStatusCode.COMPLETED}
    read = [r.key for r in counted.requests if r.key.endswith("manifest.json")]
    assert sorted(read) == sorted(damaged.values())


async def test_a_catalog_shard_too_large_to_be_one_is_never_read_whole(
    base_store: ObjectBackupStore,
) -> None:
    shard, data = await saved_with_shard(base_store)
    # The same entries, padded with blanks (still valid JSON) past the bound.
    await base_store.io.put(shard, b" " * READ_WHOLE_LIMIT + data)
    counted = Counted()
    statuses = await hooked(base_store, counted).list()
    assert sorted(s.id.checkpoint_id for s in statuses) == list(range(1, MANY + 1))
    # Ignored: every status comes from its manifest.
    assert len([r for r in counted.requests if r.key.endswith("manifest.json")]) == MANY


@pytest.mark.parametrize("shape", ["array", "string", "nested", "inner array"])
async def test_catalog_objects_of_another_shape_are_ignored_then_rewritten(
    base_store: ObjectBackupStore, shape: str
) -> None:
    shard, _ = await saved_with_shard(base_store)
    base = base_store.base_path
    inner = {
        shard: b'{"version":2,"entries":[]}',
        catalog_module.bounds_key(base, 1): b'{"version":2,"bounds":[]}',
        catalog_module.taken_key(base, 1): b'{"version":1,"highest":[]}',
    }
    for key, body in inner.items():
        other = {"array": b"[]", "string": b'"x"', "nested": b"[" * 100_000 + b"]" * 100_000}
        await base_store.io.put(key, other.get(shape, body))
    statuses = await base_store.list()
    assert sorted(s.id.checkpoint_id for s in statuses) == list(range(1, MANY + 1))
    assert await base_store.highest_taken(1) == {}
    # The next writer writes what it knows over them.
    await save(base_store, manifest(BackupIdentifier(0, 1, MANY + 1)))
    await base_store.accept(manifest(BackupIdentifier(0, 1, MANY + 2), completed=False))
    assert await base_store.highest_taken(1) == {0: MANY + 2}
    counted = Counted()
    statuses = await hooked(base_store, counted).list()
    assert sorted(s.id.checkpoint_id for s in statuses) == list(range(1, MANY + 3))
    # The first list rewrote the shard (the location is ours) and the save added its
    # entry: only the backup accepted since (IN_PROGRESS, no entry) is read.
    read = [r.key for r in counted.requests if r.key.endswith("manifest.json")]
    assert len(read) == 1 and f"/{MANY + 2}/" in read[0]


async def test_two_writers_updating_one_catalog_lose_no_entry(
    base_store: ObjectBackupStore,
) -> None:
    catalog = catalog_key(base_store.base_path, 0, 1)
    await save(base_store, manifest(BackupIdentifier(0, 1, 1)))  # the catalog exists
    both_read = asyncio.Barrier(2)

    met: set[int] = set()

    def meet_after_first_read(writer: int) -> Hook:
        async def hook(request: Request) -> None:
            if request.operation == "get" and request.key == catalog and writer not in met:
                met.add(writer)
                await both_read.wait()  # each has read the same version before either writes

        return hook

    writers = []
    for writer in range(2):
        writer_counted = Counted()
        writer_counted.also = meet_after_first_read(writer)
        writers.append((hooked(base_store, writer_counted), writer_counted))
    first, second = writers
    await asyncio.gather(
        save(first[0], manifest(BackupIdentifier(0, 1, 2))),
        save(second[0], manifest(BackupIdentifier(0, 1, 3))),
    )
    found = await base_store.io.get(catalog)
    assert found is not None
    assert sorted(decode_catalog(found.data)) == sorted(
        base_store.format.write_layout(base_store.base_path, "8.7.0").manifest_key(
            BackupIdentifier(0, 1, c)
        )
        for c in (1, 2, 3)
    )
    catalog_writes = [
        r
        for _, c in writers
        for r in c.requests
        if r.key == catalog and r.operation in ("put", "replace")
    ]
    assert len(catalog_writes) == 3  # both read the same version: one retried


async def test_read_only_reader_without_catalog_writes_nothing(
    base_store: ObjectBackupStore,
) -> None:
    count = MANY
    for backup_id in ids(count):
        await place(base_store, manifest(backup_id, completed=backup_id.checkpoint_id % 2 == 0))
    counted = Counted()

    async def refuse_writes(request: Request) -> None:
        if request.operation in WRITES:
            raise PermissionError(f"read-only credentials: {request}")

    counted.also = refuse_writes
    store = hooked(base_store, counted)
    statuses = {s.id.checkpoint_id: s.status_code for s in await store.list()}
    assert statuses == {
        c: BackupStatusCode.COMPLETED if c % 2 == 0 else BackupStatusCode.IN_PROGRESS
        for c in range(1, count + 1)
    }
    assert not {r.operation for r in counted.requests} & WRITES


async def test_status_of_one_id_reads_no_catalog(base_store: ObjectBackupStore) -> None:
    for backup_id in ids(MANY):
        await save(base_store, manifest(backup_id))
    counted = Counted()
    store = hooked(base_store, counted)
    await store.list_ids(BackupIdentifierWildcard())
    counted.clear()
    found = await store.list(BackupIdentifierWildcard(partition_id=1, checkpoint=5))
    assert [s.id.checkpoint_id for s in found] == [5]
    assert counted.operations()["get"] == 1
    layouts = len(store.format.read_layouts(store.base_path))
    assert sum(1 for r in counted.requests if r.operation.startswith("list")) == layouts


# ------------------------------------------------------------------ catalog shards


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_codec, "SHARD_ENTRIES", SHARD)


async def named_shards(
    store: ObjectBackupStore, node: int = 0, partition: int = 1
) -> dict[int, list[int]]:
    """The shards the bounds record names, with the checkpoint ids each holds."""
    found = await store.io.get(catalog_module.bounds_key(store.base_path, partition))
    bounds = [0] if found is None else catalog_module.decode_bounds(found.data).get(node, [0])
    shards: dict[int, list[int]] = {}
    for bound in bounds:
        shard = await store.io.get(shard_key(store.base_path, node, partition, bound))
        if shard is not None:
            entries = decode_catalog(shard.data).values()
            shards[bound] = sorted(e.status.id.checkpoint_id for e in entries)
    return shards


def catalog_requests(counted: Counted, store: ObjectBackupStore) -> list[tuple[str, str]]:
    folder = catalog_module.catalog_folder(store.base_path)
    taken = f"{folder}{catalog_module.TAKEN_FOLDER}/"
    return [
        (r.operation, r.key.removeprefix(folder))
        for r in counted.requests
        if r.key.startswith(folder) and not r.key.startswith(taken)
    ]


@pytest.mark.usefixtures("small_shards")
async def test_a_save_reads_and_writes_one_shard_whatever_the_partition_holds(
    base_store: ObjectBackupStore,
) -> None:
    counted = Counted()
    store = hooked(base_store, counted)
    seen: list[list[tuple[str, str]]] = []
    saved = 0
    for count in (6, 10 * SHARD + 2):
        for checkpoint in range(saved + 1, count + 1):
            await save(store, manifest(BackupIdentifier(0, 1, checkpoint)))
        counted.clear()
        saved = count + 1
        await save(store, manifest(BackupIdentifier(0, 1, saved)))
        seen.append(catalog_requests(counted, store))
    # The bounds record, then the one shard the id falls in: read and written back.
    few, many = seen
    assert [op for op, _ in few] == [op for op, _ in many] == ["get", "get", "replace"]
    shards = await named_shards(base_store)
    assert max(len(c) for c in shards.values()) <= SHARD
    assert len(shards) > 10
    assert sorted(c for held in shards.values() for c in held) == list(range(1, 10 * SHARD + 4))


@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled"])
@pytest.mark.usefixtures("small_shards")
async def test_shards_split_in_any_order_and_lose_no_entry(tmp_path: Path, order: str) -> None:
    base = FilesystemBackupStore(tmp_path / "store")
    checkpoints = list(range(1, 31))
    if order == "descending":
        checkpoints.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(checkpoints)
    for checkpoint in checkpoints:
        await save(base, manifest(BackupIdentifier(0, 1, checkpoint)))
    shards = await named_shards(base)
    assert all(0 < len(held) <= SHARD for held in shards.values())
    for bound, upper in zip(sorted(shards), [*sorted(shards)[1:], None], strict=True):
        assert all(bound <= c and (upper is None or c < upper) for c in shards[bound])
    assert sorted(c for held in shards.values() for c in held) == list(range(1, 31))
    counted = Counted()
    assert len(await hooked(base, counted).list()) == 30
    assert not [r for r in counted.requests if r.key.endswith("manifest.json")]


@pytest.mark.usefixtures("small_shards")
async def test_deleting_backups_removes_the_shards_they_empty(tmp_path: Path) -> None:
    base = FilesystemBackupStore(tmp_path / "store")
    for backup_id in ids(6 * SHARD):
        await save(base, manifest(backup_id))
    assert len(await named_shards(base)) == 6
    for backup_id in ids(6 * SHARD - 2):  # as retention does: the oldest first
        await base.delete(backup_id)
    assert await named_shards(base) == {5 * SHARD + 1: [6 * SHARD - 1, 6 * SHARD]}
    catalog_files = sorted(
        str(p.relative_to(tmp_path / "store"))
        for p in (tmp_path / "store" / catalog_module.CATALOG_FOLDER / "0").rglob("*")
        if p.is_file()
    )
    assert catalog_files == [f".backup-store-catalog/0/1/{5 * SHARD + 1}.json"]
    counted = Counted()
    assert sorted(s.id.checkpoint_id for s in await hooked(base, counted).list()) == [23, 24]
    assert not [r for r in counted.requests if r.key.endswith("manifest.json")]


@pytest.mark.usefixtures("small_shards")
async def test_a_prefix_query_reads_only_the_shards_its_hits_fall_in(
    base_store: ObjectBackupStore,
) -> None:
    for backup_id in ids(40):
        await save(base_store, manifest(backup_id))
    shards = await named_shards(base_store)
    counted = Counted()
    store = hooked(base_store, counted)
    await store.list_ids(BackupIdentifierWildcard())  # the ownership check once
    counted.clear()
    found = await store.list(BackupIdentifierWildcard(partition_id=1, checkpoint="1*"))
    assert sorted(s.id.checkpoint_id for s in found) == [1, *range(10, 20)]
    hit = {b for b, held in shards.items() if {1, *range(10, 20)} & set(held)}
    assert len(hit) < len(shards)
    requests = catalog_requests(counted, store)
    assert sorted(requests) == sorted(
        [("get", "shards/1.json"), *(("get", f"0/1/{b}.json") for b in hit)]
    )
    assert not [r for r in counted.requests if r.key.endswith("manifest.json")]


@pytest.mark.usefixtures("small_shards")
async def test_two_writers_splitting_one_shard_at_once_lose_no_entry(
    base_store: ObjectBackupStore,
) -> None:
    for backup_id in ids(SHARD):
        await save(base_store, manifest(backup_id))  # shard 0 is full
    first_shard = catalog_key(base_store.base_path, 0, 1)
    record = catalog_module.bounds_key(base_store.base_path, 1)
    both_read = asyncio.Barrier(2)
    first_saved = asyncio.Event()
    met: set[int] = set()

    def meet_after_first_read(writer: int) -> Hook:
        async def hook(request: Request) -> None:
            if request.operation == "get" and request.key == first_shard and writer not in met:
                met.add(writer)
                await both_read.wait()  # each read it full before either splits it
            if writer == 1 and request.key == record and request.operation in WRITES:
                await first_saved.wait()  # the second names its new shard last: it loses

        return hook

    writers = []
    for writer in range(2):
        counted = Counted()
        counted.also = meet_after_first_read(writer)
        writers.append(hooked(base_store, counted))

    async def first() -> None:
        await save(writers[0], manifest(BackupIdentifier(0, 1, SHARD + 1)))
        first_saved.set()

    await asyncio.gather(first(), save(writers[1], manifest(BackupIdentifier(0, 1, SHARD + 2))))
    shards = await named_shards(base_store)
    assert sorted(c for held in shards.values() for c in held) == list(range(1, SHARD + 3))
    counted = Counted()
    assert len(await hooked(base_store, counted).list()) == SHARD + 2
    assert not [r for r in counted.requests if r.key.endswith("manifest.json")]
    # The loser's shard, never named, is never read; a rebuild removes it.
    folder = catalog_module.catalog_folder(base_store.base_path)
    unnamed = shard_key(base_store.base_path, 0, 1, SHARD + 2)
    assert unnamed in await base_store.io.list_keys(folder)
    assert unnamed not in {r.key for r in counted.requests}
    await base_store.rebuild_catalog()
    assert unnamed not in await base_store.io.list_keys(folder)
    assert await named_shards(base_store) == shards


# ------------------------------------------------------------------ shared runs


async def test_concurrent_identical_reads_share_only_a_run_started_after_them() -> None:
    runs: list[asyncio.Event] = []
    started = [asyncio.Event(), asyncio.Event()]
    value = 0

    async def compute(key: str) -> int:
        gate = asyncio.Event()
        runs.append(gate)
        started[len(runs) - 1].set()
        seen = value
        await gate.wait()
        return seen

    shared = FreshShared(compute)
    first = asyncio.ensure_future(shared("k"))
    await started[0].wait()
    value = 1  # a change finished before the next callers ask
    later = [asyncio.ensure_future(shared("k")) for _ in range(200)]
    await asyncio.sleep(0)
    assert len(runs) == 1  # the later callers wait for a run that starts after the first
    runs[0].set()
    assert await first == 0
    await started[1].wait()
    runs[1].set()
    assert set(await asyncio.gather(*later)) == {1}
    assert len(runs) == 2


# ------------------------------------------------------------------ service


async def test_service_answers_before_its_recovery_and_still_marks_failed(
    tmp_path: Path,
) -> None:
    base = FilesystemBackupStore(tmp_path / "store")
    interrupted = BackupIdentifier(0, 1, 100)
    await save(base, manifest(BackupIdentifier(0, 1, 50), partitions=1))
    await place(base, manifest(interrupted, completed=False, partitions=1))
    release = asyncio.Event()
    counted = Counted()

    async def hold_full_listings(request: Request) -> None:
        if request.operation == "list" and request.key in ("", "manifests/"):
            await release.wait()

    counted.also = hold_full_listings
    store = hooked(base, counted)
    files = tmp_path / "files"
    files.mkdir()
    source = MemorySource(1, files)
    async with BackupService(store, [source], recovery_timeout=0) as service:
        info = await service.get_backup(100)
        assert info.state is BackupState.IN_PROGRESS  # as its manifest says, never COMPLETED
        await service.take_backup(101)
        await service.wait_for_backups()
        assert (await service.get_backup(101)).state is BackupState.COMPLETED
        release.set()
        await service.wait_for_recovery()
        info = await service.get_backup(100)
        assert info.state is BackupState.FAILED
        assert info.details[0].failure_reason == RESTART_REASON
        assert (await service.get_backup(101)).state is BackupState.COMPLETED


async def test_partitions_above_the_configured_count_without_listing_the_bucket(
    tmp_path: Path,
) -> None:
    base = FilesystemBackupStore(tmp_path / "store")
    for partition in (1, 2, 3):
        await save(base, manifest(BackupIdentifier(0, partition, 100)))
    counted = Counted()
    store = hooked(base, counted)
    files = tmp_path / "files"
    files.mkdir()
    async with BackupService(store, [MemorySource(1, files)], partition_count=1) as service:
        await service.wait_for_recovery()
        counted.clear()
        info = await service.get_backup(100)
    assert [d.partition_id for d in info.details] == [1, 2, 3]
    listed = [r for r in counted.requests if r.operation.startswith("list")]
    # The partition folders' names (one delimited listing of manifests/), then only
    # the backup's own folders: never a recursive listing of the bucket.
    assert listed and all(r.key.startswith("manifests") for r in listed)
    recursive = [r.key for r in listed if r.operation == "list"]
    assert all("/100" in key for key in recursive), recursive


async def test_cli_catalog_rebuild(tmp_path: Path) -> None:
    base = FilesystemBackupStore(tmp_path / "store")
    for backup_id in ids(3):
        await place(base, manifest(backup_id))  # as Zeebe wrote them: no catalog
    result = await asyncio.to_thread(invoke, "catalog", "rebuild", (tmp_path / "store").as_uri())
    assert result.exit_code == 0, result.output
    assert "rebuilt from 3 manifests" in result.output
    found = await base.io.get(catalog_key(None, 0, 1))
    assert found is not None and len(decode_catalog(found.data)) == 3


async def test_a_rebuild_that_cannot_write_the_catalog_fails_instead_of_saying_done(
    base_store: ObjectBackupStore, tmp_path: Path
) -> None:
    completed, failed = BackupStatusCode.COMPLETED, BackupStatusCode.FAILED
    for backup_id in ids(3):
        await place(base_store, manifest(backup_id))
    folder = catalog_module.catalog_folder(base_store.base_path)

    async def refuse_catalog_writes(request: Request) -> None:
        if request.operation in WRITES and request.key.startswith(folder):
            raise StoreUnavailableError("503 Slow Down", key=request.key)

    counted = Counted()
    counted.also = refuse_catalog_writes
    with pytest.raises(StoreUnavailableError, match="503 Slow Down"):
        await hooked(base_store, counted).rebuild_catalog()
    # A writer's catalog update still never fails its save (only slower), nor does
    # it fail a service's restart recovery, which still marks interrupted backups.
    await save(hooked(base_store, counted), manifest(BackupIdentifier(0, 1, 4)))
    await place(base_store, manifest(BackupIdentifier(0, 1, 5), completed=False))
    sources = [MemorySource(1, tmp_path)]
    async with BackupService(hooked(base_store, counted), sources, node_id=0) as service:
        async with asyncio.timeout(60):  # (a recovery that fails retries forever)
            await service.wait_for_recovery()
    statuses = {s.id.checkpoint_id: s.status_code for s in await base_store.list()}
    assert statuses == {1: completed, 2: completed, 3: completed, 4: completed, 5: failed}


async def take_requests(base: ObjectBackupStore, tmp_path: Path, backup_id: int) -> list[Request]:
    """The requests of one POST (take_backup until it returns) of a service started on
    ``base``; the uploads are held, so only the take itself is counted."""
    counted = Counted()
    store = hooked(base, counted)
    files = tmp_path / f"files-{backup_id}"
    files.mkdir()
    sources = [MemorySource(p, files) for p in (1, 2)]
    async with BackupService(store, sources, partition_count=2) as service:
        await service.wait_for_recovery()
        for source in sources:
            source.content_gate.clear()
        counted.clear()
        await service.take_backup(backup_id)
        requests = list(counted.requests)
        for source in sources:
            source.content_gate.set()
        await service.wait_for_backups()
    return requests


async def test_post_issues_a_fixed_number_of_requests_whatever_the_store_holds(
    base_store: ObjectBackupStore, tmp_path: Path
) -> None:
    await take_requests(base_store, tmp_path, 10)  # the location and its records exist
    few = await take_requests(base_store, tmp_path, 20)
    for partition in (1, 2):
        for backup_id in ids(MANY * 3, partition):
            await place(base_store, manifest(backup_id, partitions=2))
    many = await take_requests(base_store, tmp_path, 1000)
    # The same requests, in kind and number, with 4 or 124 backups in the store.
    assert Counter(r.operation for r in many) == Counter(r.operation for r in few)
    assert not [r for r in many if r.operation.startswith("list")]
    # Per partition: the taken-ids record read, this node's manifest of the id looked
    # for in each read layout, and written create-only.
    layouts = len(base_store.format.read_layouts(base_store.base_path))
    assert Counter(r.operation for r in many)["head"] == 2 * layouts
    for partition in (1, 2):
        assert (await base_store.highest_taken(partition)) == {0: 1000}


async def test_post_refuses_an_id_below_another_nodes_accepted_one_without_listing(
    base_store: ObjectBackupStore, tmp_path: Path
) -> None:
    for partition in (1, 2):
        for backup_id in ids(MANY * 3, partition):
            await place(base_store, manifest(backup_id, partitions=2))
    files = tmp_path / "files"
    files.mkdir()
    async with BackupService(
        base_store, [MemorySource(1, files)], node_id=1, partition_count=2
    ) as other:
        await other.take_backup(500)
        await other.wait_for_backups()
    counted = Counted()
    store = hooked(base_store, counted)
    async with BackupService(store, [MemorySource(1, files)], partition_count=2) as service:
        await service.wait_for_recovery()
        counted.clear()
        with pytest.raises(BackupIdConflictError) as raised:
            await service.take_backup(400)
        assert raised.value.latest == 500
        # This node's own copy of an id (written behind the service's back) conflicts.
        await place(base_store, manifest(BackupIdentifier(0, 1, 600), partitions=2))
        with pytest.raises(BackupIdConflictError):
            await service.take_backup(600)
        assert not [r for r in counted.requests if r.operation.startswith("list")]
        await service.take_backup(500)  # another node's copy of the same id is no conflict
        await service.wait_for_backups()


async def test_a_catalog_rebuild_records_the_highest_ids_it_found(
    base_store: ObjectBackupStore,
) -> None:
    for node in (0, 1):
        for backup_id in ids(MANY + node, partition=2, node=node)[2:]:
            await place(base_store, manifest(backup_id))  # as Zeebe wrote them
    assert await base_store.highest_taken(2) == {}
    await base_store.rebuild_catalog()
    assert await base_store.highest_taken(2) == {0: MANY, 1: MANY + 1}
    # Only ever raised: a lower id accepted later leaves it as it is.
    await base_store.accept(manifest(BackupIdentifier(1, 2, 1), completed=False))
    assert await base_store.highest_taken(2) == {0: MANY, 1: MANY + 1}


async def test_entries_of_zone_and_89_backups_outlive_later_writes_and_serve_lists(
    tmp_path: Path,
) -> None:
    """A zone, and Zeebe 8.9's first log position, checkpoint time and type, are kept
    in the catalog: the next save in the same shard keeps those entries, and a list
    from the catalog gives what the manifests say, reading none of them."""
    base = FilesystemBackupStore(tmp_path / "store")
    taken = Instant.parse_iso("2026-12-01T01:00:00Z")
    newer = BackupDescriptor("s", 200, 1, "8.10.0", 101, taken, CheckpointType.MARKER)
    zoned = BackupIdentifier.newer(0, 1, 1, "eu-1")
    plain = BackupIdentifier(0, 1, 2)
    for backup_id, descriptor in ((zoned, BackupDescriptor("s", 100, 1, "8.10.0")), (plain, newer)):
        started = Manifest.in_progress(backup_id, descriptor, (), (), taken)
        await save(base, started.completed(taken))
    await save(base, manifest(BackupIdentifier(0, 1, 3)))  # rewrites the shard
    expected = {s.id: s for s in [await base.get_status(zoned), await base.get_status(plain)]}
    counted = Counted()
    listed = await hooked(base, counted).list()
    assert {s.id: s for s in listed if s.id in expected} == expected
    assert expected[plain].descriptor == newer
    assert not [
        r for r in counted.requests if r.key.endswith("manifest.json") and r.operation == "get"
    ]
