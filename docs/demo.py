"""Create the example stores of docs/operator-guide.md (``make demo``).

    python docs/demo.py [ROOT]        # ROOT defaults to /tmp/guide; it is replaced

It needs the runtime dependencies only (``make serve``'s venv): the test data it uses
(``backup_store.testing.data`` and the project's ``testbed.histories``) imports
neither pytest nor the conformance kit.

Under ROOT, all as filesystem stores:

* ``backups``: a 3-partition cluster (node n leads partition n+1). Backup 100
  COMPLETED on every partition; backup 200 COMPLETED on partitions 1 and 2, FAILED
  on 3 ("No space left on device"). Each partition backup: 3 snapshot files and
  one 4 MiB segment.
* ``scratch``: a copy of ``backups`` to delete from; ``damaged``: a copy with
  ``snapshot/CURRENT`` of partition 1 deleted, the segment of partition 2
  truncated to 1,000,000 bytes and one byte of ``000012.sst`` of partition 3
  overwritten (backup 100).
* ``large``: backup 7 of node 0 on 4 partitions, 2 files and 20 MiB each;
  ``large-copy``: what a migration of it interrupted while copying partition 3
  leaves (1 and 2 copied, 3 FAILED, 4 absent).
* ``zeebe``: backup 43 as Zeebe 8.7 writes it, from the ``common-completed.json``
  fixture (no integrity record); ``foreign``: a location claimed by the S3 store
  kind; ``empty``: a store folder with no backup; ``not-empty``: a folder with a file in it.
* ``history`` and its copy ``history-copy``: backup ids 1 to 9 of two partitions,
  30 days to one day old, id 4 left IN_PROGRESS by a dead node, id 5 with a torn
  manifest (``testbed.histories``), for ``prune``.
* ``timeline``: Camunda 8.9 backups 1 to 4 of two partitions, taken at 01:00 to
  04:00 on 2026-12-01, each log continuing the one before but partition 2's backup
  3 (a gap: its log starts later), for ``restore plan`` and a restore to a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sys
from pathlib import Path

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    FilesystemBackupStore,
    NamedFileSet,
)
from backup_store.format.instant import Instant
from backup_store.model import CheckpointType
from backup_store.service import CANCELLED_REASON
from backup_store.testing.data import FIXTURES_DIR
from backup_store.tools.migrate import migrate

# The crafted histories live in the project's testbed/ (beside the tests' other
# shared data), one folder up from this script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from testbed.histories import craft, history

MIB = 1024 * 1024
BROKER_VERSION = "8.7.0"


def _bytes(seed: str, size: int) -> bytes:
    """Deterministic, incompressible bytes: the same demo makes the same checksums."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64  # 2 KiB per step keeps generation fast
    return bytes(out[:size])


def _write(folder: Path, files: dict[str, int], seed: str) -> NamedFileSet:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in files.items():
        (folder / name).write_bytes(_bytes(f"{seed}/{name}", size))
    return NamedFileSet({name: folder / name for name in files})


def _partition_backup(work: Path, checkpoint: int, partition: int, partitions: int) -> Backup:
    node = partition - 1
    folder = work / f"{checkpoint}-{partition}"
    snapshot = _write(
        folder / "snapshot",
        {"000012.sst": 2 * MIB, "CURRENT": 16, "MANIFEST-000005": 1200},
        f"{checkpoint}/{partition}",
    )
    segments = _write(
        folder / "segments",
        {f"raft-partition-partition-{partition}-1.log": 4 * MIB},
        f"{checkpoint}/{partition}",
    )
    position = checkpoint + partition
    descriptor = BackupDescriptor(
        f"{checkpoint // 10}-1-{position}-{checkpoint}", position, partitions, BROKER_VERSION
    )
    return Backup(BackupIdentifier(node, partition, checkpoint), descriptor, snapshot, segments)


async def _cluster(root: Path, work: Path) -> None:
    async with FilesystemBackupStore(root / "backups") as store:
        for checkpoint in (100, 200):
            for partition in (1, 2, 3):
                if (checkpoint, partition) == (200, 3):
                    await store.mark_failed(BackupIdentifier(2, 3, 200), "No space left on device")
                else:
                    await store.save(_partition_backup(work, checkpoint, partition, 3))
    shutil.copytree(root / "backups", root / "scratch")
    shutil.copytree(root / "backups", root / "damaged")
    contents = root / "damaged" / "contents"
    (contents / "1/100/0/snapshot/CURRENT").unlink()
    with (contents / "2/100/1/segments/raft-partition-partition-2-1.log").open("r+b") as segment:
        segment.truncate(1_000_000)
    with (contents / "3/100/2/snapshot/000012.sst").open("r+b") as sst:
        sst.seek(1000)
        byte = sst.read(1)
        sst.seek(1000)
        sst.write(bytes([byte[0] ^ 0xFF]))


