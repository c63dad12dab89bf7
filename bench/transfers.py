"""Transfers side by side: our save and restore against raw obstore, rclone and the
vendor SDK's transfer manager, at 0 and 20 ms round trip; and the bandwidth limit.

Each workload (2 x 128 MiB, 2,000 x 64 KiB; quick mode: the same) is saved and
restored by the library and by every baseline in interleaved pairs in the same run
(:class:`bench.__main__.Scenario`: ratio baseline time / our time, median and
min-max; > 1 means we are faster). The 20 ms runs put every client behind the same
TCP proxy (:mod:`bench.latency_proxy`, 10 ms each way). Baselines:

* ``raw``: obstore put/get with our part settings, one thread per file, + SHA-256;
* ``rclone``: ``rclone copy`` with our concurrency and part settings (+ ``sync -f``);
* ``boto3`` (S3), ``azure-sdk`` (azure-storage-blob), ``gcs-sdk`` (google-cloud-storage):
  the SDK's own transfer manager with its default part size and threads per file,
  files in parallel as our concurrency (+ ``sync -f`` on restore); skipped, and said,
  where the SDK is not installed.

The bandwidth limit (``--max-bandwidth``): our S3 save and restore of 2 x 128 MiB,
repeated for at least 12 s under each limit (20, 50 and 100 MB/s): bytes moved over
the time taken, and every 10-second window of the bytes the limit let through
(sampled every 0.25 s), as a fraction of the limit.

``python -m bench.transfers [--quick] [--only s3,azure,gcs,limit]`` (quick: S3 and the
limit only, 3 pairs); results go to the ``transfers (SECTIONS)`` section of
``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backup_store import ObjectBackupStore
from backup_store.cli.opening import limit_transfers
from backup_store.cli.params import TransferLimits
from backup_store.transfer.bandwidth import TokenBucket
from bench.__main__ import (
    MIB,
    Backups,
    Baselines,
    Scenario,
    Settings,
    load,
    make_files,
    make_small_files,
    run_command,
)
from testbed import emulators as emulated
from testbed.cloud_stores import azure_store, gcs_store, s3_store

MB = 1_000_000
LIMITS_MB_S = (20, 50, 100)
LIMIT_SECONDS = 12.0


@contextlib.contextmanager
def latency_proxy(url: str, delay_ms: float, window: int | None = None) -> Iterator[str]:
    """``url`` with its port replaced by a proxy's that adds ``delay_ms`` per round trip
    (``window``: bytes in flight per direction of a connection, see :mod:`bench.latency_proxy`)."""
    if not delay_ms:
        yield url
        return
    parts = urlsplit(url)
    window_arg = [] if window is None else [str(window)]
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.latency_proxy", str(parts.port), str(delay_ms), *window_arg],
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield parts._replace(netloc=f"127.0.0.1:{port}").geturl()
    finally:
        process.terminate()
        process.wait()


def proxied(
    kind: str, bucket: Any, delay_ms: float, stack: contextlib.ExitStack, window: int | None = None
) -> Any:
    """The bucket as every client reaches it, through the proxy when ``delay_ms``."""

    def through(url: str) -> str:
        return stack.enter_context(latency_proxy(url, delay_ms, window))

    if kind == "s3":
        return dataclasses.replace(bucket, endpoint=through(bucket.endpoint))
    if kind == "azure":
        return dataclasses.replace(bucket, account_url=through(bucket.account_url))
    # GCS: every client through the test adapter (the route our store takes).
    adapter = through(bucket.base_url)
    return dataclasses.replace(bucket, base_url=adapter, emulator_url=adapter)


# ------------------------------------------------------------------ SDK transfer managers


class Sdk:
    """One SDK's transfer manager: files in parallel, each with the SDK's own parts."""

    name = ""

    def __init__(self, bucket: Any, concurrency: int) -> None:
        self.bucket = bucket
        self.pool = ThreadPoolExecutor(max_workers=concurrency)

    def upload(self, path: Path, key: str) -> None:
        raise NotImplementedError

    def download(self, key: str, target: Path) -> None:
        raise NotImplementedError

    async def each(self, work: Callable[[Path], None], paths: list[Path]) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.pool, work, p) for p in paths))

    async def save(self, paths: list[Path]) -> None:
        await self.each(lambda p: self.upload(p, f"sdk/{p.name}"), paths)

    async def restore(self, paths: list[Path], out: Path) -> None:
        out.mkdir(parents=True)
        await self.each(lambda p: self.download(f"sdk/{p.name}", out / p.name), paths)
        await run_command("sync", "-f", str(out))


class Boto3(Sdk):
    name = "boto3"

    def __init__(self, bucket: Any, concurrency: int) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        super().__init__(bucket, concurrency)
        self.client = boto3.client(
            "s3", endpoint_url=bucket.endpoint, region_name=emulated.S3_REGION,
            aws_access_key_id=emulated.S3_ACCESS_KEY_ID,
            aws_secret_access_key=emulated.S3_SECRET_ACCESS_KEY,
            config=Config(max_pool_connections=10 * concurrency),
        )  # fmt: skip
        self.config = TransferConfig()  # its defaults: 8 MiB parts, 10 threads per file

    def upload(self, path: Path, key: str) -> None:
        self.client.upload_file(str(path), self.bucket.name, key, Config=self.config)

    def download(self, key: str, target: Path) -> None:
        self.client.download_file(self.bucket.name, key, str(target), Config=self.config)


class AzureSdk(Sdk):
    name = "azure-sdk"

    def __init__(self, bucket: Any, concurrency: int) -> None:
        from azure.storage.blob import ContainerClient

        super().__init__(bucket, concurrency)
        self.client = ContainerClient(
            bucket.account_url, bucket.name,
            credential={
                "account_name": emulated.AZURITE_ACCOUNT, "account_key": emulated.AZURITE_KEY
            },
        )  # fmt: skip

    def upload(self, path: Path, key: str) -> None:
        with path.open("rb") as data:
            self.client.upload_blob(key, data, overwrite=True, max_concurrency=8)

    def download(self, key: str, target: Path) -> None:
        with target.open("wb") as out:
            self.client.download_blob(key, max_concurrency=8).readinto(out)


class GcsSdk(Sdk):
    name = "gcs-sdk"

    def __init__(self, bucket: Any, concurrency: int) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        super().__init__(bucket, concurrency)
        anonymous: Any = AnonymousCredentials  # (untyped)
        client = storage.Client(
            project="bench", credentials=anonymous(),
            client_options={"api_endpoint": bucket.base_url},
        )  # fmt: skip
        self.gcs_bucket = client.bucket(bucket.name)

    def upload(self, path: Path, key: str) -> None:
        self.gcs_bucket.blob(key).upload_from_filename(str(path))

    def download(self, key: str, target: Path) -> None:
        self.gcs_bucket.blob(key).download_to_filename(str(target))


SDKS: dict[str, type[Sdk]] = {"s3": Boto3, "azure": AzureSdk, "gcs": GcsSdk}
STORES: dict[str, Callable[..., ObjectBackupStore]] = {
    "s3": s3_store, "azure": azure_store, "gcs": gcs_store,
}  # fmt: skip


# ------------------------------------------------------------------ side by side


async def side_by_side(
    kind: str, bucket: Any, name: str, paths: list[Path], work: Path, pairs: int
) -> dict[str, Any]:
    """Save and restore of ``paths``: ours against every baseline, in pairs."""
    work.mkdir(parents=True)
    mib = sum(p.stat().st_size for p in paths) / MIB
    store = STORES[kind](bucket)
    store.incremental = False  # every save sends every byte, as the baselines do
    settings = Settings.of(store)
    backups = Backups(store, paths, work)
    scenario = Scenario(name, mib, pairs)
    out = work / "out"
    base = Baselines.of(kind, bucket, settings, paths, out)
    save, restore = base.save, base.restore
    try:
        sdk = SDKS[kind](bucket, settings.concurrency)
        save[sdk.name] = lambda: sdk.save(paths)
        restore[sdk.name] = lambda: sdk.restore(paths, out)
        await sdk.save(paths)
    except ImportError as error:
        scenario.results["sdk"] = f"not installed: {error}"
        print(f"  {name}: SDK not installed ({error})", flush=True)

    def cleanup() -> Awaitable[None]:
        return backups.reset(out, work / "restored")

    await backups.save()
    await base.raw.put(base.raw_store, "raw", paths, sha=False)
    await save["rclone"]()
    await scenario.compare("save", backups.save, save, cleanup, child_cpu=frozenset({"rclone"}))
    await scenario.compare(
        "restore", backups.restore, restore, cleanup, child_cpu=frozenset({"rclone"})
    )
    return scenario.results


# ------------------------------------------------------------------ the bandwidth limit


async def sample(meter: TokenBucket, samples: list[tuple[float, int]]) -> None:
    """Record the bytes the limit let through, every 0.25 s."""
    while True:
        samples.append((time.perf_counter(), meter.taken))
        await asyncio.sleep(0.25)


async def limited(bucket: Any, paths: list[Path], work: Path) -> dict[str, Any]:
    """Our save and restore under each limit: the rate over the run and per 10 s window."""
    results: dict[str, Any] = {"load_before": load()}
    for limit in LIMITS_MB_S:
        store = s3_store(bucket, f"limit-{limit}")
        store.incremental = False  # every save sends every byte
        meter = limit_transfers([store], TransferLimits(max_bandwidth=limit * MB))
        assert meter is not None
        backups = Backups(store, paths, work)
        figures: dict[str, Any] = {}
        for op in ("save", "restore"):
            if op == "restore" and backups.kept is None:
                await backups.save()
            samples: list[tuple[float, int]] = []

            sampler = asyncio.create_task(sample(meter, samples))
            start, moved_from = time.perf_counter(), meter.taken
            while time.perf_counter() - start < LIMIT_SECONDS:
                if op == "save":
                    await backups.save()
                    await backups.drop_last()
                else:
                    await backups.restore()
                    shutil.rmtree(work / "restored", ignore_errors=True)
            elapsed = time.perf_counter() - start
            sampler.cancel()
            moved = meter.taken - moved_from
            windows = [
                (later[1] - earlier[1]) / (later[0] - earlier[0]) / (limit * MB)
                for i, earlier in enumerate(samples)
                for later in samples[i:]
                if 10 <= later[0] - earlier[0] < 10.25
            ]
            figures[op] = {
                "seconds": round(elapsed, 1),
                "rate_fraction": round(moved / elapsed / (limit * MB), 3),
                "windows_10s": len(windows),
                "window_fraction_min": round(min(windows), 3) if windows else None,
                "window_fraction_median": round(statistics.median(windows), 3) if windows else None,
                "window_fraction_max": round(max(windows), 3) if windows else None,
            }
            print(f"  limit {limit} MB/s {op}: {figures[op]}  ({load()})", flush=True)
        results[f"{limit} MB/s"] = figures
    return results


# ------------------------------------------------------------------ main


async def main(
    quick: bool,
    only: list[str],
    save: Callable[[dict[str, Any]], None],
    *,
    sizes: str = "large,small",
) -> None:
    """Every figure, the bandwidth limit first, then the large files, then the small
    ones; ``save(results)`` after each (a run cut short keeps what it measured)."""
    pairs = 3 if quick else 5
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "load_start": load()}
    print(f"transfers benchmark, {results['mode']} mode, {pairs} pairs; {load()}", flush=True)
    emulator_types: dict[str, Any] = {
        "s3": emulated.S3Emulator, "azure": emulated.AzureEmulator, "gcs": emulated.GcsEmulator,
    }  # fmt: skip
    kinds = [kind for kind in emulator_types if kind in only]
    with (
        tempfile.TemporaryDirectory(prefix="bench-transfers-") as tmp,
        contextlib.ExitStack() as up,
    ):
        work = Path(tmp)
        running = {kind: up.enter_context(emulator_types[kind]()) for kind in kinds}
        workloads = {
            "2 x 128 MiB": make_files(work / "big", (128, 128)),
            "2,000 x 64 KiB": make_small_files(work / "small", 2000),
        }
        if "small" not in sizes:
            del workloads["2,000 x 64 KiB"]
        if "limit" in only:
            s3 = running.get("s3") or up.enter_context(emulated.S3Emulator())
            results["s3 bandwidth limit"] = await limited(
                s3.create_bucket(), workloads["2 x 128 MiB"], work / "limit"
            )
            save(results)
        for workload, paths in workloads.items():
            if workload.startswith("2 x") and "large" not in sizes:
                continue
            for kind in kinds:
                for delay in (0, 20):
                    name = f"{kind} {workload} {delay} ms"
                    with contextlib.ExitStack() as stack:
                        bucket = proxied(kind, running[kind].create_bucket(), delay, stack)
                        results[name] = await side_by_side(
                            kind, bucket, name, paths, work / name.replace(" ", "-"), pairs
                        )
                    results["load_end"] = load()
                    save(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=None, help="s3,azure,gcs,limit")
    parser.add_argument("--sizes", default="large,small", help="large (2 x 128 MiB), small")
    arguments = parser.parse_args()
    quick = arguments.quick or os.environ.get("BENCH") == "quick"
    default = "limit,s3" if quick else "limit,s3,azure,gcs"
    sections = (arguments.only or default).split(",")
    out = Path(__file__).parent / "results" / "latest.json"

    def save(found: dict[str, Any]) -> None:
        existing = json.loads(out.read_text()) if out.exists() else {}
        existing[f"transfers ({','.join(sections)}; {arguments.sizes})"] = found
        out.write_text(json.dumps(existing, indent=2) + "\n")

    asyncio.run(main(quick, sections, save, sizes=arguments.sizes))
