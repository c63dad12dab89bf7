"""A failure in one part of one file costs that file only.

A proxy in front of the emulator (:class:`tests.support.recording_proxy.RecordingProxy`
with a :class:`~tests.support.recording_proxy.Fault`) fails one part of a multipart
upload (S3 and GCS: an UploadPart; Azure: a Put Block) or one ranged GET of a restore,
and counts every request: the failing part is sent again and nothing else is; a part
that keeps failing fails the save with a typed error naming the file, and its
multipart upload is aborted (no parts left); a corrupted range fails the restore with
an :class:`IntegrityError` naming the file (the whole file's size and SHA-256 are
checked), and nothing is left in the target folder. A completion refused with 409 or
412 (as a retried one may be) is a typed error naming the file.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from backup_store import Backup, BackupDescriptor, BackupIdentifier, NamedFileSet, ObjectBackupStore
from backup_store.errors import BackupStoreError, IntegrityError
from backup_store.model import BackupStatusCode
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from testbed.emulators import AZURITE_ACCOUNT, AzureContainer, EmulatedBucket, GcsBucket, S3Bucket
from tests.support.backends import unfinished_uploads
from tests.support.recording_proxy import Fault, Recorded, RecordingProxy

MIB = 1024 * 1024
PART = 5 * MIB
SIZE = 4 * PART + 1  # five parts (ranges), the last one a byte
NAMES = ("a.log", "b.log", "c.log")
FAILING = "a.log"
BACKUP_ID = BackupIdentifier(1, 2, 3)


def file_of(request: Recorded) -> str:
    """The name of the file a request is about (GCS's keys come percent-encoded)."""
    return unquote(urlsplit(request.path).path).rsplit("/", 1)[-1]


def part_of(request: Recorded) -> str | None:
    """Which part of its file a request uploads (S3, GCS: the part number; Azure:
    the block id), None for any other request."""
    query = parse_qs(urlsplit(request.path).query)
    if request.method != "PUT":
        return None
    if "partNumber" in query:
        return query["partNumber"][0]
    if query.get("comp") == ["block"]:
        return query["blockid"][0]
    return None


def range_of(request: Recorded) -> str | None:
    """The byte range a GET asks for, None for any other request."""
    if request.method != "GET":
        return None
    return request.headers.get("range") or request.headers.get("x-ms-range")


def part_request_of_a(request: Recorded) -> bool:
    return file_of(request) == FAILING and part_of(request) is not None


def third_range_of_a(request: Recorded) -> bool:
    return file_of(request) == FAILING and range_of(request) == f"bytes={2 * PART}-{3 * PART - 1}"


def through(bucket: EmulatedBucket, proxy: RecordingProxy) -> EmulatedBucket:
    """The bucket as reached through ``proxy``."""
    if isinstance(bucket, S3Bucket):
        return dataclasses.replace(bucket, endpoint=proxy.endpoint)
    if isinstance(bucket, AzureContainer):
        return dataclasses.replace(bucket, account_url=f"{proxy.endpoint}/{AZURITE_ACCOUNT}")
    assert isinstance(bucket, GcsBucket)
    return dataclasses.replace(bucket, base_url=proxy.endpoint)


def upstream(bucket: EmulatedBucket) -> str:
    if isinstance(bucket, S3Bucket):
        return bucket.endpoint
    if isinstance(bucket, AzureContainer):
        return bucket.account_url
    assert isinstance(bucket, GcsBucket)
    return bucket.base_url


def store_of(bucket: EmulatedBucket, **options: Any) -> ObjectBackupStore:
    """A store with 5 MiB parts and ranged restores on every backend."""
    options = {"part_size": PART, "part_concurrency": 3, "ranged_reads": True, **options}
    makers: dict[type, Callable[..., ObjectBackupStore]] = {
        S3Bucket: s3_store, AzureContainer: azure_store, GcsBucket: gcs_store,
    }  # fmt: skip
    store = makers[type(bucket)](bucket, **options)
    store.incremental = False
    return store


def sources(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name in NAMES:
        paths[name] = tmp_path / "source" / name
        paths[name].parent.mkdir(exist_ok=True)
        paths[name].write_bytes(os.urandom(SIZE))
    return paths


def backup_of(paths: dict[str, Path]) -> Backup:
    descriptor = BackupDescriptor(None, 1, 1, "8.7.0")
    return Backup(BACKUP_ID, descriptor, segments=NamedFileSet(paths))


def sent(proxy: RecordingProxy, what: Callable[[Recorded], str | None]) -> Counter[tuple[str, str]]:
    """How often each (file, part or range) was asked for."""
    return Counter((file_of(r), found) for r in proxy.requests if (found := what(r)) is not None)


def names_the_failing_file(error: BackupStoreError) -> bool:
    return error.key is not None and error.key.endswith(f"segments/{FAILING}")


def staged_and_restored(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir()) if target.exists() else []


async def test_a_failed_part_is_sent_again_alone(
    emulated_bucket: EmulatedBucket, tmp_path: Path
) -> None:
    paths = sources(tmp_path)
    fault = Fault(part_request_of_a, skip=1)  # the second part request of a.log, once
    with RecordingProxy(upstream(emulated_bucket), faults=[fault]).running() as proxy:
        store = store_of(through(emulated_bucket, proxy))
        await store.save(backup_of(paths))
        parts = sent(proxy, part_of)
    assert len(fault.injected) == 1
    failed = (FAILING, str(part_of(fault.injected[0])))
    assert parts.pop(failed) == 2  # sent again, and every other part of every file once
    assert set(parts.values()) == {1} and len(parts) == 5 * len(NAMES) - 1
    restored = await store_of(emulated_bucket).restore(BACKUP_ID, tmp_path / "restored")
    for name, path in paths.items():
        assert restored.segments.sources[name].path.read_bytes() == path.read_bytes()


async def test_a_part_that_keeps_failing_fails_the_save_and_leaves_no_parts(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    paths = sources(tmp_path)
    fault = Fault(part_request_of_a, skip=1, times=None)  # from the second part on, always
    with RecordingProxy(s3_bucket.endpoint, faults=[fault]).running() as proxy:
        store = store_of(through(s3_bucket, proxy), max_retries=1)
        with pytest.raises(BackupStoreError) as raised:
            await store.save(backup_of(paths))
        parts = sent(proxy, part_of)
        aborts = [r for r in proxy.requests if r.method == "DELETE" and "uploadId" in r.path]
    assert names_the_failing_file(raised.value)
    assert "500" in str(raised.value)
    # The failing part was tried twice (one retry), then a.log's upload was aborted
    # (and those of files still in flight, stopped: the save has failed).
    assert max(n for (name, _), n in parts.items() if name == FAILING) == 2
    assert FAILING in {file_of(r) for r in aborts}
    assert unfinished_uploads(s3_bucket) == []
    # No part of another file was sent twice.
    assert all(n == 1 for (name, _), n in parts.items() if name != FAILING)
    assert (await store.get_status(BACKUP_ID)).status_code is BackupStatusCode.FAILED


async def saved_for_restore(bucket: EmulatedBucket, tmp_path: Path) -> dict[str, Path]:
    paths = sources(tmp_path)
    await store_of(bucket).save(backup_of(paths))
    return paths


async def test_a_failed_range_is_read_again_alone(
    emulated_bucket: EmulatedBucket, tmp_path: Path
) -> None:
    paths = await saved_for_restore(emulated_bucket, tmp_path)
    fault = Fault(third_range_of_a)
    with RecordingProxy(upstream(emulated_bucket), faults=[fault]).running() as proxy:
        store = store_of(through(emulated_bucket, proxy))
        restored = await store.restore(BACKUP_ID, tmp_path / "restored")
        ranges = sent(proxy, range_of)
        whole_reads = [r for r in proxy.requests if r.method == "GET" and range_of(r) is None]
    assert len(fault.injected) == 1
    failed = (FAILING, f"bytes={2 * PART}-{3 * PART - 1}")
    assert ranges.pop(failed) == 2  # read again, and every other range of every file once
    assert set(ranges.values()) == {1} and len(ranges) == 5 * len(NAMES) - 1
    assert {file_of(r) for r in whole_reads}.isdisjoint(NAMES)
    for name, path in paths.items():
        assert restored.segments.sources[name].path.read_bytes() == path.read_bytes()


async def failed_restore(
    bucket: EmulatedBucket, tmp_path: Path, fault: Fault, **options: Any
) -> tuple[BackupStoreError, Counter[tuple[str, str]], Path]:
    """A saved backup restored through ``fault``: the error, the ranges asked for and
    the target folder."""
    await saved_for_restore(bucket, tmp_path)
    target = tmp_path / "restored"
    with RecordingProxy(upstream(bucket), faults=[fault]).running() as proxy:
        store = store_of(through(bucket, proxy), **options)
        with pytest.raises(BackupStoreError) as raised:
            await store.restore(BACKUP_ID, target)
        return raised.value, sent(proxy, range_of), target


async def test_a_range_that_keeps_failing_fails_the_restore_naming_the_file(
    emulated_bucket: EmulatedBucket, tmp_path: Path
) -> None:
    fault = Fault(third_range_of_a, times=None)
    error, ranges, target = await failed_restore(emulated_bucket, tmp_path, fault, max_retries=1)
    assert names_the_failing_file(error)
    assert ranges[(FAILING, f"bytes={2 * PART}-{3 * PART - 1}")] == 2  # one retry
    assert all(n == 1 for (name, _), n in ranges.items() if name != FAILING)
    assert staged_and_restored(target) == []


async def test_a_corrupted_range_fails_the_restore_naming_the_file(
    emulated_bucket: EmulatedBucket, tmp_path: Path
) -> None:
    # One byte of a.log's third range flipped on the way: the size and every other
    # range are right, only the whole file's SHA-256 tells.
    fault = Fault(third_range_of_a, corrupt=True)
    error, ranges, target = await failed_restore(emulated_bucket, tmp_path, fault)
    assert isinstance(error, IntegrityError) and len(fault.injected) == 1
    assert f"segments/{FAILING} does not match what was saved" in str(error)
    assert "sha256" in str(error) and f"size {SIZE} (expected {SIZE})" in str(error)
    assert names_the_failing_file(error)
    assert all(n == 1 for n in ranges.values())  # nothing read twice
    assert staged_and_restored(target) == []


def completes_a(request: Recorded) -> bool:
    """The request that makes a.log from its parts (S3, GCS: CompleteMultipartUpload;
    Azure: Put Block List)."""
    query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
    completes = (request.method == "POST" and "uploadId" in query) or (
        request.method == "PUT" and query.get("comp") == ["blocklist"]
    )
    return file_of(request) == FAILING and completes


@pytest.mark.parametrize("status", [409, 412])
async def test_a_refused_completion_is_a_typed_error_naming_the_file(
    emulated_bucket: EmulatedBucket, tmp_path: Path, status: int
) -> None:
    # A service may answer a retried completion 409 or 412 (the first attempt took
    # effect): an unconditional upload lost no race, so it is a store error like any
    # other, not a WriteConflict that escapes the save untyped.
    paths = sources(tmp_path)
    fault = Fault(completes_a, status=status, times=None)
    with RecordingProxy(upstream(emulated_bucket), faults=[fault]).running() as proxy:
        store = store_of(through(emulated_bucket, proxy), max_retries=0)
        with pytest.raises(BackupStoreError) as raised:
            await store.save(backup_of(paths))
    assert fault.injected
    assert names_the_failing_file(raised.value)
    assert (await store.get_status(BACKUP_ID)).status_code is BackupStatusCode.FAILED
