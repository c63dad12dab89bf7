"""A process that saves, marks failed and deletes backups until it is killed (kill -9 stress).

``python -m tests.stress.saver STORE_URL WORK_DIR SEED``: saves backups of
increasing checkpoint ids (partition 1, node 0) of one partition folder whose files
are rewritten with random bytes now and then (the others are copied inside the store
from the previous backup: incremental saves are killed too), and now and then deletes
or marks failed an earlier one, printing each finished step.
``STRESS_SHARD_ENTRIES`` shrinks the catalog's shards so that kills land mid-split.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    NamedFileSet,
    catalog,
    open_store,
)
from backup_store.errors import InvalidBackupStateError


async def run(url: str, work: Path, seed: int) -> None:
    rng = random.Random(seed)
    async with open_store(url) as store:
        ids = await store.list_ids(BackupIdentifierWildcard())
        checkpoint = max((i.checkpoint_id for i in ids), default=0)
        while True:
            checkpoint += 1
            backup_id = BackupIdentifier(0, 1, checkpoint)
            folder = work / "partition"
            folder.mkdir(parents=True, exist_ok=True)
            files = {}
            for index in range(rng.randint(1, 4)):
                path = folder / f"file-{index}"
                if not path.exists() or rng.random() < 0.3:
                    size = rng.choice([0, 1, 4096, 300_000, 6 * 1024 * 1024])
                    path.write_bytes(os.urandom(size))
                files[path.name] = path
            # Both life cycles: FAILED claims (8.7) and DELETED tombstones (8.9+).
            version = rng.choice(["8.7.0", "8.9.0"])
            descriptor = BackupDescriptor(None, checkpoint, 1, version)
            await store.save(Backup(backup_id, descriptor, NamedFileSet(), NamedFileSet(files)))
            copied = store.counters.files_copied
            print(f"saved {backup_id}, {copied} files copied so far", flush=True)
            if checkpoint > 1 and rng.random() < 0.4:
                earlier = BackupIdentifier(0, 1, rng.randint(1, checkpoint - 1))
                if rng.random() < 0.5:
                    await store.mark_failed(earlier, "stress")
                try:
                    await store.delete(earlier)
                    print(f"deleted {earlier}", flush=True)
                except InvalidBackupStateError:
                    pass  # IN_PROGRESS, left by an earlier kill


if __name__ == "__main__":
    catalog.codec.SHARD_ENTRIES = int(
        os.environ.get("STRESS_SHARD_ENTRIES", catalog.codec.SHARD_ENTRIES)
    )
    asyncio.run(run(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
