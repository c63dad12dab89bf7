"""Sample partition backups saved to a store by URL and restored through the CLI: what
the cloud migration and encryption tests share."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    NamedFileSet,
    open_store,
)
from backup_store.transfer.zstd import COMPRESSION_THRESHOLD
from tests.support.filesystem_stores import invoke

BIG = COMPRESSION_THRESHOLD + 1024 * 1024  # compressed by an S3 store with zstd on
A = BackupIdentifier(0, 1, 5)
B = BackupIdentifier(0, 2, 5)
FAILED_ID = BackupIdentifier(1, 1, 6)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def sample_files(folder: Path, *, big: bool = True) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "snapshot-1": os.urandom(2048),
        "segment-1": os.urandom(100),
        "empty.log": b"",
    }
    if big:
        contents["big.log"] = os.urandom(1024) * (BIG // 1024)  # compressible, over threshold
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return contents


async def save_sample_backups(url: str, folder: Path, *, big: bool = True) -> dict[str, bytes]:
    """Backup 5 on two partitions (one file over the compression threshold), a FAILED 6."""
    contents = await asyncio.to_thread(sample_files, folder, big=big)
    segments = [n for n in contents if n != "snapshot-1"]
    async with open_store(url) as store:
        for backup_id in (A, B):
            await store.save(
                Backup(
                    backup_id,
                    BackupDescriptor("1-2-3-4", 99, 2, "8.7.0"),
                    NamedFileSet({"snapshot-1": folder / "snapshot-1"}),
                    NamedFileSet({n: folder / n for n in segments}),
                )
            )
        await store.mark_failed(FAILED_ID, "broker 1 lost its disk")
    return contents


def restore_bytes(url: str, backup_id: BackupIdentifier, folder: Path) -> dict[str, bytes]:
    result = invoke(
        "restore",
        url,
        str(backup_id.checkpoint_id),
        "--partition",
        str(backup_id.partition_id),
        "--to",
        str(folder),
    )
    assert result.exit_code == 0, result.output
    return {p.name: p.read_bytes() for p in folder.iterdir()}
