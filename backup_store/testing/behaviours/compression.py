"""Compression: ``conformance.md`` § Life cycle, for stores configured with zstd (S3)."""

from __future__ import annotations

from pathlib import Path

import zstandard

from backup_store.contract.store import BackupStore
from backup_store.format.manifest import ZSTD
from backup_store.format.manifest_json import decode_manifest
from backup_store.testing.behaviours._base import ID, StoreScenarios, assert_same_files
from backup_store.testing.data import make_backup
from backup_store.testing.harness import StoreHarness

COMPRESSION_THRESHOLD = 8 * 1024 * 1024
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class CompressionBehaviour(StoreScenarios):
    """Only for stores configured to compress: files over 8 MiB are stored as zstd."""

    async def test_files_over_8_mib_are_stored_compressed_and_restore_byte_identical(
        self, store: BackupStore, store_harness: StoreHarness, tmp_path: Path
    ) -> None:
        """Given a log-like file of 8 MiB + 1 and random ones of exactly 8 MiB and 10 bytes,
        when they are saved, then only the first is stored as a (much smaller) zstd frame
        and marked so in the manifest, and all restore byte-identical."""
        backup_id = ID(1, 2, 3)
        sizes = {"over": COMPRESSION_THRESHOLD + 1, "exact": COMPRESSION_THRESHOLD, "small": 10}
        backup = make_backup(tmp_path / "src", backup_id, sizes=sizes)
        log_like = b"INFO log line that repeats\n" * (COMPRESSION_THRESHOLD // 16)
        backup.segments.sources["over"].path.write_bytes(log_like[: COMPRESSION_THRESHOLD + 1])

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
        assert stored[:4] == ZSTD_MAGIC, "the file over 8 MiB is not stored as a zstd frame"
        assert len(stored) < COMPRESSION_THRESHOLD // 10, "log-like data barely shrank"
        target = tmp_path / "restored"
        assert_same_files(backup, await store.restore(backup_id, target), target)

    async def test_the_final_manifest_records_how_each_file_was_stored(
        self, store: BackupStore, store_harness: StoreHarness, tmp_path: Path
    ) -> None:
        """Given a random (incompressible) file over 8 MiB, when it is saved, then it may be
        stored plain (store-format.md §4), and the final manifest says exactly how it was
        stored: a zstd frame marked zstd, or the original bytes marked ``{}``; it restores
        byte-identical."""
        backup_id = ID(1, 2, 4)
        backup = make_backup(
            tmp_path / "src", backup_id, sizes={"random": COMPRESSION_THRESHOLD + 1024 * 1024}
        )

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
            assert entry.compression is None and stored == original, (
                "a file stored plain must be recorded without compression"
            )
        target = tmp_path / "restored"
        assert_same_files(backup, await store.restore(backup_id, target), target)
