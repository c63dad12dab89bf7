"""The byte-path benchmark: save and restore against the same work done raw.

Every figure is a ratio to a baseline measured in the same run, in interleaved pairs
(the order alternates from pair to pair), reported as median and min-max; > 1 means
the library is faster. A figure with a goal (:data:`GOALS`, and the rclone
goal where raw obstore beats rclone) says how many pairs reach it and whether it is met
(median and at least 3 of 5 pairs). The machine's load is printed with every scenario: on a busy
machine repeat the run rather than trust one figure.

Baselines, each doing the same work with the same concurrency, part size and parts
in flight as the store's settings:

* ``raw``: the simplest fast program that moves and checks the same bytes, with the
  same durability work as the library: for the filesystem a threaded blocking copy +
  SHA-256, then one ``syncfs`` of the target filesystem (descriptor opened before
  the copy) and an fsync of the target folder; for S3, Azure and GCS obstore
  put/get of the same files, one thread per file, + SHA-256 (+ on restore the same
  ``syncfs`` and folder fsync). The library makes a save's data files durable
  with one ``syncfs`` before its integrity record and manifest (each fsynced), and
  a restore's files with one ``syncfs`` before their names and one folder fsync
  after (docs/on-store-format.md, "Durability");
* ``raw-nohash``: the same without SHA-256;
* ``cp``: ``cp -r`` + ``sync -f`` (filesystem); ``rclone``: ``rclone copy`` (+ ``sync -f``
  on restore).

Every timed action, ours or a baseline, starts after a ``sync`` (untimed), so no
action pays for the writeback of what the one before it left dirty.

Also measured: client CPU seconds per GiB, zstd on vs off (incompressible and log-like
data), peak RSS of a fresh process saving and restoring 256 MiB-4 GiB with default
settings, and throughput with 20 ms injected per request (``HookedIO``): today's
defaults against low-concurrency settings (:data:`LOW_CONCURRENCY`) under the same
latency (the goal: within 10 %, ratio >= 0.91), and against 0 ms.

Usage: ``python -m bench [--quick] [--only fs,s3,azure,gcs,zstd,latency,rss]``
(``make bench``: full mode, about 11 minutes here, at most 30; ``make bench-quick``:
under 5). Quick mode measures S3 only among the cloud backends unless ``--only`` names
Azure or GCS. Results go to the ``byte_path`` section of ``bench/results/latest.json``.
Then the listing benchmark (``bench/scale.py``) runs one round at 1,000 backups per
partition (200 in quick mode) into its own section; its figures at full
scale (10,000 x 3, three rounds, this tree and the reference commit) take about an hour:
``make bench-scale``. No test asserts these timings.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import obstore
from obstore.store import ObjectStore

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    FilesystemBackupStore,
    NamedFileSet,
    ObjectBackupStore,
)
from backup_store.io import HookedIO, Request
from testbed.cloud_stores import (
    azure_store,
    azure_url,
    gcs_store,
    gcs_url,
    s3_store,
    s3_url,
)
from testbed.emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    AzureEmulator,
    GcsEmulator,
    S3Emulator,
)

MIB = 1024 * 1024
BUFFER = MIB
ALL_SECTIONS = "fs,s3,azure,gcs,zstd,latency,rss"
DESCRIPTOR = BackupDescriptor(None, 1, 1, "8.7.0")


@dataclass(frozen=True)
class Mode:
    pairs: int
    fs_big: tuple[int, ...]  # file sizes in MiB
    fs_small: int  # files of 64 KiB
    cloud_big: tuple[int, ...]
    zstd: tuple[int, ...]
    latency_big: tuple[int, ...]
    latency_small: int
    cloud_backends: tuple[str, ...]
    rss_mib: dict[str, tuple[int, ...]]  # backend: backup sizes


MODES = {
    "quick": Mode(
        pairs=5,
        fs_big=(32, 32, 64),
        fs_small=300,
        cloud_big=(64, 64),
        zstd=(16,),
        latency_big=(16,),
        latency_small=60,
        cloud_backends=("s3",),
        rss_mib={"filesystem": (256,), "s3": (256,), "azure": (256,), "gcs": (256,)},
    ),
    "full": Mode(
        pairs=5,
        fs_big=(32,) * 8 + (128,) * 4,
        fs_small=2000,
        cloud_big=(128, 128),  # Zeebe's default log segment size
        zstd=(32,),
        latency_big=(32, 32),
        latency_small=200,
        cloud_backends=("s3", "azure", "gcs"),
        rss_mib={
            "filesystem": (256, 4096), "s3": (256, 4096), "azure": (256, 4096),
            "gcs": (256, 4096),
        },
    ),
}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------ data


def make_files(folder: Path, sizes_mib: tuple[int, ...], *, kind: str = "random") -> list[Path]:
    """Files of the given sizes: random (incompressible) or log-like text."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, size in enumerate(sizes_mib):
        path = folder / f"segment-{i}.log"
        with path.open("wb") as out:
            for n in range(size):
                if kind == "random":
                    out.write(os.urandom(MIB))
                else:
                    lines = (
                        f"2026-11-30T03:{n % 60:02}:{i % 60:02}.{k:06}Z INFO [partition-{k % 7}] "
                        f"exported record {n * 100_000 + k} position {k * 31} ok\n"
                        for k in range(12_000)
                    )
                    out.write("".join(lines).encode()[:MIB])
        paths.append(path)
    return paths


