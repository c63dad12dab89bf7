"""The bandwidth limit: one token bucket shared by every transfer of the process.

The bucket is watched on an injected clock (its sleeps advance the clock, nothing
waits): several transfers taking chunks of different sizes stay within ±10 % of the
limit over every 10-second window; every body sent or received through a store
wrapped in :class:`ThrottledIO` is charged, copies made inside the store are not.
"""

from __future__ import annotations

import heapq
import os
import threading
from pathlib import Path

import pytest

from backup_store import Backup, BackupDescriptor, BackupIdentifier, NamedFileSet
from backup_store.errors import ConfigurationError
from backup_store.io import ThrottledIO
from backup_store.transfer.bandwidth import BURST_SECONDS, TokenBucket
from testbed.cloud_stores import s3_store
from testbed.emulators import S3Bucket

MB = 1_000_000
MIB = 1024 * 1024


class FakeClock:
    """Time that passes only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.slept += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def moved_per_window(rate: float, takers: list[int], seconds: float) -> list[float]:
    """Bytes moved in each 10-second window (sliding by a second) when ``takers``
    (one chunk size each) take from one bucket for ``seconds``, as events in time:
    each taker moves its next chunk once its wait is over."""
    now = [0.0]
    bucket = TokenBucket(rate, clock=lambda: now[0])
    ready = [(0.0, i) for i in range(len(takers))]  # (when the taker asks, which)
    moves: list[tuple[float, int]] = []
    while ready[0][0] < seconds:
        now[0], taker = heapq.heappop(ready)
        moves_at = now[0] + bucket.charge(takers[taker])
        moves.append((moves_at, takers[taker]))
        heapq.heappush(ready, (moves_at, taker))
    return [
        sum(size for at, size in moves if start <= at < start + 10)
        for start in range(0, int(seconds) - 10)
    ]


@pytest.mark.parametrize("rate", [20 * MB, 50 * MB, 100 * MB])
@pytest.mark.parametrize(
    "takers",
    [[MIB], [MIB] * 8, [64 * 1024] * 30 + [8 * MIB] * 2],
    ids=["one transfer", "eight transfers", "small and ranged"],
)
def test_every_10_second_window_is_within_10_percent(rate: float, takers: list[int]) -> None:
    windows = moved_per_window(rate, takers, 60)
    assert all(0.9 * 10 * rate <= moved <= 1.1 * 10 * rate for moved in windows), (
        min(windows) / (10 * rate),
        max(windows) / (10 * rate),
    )


def test_an_idle_bucket_lets_a_burst_through_then_charges() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10 * MB, clock=clock, sleep=clock.sleep)
    bucket.take(int(BURST_SECONDS * 10 * MB))  # what a full bucket holds: no wait
    assert clock.slept == 0
    bucket.take(5 * MB)  # then the rate: half a second for 5 MB
    assert clock.slept == pytest.approx(0.5)
    clock.now += 60  # a minute idle refills no more than the burst
    bucket.take(int(BURST_SECONDS * 10 * MB) + MB)
    assert clock.slept == pytest.approx(0.6)


async def test_takers_on_the_event_loop_share_the_bucket() -> None:
    clock = FakeClock()
    bucket = TokenBucket(MB, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)
    bucket.take(int(BURST_SECONDS * MB))
    await bucket.take_async(MB)
    bucket.take(MB)
    assert clock.slept == pytest.approx(2.0)
    assert bucket.taken == int(BURST_SECONDS * MB) + 2 * MB


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="positive"):
        TokenBucket(0)


async def test_store_charges_bytes_sent_and_received_but_not_copies(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    clock = FakeClock()
    rate = 4 * MB
    bucket = TokenBucket(rate, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)
    store = s3_store(s3_bucket)
    store.wrap_io(lambda io: ThrottledIO(io, bucket))
    sizes = {"1.log": 3 * MIB, "2.log": 2 * MIB + 5, "3.log": 100}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(os.urandom(size))
    files = NamedFileSet({name: tmp_path / name for name in sizes})
    descriptor = BackupDescriptor(None, 1, 1, "8.7.0")
    data = sum(sizes.values())

    await store.save(Backup(BackupIdentifier(1, 2, 3), descriptor, segments=files))
    sent = bucket.taken
    assert data < sent < data + 64 * 1024  # the files, and manifests and records
    # Charged at the limit: the waits add up to the bytes over the rate, less a burst.
    assert clock.slept == pytest.approx(sent / rate - BURST_SECONDS, abs=0.01)

    await store.save(Backup(BackupIdentifier(1, 2, 4), descriptor, segments=files))
    assert store.counters.files_copied == 3  # copied inside the store: no traffic
    assert bucket.taken - sent < 64 * 1024

    before = bucket.taken
    await store.restore(BackupIdentifier(1, 2, 4), tmp_path / "restored")
    assert data < bucket.taken - before < data + 64 * 1024
