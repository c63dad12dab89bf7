"""Big local files are written past the page cache (``O_DIRECT``), byte for byte.

A save or restore of gigabytes through the filesystem store must neither leave
them in the page cache (evicting what the broker works with) nor pay for copying
them there; small files, and chunks not in our own page-aligned buffers, still go
through the cache. Whatever path a chunk takes, the file holds exactly the bytes.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    FilesystemBackupStore,
    NamedFileSet,
)
from backup_store.transfer.files import CHUNK_SIZE, page_aligned_buffer, read_file, write_file
from testbed.cloud_stores import s3_store
from testbed.emulators.s3 import S3Bucket

MIB = 1024 * 1024
_LIBC = ctypes.CDLL(None, use_errno=True)


def resident_bytes(path: Path) -> int:
    """Bytes of ``path`` in the page cache (``mincore`` of a private mapping)."""
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    with path.open("rb") as file, mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY) as m:
        address = ctypes.addressof(ctypes.c_char.from_buffer(m))
        vector = (ctypes.c_ubyte * pages)()
        assert _LIBC.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) == 0
        return sum(v & 1 for v in vector) * mmap.PAGESIZE


def aligned_chunk(data: bytes) -> memoryview:
    buffer = page_aligned_buffer(len(data))
    buffer[: len(data)] = data
    return buffer[: len(data)]


def test_every_kind_of_chunk_lands_byte_for_byte(tmp_path: Path) -> None:
    pieces = [os.urandom(n) for n in (MIB, 2 * MIB, 5000, MIB, 3 * MIB + 17, MIB)]
    chunks: list[bytes | bytearray | memoryview] = [
        aligned_chunk(pieces[0]),  # through the cache (the first MiB)
        aligned_chunk(pieces[1]),  # direct
        pieces[2],  # read-only bytes, not a page multiple: through the cache
        aligned_chunk(pieces[3]),  # the offset is no longer aligned: through the cache
        bytearray(pieces[4]),  # not page-aligned
        aligned_chunk(pieces[5]),
    ]
    target = tmp_path / "mixed"
    write_file(target, chunks, sync=False)
    assert target.read_bytes() == b"".join(pieces)


def test_chunks_of_any_size_from_elsewhere_are_gathered_into_whole_pages(
    tmp_path: Path,
) -> None:
    # What a download hands over: read-only pieces of odd sizes.
    data = os.urandom(16 * MIB + 5)
    pieces = [data[i : i + 100_003] for i in range(0, len(data), 100_003)]
    target = tmp_path / "downloaded"
    write_file(target, pieces, sync=False)
    # The first MiB, the rest of the page it ends in, and the tail's page: cached.
    assert resident_bytes(target) <= CHUNK_SIZE + 3 * 4096
    assert target.read_bytes() == data


def test_a_big_file_bypasses_the_page_cache_and_a_small_one_does_not(tmp_path: Path) -> None:
    sources = {"big": 16 * MIB + 100, "small": 64 * 1024}
    for name, size in sources.items():
        (tmp_path / name).write_bytes(os.urandom(size))
        write_file(tmp_path / f"{name}.copy", read_file(tmp_path / name, size), sync=False)
    # Only the first MiB and the tail's last page went through the cache.
    assert resident_bytes(tmp_path / "big.copy") <= CHUNK_SIZE + 4096
    assert resident_bytes(tmp_path / "small.copy") == sources["small"]
    for name in sources:
        assert (tmp_path / f"{name}.copy").read_bytes() == (tmp_path / name).read_bytes()


async def test_a_big_file_saved_and_restored_is_not_left_in_the_page_cache(
    tmp_path: Path,
) -> None:
    source = tmp_path / "segment-1.log"
    source.write_bytes(os.urandom(16 * MIB + 4096 + 7))
    store = FilesystemBackupStore(tmp_path / "store")
    backup_id = BackupIdentifier(1, 2, 3)
    descriptor = BackupDescriptor("snap", 1, 3, "8.7.0")
    await store.save(Backup(backup_id, descriptor, segments=NamedFileSet({source.name: source})))
    [stored] = list((tmp_path / "store").rglob(source.name))
    # The first MiB and the unaligned tail (two pages here) went through the cache.
    assert resident_bytes(stored) <= CHUNK_SIZE + 2 * 4096
    await store.restore(backup_id, tmp_path / "restored")
    [copy] = list((tmp_path / "restored").rglob(source.name))
    assert resident_bytes(copy) <= CHUNK_SIZE + 2 * 4096
    assert copy.read_bytes() == stored.read_bytes() == source.read_bytes()


async def test_a_big_file_restored_from_s3_is_not_left_in_the_page_cache(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    source = tmp_path / "segment-1.log"
    source.write_bytes(os.urandom(16 * MIB + 4096 + 7))
    store = s3_store(s3_bucket, "bp")
    backup_id = BackupIdentifier(1, 2, 3)
    descriptor = BackupDescriptor("snap", 1, 3, "8.7.0")
    await store.save(Backup(backup_id, descriptor, segments=NamedFileSet({source.name: source})))
    await store.restore(backup_id, tmp_path / "restored")
    [copy] = list((tmp_path / "restored").rglob(source.name))
    assert resident_bytes(copy) <= CHUNK_SIZE + 3 * 4096
    assert copy.read_bytes() == source.read_bytes()
