"""The operator commands against the S3, GCS and Azure emulators, through store URLs.

* a round trip S3 → GCS → Azure → filesystem → S3 returns byte-identical files and
  identical statuses (re-compressed as each target is configured);
* a Zeebe-written S3 backup (the spec's fixtures, one file zstd-compressed) is listed,
  verified and migrated;
* verify detects a deleted object, a truncated object and a flipped byte on every
  cloud backend;
* an interrupted migration between cloud stores resumes.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import obstore
import pytest
import zstandard

from backup_store import (
    BackupIdentifier,
    open_store,
)
from backup_store.tools.migrate import migrate
from backup_store.tools.migration_plan import Action
from testbed.cloud_stores import azure_url, gcs_url, s3_url, url_of
from testbed.emulators import AzureContainer, EmulatedBucket, GcsBucket, S3Bucket
from tests.support.filesystem_stores import FIXTURES, Tripwire, invoke, invoke_json
from tests.support.sample_backups import (
    BIG,
    A,
    B,
    restore_bytes,
    run,
    save_sample_backups,
)


async def compressed_names(url: str, backup_id: BackupIdentifier) -> set[str]:
    async with open_store(url) as store:
        stored = await store.read_manifest(backup_id)
        assert stored is not None
        return {e.name for _, e in stored.manifest.files() if e.compression}


def test_round_trip_s3_gcs_azure_filesystem_s3(
    s3_bucket: S3Bucket,
    gcs_bucket: GcsBucket,
    azure_container: AzureContainer,
    tmp_path: Path,
) -> None:
    source = s3_url(s3_bucket, "source", compression="zstd")
    hops = [
        source,
        gcs_url(gcs_bucket, "migrated"),
        azure_url(azure_container),
        (tmp_path / "filesystem").as_uri(),
        s3_url(s3_bucket, "final", compression="zstd"),
    ]
    contents = run(save_sample_backups(source, tmp_path / "data"))
    assert run(compressed_names(source, A)) == {"big.log"}
    _, original = invoke_json("list", source)
    for hop, (from_url, to_url) in enumerate(itertools.pairwise(hops)):
        result, report = invoke_json("migrate", from_url, to_url, "--all")
        assert result.exit_code == 0, result.output
        assert (report["migrated"], report["failed"]) == (3, 0), report
        verified = invoke("verify", to_url, "--level", "checksum")
        assert verified.exit_code == 0, verified.output
        _, listing = invoke_json("list", to_url)
        assert listing["backups"] == original["backups"], f"hop {hop}"
    assert run(compressed_names(hops[1], A)) == set()  # GCS records no compression
    assert run(compressed_names(hops[-1], A)) == {"big.log"}  # re-compressed
    for backup_id in (A, B):
        folder = tmp_path / f"restored-{backup_id.partition_id}"
        assert restore_bytes(hops[-1], backup_id, folder) == contents
    for url in (source, hops[-1]):
        _, failed = invoke_json("status", url, "6")
        assert failed["failureReason"] == (
            "Backup on partition 1 failed due to broker 1 lost its disk. "
        )


def put_zeebe_s3_backups(bucket: S3Bucket) -> dict[str, bytes]:
    """The spec's S3 fixtures at their keys, with files as Zeebe 8.7 stores them."""
    raw = bucket.store()
    for fixture, key in (
        ("s3-8.7-completed.json", "1/100/0/manifest.json"),
        ("s3-8.7-in-progress.json", "1/101/0/manifest.json"),
        ("s3-8.7-failed.json", "1/102/0/manifest.json"),
    ):
        obstore.put(raw, key, (FIXTURES / fixture).read_bytes())
    files = {
        "snapshot/CURRENT": b"MANIFEST-000141\n",
        "snapshot/000140.sst": os.urandom(4096) * 4,
        "segments/raft-partition-partition-1-1.log": os.urandom(5000),
    }
    for name, data in files.items():
        stored = zstandard.ZstdCompressor().compress(data) if name.endswith(".sst") else data
        obstore.put(raw, f"1/100/0/{name}", stored)
    return files


