"""Throughput of save and restore, each against a baseline measured in the same run.

* filesystem store vs. ``shutil.copyfile`` + ``fsync`` of the same files (the floor
  of any durable copy);
* S3 store (moto on 127.0.0.1) vs. plain obstore puts/gets of the same files, so the
  ratio shows what manifests, hashing, integrity records and conditional writes cost.

Usage: ``python -m bench [--mib 256] [--files 4] [--rounds 3]``. Results are printed
as a table and written to ``bench/results/latest.json``. Timings are for comparison
within one run on one machine; no test asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import obstore
from obstore.store import S3Store

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    FilesystemBackupStore,
    NamedFileSet,
    ObjectBackupStore,
)
from backup_store.stores.s3 import S3BackupStore, S3Config
from tests.emulators import S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY, S3Emulator


def make_files(folder: Path, files: int, mib: int) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i in range(files):
        path = folder / f"segment-{i}.log"
        with path.open("wb") as out:
            for _ in range(mib // files):
                out.write(os.urandom(1024 * 1024))
        paths[path.name] = path
    return paths


def durable_copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    with target.open("rb+") as written:
        os.fsync(written.fileno())


async def timed(action: Callable[[], Awaitable[object]], rounds: int) -> float:
    """Median seconds of ``rounds`` runs."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


class Counter:
    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


async def bench_store(
    name: str,
    store: ObjectBackupStore,
    paths: dict[str, Path],
    work: Path,
    rounds: int,
    baseline_save: Callable[[], Awaitable[object]],
    baseline_restore: Callable[[], Awaitable[object]],
) -> dict[str, float]:
    ids = Counter()
    last: list[BackupIdentifier] = []

    async def save() -> None:
        backup_id = BackupIdentifier(0, 1, ids.next())
        last.append(backup_id)
        descriptor = BackupDescriptor(None, 1, 1, "8.7.0")
        await store.save(Backup(backup_id, descriptor, segments=NamedFileSet(paths)))

    async def restore() -> None:
        target = work / f"restore-{name}-{ids.next()}"
        await store.restore(last[0], target)
        shutil.rmtree(target)

    return {
        "baseline_save_s": await timed(baseline_save, rounds),
        "save_s": await timed(save, rounds),
        "baseline_restore_s": await timed(baseline_restore, rounds),
        "restore_s": await timed(restore, rounds),
    }


async def main(mib: int, files: int, rounds: int) -> None:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = make_files(work / "source", files, mib)

        copies = Counter()

        async def copy_files() -> None:
            target = work / f"copy-{copies.next()}"
            target.mkdir()
            await asyncio.gather(
                *(asyncio.to_thread(durable_copy, p, target / n) for n, p in paths.items())
            )
            shutil.rmtree(target)

        fs = FilesystemBackupStore(work / "fs-store")
        results["filesystem"] = await bench_store(
            "fs", fs, paths, work, rounds, copy_files, copy_files
        )

        with S3Emulator() as emulator:
            bucket = emulator.create_bucket()
            config = S3Config(
                bucket=bucket.name,
                endpoint=bucket.endpoint,
                region=S3_REGION,
                access_key_id=S3_ACCESS_KEY_ID,
                secret_access_key=S3_SECRET_ACCESS_KEY,
                force_path_style=True,
            )
            s3 = S3BackupStore(config)
            raw = config.open_obstore("S3", S3Store)  # the same client, outside the seam

            async def put_raw() -> None:
                await asyncio.gather(
                    *(
                        obstore.put_async(
                            raw,
                            f"raw/{n}",
                            p,
                            chunk_size=s3.io.part_size,
                            max_concurrency=s3.io.part_concurrency,
                        )
                        for n, p in paths.items()
                    )
                )

            async def get_raw() -> None:
                async def one(name: str) -> None:
                    result = await obstore.get_async(raw, f"raw/{name}")
                    async for _ in result.stream(min_chunk_size=1024 * 1024):
                        pass

                await asyncio.gather(*(one(n) for n in paths))

            results["s3"] = await bench_store("s3", s3, paths, work, rounds, put_raw, get_raw)

    print(f"{mib} MiB in {files} files, median of {rounds} rounds")
    print(f"{'store':<12}{'op':<9}{'baseline MB/s':>15}{'ours MB/s':>12}{'ours/baseline':>15}")
    for store_name, r in results.items():
        for op in ("save", "restore"):
            base = mib / r[f"baseline_{op}_s"]
            ours = mib / r[f"{op}_s"]
            print(f"{store_name:<12}{op:<9}{base:>15.1f}{ours:>12.1f}{ours / base:>15.2f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"mib": mib, "files": files, **results}, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--scale-backups", type=int, default=1000,
        help="backups per partition of the listing benchmark (bench/scale.py; 0 skips it)",
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.mib, arguments.files, arguments.rounds))
    if arguments.scale_backups:
        from bench import scale  # its own section of latest.json

        asyncio.run(scale.main(arguments.scale_backups))
