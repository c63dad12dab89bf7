"""The incremental-save benchmark: a second backup with 10 % of the bytes changed,
side by side with a full backup of the same files in the same run.

A partition of 64 files (1 GiB; 256 MiB in quick mode) is saved; then 10 % of its
files (7 of 64) are rewritten with other bytes and the partition is saved twice more,
incrementally (the default) and in full (``incremental=False``), each as a new backup
id, in alternating order; three such repetitions, the time ratio given as median,
min and max, with the machine's load before and after. Per backend: bytes sent (the store's
``counters.bytes_uploaded``, what the transfers took from the files), files and bytes
copied inside the store, the time of each save, its requests by operation (counted at
the seam) and the CPU seconds it cost this process, the emulator's processes and the
latency proxy's (the emulators copy and receive objects on the same cores: moto and the
GCS adapter copy an object by reading and writing it whole). The cloud stores are
reached through :mod:`bench.latency_proxy`, 20 ms per round trip; on the filesystem the
store's growth (each inode counted once: a hard link costs nothing) is reported instead
of bytes sent. Azure's copies include asking until each is done (Copy Blob may answer
while it is pending).

Usage: ``python -m bench.incremental [--quick] [--only fs,s3,gcs,azure]``. Results go to
the ``incremental`` section of ``bench/results/latest.json``. No test asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from backup_store import Backup, BackupDescriptor, BackupIdentifier, NamedFileSet
from backup_store.engine import ObjectBackupStore
from backup_store.io import HookedIO, Request
from backup_store.stores.filesystem import FilesystemBackupStore
from bench.__main__ import cpu_seconds, load
from bench.transfers import proxied
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from testbed.emulators import AzureEmulator, GcsEmulator, S3Emulator

MIB = 1024 * 1024
FILES = 64
CHANGED = 7
"""Files rewritten before the second backup: 7 of 64, 10.9 % of the bytes."""
LATENCY_MS = 20


def make_partition(folder: Path, total_mib: int) -> list[Path]:
    folder.mkdir(parents=True)
    size = total_mib * MIB // FILES
    paths = []
    for n in range(FILES):
        path = folder / f"{n:06d}.sst"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def backup_of(checkpoint: int, paths: list[Path]) -> Backup:
    return Backup(
        BackupIdentifier(0, 1, checkpoint),
        BackupDescriptor(f"{checkpoint}-1-1-1", checkpoint, 1, "8.7.0"),
        NamedFileSet({}),
        NamedFileSet({path.name: path for path in paths}),
    )


class Watched:
    """What one save costs besides its time: requests through the seam by operation,
    and CPU seconds of this process and of other processes (emulator, proxy)."""

    def __init__(self, store: ObjectBackupStore, others: dict[str, list[int]]) -> None:
        self.requests: Counter[str] = Counter()
        self.others = {name: [psutil.Process(pid) for pid in pids] for name, pids in others.items()}

        async def count(request: Request) -> None:
            self.requests[request.operation] += 1

        store.wrap_io(lambda io: HookedIO(io, count))

    def cpu(self) -> dict[str, float]:
        spent = {"ours": cpu_seconds()}
        for name, processes in self.others.items():
            times = [process.cpu_times() for process in processes]
            spent[name] = sum(
                t.user + t.system + t.children_user + t.children_system for t in times
            )
        return spent


def proxy_pids() -> list[int]:
    """The latency proxies this process started."""
    return [
        child.pid
        for child in psutil.Process().children()
        if "bench.latency_proxy" in " ".join(child.cmdline())
    ]


def store_bytes(root: Path) -> int:
    """Bytes of the files under ``root``, each inode once."""
    seen: dict[tuple[int, int], int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            found = path.stat()
            seen[(found.st_dev, found.st_ino)] = found.st_size
    return sum(seen.values())


async def timed_save(
    store: ObjectBackupStore, backup: Backup, incremental: bool, watched: Watched
) -> dict[str, Any]:
    store.incremental = incremental
    counters = store.counters
    before = (counters.bytes_uploaded, counters.bytes_copied, counters.files_copied)
    watched.requests.clear()
    cpu_before = watched.cpu()
    started = time.perf_counter()
    await store.save(backup)
    seconds = time.perf_counter() - started
    cpu_after = watched.cpu()
    return {
        "seconds": round(seconds, 3),
        "bytes_sent": counters.bytes_uploaded - before[0],
        "bytes_copied": counters.bytes_copied - before[1],
        "files_copied": counters.files_copied - before[2],
        "cpu_seconds": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_after},
        "requests": dict(sorted(watched.requests.items())),
    }


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
    }


async def measure(
    name: str,
    store: ObjectBackupStore,
    paths: list[Path],
    root: Path | None,
    repetitions: int,
    watched: Watched,
) -> dict[str, Any]:
    """Per repetition: a base backup, 10 % of the files rewritten, then the incremental
    and the full save of the same files, their order alternating (the incremental one
    always has the lower id, so its source is the base backup, never the full one)."""
    runs: list[dict[str, Any]] = []
    for repetition in range(repetitions):
        base = 10 * (repetition + 1)
        store.incremental = True  # an ordinary save: its record names its objects
        await store.save(backup_of(base, paths))
        for path in paths[:CHANGED]:
            path.write_bytes(os.urandom(path.stat().st_size))
        order = [True, False] if repetition % 2 == 0 else [False, True]
        run: dict[str, Any] = {}
        for incremental in order:
            grown = store_bytes(root) if root is not None else 0
            checkpoint = base + (1 if incremental else 2)
            figures = await timed_save(store, backup_of(checkpoint, paths), incremental, watched)
            if root is not None:
                figures["store_growth"] = store_bytes(root) - grown
            run["incremental" if incremental else "full"] = figures
        runs.append(run)
    last = runs[-1]
    result: dict[str, Any] = {"repetitions": repetitions, "incremental": last["incremental"]}
    result["full"] = last["full"]
    # Every repetition's times and CPU seconds, in the order they ran.
    result["runs"] = [
        {
            kind: {"seconds": run[kind]["seconds"], "cpu_seconds": run[kind]["cpu_seconds"]}
            for kind in run
        }
        for run in runs
    ]
    result["bytes_sent_ratio"] = round(
        last["incremental"]["bytes_sent"] / max(last["full"]["bytes_sent"], 1), 3
    )
    result["time_ratio"] = spread(
        [r["incremental"]["seconds"] / max(r["full"]["seconds"], 1e-9) for r in runs]
    )
    if root is not None:
        result["growth_ratio"] = round(
            last["incremental"]["store_growth"] / max(last["full"]["store_growth"], 1), 3
        )
    print(f"  {name}: {json.dumps(result)}", flush=True)
    return result


async def main(quick: bool, only: set[str]) -> None:
    total = 256 if quick else 1024
    repetitions = 3
    results: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "partition_mib": total,
        "load_before": load(),
    }
    print(
        f"incremental benchmark: {FILES} files, {total} MiB, {CHANGED} changed, "
        f"{repetitions} interleaved repetitions; {results['load_before']}",
        flush=True,
    )
    makers: dict[str, tuple[Any, Callable[[Any], ObjectBackupStore]]] = {
        "s3": (S3Emulator, lambda b: s3_store(b, "inc")),
        "gcs": (GcsEmulator, gcs_store),
        "azure": (AzureEmulator, azure_store),
    }
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        work = Path(tmp)
        if "fs" in only:
            paths = make_partition(work / "fs-partition", total)
            root = work / "fs-store"
            local = FilesystemBackupStore(root)
            watched = Watched(local, {})
            results["filesystem"] = await measure(
                "filesystem", local, paths, root, repetitions, watched
            )
        for kind, (emulator_type, make) in makers.items():
            if kind not in only:
                continue
            paths = make_partition(work / f"{kind}-partition", total)
            with emulator_type() as emulator, contextlib.ExitStack() as stack:
                bucket = proxied(kind, emulator.create_bucket(), LATENCY_MS, stack)
                store = make(bucket)
                watched = Watched(store, {"emulator": emulator.pids(), "proxy": proxy_pids()})
                name = f"{kind} {LATENCY_MS} ms"
                results[name] = await measure(name, store, paths, None, repetitions, watched)
                await store.close()
    results["load_after"] = load()
    out = Path(__file__).parent / "results" / "latest.json"
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing["incremental"] = results
    out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB")
    parser.add_argument("--only", default="fs,s3,gcs,azure", help="backends")
    arguments = parser.parse_args()
    quick = arguments.quick or os.environ.get("BENCH") == "quick"
    asyncio.run(main(quick, set(arguments.only.split(","))))
