"""Listing at scale: list-all, prefix queries, status of one id, service start-up, POST
and concurrent lists, against raw listings measured in the same run, and side by side
with the code of the reference commit :data:`BEFORE` (no listing catalog).

Each benchmark backup has one manifest and ONE data object (a tiny segment file; the S3
classic layout lists it with the manifests), written straight through the seam with
bounded concurrency (``testbed/many_backups.py``); ``--backups`` backups per
partition, 3 partitions, node 0. Stores: filesystem and S3 (moto).

Every figure is measured ``--rounds`` times, rounds interleaved (round 1 of every figure,
then round 2, ...), and reported as median, min and max with the machine's 1-minute
load at each sample. A figure that takes longer than ``--timeout`` is recorded as such.

* after: this tree, through a ``HookedIO`` adding 0 ms and 20 ms to every request (a
  sleep: no CPU), each measurement on a fresh store object (nothing cached in memory),
  except ``warm_prefix_cached_s`` and ``warm_list_all_cached_s`` (a long-lived
  process such as ``serve``, which keeps the catalogs it read);
  cold: no catalog (a store only Zeebe wrote); warm: catalogs as our writers keep them.
* before: commit ``BEFORE`` (the reference commit, without the catalog) checked out in a
  temporary worktree and run in a subprocess against the same store, 0 ms only.
* service: ``backup-store serve`` of both trees as subprocesses: start-up until
  ``GET /actuator/backups/{id}`` answers and a POST right after, on a store without
  catalogs (cold: the first start after an upgrade) and, for this tree, with them
  (warm); then 200 concurrent ``GET /actuator/backups`` (counted 200 / 504 / other,
  with the first and last answer's time, the last over one fresh list-all of the same
  round in process and over one GET alone through the same server just before)
  against the warm server (this tree) and the old one, at the default request
  timeout.

Usage: ``python -m bench.scale [--backups 10000] [--rounds 3] [--skip-latency]
[--skip-before] [--stores filesystem,s3] [--service-only]`` (``make bench-scale``: about
an hour on 2 cores, most of it moto listing 60,000 keys); results go to the ``scale`` section of
``bench/results/latest.json`` at 10,000 backups per partition, to ``scale (N backups)``
otherwise (a store not measured keeps its earlier figures).
No test asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from backup_store import BackupIdentifier, BackupIdentifierWildcard, catalog
from backup_store.engine import ObjectBackupStore
from backup_store.errors import BackupStoreError
from backup_store.format.instant import Instant
from backup_store.format.manifest import Manifest
from backup_store.io import HookedIO, ObjectIO, Request
from backup_store.model import BackupDescriptor
from backup_store.registry import open_store
from testbed.cloud_stores import s3_url
from testbed.emulators import S3Emulator
from testbed.many_backups import DATA_FILES_PER_BACKUP, populate

PARTITIONS = 3
FULL_SCALE = 10_000
"""Backups per partition of the full-scale figures (``make bench-scale``)."""
LATENCY_S = 0.020
ROUNDS = 3
TIMEOUT_S = 300.0
CONCURRENT_GETS = 200
REQUEST_TIMEOUT_S = 30.0
"""The servers' request timeout (their default): a list slower than this is a 504."""
STORES = frozenset({"filesystem", "s3"})
STORE_SECTIONS = ("filesystem", "s3_moto")
BEFORE = "e57c8c8"
"""The reference commit the figures are compared with, run by ``bench/scale_before.py``."""
SERVE_THIS_TREE = "import sys\nfrom backup_store.cli import main\nsys.exit(main())"
ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "latest.json"
DRIVER = Path(__file__).parent / "scale_before.py"


def load_1min() -> float:
    return round(os.getloadavg()[0], 2)