def test_zeebe_written_s3_backup_is_listed_verified_and_migrated(
    s3_bucket: S3Bucket, gcs_bucket: GcsBucket, tmp_path: Path
) -> None:
    files = put_zeebe_s3_backups(s3_bucket)
    source = s3_url(s3_bucket)
    _, listing = invoke_json("list", source)
    assert [(b["backupId"], b["partitionBackups"][0]["status"]) for b in listing["backups"]] == [
        (102, "FAILED"),
        (101, "IN_PROGRESS"),
        (100, "COMPLETED"),
    ]
    for level in ("presence", "size", "checksum"):
        result, report = invoke_json("verify", source, "100", "--level", level)
        assert result.exit_code == 0, result.output
        [backup] = report["backups"]
        assert backup["level"] == "presence" and backup["integrityRecord"] is False
        assert "not recorded by Zeebe" in backup["notes"][0]
    target = gcs_url(gcs_bucket)
    result = invoke("migrate", source, target, "--all")
    assert result.exit_code == 0, result.output
    assert "2 migrated, 1 skipped, 0 failed." in result.stdout
    assert "IN_PROGRESS at the source" in result.stderr
    restored = restore_bytes(target, BackupIdentifier(0, 1, 100), tmp_path / "restored")
    assert restored == {name.split("/")[1]: data for name, data in files.items()}
    _, source_status = invoke_json("status", source, "100")
    _, target_status = invoke_json("status", target, "100")
    assert source_status == target_status
    assert invoke("verify", target, "--level", "checksum").exit_code == 0
    # A damaged zstd frame in Zeebe's own backup is found at the checksum level.
    raw = s3_bucket.store()
    sst = bytes(obstore.get(raw, "1/100/0/snapshot/000140.sst").bytes())
    obstore.put(raw, "1/100/0/snapshot/000140.sst", sst[: len(sst) // 2])
    broken = invoke("verify", source, "100", "--level", "checksum")
    assert broken.exit_code == 1
    assert "file snapshot/000140.sst: stored zstd data is truncated" in broken.stdout


@pytest.fixture
def saved(emulated_bucket: EmulatedBucket, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    url = url_of(emulated_bucket)
    run(save_sample_backups(url, tmp_path / "data", big=False))
    yield url, emulated_bucket.store()


async def file_key(url: str, backup_id: BackupIdentifier, file_set: str, name: str) -> str:
    async with open_store(url) as store:
        stored = await store.read_manifest(backup_id)
        assert stored is not None
        [entry] = [e for fs, e in stored.manifest.files() if (fs, e.name) == (file_set, name)]
        return store.file_key(stored, file_set, entry)


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip"])
def test_verify_detects_damage_on_every_backend(saved: tuple[str, Any], damage: str) -> None:
    url, raw = saved
    key = run(file_key(url, A, "snapshot", "snapshot-1"))
    data = bytes(obstore.get(raw, key).bytes())
    if damage == "delete":
        obstore.delete(raw, key)
        expected = "object is missing"
    elif damage == "truncate":
        obstore.put(raw, key, data[:-48])
        expected = "object is 2000 bytes, the recorded size is 2048 bytes"
    else:
        obstore.put(raw, key, data[:7] + bytes([data[7] ^ 1]) + data[8:])
        expected = "SHA-256 is "
    result = invoke("verify", url)
    assert result.exit_code == 1
    [problem] = [line.strip() for line in result.stdout.splitlines() if "PROBLEM" in line]
    assert problem.startswith(
        f"PROBLEM backup node 0/partition 1/checkpoint 5, file snapshot/snapshot-1: {expected}"
    )
    assert problem.endswith(f"(key {key})")


def test_interrupted_cloud_migration_resumes(
    s3_bucket: S3Bucket, azure_container: AzureContainer, tmp_path: Path
) -> None:
    source, target = s3_url(s3_bucket, compression="zstd"), azure_url(azure_container)
    contents = run(save_sample_backups(source, tmp_path / "data"))

    async def interrupted() -> None:
        tripwire = Tripwire(BIG // 2)  # half-way through the big file of the first backup
        async with open_store(source) as src, open_store(target) as dst:
            copying = asyncio.create_task(migrate(src, dst, 5, progress=tripwire))
            await tripwire.tripped.wait()
            copying.cancel()
            with pytest.raises(asyncio.CancelledError):
                await copying

    run(interrupted())
    _, left = invoke_json("list", target)
    left_states = {p["status"] for b in left["backups"] for p in b["partitionBackups"]}
    assert left_states <= {"FAILED", "IN_PROGRESS", "COMPLETED"} and left_states != {"COMPLETED"}
    plan = invoke("migrate", source, target, "5", "--dry-run")
    assert Action.REPLACE.value in plan.stdout
    result = invoke("migrate", source, target, "--all")
    assert result.exit_code == 0, result.output
    _, source_listing = invoke_json("list", source)
    _, target_listing = invoke_json("list", target)
    assert source_listing["backups"] == target_listing["backups"]
    assert restore_bytes(target, A, tmp_path / "restored") == contents
