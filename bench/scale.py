"""Listing at scale (issue 11): list-all, prefix queries, status of one id, service
start-up and concurrent lists, against raw listings measured in the same run.

Each benchmark backup has one manifest and ONE data object (a tiny segment file),
written straight through the seam with bounded concurrency (saving thousands of
backups through the store would take too long); ``--backups`` backups per
partition, 3 partitions, node 0. Stores: filesystem and S3 (moto), each also
behind a ``HookedIO`` adding 0 ms and 20 ms to every request (a sleep: no CPU).

* cold: no catalog (a store only Zeebe wrote): every manifest is read;
* warm: catalogs written by ``rebuild_catalog`` (what our writers maintain).

Usage: ``python -m bench.scale [--backups 1000] [--skip-latency]``; results go to
the ``scale`` section of ``bench/results/latest.json``. No test asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from backup_store import BackupIdentifier, BackupIdentifierWildcard, FilesystemBackupStore
from backup_store.catalog import catalog_key
from backup_store.concurrency import run_bounded
from backup_store.instant import Instant
from backup_store.manifest import FileEntry, Manifest
from backup_store.model import BackupDescriptor
from backup_store.object_backup_store import ObjectBackupStore
from backup_store.objects import HookedIO, ObjectIO, Request
from backup_store.service import BackupService
from backup_store.stores.s3 import S3BackupStore, S3Config
from tests.emulators import S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY, S3Emulator

PARTITIONS = 3
POPULATE_CONCURRENCY = 64
LATENCY_S = 0.020
RESULTS = Path(__file__).parent / "results" / "latest.json"


async def populate(store: ObjectBackupStore, backups: int) -> None:
    layout = store.format.write_layout(store.base_path, "8.7.0")
    now = Instant.now()

    async def one(partition: int, checkpoint: int) -> None:
        backup_id = BackupIdentifier(0, partition, checkpoint)
        manifest = Manifest.in_progress(
            backup_id,
            BackupDescriptor(f"{checkpoint}-1-1-1", checkpoint, PARTITIONS, "8.7.0"),
            (),
            (FileEntry("1.log"),),
            now,
        ).completed(now)
        await store.io.put(layout.file_key(backup_id, "segments", "1.log"), b"x" * 64)
        await store.io.put(layout.manifest_key(backup_id), store.format.encode(manifest, layout))

    jobs = [
        (lambda p=p, c=c: one(p, c))
        for p in range(1, PARTITIONS + 1)
        for c in range(1, backups + 1)
    ]
    await run_bounded(jobs, POPULATE_CONCURRENCY)


async def timed(action: Callable[[], Awaitable[object]], rounds: int = 3) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples), 4)


def with_latency(store: ObjectBackupStore, seconds: float) -> ObjectBackupStore:
    async def delay(_request: Request) -> None:
        await asyncio.sleep(seconds)

    return ObjectBackupStore(
        HookedIO(store.io, delay), kind=store.kind, format=store.format, base_path=store.base_path
    )


async def raw_list(io: ObjectIO, prefix: str) -> int:
    return sum([len(page) async for page in io.list(prefix)])


async def raw_prefix(io: ObjectIO, prefix: str) -> int:
    """The raw listing of a key prefix as the backend can do it: one listing starting
    after it where listings are ordered, else the matching folders."""
    folder = prefix.rpartition("/")[0]
    count = 0
    if io.capabilities.ordered_listing:
        async for page in io.list(folder, offset=prefix):
            for meta in page:
                if not meta.key.startswith(prefix):
                    return count
                count += 1
        return count
    listing = await io.list_with_delimiter(folder)
    for sub in [p for p in listing.prefixes if p.startswith(prefix)]:
        count += await raw_list(io, sub + "/")
    return count


async def drop_catalogs(store: ObjectBackupStore) -> None:
    for partition in range(1, PARTITIONS + 1):
        key = catalog_key(store.base_path, 0, partition)
        if await store.io.head(key) is not None:
            await store.io.delete([key])


async def measure(store: ObjectBackupStore, backups: int, rounds: int) -> dict[str, Any]:
    layouts = store.format.read_layouts(store.base_path)
    # The keys that must be listed to find every manifest: the S3 format's classic
    # layout keeps manifests among the data objects, so there it is everything.
    manifests_root = layouts[-1].list_prefix(BackupIdentifierWildcard())
    prefix = BackupIdentifierWildcard(partition_id=1, checkpoint="10*")
    start_after = layouts[-1].list_prefix(prefix)  # where the benchmark's backups are
    everything = BackupIdentifierWildcard()
    result: dict[str, Any] = {}
    result["raw_list_manifest_keys_s"] = await timed(lambda: raw_list(store.io, manifests_root))
    result["raw_list_prefix_s"] = await timed(lambda: raw_prefix(store.io, start_after))
    # Cold: no catalog.
    await drop_catalogs(store)
    result["cold_list_all_s"] = await timed(lambda: store.list(everything), 1)
    result["cold_prefix_s"] = await timed(lambda: store.list(prefix), rounds)
    await store.rebuild_catalog(everything)
    result["warm_list_all_s"] = await timed(lambda: store.list(everything), rounds)
    result["warm_prefix_s"] = await timed(lambda: store.list(prefix), rounds)
    one_id = BackupIdentifierWildcard(partition_id=1, checkpoint=backups // 2)
    result["status_of_one_id_s"] = await timed(lambda: store.list(one_id), rounds)
    result["warm_list_all_over_raw"] = round(
        result["warm_list_all_s"] / result["raw_list_manifest_keys_s"], 2
    )
    result["warm_prefix_over_raw"] = round(result["warm_prefix_s"] / result["raw_list_prefix_s"], 2)
    return result


async def service_figures(store: ObjectBackupStore, backups: int) -> dict[str, Any]:
    """Start-up until GET {id} answers (cold catalogs), and 200 concurrent lists."""
    await drop_catalogs(store)
    started = time.perf_counter()
    service = BackupService(store, [], node_id=0, partition_count=PARTITIONS, recovery_timeout=0)
    await service.start()
    await service.get_backup(backups // 2)
    answered = time.perf_counter() - started
    await service.wait_for_recovery()
    recovered = time.perf_counter() - started
    begin = time.perf_counter()
    lists = await asyncio.gather(*(service.list_backups() for _ in range(200)))
    concurrent = time.perf_counter() - begin
    await service.close()
    correct = sum(1 for infos in lists if len(infos) == backups)
    return {
        "startup_until_get_answers_s": round(answered, 3),
        "background_recovery_done_s": round(recovered, 3),
        "concurrent_200_lists_s": round(concurrent, 3),
        "concurrent_200_lists_correct": correct,
    }


async def run_store(
    name: str, store: ObjectBackupStore, backups: int, latency: bool
) -> dict[str, Any]:
    print(f"[scale] {name}: populating {backups} x {PARTITIONS} backups", flush=True)
    begin = time.perf_counter()
    await populate(store, backups)
    figures: dict[str, Any] = {"populate_s": round(time.perf_counter() - begin, 1)}
    variants = [("direct", store), ("hooked_0ms", with_latency(store, 0.0))]
    if latency:
        variants.append(("hooked_20ms", with_latency(store, LATENCY_S)))
    for variant, measured in variants:
        print(f"[scale] {name} {variant}", flush=True)
        rounds = 1 if variant == "hooked_20ms" else 3
        figures[variant] = await measure(measured, backups, rounds)
    figures["service"] = await service_figures(store, backups)
    return figures


async def main(backups: int, latency: bool = True) -> dict[str, Any]:
    results: dict[str, Any] = {
        "backups_per_partition": backups,
        "partitions": PARTITIONS,
        "data_files_per_backup": 1,
        "latency_ms": LATENCY_S * 1000,
    }
    with tempfile.TemporaryDirectory() as tmp:
        fs = FilesystemBackupStore(Path(tmp) / "store")
        results["filesystem"] = await run_store("filesystem", fs, backups, latency)
    with S3Emulator() as emulator:
        bucket = emulator.create_bucket()
        config = S3Config(
            bucket=bucket.name,
            endpoint=bucket.endpoint,
            region=S3_REGION,
            access_key_id=S3_ACCESS_KEY_ID,
            secret_access_key=S3_SECRET_ACCESS_KEY,
            force_path_style=True,
            base_path="bp",
        )
        results["s3_moto"] = await run_store("s3 (moto)", S3BackupStore(config), backups, latency)
    save(results)
    print(json.dumps(results, indent=2))
    return results


def save(results: dict[str, Any]) -> None:
    """Write the ``scale`` section of latest.json, keeping the other sections."""
    RESULTS.parent.mkdir(exist_ok=True)
    current: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            current = json.loads(RESULTS.read_text())
        except ValueError:
            current = {}
    current["scale"] = results
    RESULTS.write_text(json.dumps(current, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backups", type=int, default=1000)
    parser.add_argument("--skip-latency", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.backups, not arguments.skip_latency))