class Figures:
    """Samples of each named figure (None: timed out), each with the load when taken."""

    def __init__(self, label: str, timeout: float) -> None:
        self.label = label
        self.timeout = timeout
        self.samples: dict[str, list[float | None]] = defaultdict(list)
        self.loads: dict[str, list[float]] = defaultdict(list)
        self.answers: list[dict[str, float]] = []
        """Status codes of each round's concurrent lists."""

    def add(self, name: str, seconds: float | None, load: float | None = None) -> None:
        load = load_1min() if load is None else load
        self.samples[name].append(seconds)
        self.loads[name].append(load)
        shown = f">{self.timeout:.0f} s" if seconds is None else f"{seconds:.4f} s"
        print(f"[scale] {self.label} {name}: {shown} (load {load})", flush=True)

    async def time(self, name: str, action: Callable[[], Awaitable[object]]) -> None:
        load = load_1min()
        start = time.perf_counter()
        try:
            await asyncio.wait_for(action(), self.timeout)
        except TimeoutError:
            self.add(name, None, load)
            return
        self.add(name, time.perf_counter() - start, load)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {name: self._summary(name) for name in self.samples}
        if self.answers:
            summary["concurrent_200_lists_answers"] = self.answers
        return summary

    def _summary(self, name: str) -> dict[str, Any]:
        samples = self.samples[name]
        done = sorted(s for s in samples if s is not None)
        late = len(samples) - len(done)
        over = f">{self.timeout:.0f} s"
        # Timed-out samples sort above every finished one.
        ordered: list[float | str] = [round(s, 4) for s in done] + [over] * late
        return {
            "median_s": ordered[(len(ordered) - 1) // 2] if len(ordered) % 2 else _mid(ordered),
            "min_s": ordered[0],
            "max_s": ordered[-1],
            "samples_s": [over if s is None else round(s, 4) for s in samples],
            "load_1min": self.loads[name],
        }


def _mid(ordered: list[float | str]) -> float | str:
    low, high = ordered[len(ordered) // 2 - 1], ordered[len(ordered) // 2]
    if isinstance(low, str) or isinstance(high, str):
        return high
    return round(statistics.mean([low, high]), 4)


def hooked(store: ObjectBackupStore, seconds: float) -> ObjectBackupStore:
    """A fresh store object (no catalog cached) whose every request waits ``seconds``."""

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


class Catalogs:
    """The store's catalog (its shards and bounds records), taken away (a store only
    Zeebe wrote) and put back."""

    def __init__(self, store: ObjectBackupStore) -> None:
        self.store = store
        self.folder = catalog.catalog_folder(store.base_path)
        self.saved: dict[str, bytes] = {}

    async def keep(self) -> dict[str, Any]:
        """Remember the catalog as it is: its objects' number and size, its entries."""
        self.saved.clear()
        taken = f"{self.folder}{catalog.TAKEN_FOLDER}/"
        entries = 0
        for key in await self.store.io.list_keys(self.folder):
            found = await self.store.io.get(key)
            if found is None or key.startswith(taken):
                continue
            self.saved[key] = found.data
            if catalog.parse_shard_key(key, self.folder) is not None:
                entries += len(catalog.decode_catalog(found.data))
        shards = [k for k in self.saved if catalog.parse_shard_key(k, self.folder) is not None]
        return {
            "objects": len(self.saved),
            "shards": len(shards),
            "bytes": sum(len(d) for d in self.saved.values()),
            "largest_shard_bytes": max((len(self.saved[k]) for k in shards), default=0),
            "entries": entries,
        }

    async def drop(self) -> None:
        """Remove the catalog (also what a cold list wrote since), not the taken-ids records."""
        taken = f"{self.folder}{catalog.TAKEN_FOLDER}/"
        keys = await self.store.io.list_keys(self.folder)
        await self.store.io.delete([k for k in keys if not k.startswith(taken)])

    async def restore(self) -> None:
        for key, data in self.saved.items():
            await self.store.io.put(key, data)


def small_backup(checkpoint: int) -> Manifest:
    """A COMPLETED manifest of partition 1 without files: a save's catalog and manifest
    writes, nothing else."""
    now = Instant.now()
    backup_id = BackupIdentifier(0, 1, checkpoint)
    descriptor = BackupDescriptor(f"{checkpoint}-1-1-1", checkpoint, PARTITIONS, "8.7.0")
    return Manifest.in_progress(backup_id, descriptor, (), (), now).completed(now)


async def save_and_delete(store: ObjectBackupStore, checkpoint: int) -> None:
    await store.write_backup(small_backup(checkpoint), [])
    await store.delete(BackupIdentifier(0, 1, checkpoint))


async def measure_round(
    figures: Figures, store: ObjectBackupStore, catalogs: Catalogs, backups: int, latency: float
) -> None:
    layouts = store.format.read_layouts(store.base_path)
    # The keys that must be listed to find every manifest: the S3 format's classic
    # layout keeps manifests among the data objects, so there it is everything.
    manifests_root = layouts[-1].list_prefix(BackupIdentifierWildcard())
    prefix = BackupIdentifierWildcard(partition_id=1, checkpoint="10*")
    start_after = layouts[-1].list_prefix(prefix)  # where the benchmark's backups are
    everything = BackupIdentifierWildcard()
    one_id = BackupIdentifierWildcard(partition_id=1, checkpoint=backups // 2)
    io = hooked(store, latency).io
    await figures.time("raw_list_manifest_keys_s", lambda: raw_list(io, manifests_root))
    await figures.time("raw_list_prefix_s", lambda: raw_prefix(io, start_after))
    # A cold list by a writer of our location (as serve) writes the catalog: the next
    # list is warm. (A store that only reads writes nothing: its lists stay cold.)
    await catalogs.drop()
    writer = hooked(store, latency)
    await writer.probe(writing=True)
    await figures.time("cold_list_all_s", lambda: writer.list(everything))
    await figures.time("list_all_after_cold_s", lambda: hooked(store, latency).list(everything))
    await catalogs.drop()
    await figures.time("cold_prefix_s", lambda: hooked(store, latency).list(prefix))
    await catalogs.drop()
    await catalogs.restore()
    await figures.time("warm_list_all_s", lambda: hooked(store, latency).list(everything))
    await figures.time("warm_prefix_s", lambda: hooked(store, latency).list(prefix))
    serving = hooked(store, latency)
    await serving.list(prefix)  # what a long-lived process has read once
    await figures.time("warm_prefix_cached_s", lambda: serving.list(prefix))
    await serving.list(everything)
    await figures.time("warm_list_all_cached_s", lambda: serving.list(everything))
    await figures.time("status_of_one_id_s", lambda: hooked(store, latency).list(one_id))
    # A save (and delete) of a new highest id, here and in an empty location beside.
    empty = ObjectBackupStore(
        store.io, kind=store.kind, format=store.format, base_path=f"{store.base_path or ''}empty"
    )
    for where, name in ((store, "save_delete_s"), (empty, "save_delete_empty_s")):
        checkpoint = backups + 1_000_000 + len(figures.samples.get(name, []))
        saving = hooked(where, latency)
        await save_and_delete(saving, checkpoint + 500_000)  # warm, untimed
        await asyncio.to_thread(os.sync)  # (the filesystem's saves sync: nothing else dirty)
        await figures.time(name, lambda s=saving, c=checkpoint: save_and_delete(s, c))  # type: ignore[misc]


def ratios(summary: dict[str, Any]) -> dict[str, Any]:
    """Warm figures over their raw baselines (medians)."""
    out: dict[str, Any] = {}
    for warm, raw in (
        ("cold_list_all_s", "raw_list_manifest_keys_s"),
        ("list_all_after_cold_s", "raw_list_manifest_keys_s"),
        ("warm_list_all_s", "raw_list_manifest_keys_s"),
        ("warm_prefix_s", "raw_list_prefix_s"),
        ("warm_prefix_cached_s", "raw_list_prefix_s"),
        ("warm_list_all_cached_s", "raw_list_manifest_keys_s"),
        ("save_delete_s", "save_delete_empty_s"),
    ):
        a, b = summary.get(warm, {}).get("median_s"), summary.get(raw, {}).get("median_s")
        if isinstance(a, float) and isinstance(b, float) and b > 0:
            out[f"{warm.removesuffix('_s')}_over_raw"] = round(a / b, 2)
    return out


# ------------------------------------------------------------------ before (subprocess)


@contextlib.contextmanager
def before_checkout() -> Any:
    """A temporary worktree of ``BEFORE``, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="scale-before-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), BEFORE],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def before_env(checkout: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(checkout), "PYTHONUNBUFFERED": "1"}


async def before_lists(figures: Figures, checkout: Path, url: str, backups: int) -> None:
    limit = figures.timeout
    config = json.dumps({"url": url, "backups": backups, "timeout_s": limit})
    load = load_1min()
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(DRIVER), "list", config,
        env=before_env(checkout), cwd=str(checkout), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 3 * limit + 60)
        found = json.loads(out)
    except (TimeoutError, ValueError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        found = {}
    if found and not str(found.get("code", "")).startswith(str(checkout)):
        raise RuntimeError(f"the before driver ran {found.get('code')}, not {checkout}")
    for name in ("list_all_s", "prefix_s", "status_of_one_id_s"):
        figures.add(name, found.get(name), load)


# ------------------------------------------------------------------ service (subprocess)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def served(
    url: str, folder: Path, checkout: Path | None, request_timeout: float = REQUEST_TIMEOUT_S
) -> AsyncIterator[tuple[httpx.AsyncClient, float]]:
    """``backup-store serve`` (of ``checkout``, or of this tree) on a fresh data folder;
    a client and the time the process was started."""
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="scale-data-", dir=folder))
    shutil.rmtree(data)  # serve generates its sample data into a missing folder
    options = ["--store", url, "--data-dir", str(data), "--partitions", str(PARTITIONS)]
    if checkout is None:
        options.append("--sample-data")  # a missing --data-dir is an error without it
    options += ["--no-writer", "--host", "127.0.0.1", "--port", str(port)]
    options += ["--request-timeout", str(request_timeout)]
    if checkout is None:
        argv = [sys.executable, "-c", SERVE_THIS_TREE, "serve", *options]
        env = {**os.environ}
    else:
        argv = [sys.executable, str(DRIVER), "serve", *options]
        env = before_env(checkout)
    log = (folder / f"serve-{port}.log").open("wb")
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=log, stderr=asyncio.subprocess.STDOUT, env=env
    )
    limits = httpx.Limits(max_connections=CONCURRENT_GETS, max_keepalive_connections=0)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=request_timeout + 30, limits=limits
        ) as http:
            yield http, started
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have ended on its own
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def until_answers(http: httpx.AsyncClient, path: str, deadline: float) -> bool:
    while time.perf_counter() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if (await http.get(path)).status_code == 200:
                return True
        await asyncio.sleep(0.05)
    return False


async def service_round(
    figures: Figures,
    url: str,
    folder: Path,
    checkout: Path | None,
    backups: int,
    new_id: int,
    *,
    state: str,
    lists: bool,
    fresh_list_s: float | None = None,
) -> None:
    """Start-up until GET {id} answers, a POST right after, then (``lists``) 200
    concurrent lists, each answer's time compared with ``fresh_list_s`` (one fresh
    list-all of the round). ``state`` names the store's state in the figures."""
    request_timeout = REQUEST_TIMEOUT_S
    async with served(url, folder, checkout, request_timeout) as (http, started):
        load = load_1min()
        answered = await until_answers(
            http, f"/actuator/backups/{backups // 2}", started + figures.timeout
        )
        waited = time.perf_counter() - started
        figures.add(f"startup_{state}_until_get_answers_s", waited if answered else None, load)
        if not answered:
            return
        load = load_1min()
        begin = time.perf_counter()
        posted = await http.post("/actuator/backups", json={"backupId": new_id})
        figures.add(f"post_right_after_{state}_start_s", time.perf_counter() - begin, load)
        if posted.status_code != 202:
            print(f"[scale] {figures.label} POST answered {posted.status_code}: {posted.text}")
        if not lists:
            return
        # The server's start-up recovery lists the whole location: a list waits for it
        # once (504 until then), and the figures below are those of a steady server.
        await until_answers(http, "/actuator/backups", started + figures.timeout)
        # One list alone through the same server: the listing the 200 are compared with.
        load = load_1min()
        begin = time.perf_counter()
        alone = await http.get("/actuator/backups")
        alone_s = time.perf_counter() - begin
        figures.add("one_list_alone_s", alone_s if alone.status_code == 200 else None, load)
        load = load_1min()
        begin = time.perf_counter()
        answered_after: list[float] = []

        async def one_list() -> httpx.Response:
            response = await http.get("/actuator/backups")
            answered_after.append(time.perf_counter() - begin)
            return response

        responses = await asyncio.gather(
            *(one_list() for _ in range(CONCURRENT_GETS)), return_exceptions=True
        )
        figures.add("concurrent_200_lists_s", time.perf_counter() - begin, load)
        codes: Counter[str] = Counter()
        correct = 0
        for response in responses:
            if isinstance(response, BaseException):
                codes["no answer"] += 1
                continue
            codes[str(response.status_code) if response.status_code in (200, 504) else "other"] += 1
            if response.status_code == 200 and len(response.json()) >= backups:
                correct += 1
        figures.answers.append(
            {
                **codes,
                "correct": correct,
                "request_timeout_s": round(request_timeout, 1),
                "first_answer_s": round(min(answered_after, default=0.0), 2),
                "last_answer_s": round(max(answered_after, default=0.0), 2),
                "one_list_alone_s": round(alone_s, 2),
                "last_answer_over_one_list_alone": round(
                    max(answered_after, default=0.0) / alone_s, 2
                ),
                **(
                    {
                        "fresh_list_all_s": round(fresh_list_s, 2),
                        "last_answer_over_fresh_list_all": round(
                            max(answered_after, default=0.0) / fresh_list_s, 2
                        ),
                    }
                    if fresh_list_s
                    else {}
                ),
            }
        )
        print(f"[scale] {figures.label} 200 concurrent lists: {dict(codes)}, {correct} correct")


async def settle(store: ObjectBackupStore) -> None:
    """Wait until the store answers again (an emulator still working through the
    requests of a server that was stopped)."""
    deadline = time.perf_counter() + 900
    while True:
        try:
            await store.io.head(store.base_path or "")
            return
        except BackupStoreError:
            if time.perf_counter() > deadline:
                raise


# ------------------------------------------------------------------ one store


async def run_store(
    name: str,
    store: ObjectBackupStore,
    url: str,
    backups: int,
    *,
    rounds: int,
    latency: bool,
    checkout: Path | None,
    limit_s: float,
    service_only: bool = False,
) -> dict[str, Any]:
    print(f"[scale] {name}: populating {backups} x {PARTITIONS} backups", flush=True)
    begin = time.perf_counter()
    await populate(store, backups, PARTITIONS)
    result: dict[str, Any] = {
        "run": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "rounds": rounds,
            "latency": latency,
            "before": checkout is not None,
        },
        "populate_s": round(time.perf_counter() - begin, 1),
    }
    print(f"[scale] {name}: populated in {result['populate_s']} s (load {load_1min()})")
    await store.rebuild_catalog(BackupIdentifierWildcard())
    catalogs = Catalogs(store)
    result["catalog"] = await catalogs.keep()
    variants = [("hooked_0ms", 0.0)] + ([("hooked_20ms", LATENCY_S)] if latency else [])
    after = {v: Figures(f"{name} after {v}", limit_s) for v, _ in variants}
    before = Figures(f"{name} before 0ms", limit_s)
    services = {
        "after": Figures(f"{name} serve after", limit_s),
        "before": Figures(f"{name} serve before", limit_s),
    }
    new_id = backups
    with tempfile.TemporaryDirectory(prefix="scale-serve-") as folder:
        for round_ in range(1, rounds + 1):
            print(f"[scale] {name}: round {round_} of {rounds}", flush=True)
            for variant, seconds in variants if not service_only else ():
                await measure_round(after[variant], store, catalogs, backups, seconds)
            if checkout is not None:
                await before_lists(before, checkout, url, backups)
            # This tree's server on a store without catalogs (the first start after
            # an upgrade: its recovery goes on in the background, where it is stopped),
            # then with them (a store its writers keep): concurrent lists there.
            # The old code never reads catalogs.
            fresh_list = (after["hooked_0ms"].samples.get("warm_list_all_s") or [None])[-1]
            runs: list[tuple[str, Path | None, str, bool]] = [
                ("after", None, "cold", False),
                ("after", None, "warm", True),
            ]
            if checkout is not None:
                runs.append(("before", checkout, "cold", True))
            for side, code, state, lists in runs:
                if state == "cold":
                    await catalogs.drop()
                else:
                    await catalogs.restore()
                new_id += 1
                await service_round(
                    services[side], url, Path(folder), code, backups, new_id,
                    state=state, lists=lists,
                    fresh_list_s=fresh_list,
                )  # fmt: skip
                await settle(store)
            await catalogs.drop()
            await store.rebuild_catalog(BackupIdentifierWildcard())
            await catalogs.keep()
    result["after"] = {}
    for variant, figures in after.items():
        summary = figures.summary()
        result["after"][variant] = {**summary, **ratios(summary)}
    if checkout is not None:
        result["before"] = {"hooked_0ms": before.summary()}
    result["service"] = {}
    for side, figures in services.items():
        if side == "before" and checkout is None:
            continue
        result["service"][side] = figures.summary()
    return result


async def main(
    backups: int,
    latency: bool = True,
    *,
    rounds: int = ROUNDS,
    before: bool = True,
    limit_s: float = TIMEOUT_S,
    stores: frozenset[str] = STORES,
    service_only: bool = False,
) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "backups_per_partition": backups,
        "partitions": PARTITIONS,
        "data_files_per_backup": DATA_FILES_PER_BACKUP,
        "latency_ms": LATENCY_S * 1000,
        "rounds": rounds,
        "timeout_s": limit_s,
        "before_commit": BEFORE,
        "load_start": load_1min(),
    }
    stack = contextlib.ExitStack()
    checkout = stack.enter_context(before_checkout()) if before else None
    with stack:
        if "filesystem" in stores:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp) / "store"
                root.mkdir()
                fs = open_store(root.as_uri())
                assert isinstance(fs, ObjectBackupStore)
                results["filesystem"] = await run_store(
                    "filesystem", fs, root.as_uri(), backups,
                    rounds=rounds, latency=latency, checkout=checkout, limit_s=limit_s,
                    service_only=service_only,
                )  # fmt: skip
        if "s3" in stores:
            with S3Emulator() as emulator:
                url = s3_url(emulator.create_bucket(), "bp")
                s3 = open_store(url)
                assert isinstance(s3, ObjectBackupStore)
                results["s3_moto"] = await run_store(
                    "s3 (moto)", s3, url, backups,
                    rounds=rounds, latency=latency, checkout=checkout, limit_s=limit_s,
                    service_only=service_only,
                )  # fmt: skip
    results["load_end"] = load_1min()
    results["seconds"] = round(time.perf_counter() - started)
    save(results)
    print(json.dumps(results, indent=2))
    return results


def save(results: dict[str, Any]) -> None:
    """Write the ``scale`` section of latest.json, keeping the other sections, and
    within it the stores this run did not measure (each store's figures say when
    and how they were measured: ``run``)."""
    RESULTS.parent.mkdir(exist_ok=True)
    current: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            current = json.loads(RESULTS.read_text())
        except ValueError:
            current = {}
    # Issue 11's size is the ``scale`` section; smaller runs (make bench) have their own.
    backups = results["backups_per_partition"]
    section = "scale" if backups == FULL_SCALE else f"scale ({backups} backups)"
    kept = {k: v for k, v in current.get(section, {}).items() if k in STORE_SECTIONS}
    current[section] = {**kept, **results}
    RESULTS.write_text(json.dumps(current, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backups", type=int, default=FULL_SCALE)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--stores", default=",".join(sorted(STORES)), help="filesystem,s3")
    parser.add_argument(
        "--service-only", action="store_true", help="only the served figures (start-up, lists)"
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.backups,
            not arguments.skip_latency,
            rounds=arguments.rounds,
            before=not arguments.skip_before,
            limit_s=arguments.timeout,
            stores=frozenset(arguments.stores.split(",")),
            service_only=arguments.service_only,
        )
    )