async def _large(root: Path, work: Path) -> None:
    async with FilesystemBackupStore(root / "large") as store:
        for partition in (1, 2, 3, 4):
            folder, seed = work / f"large-{partition}", f"large/{partition}"
            snapshot = _write(folder, {"snapshot.db": 4 * MIB}, seed)
            segment = f"raft-partition-partition-{partition}-1.log"
            segments = _write(folder, {segment: 16 * MIB}, seed)
            descriptor = BackupDescriptor(f"7-1-{partition}-7", partition, 4, BROKER_VERSION)
            backup_id = BackupIdentifier(0, partition, 7)
            await store.save(Backup(backup_id, descriptor, snapshot, segments))
        async with FilesystemBackupStore(root / "large-copy") as copy:
            for partition in (1, 2, 3):
                selected = BackupIdentifierWildcard(partition_id=partition)
                await migrate(store, copy, wildcard=selected)
            await copy.mark_failed(BackupIdentifier(0, 3, 7), CANCELLED_REASON)


# Per partition: checkpoint -> (checkpoint position, first log position).
TIMELINE = {
    1: {1: (100, 1), 2: (200, 90), 3: (300, 180), 4: (400, 290)},
    2: {1: (110, 1), 2: (210, 100), 3: (310, 260), 4: (410, 300)},
}


async def _timeline(root: Path, work: Path) -> None:
    async with FilesystemBackupStore(root / "timeline") as store:
        for partition, checkpoints in TIMELINE.items():
            for checkpoint, (position, first) in checkpoints.items():
                folder, seed = (
                    work / f"timeline-{partition}-{checkpoint}",
                    f"t/{partition}/{checkpoint}",
                )
                snapshot = _write(folder / "snapshot", {"000001.sst": 20_000, "CURRENT": 16}, seed)
                segment = f"raft-partition-partition-{partition}-{checkpoint}.log"
                segments = _write(folder / "segments", {segment: 50_000}, seed)
                taken = Instant.parse_iso(f"2026-12-01T0{checkpoint}:00:00Z")
                descriptor = BackupDescriptor(
                    f"{checkpoint}-1-{position}-{position}",
                    position,
                    2,
                    "8.9.0",
                    first,
                    taken,
                    CheckpointType.SCHEDULED_BACKUP,
                )
                backup_id = BackupIdentifier(partition - 1, partition, checkpoint)
                await store.save(Backup(backup_id, descriptor, snapshot, segments))


def _zeebe(root: Path) -> None:
    base = root / "zeebe"
    manifest = base / "manifests/2/43/1/manifest.json"
    manifest.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURES_DIR / "common-completed.json", manifest)
    contents = base / "contents/2/43/1"
    _write(contents / "snapshot", {"snapshotFile1": 4000, "snapshotFile2": 3000}, "zeebe")
    _write(contents / "segments", {"segmentFile1": 3000}, "zeebe")


def _foreign(root: Path) -> None:
    (root / "foreign").mkdir()
    (root / "foreign" / ".backup-store.json").write_text('{"storeKind": "s3", "format": 1}')


async def create(root: Path) -> None:
    """Replace ``root`` with the guide's example stores."""
    shutil.rmtree(root, ignore_errors=True)
    work = root / ".work"
    await _cluster(root, work)
    await _large(root, work)
    await _timeline(root, work)
    _zeebe(root)
    _foreign(root)
    async with FilesystemBackupStore(root / "history") as store:
        await craft(store, history(), Instant(Instant.now().epoch_nanos // 10**9 * 10**9))
    shutil.copytree(root / "history", root / "history-copy")
    (root / "empty").mkdir()  # a store folder with no backup yet
    (root / "not-empty").mkdir()
    (root / "not-empty" / "notes.txt").write_text("already here\n")
    shutil.rmtree(work)


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "/tmp/guide").absolute()  # noqa: S108
    asyncio.run(create(root))
    print(f"Example stores of docs/operator-guide.md created under {root}:")
    for path in sorted(root.iterdir()):
        print(f"  file://{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