def make_small_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"small-{i:05}"
        path.write_bytes(os.urandom(64 * 1024))
        paths.append(path)
    return paths


# ------------------------------------------------------------------ raw programs


def copy_file(source: Path, target: Path, *, sha: bool) -> None:
    """Blocking copy with a reused buffer (+ SHA-256); durable later (:class:`Durable`)."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(BUFFER))
    with source.open("rb", buffering=0) as src, target.open("xb", buffering=0) as dst:
        while read := src.readinto(buffer):
            if sha:
                digest.update(buffer[:read])
            dst.write(buffer[:read])


_LIBC = ctypes.CDLL(None, use_errno=True)


class Durable:
    """The raw programs' durability, the library's: a descriptor on the target
    folder opened before the writes, one ``syncfs`` after them, then an fsync
    of the folder (the library's last step: its manifest or the restored names)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> Durable:
        self.fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        return self

    def __exit__(self, error: object, *_: object) -> None:
        try:
            if error is None:
                if _LIBC.syncfs(self.fd) != 0:
                    raise OSError(ctypes.get_errno(), "syncfs")
                os.fsync(self.fd)
        finally:
            os.close(self.fd)


def chunks_of(path: Path, digest: Any | None) -> Iterator[bytes]:
    with path.open("rb", buffering=0) as file:
        while chunk := file.read(BUFFER):
            if digest is not None:
                digest.update(chunk)
            yield chunk


@dataclass
class Settings:
    concurrency: int
    part_size: int
    part_concurrency: int

    @classmethod
    def of(cls, store: ObjectBackupStore) -> Settings:
        return cls(store.max_concurrency, store.io.part_size, store.io.part_concurrency)


class Raw:
    """The raw programs, with the store's concurrency settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = ThreadPoolExecutor(max_workers=settings.concurrency)

    async def each(self, work: Callable[[Path], None], paths: list[Path]) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.pool, work, p) for p in paths))

    async def copy(self, paths: list[Path], target: Path, *, sha: bool) -> None:
        target.mkdir(parents=True)
        with Durable(target):
            await self.each(lambda p: copy_file(p, target / p.name, sha=sha), paths)

    async def put(self, store: ObjectStore, prefix: str, paths: list[Path], *, sha: bool) -> None:
        s = self.settings

        def one(path: Path) -> None:
            size = path.stat().st_size
            source: Any = (
                chunks_of(path, hashlib.sha256() if sha else None)
                if size > s.part_size
                else b"".join(chunks_of(path, hashlib.sha256() if sha else None))
            )
            obstore.put(
                store, f"{prefix}/{path.name}", source,
                chunk_size=s.part_size, max_concurrency=s.part_concurrency,
            )

        await self.each(one, paths)

    async def get(
        self, store: ObjectStore, prefix: str, names: list[Path], target: Path, *, sha: bool
    ) -> None:
        target.mkdir(parents=True)

        def one(path: Path) -> None:
            digest = hashlib.sha256()
            result = obstore.get(store, f"{prefix}/{path.name}")
            with (target / path.name).open("xb", buffering=0) as out:
                for chunk in result.stream(min_chunk_size=BUFFER):
                    if sha:
                        digest.update(chunk)
                    out.write(chunk)

        with Durable(target):
            await self.each(one, names)


async def run_command(*argv: str, env: dict[str, str] | None = None) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {err.decode()[-500:]}")


# ------------------------------------------------------------------ pairs


@dataclass
class Figure:
    """Paired ratios baseline_time / our_time (> 1: we are faster)."""

    baseline: str
    ratios: list[float] = field(default_factory=list)
    ours_s: list[float] = field(default_factory=list)
    base_s: list[float] = field(default_factory=list)

    def summary(self, mib: float) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "ratio_median": round(statistics.median(self.ratios), 3),
            "ratio_min": round(min(self.ratios), 3),
            "ratio_max": round(max(self.ratios), 3),
            "ours_mb_s": round(mib / statistics.median(self.ours_s), 1),
            "baseline_mb_s": round(mib / statistics.median(self.base_s), 1),
            "pairs": len(self.ratios),
            **self.goal(),
        }

    def goal(self) -> dict[str, Any]:
        """Issue 12's goal for this baseline, if it has one: met when the median
        reaches it and at least 3 of 5 pairs do."""
        goal = GOALS.get(self.baseline)
        if goal is None:
            return {}
        reached = sum(r >= goal for r in self.ratios)
        met = statistics.median(self.ratios) >= goal and reached * 5 >= 3 * len(self.ratios)
        return {"goal": goal, "pairs_at_goal": reached, "goal_met": met}


GOALS = {
    "raw": 0.95,
    "cp": 0.8,
    "old defaults, 20 ms": 1 / 1.1,  # throughput within 10 %
    "zstd off": 1 / 1.1,  # at most 10 % more time (the goal for incompressible data)
}


Action = Callable[[], Awaitable[object]]


async def timed(action: Action, cleanup: Action | None, who: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``action`` alone (not of its cleanup).

    Every action starts on settled disks: after the cleanup, a ``sync`` writes back
    what the previous action and its cleanup left dirty (the deleted copy's
    metadata, say), which the next ``syncfs`` would otherwise pay for, so a figure
    would depend on which side of the pair ran second.
    """
    cpu = cpu_seconds(who)
    start = time.perf_counter()
    await action()
    elapsed, cpu = time.perf_counter() - start, cpu_seconds(who) - cpu
    if cleanup is not None:
        await cleanup()
    await asyncio.to_thread(os.sync)
    return elapsed, cpu


class Scenario:
    """One store and data set: our save/restore paired with each baseline."""

    def __init__(self, name: str, mib: float, pairs: int) -> None:
        self.name = name
        self.mib = mib
        self.pairs = pairs
        self.results: dict[str, Any] = {"mib": round(mib, 1), "load_before": load()}
        self.cpu: dict[str, list[float]] = {}

    async def compare(
        self, op: str, ours: Action, baselines: dict[str, Action],
        cleanup: Action | None = None, child_cpu: frozenset[str] = frozenset(),
    ) -> None:
        figures = {name: Figure(name) for name in baselines}
        for i in range(self.pairs):
            for name, baseline in baselines.items():
                cpu_who = resource.RUSAGE_CHILDREN if name in child_cpu else resource.RUSAGE_SELF
                runs: list[tuple[str, Action, int]] = [
                    ("ours", ours, resource.RUSAGE_SELF),
                    (name, baseline, cpu_who),
                ]
                if i % 2:
                    runs.reverse()
                times = {}
                for label, action, who in runs:
                    times[label], cpu = await timed(action, cleanup, who)
                    self.cpu.setdefault(f"{op}/{label}", []).append(cpu)
                print(
                    f"    {self.name} {op} pair {i + 1}: ours {times['ours']:.2f} s, "
                    f"{name} {times[name]:.2f} s",
                    flush=True,
                )
                figure = figures[name]
                figure.ratios.append(times[name] / times["ours"])
                figure.ours_s.append(times["ours"])
                figure.base_s.append(times[name])
        self.results[op] = {name: f.summary(self.mib) for name, f in figures.items()}
        self.results[f"load_after_{op}"] = load()
        gib = self.mib / 1024
        self.results[op]["cpu_s_per_gib"] = {
            label: round(statistics.median(v) / gib, 2)
            for label, v in self.cpu.items()
            if label.startswith(op + "/")
        }
        for name, f in figures.items():
            s = f.summary(self.mib)
            goal = (
                f"  goal {s['goal']:.2f}: {s['pairs_at_goal']}/{s['pairs']} pairs, "
                + ("met" if s["goal_met"] else "NOT met")
                if "goal" in s
                else ""
            )
            print(
                f"  {self.name:<22} {op:<8} vs {name:<11} {s['ratio_median']:>6.2f}x "
                f"({s['ratio_min']:.2f}-{s['ratio_max']:.2f})  ours {s['ours_mb_s']:>7.1f} MB/s"
                f"  baseline {s['baseline_mb_s']:>7.1f} MB/s{goal}  ({load()})",
                flush=True,
            )


class Backups:
    """Fresh backup ids for one store; keeps the first for restores."""

    def __init__(self, store: ObjectBackupStore, paths: list[Path], work: Path) -> None:
        self.store = store
        self.paths = paths
        self.work = work
        self.next_id = 0
        self.kept: BackupIdentifier | None = None
        self.last: BackupIdentifier | None = None

    def backup(self) -> Backup:
        self.next_id += 1
        backup_id = BackupIdentifier(0, 1, self.next_id)
        return Backup(backup_id, DESCRIPTOR, segments=NamedFileSet({p.name: p for p in self.paths}))

    async def save(self) -> None:
        backup = self.backup()
        await self.store.save(backup)
        self.last = backup.id
        if self.kept is None:
            self.kept = backup.id

    async def drop_last(self) -> None:
        if self.last is not None and self.last != self.kept:
            await self.store.delete(self.last)
        self.last = None

    async def reset(self, *folders: Path) -> None:
        """Drop the last backup (never the kept one) and remove ``folders``."""
        await self.drop_last()
        for folder in folders:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def restore(self) -> None:
        assert self.kept is not None
        await self.store.restore(self.kept, self.work / "restored")


def rmtree_action(path: Path) -> Action:
    async def remove() -> None:
        await asyncio.to_thread(shutil.rmtree, path, True)

    return remove


# ------------------------------------------------------------------ scenarios


DURABILITY = (
    "durability, ours and raw alike: one syncfs of the target filesystem after the data "
    "(no fsync per file), then the folder fsynced; cp: cp -r + sync -f"
)


async def filesystem(name: str, paths: list[Path], work: Path, pairs: int) -> dict[str, Any]:
    mib = sum(p.stat().st_size for p in paths) / MIB
    store = FilesystemBackupStore(work / "store")
    backups = Backups(store, paths, work)
    raw = Raw(Settings(store.max_concurrency, 0, 0))
    scenario = Scenario(name, mib, pairs)
    out = work / "out"
    source = paths[0].parent

    async def cleanup() -> None:
        await backups.drop_last()
        await asyncio.to_thread(shutil.rmtree, out, True)
        await asyncio.to_thread(shutil.rmtree, work / "restored", True)

    async def cp(from_dir: Path) -> None:
        await run_command("cp", "-r", str(from_dir), str(out))
        await run_command("sync", "-f", str(out))

    scenario.results["durability"] = DURABILITY
    print(f"  {name}: {DURABILITY}", flush=True)
    await backups.save()  # the backup every restore reads
    await scenario.compare(
        "save", backups.save,
        {
            "raw": lambda: raw.copy(paths, out, sha=True),
            "raw-nohash": lambda: raw.copy(paths, out, sha=False),
            "cp": lambda: cp(source),
        },
        cleanup, child_cpu=frozenset({"cp"}),
    )
    assert backups.kept is not None
    # Only the kept backup is left in the store.
    stored = sorted(
        p for p in (work / "store").rglob("*") if p.is_file() and p.parent.name == "segments"
    )
    await scenario.compare(
        "restore", backups.restore,
        {
            "raw": lambda: raw.copy(stored, out, sha=True),
            "raw-nohash": lambda: raw.copy(stored, out, sha=False),
            "cp": lambda: cp(stored[0].parent),
        },
        cleanup, child_cpu=frozenset({"cp"}),
    )
    return scenario.results


def rclone_remote(kind: str, bucket: Any) -> tuple[str, dict[str, str]]:
    """An rclone remote for the emulator bucket, configured through the environment."""
    if kind == "s3":
        env = {
            "RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
            "RCLONE_CONFIG_BENCH_ENDPOINT": bucket.endpoint,
            "RCLONE_CONFIG_BENCH_REGION": S3_REGION,
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        }
    elif kind == "azure":
        env = {
            "RCLONE_CONFIG_BENCH_TYPE": "azureblob",
            "RCLONE_CONFIG_BENCH_ACCOUNT": AZURITE_ACCOUNT,
            "RCLONE_CONFIG_BENCH_KEY": AZURITE_KEY,
            "RCLONE_CONFIG_BENCH_ENDPOINT": bucket.account_url,
        }
    else:
        env = {
            "RCLONE_CONFIG_BENCH_TYPE": "gcs",
            "RCLONE_CONFIG_BENCH_ANONYMOUS": "true",
            "RCLONE_CONFIG_BENCH_ENDPOINT": bucket.emulator_url + "/storage/v1/",
        }
    return f"bench:{bucket.name}", env


def rclone_flags(kind: str, s: Settings) -> list[str]:
    size = f"{s.part_size // MIB}M"
    per_kind = {
        "s3": ["--s3-chunk-size", size, "--s3-upload-concurrency", str(s.part_concurrency)],
        "azure": ["--azureblob-chunk-size", size,
                  "--azureblob-upload-concurrency", str(s.part_concurrency)],
        "gcs": [],
    }
    return ["--transfers", str(s.concurrency), "--checkers", str(s.concurrency), *per_kind[kind]]


@dataclass
class Baselines:
    """Raw obstore and ``rclone copy`` into and out of one bucket, each a timed action."""

    raw: Raw
    raw_store: ObjectStore
    save: dict[str, Action]
    restore: dict[str, Action]

    @classmethod
    def of(
        cls, kind: str, bucket: Any, settings: Settings, paths: list[Path], out: Path
    ) -> Baselines:
        raw, raw_store = Raw(settings), bucket.store()
        rclone = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")
        remote, env = rclone_remote(kind, bucket)
        flags = rclone_flags(kind, settings)
        folder = paths[0].parent

        async def rclone_restore() -> None:
            await run_command(rclone, "copy", f"{remote}/rclone", str(out), *flags, env=env)
            await run_command("sync", "-f", str(out))

        save: dict[str, Action] = {
            "raw": lambda: raw.put(raw_store, "raw", paths, sha=True),
            "rclone": lambda: run_command(
                rclone, "copy", "--ignore-times", str(folder), f"{remote}/rclone", *flags, env=env
            ),
        }
        restore: dict[str, Action] = {
            "raw": lambda: raw.get(raw_store, "raw", paths, out, sha=True),
            "rclone": rclone_restore,
        }
        return cls(raw, raw_store, save, restore)


async def cloud(
    kind: str, store: ObjectBackupStore, bucket: Any, paths: list[Path], work: Path, pairs: int
) -> dict[str, Any]:
    mib = sum(p.stat().st_size for p in paths) / MIB
    backups = Backups(store, paths, work)
    scenario = Scenario(kind, mib, pairs)
    out = work / "out"
    base = Baselines.of(kind, bucket, Settings.of(store), paths, out)
    raw, raw_store = base.raw, base.raw_store
    base.save["raw-nohash"] = lambda: raw.put(raw_store, "raw", paths, sha=False)
    base.restore["raw-nohash"] = lambda: raw.get(raw_store, "raw", paths, out, sha=False)
    try:
        await base.save["rclone"]()
        rclone_ok = True
    except (RuntimeError, OSError) as error:
        scenario.results["rclone_error"] = str(error)[:300]
        print(f"  {kind}: rclone unavailable: {str(error)[:200]}", flush=True)
        rclone_ok = False
        del base.save["rclone"], base.restore["rclone"]

    def cleanup() -> Awaitable[None]:
        return backups.reset(out, work / "restored")

    await backups.save()
    await raw.put(raw_store, "raw", paths, sha=False)
    rclone_cpu = frozenset({"rclone"})
    await scenario.compare("save", backups.save, base.save, cleanup, child_cpu=rclone_cpu)
    await scenario.compare("restore", backups.restore, base.restore, cleanup, child_cpu=rclone_cpu)
    if rclone_ok:
        for op in ("save", "restore"):
            rclone_goal(kind, op, scenario.results[op])
    return scenario.results


def rclone_goal(kind: str, op: str, figures: dict[str, Any]) -> None:
    """Issue 12: >= 1.0x ``rclone copy`` wherever raw obstore itself beats rclone."""
    raw, rclone = figures["raw"], figures["rclone"]
    applies = raw["baseline_mb_s"] > rclone["baseline_mb_s"]
    met = rclone["ratio_median"] >= 1.0
    rclone["goal_applies"] = applies  # raw obstore faster than rclone on this server
    if applies:
        rclone["goal_met"] = met
    verdict = ("met" if met else "NOT met") if applies else "n/a: rclone beats raw obstore here"
    print(f"  {kind:<22} {op:<8} rclone goal (1.0x where raw beats rclone): {verdict}")


async def zstd_cost(bucket: Any, work: Path, sizes: tuple[int, ...], pairs: int) -> dict[str, Any]:
    """zstd on vs off on one S3 bucket: incompressible and log-like data."""
    results: dict[str, Any] = {"load_before": load()}
    for kind in ("random", "log-like"):
        paths = make_files(work / f"zstd-{kind}", sizes, kind=kind)
        mib = sum(sizes)
        plain = s3_store(bucket, f"plain-{kind}")
        packed = s3_store(bucket, f"zstd-{kind}", compression="zstd")
        on, off = Backups(packed, paths, work), Backups(plain, paths, work)
        scenario = Scenario(f"s3 zstd {kind}", mib, pairs)

        async def cleanup(on: Backups = on, off: Backups = off) -> None:
            await on.drop_last()
            await off.drop_last()
            await asyncio.to_thread(shutil.rmtree, work / "restored", True)

        await on.save()
        await off.save()
        await scenario.compare("save", on.save, {"zstd off": off.save}, cleanup)
        await scenario.compare("restore", on.restore, {"zstd off": off.restore}, cleanup)
        stored = sum(  # only the kept backup is left
            m["size"] for page in obstore.list(bucket.store(), f"zstd-{kind}") for m in page
            if "/segments/" in m["path"]
        )
        scenario.results["stored_fraction"] = round(stored / (mib * MIB), 3)
        results[kind] = scenario.results
        print(f"  s3 zstd {kind:<13} stored/original {scenario.results['stored_fraction']}")
    return results


LOW_CONCURRENCY: dict[str, Any] = {
    "max_concurrency": 8,
    "part_size": 8 * MIB,
    "part_concurrency": 4,
    "upload_memory": None,  # no upload memory budget yet: every file's parts in flight
}
"""Eight requests, 8 MiB parts, four parts in flight and no upload memory budget: the
latency goal compares the defaults with these, both under the same injected latency."""


async def latency(bucket: Any, work: Path, mode: Mode, pairs: int) -> dict[str, Any]:
    """The defaults vs :data:`LOW_CONCURRENCY`, both with 20 ms
    injected per request (``HookedIO``); also today's defaults at 20 ms vs at 0 ms."""
    paths = make_files(work / "latency", mode.latency_big) + make_small_files(
        work / "latency", mode.latency_small
    )
    mib = sum(p.stat().st_size for p in paths) / MIB

    def hooked(delay: float, prefix: str, *, old: bool = False) -> ObjectBackupStore:
        if old:
            inner = s3_store(
                bucket, prefix, part_size=LOW_CONCURRENCY["part_size"],
                part_concurrency=LOW_CONCURRENCY["part_concurrency"],
            )
            limits = {
                "max_concurrency": LOW_CONCURRENCY["max_concurrency"],
                "upload_memory": sum(p.stat().st_size for p in paths) * 2,  # unbounded here
            }
        else:
            inner = s3_store(bucket, prefix)
            limits = {}

        async def hook(_: Request) -> None:
            await asyncio.sleep(delay)

        return ObjectBackupStore(
            HookedIO(inner.io, hook), kind=inner.kind, format=inner.format, base_path=prefix,
            **limits,
        )

    slow = Backups(hooked(0.02, "slow"), paths, work)
    old = Backups(hooked(0.02, "old", old=True), paths, work)
    fast = Backups(hooked(0.0, "fast"), paths, work)
    results: dict[str, Any] = {}
    for name, baseline in (("old defaults, 20 ms", old), ("0 ms", fast)):
        scenario = Scenario(f"s3 20 ms vs {name}", mib, pairs)

        async def cleanup(baseline: Backups = baseline) -> None:
            await slow.drop_last()
            await baseline.drop_last()
            await asyncio.to_thread(shutil.rmtree, work / "restored", True)

        if slow.kept is None:
            await slow.save()
        await baseline.save()
        await scenario.compare("save", slow.save, {name: baseline.save}, cleanup)
        await scenario.compare("restore", slow.restore, {name: baseline.restore}, cleanup)
        results[f"vs {name}"] = scenario.results
    return results


RSS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from backup_store import Backup, BackupDescriptor, BackupIdentifier, NamedFileSet, open_store

    def peak() -> float:
        # VmHWM of this process (ru_maxrss would include the parent's RSS at spawn)
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

    async def main(url: str, source: Path, target: Path) -> None:
        paths = {p.name: p for p in sorted(source.iterdir())}
        backup = Backup(BackupIdentifier(0, 1, 1), BackupDescriptor(None, 1, 1, "8.7.0"),
                        segments=NamedFileSet(paths))
        async with open_store(url) as store:
            start = time.perf_counter()
            await store.save(backup)
            saved, save_s = peak(), time.perf_counter() - start
            start = time.perf_counter()
            await store.restore(backup.id, target)
            restored, restore_s = peak(), time.perf_counter() - start
        print(json.dumps({"save_peak_mib": saved, "restore_peak_mib": restored,
                          "save_s": save_s, "restore_s": restore_s}))

    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
    """
)


def rss_files(folder: Path, mib: int) -> Path:
    """``mib`` MiB in files of at most 512 MiB (fast to write: a rotated random block)."""
    if folder.exists():
        return folder  # made for an earlier backend
    folder.mkdir(parents=True)
    block = os.urandom(MIB)
    left, i = mib, 0
    while left > 0:
        size = min(512, max(mib // 8, 32), left)
        with (folder / f"segment-{i}.log").open("wb") as out:
            for n in range(size):
                out.write(block[n % 4093 :] + block[: n % 4093])
        left, i = left - size, i + 1
    return folder


def rss(url: str, source: Path, work: Path) -> dict[str, float]:
    script = work / "rss.py"
    script.write_text(RSS_SCRIPT)
    target = work / "rss-restored"
    shutil.rmtree(target, ignore_errors=True)
    result = subprocess.run(
        [sys.executable, str(script), url, str(source), str(target)],
        capture_output=True, text=True, check=False,
        # the library next to this benchmark (also when run from another checkout)
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    shutil.rmtree(target, ignore_errors=True)
    if result.returncode != 0:
        return {"error": result.stderr[-500:]}  # type: ignore[dict-item]
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return {k: round(v, 1) for k, v in measured.items()}


# ------------------------------------------------------------------ main


async def main(mode_name: str, only: set[str] | None, label: str) -> None:
    mode = MODES[mode_name]
    named = only is not None  # backends named with --only run in either mode
    only = only or set(ALL_SECTIONS.split(","))
    started = time.perf_counter()
    print(f"byte-path benchmark, {mode_name} mode, {mode.pairs} pairs per figure; {load()}")
    results: dict[str, Any] = {"mode": mode_name, "label": label, "load_start": load()}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        big = make_files(work / "big", mode.cloud_big)
        if "fs" in only:
            fs_big = make_files(work / "fs-big", mode.fs_big)
            results["filesystem big"] = await filesystem(
                "filesystem big", fs_big, work / "fs1", mode.pairs
            )
            small = make_small_files(work / "fs-small", mode.fs_small)
            results["filesystem small"] = await filesystem(
                "filesystem small", small, work / "fs2", mode.pairs
            )
        emulators: dict[str, Any] = {"s3": S3Emulator, "azure": AzureEmulator, "gcs": GcsEmulator}
        makers: dict[str, Callable[[Any], ObjectBackupStore]] = {
            "s3": s3_store, "azure": azure_store, "gcs": gcs_store,
        }
        urls: dict[str, Callable[[Any], str]] = {"s3": s3_url, "azure": azure_url, "gcs": gcs_url}
        for kind, emulator_type in emulators.items():
            wanted_here = {kind} | ({"zstd", "latency"} if kind == "s3" else set())
            rss_here = "rss" in only and kind in mode.rss_mib
            if not (wanted_here & only) and not rss_here:
                continue
            if wanted_here & only:
                with emulator_type() as emulator:
                    if kind in only and (kind in mode.cloud_backends or named):
                        bucket = emulator.create_bucket()
                        results[kind] = await cloud(
                            kind, makers[kind](bucket), bucket, big, work / kind, mode.pairs
                        )
                    if kind == "s3" and "zstd" in only:
                        results["s3 zstd"] = await zstd_cost(
                            emulator.create_bucket(), work / "zstd", mode.zstd, mode.pairs
                        )
                    if kind == "s3" and "latency" in only:
                        results["s3 latency"] = await latency(
                            emulator.create_bucket(), work / "lat", mode, mode.pairs
                        )
            for mib in mode.rss_mib[kind] if rss_here else ():
                # A fresh emulator for each: Azurite keeps blobs in memory, and 4 GiB
                # on top of the runs above stalled it (the upload timed out).
                with emulator_type() as emulator:
                    source = rss_files(work / f"rss-{mib}", mib)
                    measured = rss(urls[kind](emulator.create_bucket()), source, work)
                results.setdefault("peak rss", {})[f"{kind} {mib} MiB"] = measured
                print(f"  peak RSS {kind} {mib} MiB: {measured}  ({load()})", flush=True)
        if "rss" in only and "filesystem" in mode.rss_mib:
            for mib in mode.rss_mib["filesystem"]:
                source = rss_files(work / f"rss-{mib}", mib)
                measured = rss(f"file://{work}/rss-store-{mib}", source, work)
                results.setdefault("peak rss", {})[f"filesystem {mib} MiB"] = measured
                print(f"  peak RSS filesystem {mib} MiB: {measured}  ({load()})", flush=True)
    results["load_end"] = load()
    results["seconds"] = round(time.perf_counter() - started)
    print(f"done in {results['seconds']} s; {load()}")
    out = Path(__file__).parent / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing["byte_path" if not label else f"byte_path ({label})"] = results
    out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the ≤ 5 min mode")
    parser.add_argument("--only", default=None, help=f"sections (default: {ALL_SECTIONS})")
    parser.add_argument("--label", default="", help="name of this run in latest.json")
    parser.add_argument(
        "--scale-backups", type=int, default=None,
        help="backups per partition of the listing benchmark run after it (bench/scale.py, "
        "one round, 0 skips it; default 1000, 200 in quick mode). Its full size, "
        "10,000 x 3 in 3 rounds (about an hour), is `make bench-scale`",
    )  # fmt: skip
    arguments = parser.parse_args()
    mode = "quick" if arguments.quick or os.environ.get("BENCH") == "quick" else "full"
    sections = set(arguments.only.split(",")) if arguments.only else None
    asyncio.run(main(mode, sections, arguments.label))
    backups = arguments.scale_backups
    if backups is None:
        backups = 200 if mode == "quick" else 1000
    if backups:
        from bench import scale  # its own section of latest.json

        asyncio.run(scale.main(backups, rounds=1, before=mode == "full"))
