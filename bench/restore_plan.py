"""The restore-planning benchmark: planning a point-in-time restore of 32 partitions x
10,000 checkpoints (500 in quick mode), as a ratio to listing the same backups.

On a filesystem store, the manifests of 32 partitions are written as a Zeebe 8.9 broker
writes them (one node per partition, each log continuing the one before), with each
partition's metadata file. Measured (the best of two rounds in quick mode, one in full):

* ``list``: ``store.list()`` of every backup (no catalog: every manifest is read);
* ``plan (metadata files)``: ``tools.point_in_time.plan`` with the metadata files
  (each file read, the manifest keys listed, no manifest read);
* after ``catalog rebuild`` and with the metadata files removed, ``list`` again and
  ``plan (catalog)``, which lists through the catalog.

Usage: ``python -m bench.restore_plan [--quick]``. Results go to the ``restore_plan``
section of ``bench/results/latest.json``. No test asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from backup_store import BackupDescriptor, BackupIdentifier
from backup_store.format.instant import Instant
from backup_store.format.keys import partition_metadata_key
from backup_store.format.manifest import Manifest
from backup_store.model import CheckpointType
from backup_store.stores.filesystem import FilesystemBackupStore
from backup_store.tools.point_in_time import plan
from backup_store.tools.restore_plan import PlanRequest

PARTITIONS = 32
START = Instant.parse_iso("2026-01-01T00:00:00Z")
MINUTE = 60 * 10**9


def write_history(root: Path, checkpoints: int) -> None:
    """The manifests and metadata files, written straight into the store's folder."""
    store = FilesystemBackupStore(root)
    layout = store.format.write_layout(None, "8.9.0")
    for partition in range(1, PARTITIONS + 1):
        entries = []
        for checkpoint in range(1, checkpoints + 1):
            taken = Instant(START.epoch_nanos + checkpoint * MINUTE)
            position, first = checkpoint * 100, (checkpoint - 1) * 100 + 1
            descriptor = BackupDescriptor(
                f"{checkpoint}-1-{position}-{position}",
                position,
                PARTITIONS,
                "8.9.0",
                first,
                taken,
                CheckpointType.SCHEDULED_BACKUP,
            )
            backup_id = BackupIdentifier(partition % 3, partition, checkpoint)
            manifest = Manifest.in_progress(backup_id, descriptor, (), (), taken).completed(taken)
            path = root / layout.manifest_key(backup_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(store.format.encode(manifest, layout))
            entries.append(
                {
                    "checkpointId": checkpoint,
                    "checkpointPosition": position,
                    "checkpointTimestamp": taken.iso(),
                    "checkpointType": "SCHEDULED_BACKUP",
                    "firstLogPosition": first,
                }
            )
        document = {
            "partitionId": partition,
            "sequenceNumber": 1,
            "lastUpdated": START.iso(),
            "checkpoints": entries,
            "ranges": [{"start": 1, "end": checkpoints}],
        }
        metadata = root / partition_metadata_key(None, partition)
        metadata.parent.mkdir(parents=True, exist_ok=True)
        metadata.write_text(json.dumps(document))


async def best_of(
    rounds: int, run: Callable[[FilesystemBackupStore], Awaitable[Any]], root: Path
) -> float:
    times = []
    for _ in range(rounds):
        async with FilesystemBackupStore(root) as store:
            started = time.perf_counter()
            await run(store)
            times.append(time.perf_counter() - started)
    return min(times)


async def list_all(store: FilesystemBackupStore) -> None:
    await store.list()


async def plan_all(store: FilesystemBackupStore) -> None:
    planned = await plan(store, PlanRequest())
    assert all(len(chain) >= 1 for chain in planned.chains.values())


async def main(quick: bool) -> dict[str, Any]:
    checkpoints = 500 if quick else 10_000
    rounds = 2 if quick else 1  # (full mode: a round of each takes minutes)
    results: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "partitions": PARTITIONS,
        "checkpoints": checkpoints,
    }
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "store"
        started = time.perf_counter()
        await asyncio.to_thread(write_history, root, checkpoints)
        results["written_seconds"] = round(time.perf_counter() - started, 2)
        listing = await best_of(rounds, list_all, root)
        with_metadata = await best_of(rounds, plan_all, root)
        async with FilesystemBackupStore(root) as store:
            await store.rebuild_catalog()
        for partition in range(1, PARTITIONS + 1):
            (root / partition_metadata_key(None, partition)).unlink()
        listing_catalog = await best_of(rounds, list_all, root)
        with_catalog = await best_of(rounds, plan_all, root)
    results.update(
        {
            "list_seconds": round(listing, 3),
            "plan_metadata_seconds": round(with_metadata, 3),
            "plan_metadata_ratio": round(with_metadata / listing, 3),
            "list_catalog_seconds": round(listing_catalog, 3),
            "plan_catalog_seconds": round(with_catalog, 3),
            "plan_catalog_ratio": round(with_catalog / listing_catalog, 3),
        }
    )
    out = Path(__file__).parent / "results" / "latest.json"
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing["restore_plan"] = results
    out.write_text(json.dumps(existing, indent=2) + "\n")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 checkpoints per partition")
    found = asyncio.run(main(parser.parse_args().quick))
    print(
        f"restore plan, {found['partitions']} partitions x {found['checkpoints']} checkpoints: "
        f"list {found['list_seconds']} s; "
        f"plan from metadata files {found['plan_metadata_seconds']} s "
        f"({found['plan_metadata_ratio']} x listing); with the catalog: list "
        f"{found['list_catalog_seconds']} s, plan {found['plan_catalog_seconds']} s "
        f"({found['plan_catalog_ratio']} x listing)"
    )
