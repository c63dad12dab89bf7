"""Stores holding many backups, written fast: straight through the seam, as Zeebe would
(no catalog), with bounded concurrency. Shared by the scale tests and ``bench.scale``."""

from __future__ import annotations

from backup_store.concurrency import run_bounded
from backup_store.engine import ObjectBackupStore
from backup_store.format.instant import Instant
from backup_store.format.manifest import FileEntry, Manifest
from backup_store.model import BackupDescriptor, BackupIdentifier

DATA_FILES_PER_BACKUP = 1
"""Each backup has one small segment file besides its manifest."""
WRITE_CONCURRENCY = 64


async def populate(
    store: ObjectBackupStore,
    backups: int,
    partitions: int,
    *,
    node_id: int = 0,
    concurrency: int = WRITE_CONCURRENCY,
) -> None:
    """COMPLETED backups 1..``backups`` of ``partitions`` partitions of one node, each
    with its manifest and one 64-byte data file, in the store's write layout."""
    layout = store.format.write_layout(store.base_path, "8.7.0")
    now = Instant.now()

    async def one(partition: int, checkpoint: int) -> None:
        backup_id = BackupIdentifier(node_id, partition, checkpoint)
        manifest = Manifest.in_progress(
            backup_id,
            BackupDescriptor(f"{checkpoint}-1-1-1", checkpoint, partitions, "8.7.0"),
            (),
            (FileEntry("1.log"),),
            now,
        ).completed(now)
        await store.io.put(layout.file_key(backup_id, "segments", "1.log"), b"x" * 64)
        await store.io.put(layout.manifest_key(backup_id), store.format.encode(manifest, layout))

    jobs = [
        (lambda p=p, c=c: one(p, c))
        for p in range(1, partitions + 1)
        for c in range(1, backups + 1)
    ]
    await run_bounded(jobs, concurrency)
