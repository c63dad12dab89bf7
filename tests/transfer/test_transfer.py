"""Streaming zstd: bounded output, and damaged, truncated or trailing data detected;
cancelling a stalled transfer thread."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator

import pytest
import zstandard

from backup_store.errors import IntegrityError
from backup_store.transfer.files import CHUNK_SIZE
from backup_store.transfer.threads import in_transfer_thread
from backup_store.transfer.zstd import (
    StoredForm,
    ZstdFrameTracker,
    compress_if_smaller,
    decompress_zstd,
)

HIGHLY_COMPRESSIBLE = os.urandom(1000) * 50_000  # 50 MB that compresses to ~30 KB


async def pieces(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def decompress(data: bytes) -> tuple[bytes, int]:
    out, largest = [], 0
    async for chunk in decompress_zstd(pieces(data), key="contents/x"):
        out.append(chunk)
        largest = max(largest, len(chunk))
    return b"".join(out), largest


async def test_round_trip_with_bounded_output_chunks() -> None:
    chunks = [HIGHLY_COMPRESSIBLE[i : i + 65536] for i in range(0, len(HIGHLY_COMPRESSIBLE), 65536)]
    form = StoredForm()
    compressed = b"".join(bytes(c) for c in compress_if_smaller(chunks, form))
    assert form.compressed and form.size == len(compressed)
    assert len(compressed) < len(HIGHLY_COMPRESSIBLE) // 100
    data, largest = await decompress(compressed)
    assert data == HIGHLY_COMPRESSIBLE
    assert largest <= CHUNK_SIZE  # a 64 KiB input piece never becomes a 50 MB output


@pytest.mark.parametrize(
    ("damage", "message"),
    [("truncated", "truncated"), ("flipped", "damaged|zstd"), ("trailing", "not a zstd frame")],
)
async def test_damage_is_an_integrity_error(damage: str, message: str) -> None:
    compressed = zstandard.ZstdCompressor().compress(HIGHLY_COMPRESSIBLE)
    if damage == "truncated":
        compressed = compressed[: len(compressed) // 2]
    elif damage == "flipped":
        flipped = bytearray(compressed)
        flipped[len(flipped) // 2] ^= 0xFF
        compressed = bytes(flipped)
    else:
        compressed += b"junk"
    with pytest.raises(IntegrityError, match=message) as raised:
        await decompress(compressed)
    assert raised.value.key == "contents/x"


@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("content_size", [False, True])
@pytest.mark.parametrize("size", [0, 1, 300_000])
def test_frame_tracker_knows_where_frames_end(
    checksum: bool, content_size: bool, size: int
) -> None:
    def compress(data: bytes) -> bytes:
        compressor = zstandard.ZstdCompressor(
            write_checksum=checksum, write_content_size=content_size
        )
        return compressor.compress(data)

    first = compress(os.urandom(size))
    stream = first + compress(b"second frame")
    ends = (len(first), len(stream))
    cuts = {*range(1, min(len(stream), 64) + 1), *range(1, len(stream) + 1, 997)}
    cuts |= {c + d for c in ends for d in (-4, -3, -1, 0, 1) if 0 < c + d <= len(stream)}
    for cut in sorted(cuts):
        tracker = ZstdFrameTracker()
        for start in range(0, cut, 4096):
            tracker.feed(stream[start : min(start + 4096, cut)])
        assert tracker.complete == (cut in ends), cut


def test_data_that_does_not_shrink_is_stored_plain() -> None:
    random = os.urandom(3 * CHUNK_SIZE)
    chunks = [random[i : i + CHUNK_SIZE] for i in range(0, len(random), CHUNK_SIZE)]
    form = StoredForm()
    stored = b"".join(bytes(c) for c in compress_if_smaller(chunks, form))
    assert not form.compressed
    assert stored == random and form.size == len(random)


async def test_cancelling_a_stalled_transfer_waits_no_longer_than_its_idle_timeout() -> None:
    # A request blocked on a store that stopped answering: cancelling its verb
    # must not wait for the request's own timeout (minutes), only for the idle one.
    entered, release = threading.Event(), threading.Event()

    def stalled(stop: threading.Event) -> None:
        entered.set()
        release.wait()

    task = asyncio.create_task(in_transfer_thread(stalled, idle_seconds=0.5))
    await asyncio.get_running_loop().run_in_executor(None, entered.wait)
    task.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=20)
    finally:
        release.set()
