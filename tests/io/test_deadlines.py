"""A store that stops answering.

A moto server of this test's own is frozen (SIGSTOP) or killed (SIGKILL) in the
middle of a save: the save ends with a typed error within the configured
deadlines, and the backup is FAILED or still IN_PROGRESS, never COMPLETED
without its data. A transfer whose bytes keep moving is never cut, however
long it takes in total.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backup_store import (
    BackupIdentifier,
    BackupStatusCode,
    StoreUnavailableError,
)
from backup_store.io import Deadlines, HookedIO, ObstoreIO, Request
from backup_store.registry import open_store
from backup_store.stores.memory import MemoryBackupStore
from backup_store.stores.s3 import S3BackupStore, S3Config
from backup_store.testing.data import make_backup
from testbed.cloud_stores import s3_config, s3_url
from testbed.emulators import S3Bucket, S3Emulator

METADATA_SECONDS = 2.0
IDLE_SECONDS = 3.0
SLACK = 15.0
"""Generous room for a loaded machine: the point is seconds, not the 360 s of before."""
ID = BackupIdentifier(0, 1, 7)


@pytest.fixture
def moto() -> Iterator[S3Emulator]:
    """A moto server of this test alone: freezing it disturbs no other test."""
    emulator = S3Emulator().start()
    try:
        yield emulator
    finally:
        pid = server_pid(emulator)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        emulator.stop()


def server_pid(emulator: S3Emulator) -> int | None:
    (process,) = emulator._processes
    return process.pid


def store_over(bucket: S3Bucket, on_request: signal.Signals | None, trigger: str) -> S3BackupStore:
    """An S3 store with short deadlines whose server gets ``on_request`` just before
    the first request whose key contains ``trigger``."""
    config = s3_config(
        bucket, metadata_timeout_seconds=METADATA_SECONDS, idle_timeout_seconds=IDLE_SECONDS
    )
    store = S3BackupStore(config)
    pid = None

    async def hook(request: Request) -> None:
        nonlocal pid
        if on_request is not None and pid is None and trigger in request.key:
            pid = server_pid_of[bucket.endpoint]
            os.kill(pid, on_request)

    store.io = HookedIO(store.io, hook)
    return store


server_pid_of: dict[str, int] = {}


@pytest.fixture
def bucket(moto: S3Emulator) -> S3Bucket:
    pid = server_pid(moto)
    assert pid is not None
    server_pid_of[moto.endpoint] = pid
    return moto.create_bucket()


async def timed_save(store: S3BackupStore, folder: Path) -> tuple[BaseException, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StoreUnavailableError) as raised:
        await store.save(make_backup(folder, ID, sizes={"1.log": 1024, "2.log": 12 * 1024 * 1024}))
    return raised.value, loop.time() - started


@pytest.mark.parametrize("trigger", ["manifest.json", "segments/"])
async def test_a_frozen_server_ends_the_save_with_a_typed_error_in_time(
    bucket: S3Bucket, moto: S3Emulator, tmp_path: Path, trigger: str
) -> None:
    store = store_over(bucket, signal.SIGSTOP, trigger)
    error, took = await timed_save(store, tmp_path / "data")
    assert "stopped answering" in str(error)
    # A transfer waits IDLE_SECONDS, then marking FAILED waits METADATA_SECONDS at most.
    assert took < IDLE_SECONDS + 2 * METADATA_SECONDS + SLACK
    os.kill(server_pid_of[bucket.endpoint], signal.SIGCONT)
    async with S3BackupStore(s3_config(bucket)) as reader:
        status = await reader.get_status(ID)
    assert status.status_code is not BackupStatusCode.COMPLETED
    # Listing a frozen store is bounded too.
    os.kill(server_pid_of[bucket.endpoint], signal.SIGSTOP)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StoreUnavailableError, match="stopped answering"):
        await S3BackupStore(
            s3_config(bucket, metadata_timeout_seconds=METADATA_SECONDS)
        ).list()
    assert loop.time() - started < METADATA_SECONDS + SLACK


async def test_a_killed_server_ends_the_save_with_a_typed_error_in_time(
    bucket: S3Bucket, tmp_path: Path
) -> None:
    store = store_over(bucket, signal.SIGKILL, "segments/")
    error, took = await timed_save(store, tmp_path / "data")
    assert isinstance(error, StoreUnavailableError)
    assert took < IDLE_SECONDS + 2 * METADATA_SECONDS + SLACK


async def slow_source(chunks: int, gap: float) -> AsyncIterator[bytes]:
    for _ in range(chunks):
        await asyncio.sleep(gap)  # a slow producer: the behaviour under test
        yield b"x" * 1024


async def test_an_upload_whose_bytes_keep_moving_is_never_cut() -> None:
    # Four times the idle timeout in total, never idle for long.
    async with MemoryBackupStore() as store:
        assert isinstance(store.io, ObstoreIO)
        io = ObstoreIO(store.io.store, description="memory://", deadlines=Deadlines(1.0, 0.5))
        await io.put("big", slow_source(10, 0.2))
        stored = await io.head("big")
        assert stored is not None and stored.size == 10 * 1024
        with pytest.raises(StoreUnavailableError, match=r"nothing for 0\.5 s"):
            await io.put("stalled", slow_source(2, 1.0))
        assert await io.head("stalled") is None


def test_deadlines_come_from_the_config_and_the_url(bucket: S3Bucket) -> None:
    store = open_store(s3_url(bucket) + "&metadata_timeout_seconds=7&idle_timeout_seconds=90")
    assert isinstance(store, S3BackupStore) and isinstance(store.io, ObstoreIO)
    assert store.io.deadlines == Deadlines(7.0, 90.0)
    default = S3BackupStore(S3Config(bucket=bucket.name, endpoint=bucket.endpoint))
    assert isinstance(default.io, ObstoreIO)
    assert default.io.deadlines == Deadlines(30.0, 120.0)
