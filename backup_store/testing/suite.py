"""The conformance scenarios (``conformance.md``) as test classes to subclass.

A subclass provides the ``store_harness`` fixture (see :mod:`backup_store.testing`).
Every scenario gets an empty location and a store opened through the harness.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
import zstandard

from backup_store.errors import (
    BackupStoreError,
    IntegrityError,
    InvalidBackupStateError,
    InvalidInputError,
    ManifestParseError,
    SourceFileNotFoundError,
)
from backup_store.instant import Instant
from backup_store.manifest import ZSTD, ManifestForm, decode_manifest
from backup_store.model import (
    Backup,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
    NamedFileSet,
)
from backup_store.store import BackupStore
from backup_store.testing.data import FIXTURES, FIXTURES_DIR, make_backup
from backup_store.testing.harness import StoreHarness

BackupFactory = Callable[..., Backup]
ID = BackupIdentifier


async def _snapshot_of_objects(harness: StoreHarness) -> dict[str, bytes]:
    return {key: await harness.get_object(key) for key in await harness.list_objects()}


def _assert_same_files(original: Backup, restored: Backup, target: Path) -> None:
    for attr in ("snapshot", "segments"):
        before: NamedFileSet = getattr(original, attr)
        after: NamedFileSet = getattr(restored, attr)
        assert sorted(before) == sorted(after)
        for name in before:
            assert after[name] == target / name
            assert after[name].read_bytes() == before[name].read_bytes()


@pytest.mark.asyncio
@pytest.mark.conformance
class BackupStoreConformance:
    """Every scenario of ``conformance.md``; subclass and provide ``store_harness``."""

    @pytest.fixture
    def store_harness(self) -> StoreHarness:
        raise NotImplementedError("a conformance subclass must provide the store_harness fixture")

    @pytest_asyncio.fixture
    async def store(self, store_harness: StoreHarness) -> AsyncIterator[BackupStore]:
        async with store_harness.open() as store:
            yield store

    # ------------------------------------------------------------------ saving

    async def test_save_completes(self, store: BackupStore, backup_factory: BackupFactory) -> None:
        backup = backup_factory()
        await store.save(backup)
        assert (await store.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED

    async def test_save_existing_id_fails_and_changes_nothing(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        await store.mark_failed(backup.id, "taken elsewhere")
        before = await _snapshot_of_objects(store_harness)
        with pytest.raises(InvalidBackupStateError):
            await store.save(backup)
        assert await _snapshot_of_objects(store_harness) == before

    async def test_save_with_missing_source_file_names_it(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        missing = backup.segments["segment-file-2"]
        missing.unlink()
        with pytest.raises(SourceFileNotFoundError) as raised:
            await store.save(backup)
        assert str(missing) in str(raised.value)
        assert (await store.get_status(backup.id)).status_code is not BackupStatusCode.COMPLETED

    async def test_resave_completed_fails_and_keeps_it(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        before = await store.get_status(backup.id)
        with pytest.raises(InvalidBackupStateError):
            await store.save(backup)
        after = await store.get_status(backup.id)
        assert after.status_code is BackupStatusCode.COMPLETED
        assert after.last_modified == before.last_modified

    async def test_save_without_snapshot_and_minimal(
        self, store: BackupStore, backup_factory: BackupFactory, tmp_path: Path
    ) -> None:
        segments_only = backup_factory(ID(1, 2, 4), with_snapshot=False)
        minimal = backup_factory(ID(1, 2, 5), minimal=True)
        for backup in (segments_only, minimal):
            await store.save(backup)
            status = await store.get_status(backup.id)
            assert status.status_code is BackupStatusCode.COMPLETED
            assert status.descriptor == backup.descriptor
            target = tmp_path / f"restored-{backup.id.checkpoint_id}"
            _assert_same_files(backup, await store.restore(backup.id, target), target)

    async def test_unsafe_input_is_refused_before_writing(
        self,
        store: BackupStore,
        store_harness: StoreHarness,
        backup_factory: BackupFactory,
        tmp_path: Path,
    ) -> None:
        backup = backup_factory()
        before = await _snapshot_of_objects(store_harness)
        for name in ("..", "a/b", "a\x00b", "", "."):
            with pytest.raises(InvalidInputError):
                NamedFileSet({name: tmp_path})
        folder = tmp_path / "a-directory"
        folder.mkdir()
        as_dir = Backup(backup.id, backup.descriptor, NamedFileSet({"dir": folder}))
        with pytest.raises(SourceFileNotFoundError, match="not a regular file"):
            await store.save(as_dir)
        for bad in ((1, 2, 0), (1, 2, 2**63), (-1, 2, 3), (1, -2, 3)):
            with pytest.raises(InvalidInputError):
                BackupIdentifier(*bad)
        assert await _snapshot_of_objects(store_harness) == before

    # ------------------------------------------------------------------ status

    async def test_status_after_save(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        status = await store.get_status(backup.id)
        assert status.id == backup.id
        assert status.failure_reason is None
        assert status.descriptor == backup.descriptor

    async def test_status_after_mark_failed(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        before = await store.get_status(backup.id)
        assert await store.mark_failed(backup.id, "error") is BackupStatusCode.FAILED
        status = await store.get_status(backup.id)
        assert status.status_code is BackupStatusCode.FAILED
        assert status.failure_reason == "error"
        assert status.id == backup.id
        assert status.descriptor == backup.descriptor
        assert before.last_modified is not None and status.last_modified is not None
        assert status.last_modified > before.last_modified

    async def test_mark_failed_twice_keeps_first(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        await store.mark_failed(backup.id, "first")
        first = await store.get_status(backup.id)
        await store.mark_failed(backup.id, "second")
        again = await store.get_status(backup.id)
        assert again.failure_reason == "first"
        assert again.last_modified == first.last_modified

    async def test_status_of_unknown_id(self, store: BackupStore) -> None:
        status = await store.get_status(ID(1, 1, 15))
        assert status.status_code is BackupStatusCode.DOES_NOT_EXIST

    async def test_mark_failed_unknown_id(self, store: BackupStore) -> None:
        await store.mark_failed(ID(1, 1, 15), "never taken")
        status = await store.get_status(ID(1, 1, 15))
        assert status.status_code is BackupStatusCode.FAILED
        assert status.failure_reason == "never taken"

    async def test_corrupt_manifest_fails_to_parse(
        self, store: BackupStore, store_harness: StoreHarness
    ) -> None:
        backup_id = ID(1, 2, 3)
        await store.mark_failed(backup_id, "placeholder")  # claims the location
        await store_harness.put_object(store_harness.manifest_key(backup_id), b"{s")
        with pytest.raises(ManifestParseError):
            await store.get_status(backup_id)

    # ------------------------------------------------------------------ listing

    LISTING = [
        ((None, 1, 1), [(1, 1, 1), (2, 1, 1), (3, 1, 1)], [(1, 2, 1), (2, 1, 2)]),
        ((1, None, 1), [(1, 1, 1), (1, 2, 1), (1, 3, 1)], [(2, 1, 1), (1, 1, 3)]),
        ((1, 1, None), [(1, 1, 1), (1, 1, 2), (1, 1, 3)], [(1, 2, 1), (2, 1, 3)]),
        (
            (1, 1, "10*"),
            [(1, 1, 10), (1, 1, 100), (1, 1, 101)],
            [(1, 1, 1), (1, 1, 20), (2, 1, 10), (1, 2, 10)],
        ),
        ((1, None, None), [(1, 1, 3), (1, 2, 2), (1, 3, 1)], [(2, 2, 1), (3, 1, 3)]),
        ((None, None, 1), [(1, 3, 1), (2, 2, 1), (3, 1, 1)], [(1, 2, 2), (2, 1, 3)]),
        ((None, 1, None), [(1, 1, 3), (2, 1, 2), (3, 1, 1)], [(1, 2, 2), (2, 3, 3)]),
        ((None, None, None), [(1, 1, 1), (2, 2, 2), (3, 3, 3)], []),
        # partition 1 must not match 10..19, nor checkpoint 1 match 10
        ((None, 1, 1), [(1, 1, 1)], [(1, 10, 1), (1, 1, 10), (1, 11, 1)]),
    ]

    @pytest.mark.parametrize(("wildcard", "expected", "others"), LISTING)
    async def test_list_by_wildcard(
        self,
        store: BackupStore,
        backup_factory: BackupFactory,
        wildcard: tuple[int | None, int | None, int | str | None],
        expected: list[tuple[int, int, int]],
        others: list[tuple[int, int, int]],
    ) -> None:
        for n, p, c in expected + others:
            await store.save(backup_factory(ID(n, p, c), minimal=True))
        node, partition, checkpoint = wildcard
        found = await store.list(BackupIdentifierWildcard(node, partition, checkpoint))
        assert sorted(s.id for s in found) == sorted(ID(*i) for i in expected)
        assert all(s.status_code is BackupStatusCode.COMPLETED for s in found)

    async def test_list_empty_store(self, store: BackupStore) -> None:
        assert await store.list(BackupIdentifierWildcard()) == []

    # ------------------------------------------------------------------ deleting

    async def test_delete_unknown_id_succeeds(self, store: BackupStore) -> None:
        await store.delete(ID(1, 1, 15))

    async def test_delete_removes_every_object(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        keep = backup_factory(ID(1, 2, 30), minimal=True)
        await store.save(keep)
        before = set(await store_harness.list_objects())
        backup = backup_factory()
        await store.save(backup)
        await store.delete(backup.id)
        assert (await store.get_status(backup.id)).status_code is BackupStatusCode.DOES_NOT_EXIST
        assert set(await store_harness.list_objects()) == before

    async def test_delete_in_progress_fails(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        key = store_harness.manifest_key(backup.id)
        manifest = await store_harness.get_object(key)
        await store_harness.put_object(key, _as_in_progress(manifest, store_harness.manifest_form))
        with pytest.raises(InvalidBackupStateError):
            await store.delete(backup.id)
        assert (await store.get_status(backup.id)).status_code is BackupStatusCode.IN_PROGRESS

    async def test_delete_partial_backup_removes_leftovers(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        keep = backup_factory(ID(1, 2, 30), minimal=True)
        await store.save(keep)
        before = set(await store_harness.list_objects())
        backup = backup_factory()
        await store.save(backup)
        await store_harness.delete_object(store_harness.manifest_key(backup.id))
        await store.delete(backup.id)
        assert set(await store_harness.list_objects()) == before

    # ------------------------------------------------------------------ restoring

    async def test_restore_returns_original(
        self, store: BackupStore, backup_factory: BackupFactory, tmp_path: Path
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        target = tmp_path / "restored"
        restored = await store.restore(backup.id, target)
        assert restored.id == backup.id
        assert restored.descriptor == backup.descriptor
        _assert_same_files(backup, restored, target)
        assert sorted(p.name for p in target.iterdir()) == sorted(
            [*backup.snapshot, *backup.segments]
        )

    async def test_other_node_does_not_change_restore(
        self, store: BackupStore, backup_factory: BackupFactory, tmp_path: Path
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        other = backup_factory(ID(11, backup.id.partition_id, backup.id.checkpoint_id))
        await store.save(other)
        target = tmp_path / "restored"
        _assert_same_files(backup, await store.restore(backup.id, target), target)

    async def test_restore_in_progress_fails(
        self,
        store: BackupStore,
        store_harness: StoreHarness,
        backup_factory: BackupFactory,
        tmp_path: Path,
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        key = store_harness.manifest_key(backup.id)
        await store_harness.put_object(
            key, _as_in_progress(await store_harness.get_object(key), store_harness.manifest_form)
        )
        with pytest.raises(InvalidBackupStateError) as raised:
            await store.restore(backup.id, tmp_path / "restored")
        assert "IN_PROGRESS" in str(raised.value)
        assert str(backup.id.checkpoint_id) in str(raised.value)

    @pytest.mark.parametrize("damage", ["altered", "truncated"])
    async def test_restore_detects_damaged_file(
        self,
        store: BackupStore,
        store_harness: StoreHarness,
        backup_factory: BackupFactory,
        tmp_path: Path,
        damage: str,
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        key = store_harness.file_key(backup.id, "segments", "segment-file-1")
        data = bytearray(await store_harness.get_object(key))
        if damage == "altered":
            data[100] ^= 0xFF
        else:
            del data[512:]
        await store_harness.put_object(key, bytes(data))
        with pytest.raises(IntegrityError, match="segment-file-1"):
            await store.restore(backup.id, tmp_path / "restored")

    # ------------------------------------------------------------------ durability

    async def test_completed_survives_reopen(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        async with store_harness.open() as first:
            await first.save(backup)
            before = await first.get_status(backup.id)
        async with store_harness.open() as second:
            after = await second.get_status(backup.id)
        assert after.status_code is BackupStatusCode.COMPLETED
        assert after.last_modified == before.last_modified

    async def test_exact_objects_of_a_backup(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        expected = {store_harness.manifest_key(backup.id)}
        for file_set in ("snapshot", "segments"):
            for name in getattr(backup, file_set):
                expected.add(store_harness.file_key(backup.id, file_set, name))
        expected |= store_harness.extra_keys(backup.id)
        assert set(await store_harness.list_objects()) == expected

    async def test_manifest_object_is_completed(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        await store.save(backup)
        raw = await store_harness.get_object(store_harness.manifest_key(backup.id))
        manifest = decode_manifest(raw, store_harness.manifest_form)
        assert manifest.status_code is BackupStatusCode.COMPLETED
        assert manifest.created_at <= manifest.modified_at <= Instant.now()
        assert sorted(f.name for f in manifest.snapshot_files or ()) == sorted(backup.snapshot)
        assert sorted(f.name for f in manifest.segment_files or ()) == sorted(backup.segments)

    async def test_concurrent_saves_one_wins(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        backup = backup_factory()
        async with store_harness.open() as one, store_harness.open() as two:
            results = await asyncio.gather(
                one.save(backup), two.save(backup), return_exceptions=True
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            assert len(failures) == 1, results
            assert isinstance(failures[0], InvalidBackupStateError)
            assert (await one.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED

    # ------------------------------------------------------------------ Zeebe's manifests

    async def test_reads_zeebe_fixtures(self, store_harness: StoreHarness, tmp_path: Path) -> None:
        applicable = [f for f in FIXTURES if store_harness.format in f.formats]
        assert applicable, f"no fixture applies to the {store_harness.format.name} format"
        for fixture in applicable:
            key = (f"{store_harness.base_path}/" if store_harness.base_path else "") + fixture.key
            await store_harness.put_object(key, (FIXTURES_DIR / fixture.file).read_bytes())
            async with store_harness.open() as store:
                status = await store.get_status(fixture.backup_id)
                listed = await store.list(
                    BackupIdentifierWildcard(partition_id=fixture.backup_id.partition_id)
                )
            assert status.status_code is fixture.status, fixture.file
            assert [s.id for s in listed] == [fixture.backup_id], fixture.file
            assert (status.descriptor is not None) == fixture.has_descriptor, fixture.file
            if status.descriptor is not None:
                assert status.descriptor.snapshot_id == fixture.snapshot_id, fixture.file
            assert status.failure_reason == fixture.failure_reason, fixture.file
            if fixture.modified is not None:
                assert status.last_modified == fixture.modified, fixture.file
            if fixture.created is not None:
                assert status.created == fixture.created, fixture.file
            if fixture.same_created_modified:
                assert status.created == status.last_modified, fixture.file
            await store_harness.delete_object(key)


def _as_in_progress(manifest: bytes, form: ManifestForm) -> bytes:
    """The same manifest with its status rewritten to IN_PROGRESS (a crashed save)."""
    data = json.loads(manifest)
    data["statusCode"] = "in_progress" if form is ManifestForm.S3 else "IN_PROGRESS"
    return json.dumps(data, separators=(",", ":")).encode()


@pytest.mark.asyncio
@pytest.mark.conformance
class CompressionConformance:
    """For stores configured with zstd compression (S3): files over 8 MiB compress."""

    @pytest_asyncio.fixture
    async def store(self, store_harness: StoreHarness) -> AsyncIterator[BackupStore]:
        async with store_harness.open() as store:
            yield store

    async def test_large_files_compress_and_restore(
        self, store: BackupStore, store_harness: StoreHarness, tmp_path: Path
    ) -> None:
        limit = 8 * 1024 * 1024
        backup_id = ID(1, 2, 3)
        backup = make_backup(
            tmp_path / "src", backup_id, sizes={"over": limit + 1, "exact": limit, "small": 10}
        )
        over = backup.segments.sources["over"].path
        over.write_bytes((b"INFO log line that repeats\n" * (limit // 16))[: limit + 1])
        await store.save(backup)
        manifest = decode_manifest(
            await store_harness.get_object(store_harness.manifest_key(backup_id)),
            store_harness.manifest_form,
        )
        marks = {f.name: f.compression for f in manifest.segment_files or ()}
        assert marks == {"over": ZSTD, "exact": None, "small": None}
        stored = await store_harness.get_object(
            store_harness.file_key(backup_id, "segments", "over")
        )
        assert stored[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame magic
        assert len(stored) < limit // 10
        target = tmp_path / "restored"
        _assert_same_files(backup, await store.restore(backup_id, target), target)

    async def test_final_manifest_records_how_each_file_was_stored(
        self, store: BackupStore, store_harness: StoreHarness, tmp_path: Path
    ) -> None:
        """store-format.md §4: a file zstd does not shrink may be stored plain, and
        the final manifest must say so (``{}``); restore gives back the same bytes."""
        backup_id = ID(1, 2, 4)
        backup = make_backup(tmp_path / "src", backup_id, sizes={"random": 9 * 1024 * 1024})
        await store.save(backup)
        manifest = decode_manifest(
            await store_harness.get_object(store_harness.manifest_key(backup_id)),
            store_harness.manifest_form,
        )
        [entry] = manifest.segment_files or ()
        stored = await store_harness.get_object(
            store_harness.file_key(backup_id, "segments", "random")
        )
        original = backup.segments.sources["random"].path.read_bytes()
        if entry.compression == ZSTD:
            assert zstandard.ZstdDecompressor().decompressobj().decompress(stored) == original
        else:
            assert entry.compression is None and stored == original
        target = tmp_path / "restored"
        _assert_same_files(backup, await store.restore(backup_id, target), target)


__all__ = ["BackupStoreConformance", "BackupStoreError", "CompressionConformance"]
