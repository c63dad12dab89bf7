"""Every manifest of the Zeebe 8.9/8.10 matrix (bytes written by Zeebe's own classes) reads here
and, written back untouched, gives Zeebe's bytes (``zeebe_matrix/generate.py`` tells how)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from backup_store.errors import ManifestParseError
from backup_store.manifest import ManifestForm, decode_manifest, encode_manifest
from backup_store.model import BackupStatusCode
from tests.format.zeebe_matrix import CASES

MANIFEST_CASES = [c for c in CASES if not c["form"].startswith("metadata")]
FORMS = {"common": ManifestForm.COMMON, "s3": ManifestForm.S3, "s3-decimal": ManifestForm.S3}

# Bytes Zeebe itself refuses that this project refuses too, by the field its error names. The
# other bytes some Zeebe refuses are read leniently: a zone, firstLogPosition or an unknown
# descriptor field in an older variant, a DELETED manifest with a failureReason (dropped),
# checkpointType "" (MANUAL_BACKUP, as 0be00844 reads it).
REFUSED = {
    "read-common-type-unknown": "checkpointType",
    "read-common-partitions-over-int": "number of partitions",
    "read-s3-unknown-status": "statusCode",
}


def _name(case: dict[str, Any]) -> str:
    return str(case["case"]).removeprefix(case["variant"] + "-")


def _decode(case: dict[str, Any]) -> Any:
    return decode_manifest(base64.b64decode(case["bytes"]), FORMS[case["form"]])


def _reencoded(case: dict[str, Any]) -> bytes:
    return encode_manifest(_decode(case), FORMS[case["form"]], iso_dates=case["form"] == "s3")


@pytest.mark.parametrize("case", MANIFEST_CASES, ids=[c["case"] for c in MANIFEST_CASES])
def test_zeebe_written_manifest_reads_and_reencodes_to_its_bytes(case: dict[str, Any]) -> None:
    data = base64.b64decode(case["bytes"])
    if case["kind"] == "read" and _name(case) in REFUSED:
        with pytest.raises(ManifestParseError, match=REFUSED[_name(case)]):
            _decode(case)
        return
    manifest = _decode(case)
    if case["kind"] == "write" or case.get("zeebe_rewrites") == case["bytes"]:
        assert _reencoded(case) == data.rstrip(b"\n")
    read = case.get("zeebe_reads") if case["kind"] == "read" else None
    if read is None:
        return
    assert manifest.id.node_id == read["id"]["nodeId"]
    assert manifest.id.partition_id == read["id"]["partitionId"]
    assert manifest.id.checkpoint_id == read["id"]["checkpointId"]
    assert manifest.id.zone == read["id"].get("zone")
    status = read.get("statusCode") or read["@record"].removesuffix("BackupManifest").upper()
    assert manifest.status_code is BackupStatusCode[status.replace("INPROGRESS", "IN_PROGRESS")]
    want = read.get("descriptor")
    if want is None:
        assert manifest.descriptor is None
        return
    got = manifest.descriptor
    assert got is not None
    assert got.snapshot_id == want["snapshotId"]
    assert got.checkpoint_position == want["checkpointPosition"]
    assert got.number_of_partitions == want["numberOfPartitions"]
    assert got.first_log_position == want.get("firstLogPosition")
    assert got.type.value == want["checkpointType"]


def test_matrix_covers_every_variant_and_status() -> None:
    assert {c["variant"] for c in CASES} == {"vA", "vB", "vL", "vS", "vZ"}
    written = {_decode(c).status_code for c in MANIFEST_CASES if c["kind"] == "write"}
    assert BackupStatusCode.DELETED in written
    assert len(MANIFEST_CASES) > 900


def test_zone_and_checkpoint_zero_of_a_newer_manifest_read() -> None:
    zoned = next(c for c in CASES if c["case"] == "vZ-s3-zone-us-east-1a")
    assert _decode(zoned).id.zone == "us-east-1a"
    assert _decode(zoned).id.node_folder == "us-east-1a_1"
    zero = next(c for c in CASES if c["case"] == "vZ-common-checkpoint-id-0")
    assert _decode(zero).id.checkpoint_id == 0


def test_checkpoint_zero_of_an_8_7_manifest_is_refused() -> None:
    data = (
        b'{"id":{"nodeId":1,"partitionId":2,"checkpointId":0},"statusCode":"FAILED",'
        b'"createdAt":"2023-03-14T10:45:08Z","modifiedAt":"2023-03-14T10:45:08Z"}'
    )
    with pytest.raises(ManifestParseError, match="checkpoint id"):
        decode_manifest(data, ManifestForm.COMMON)


def test_number_of_partitions_up_to_java_int_max_reads() -> None:
    big = next(c for c in CASES if c["case"] == "vZ-s3-partitions-2147483647")
    descriptor = _decode(big).descriptor
    assert descriptor is not None and descriptor.number_of_partitions == 2**31 - 1


FIXTURES = Path(__file__).parents[2] / "backup_store" / "testing" / "fixtures"
# Read, but written back as Zeebe writes them: the 8.1 array form, an unknown field dropped.
REWRITTEN_FIXTURES = {"s3-8.1-failed.json", "s3-8.9-completed-iso-dates.json"}
MANIFEST_FIXTURES = sorted(
    p for p in FIXTURES.glob("*.json") if "metadata" not in p.name and "trailing" not in p.name
)


@pytest.mark.parametrize("path", MANIFEST_FIXTURES, ids=[p.name for p in MANIFEST_FIXTURES])
def test_spec_fixture_reads_and_reencodes_to_its_bytes(path: Path) -> None:
    data = path.read_bytes().rstrip(b"\n")
    s3 = path.name.startswith("s3-") or path.name.endswith(".s3.json")
    form = ManifestForm.S3 if s3 else ManifestForm.COMMON
    manifest = decode_manifest(data, form)
    if path.name in REWRITTEN_FIXTURES:
        return
    iso = b'"createdAt":"' in data
    assert encode_manifest(manifest, form, iso_dates=iso) == data
