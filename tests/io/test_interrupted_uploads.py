"""Interrupted uploads.

A cancelled save leaves no unfinished multipart upload on S3 (moto, listed with
ListMultipartUploads), and ``verify`` reports objects under a backup's prefix
that its manifest does not account for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
    FileEntry,
    FilesystemBackupStore,
    Instant,
    Manifest,
)
from backup_store.contract.inspectable import FileToStore
from backup_store.engine.save import CANCELLED_REASON
from backup_store.tools.verify import ProblemKind, VerifyLevel, verify_store
from testbed.cloud_stores import s3_store
from testbed.emulators import S3Bucket
from tests.support.api_server import wait_until
from tests.support.backends import unfinished_uploads

BACKUP_ID = BackupIdentifier(1, 2, 3)
MIB = 1024 * 1024
PART = 5 * MIB


async def test_cancelled_save_leaves_no_unfinished_multipart_upload(s3_bucket: S3Bucket) -> None:
    store = s3_store(s3_bucket, "zeebe", part_size=PART)
    resume = asyncio.Event()

    async def big_file() -> AsyncIterator[bytes]:
        for _ in range(2):  # two whole parts: the multipart upload is under way
            yield b"x" * PART
        await resume.wait()  # ... and more bytes come only once the test says so
        for _ in range(2):
            yield b"y" * PART

    descriptor = BackupDescriptor(None, 1, 3, "8.7.0")
    manifest = Manifest.in_progress(BACKUP_ID, descriptor, (), (FileEntry("big"),), Instant.now())
    file = FileToStore("segments", "big", 4 * PART, big_file)
    saving = asyncio.create_task(store.write_backup(manifest, [file]))
    await asyncio.to_thread(
        wait_until, lambda: bool(unfinished_uploads(s3_bucket)), what="the multipart upload"
    )

    saving.cancel()
    resume.set()  # the source goes on (a local file would): the upload must still stop
    with contextlib.suppress(asyncio.CancelledError):
        await saving
    assert unfinished_uploads(s3_bucket) == []
    status = await store.get_status(BACKUP_ID)
    assert status.status_code is BackupStatusCode.FAILED
    assert status.failure_reason == CANCELLED_REASON
    assert await store.io.head(store.file_key(
        await store.read_manifest(BACKUP_ID),  # type: ignore[arg-type]
        "segments",
        FileEntry("big"),
    )) is None  # fmt: skip


async def test_verify_reports_objects_no_manifest_accounts_for(
    backup_factory: Callable[..., Backup], tmp_path: Path
) -> None:
    store = FilesystemBackupStore(tmp_path / "store")
    await store.save(backup_factory(BACKUP_ID))
    stored = await store.read_manifest(BACKUP_ID)
    assert stored is not None
    stray = stored.layout.file_key(BACKUP_ID, "segments", "left-by-a-killed-save")
    await store.io.put(stray, b"partial")

    report = await verify_store(store, level=VerifyLevel.PRESENCE)
    assert not report.ok
    [problem] = report.all_problems
    assert problem.kind is ProblemKind.UNACCOUNTED
    assert problem.key == stray
    assert "no manifest accounts for" in str(problem)
