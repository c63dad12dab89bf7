"""The byte path: what holds however fast the transfers are.

Files that zstd does not shrink are stored plain and the final manifest says so;
uploads share a memory budget without losing concurrency for small files, and the
default budget sends two large files at once; restore looks up its manifest and
integrity record in one round trip.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from backup_store import Backup, BackupDescriptor, BackupIdentifier, NamedFileSet
from backup_store.concurrency import ByteBudget
from backup_store.engine import ObjectBackupStore
from backup_store.format.manifest import ZSTD, ManifestForm
from backup_store.format.manifest_json import decode_manifest
from backup_store.io import HookedIO, Request
from testbed.cloud_stores import s3_store
from testbed.emulators import S3Bucket

MIB = 1024 * 1024


async def test_incompressible_file_is_stored_plain_and_recorded_so(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    random, logs = tmp_path / "random", tmp_path / "logs"
    random.write_bytes(os.urandom(9 * MIB))
    logs.write_bytes((b"2026-11-30 INFO exported record ok\n" * (10 * MIB // 35))[: 10 * MIB])
    store = s3_store(s3_bucket, compression="zstd")
    manifests: list[bytes] = []

    async def keep_manifests(request: Request) -> None:
        # Just before the manifest is rewritten COMPLETED: the IN_PROGRESS one.
        if request.operation == "replace" and request.key.endswith("manifest.json"):
            found = await store.io.get(request.key)
            assert found is not None
            manifests.append(found.data)

    backup_id = BackupIdentifier(1, 2, 3)
    backup = Backup(
        backup_id,
        BackupDescriptor(None, 1, 1, "8.7.0"),
        segments=NamedFileSet({"random": random, "logs": logs}),
    )
    hooked = ObjectBackupStore(
        HookedIO(store.io, keep_manifests),
        kind=store.kind,
        format=store.format,
        compression="zstd",
    )
    await hooked.save(backup)
    stored = await hooked.read_manifest(backup_id)
    assert stored is not None
    marks = {e.name: e.compression for e in stored.manifest.segment_files or ()}
    assert marks == {"random": None, "logs": ZSTD}
    # The IN_PROGRESS manifest announced both as compressed (it may differ).
    [started] = [decode_manifest(m, ManifestForm.S3) for m in manifests]
    assert {e.compression for e in started.segment_files or ()} == {ZSTD}
    key = stored.layout.file_key(backup_id, "segments", "random")
    raw = await store.io.get(key)
    assert raw is not None and raw.data == random.read_bytes()
    record = await hooked.read_integrity(stored)
    assert record is not None and record["segments/random"].stored_size == 9 * MIB
    restored = await hooked.restore(backup_id, tmp_path / "restored")
    for name, source in restored.segments.sources.items():
        assert source.path.read_bytes() == (tmp_path / name).read_bytes()


async def test_budget_holds_large_transfers_but_not_small_ones() -> None:
    budget = ByteBudget(10)
    first_in, release_first = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def hold(name: str, size: int, until: asyncio.Event | None = None) -> None:
        async with budget.reserve(size):
            order.append(name)
            if until is not None:
                first_in.set()
                await until.wait()

    first = asyncio.create_task(hold("large 1", 8, release_first))
    await first_in.wait()
    second = asyncio.create_task(hold("large 2", 8))
    await hold("small", 2)  # fits beside the first large one
    assert order == ["large 1", "small"] and not second.done()
    release_first.set()
    await asyncio.gather(first, second)
    assert order == ["large 1", "small", "large 2"]
    await hold("larger than the budget", 100)  # runs alone instead of never
    assert budget.in_use == 0


def _two_large_files(tmp_path: Path) -> Backup:
    paths = {}
    for name in ("segment-0", "segment-1"):
        paths[name] = tmp_path / name
        paths[name].write_bytes(os.urandom(9 * MIB))  # above the default 8 MiB part size
    return Backup(
        BackupIdentifier(1, 2, 3), BackupDescriptor(None, 1, 1, "8.7.0"),
        segments=NamedFileSet(paths),
    )  # fmt: skip


async def test_default_settings_send_two_large_files_at_once(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    # The default upload budget holds two multipart uploads at their full parts in
    # flight: a save of two large files is not one file after the other.
    store = s3_store(s3_bucket)
    started: set[str] = set()
    both = asyncio.Event()

    async def meet(request: Request) -> None:
        if request.operation == "upload" and "/segments/" in request.key:
            started.add(request.key)
            if len(started) == 2:
                both.set()
            await asyncio.wait_for(both.wait(), timeout=30)

    hooked = ObjectBackupStore(HookedIO(store.io, meet), kind=store.kind, format=store.format)
    await hooked.save(_two_large_files(tmp_path))
    assert len(started) == 2


async def test_restore_looks_up_manifest_and_integrity_record_in_one_round_trip(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    # Every read layout's manifest and integrity record are requested before any
    # answer is awaited (S3's classic layout is the second one looked in).
    store = s3_store(s3_bucket)
    backup = _two_large_files(tmp_path)
    await store.save(backup)
    layouts = store.format.read_layouts(store.base_path)
    expected = {layout.manifest_key(backup.id) for layout in layouts} | {
        layout.integrity_key(backup.id) for layout in layouts
    }
    asked: set[str] = set()
    all_asked = asyncio.Event()

    async def gather_gets(request: Request) -> None:
        if request.operation == "get" and request.key in expected:
            asked.add(request.key)
            if asked == expected:
                all_asked.set()
            await asyncio.wait_for(all_asked.wait(), timeout=30)

    hooked = ObjectBackupStore(
        HookedIO(store.io, gather_gets), kind=store.kind, format=store.format
    )
    restored = await hooked.restore(backup.id, tmp_path / "restored")
    assert asked == expected and len(expected) == 4
    for name, source in restored.segments.sources.items():
        assert source.path.read_bytes() == (tmp_path / name).read_bytes()
