"""New manifests of Zeebe 8.9/8.10 backups are written byte for byte as those Zeebe versions write
them: each write case of the matrix (``zeebe_matrix/``: bytes Zeebe's classes wrote for the case's
values) is built from its values through the steps a save, a mark-failed and a delete take (the
IN_PROGRESS manifest of a new backup, then its transition) and encoded in the layout a new backup
of its broker version is written in; bytes and key must be Zeebe's.

Which variant a broker version writes (``docs/on-store-format.md``, "Camunda 8.9 and 8.10"): 8.9.x
the descriptor with ``firstLogPosition`` and the identifier without zone (vB), 8.10.x and later
also the zone (vZ). A FAILED manifest without descriptor (mark-failed of a backup that does not
exist) has no broker version: written as Zeebe 8.8's S3 store writes it (the 8.9+ S3 store cannot
write one), and in the common form as every version does.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from backup_store.format.formats import ZEEBE_COMMON, ZEEBE_S3, StoreFormat
from backup_store.format.instant import Instant
from backup_store.format.keys import broker_release
from backup_store.format.manifest import FileEntry, Manifest
from backup_store.model import BackupDescriptor, BackupIdentifier, CheckpointType
from tests.format.zeebe_matrix import CASES

FORMATS = {"common": ZEEBE_COMMON, "s3": ZEEBE_S3, "s3-decimal": ZEEBE_S3}

# Read-back cases, not values a writer here starts from: a file map in the caller's order (Zeebe's
# S3 store writes HashMap order), a FAILED manifest with a null reason (a reason is always given
# here), a manifest modified before or when it was created (every transition moves modifiedAt
# forward), DELETED without descriptor and an 8.8 manifest rewritten DELETED (both stay FAILED
# here: store-format.md §7.1 tombstones only 8.9+ manifests).
NOT_WRITTEN_HERE = {
    "file-order-given",
    "failed-null-reason",
    "dates-pre-1970",
    "dates-epoch-0",
    "deleted-without-descriptor",
    "broker-8.8-rewritten-by-8.9",
}


def _variant_written_by(broker_version: str) -> str:
    release = broker_release(broker_version)
    assert release is not None and release >= (8, 9)
    return "vB" if release == (8, 9) else "vZ"


def _name(case: dict[str, Any]) -> str:
    return str(case["case"]).removeprefix(f"{case['variant']}-{case['form']}-")


def _compared(case: dict[str, Any]) -> bool:
    if case["kind"] != "write" or case["form"] not in FORMATS or _name(case) in NOT_WRITTEN_HERE:
        return False
    descriptor = case["values"]["descriptor"]
    if descriptor is None:  # no broker version: the 8.8 S3 store's bytes, the common form's
        return bool(case["variant"] == "vB" and case["form"] in ("common", "s3-decimal"))
    if case["form"] == "s3-decimal":  # 8.8's mapper with 8.9's records: no release wrote these
        return False
    return bool(case["variant"] == _variant_written_by(descriptor["brokerVersion"]))


WRITTEN = [c for c in CASES if _compared(c)]


def _instant(text: str | None) -> Instant | None:
    return None if text is None else Instant(Instant.parse_iso(text).epoch_nanos)


def _files(values: dict[str, str | None] | None) -> tuple[FileEntry, ...]:
    return tuple(FileEntry(name, compression) for name, compression in (values or {}).items())


def _descriptor(values: dict[str, Any]) -> BackupDescriptor:
    kind = values.get("checkpointType")
    return BackupDescriptor(
        values["snapshotId"],
        values["checkpointPosition"],
        values["numberOfPartitions"],
        values["brokerVersion"],
        first_log_position=values.get("firstLogPosition"),
        checkpoint_timestamp=_instant(values.get("checkpointTimestamp")),
        checkpoint_type=None if kind is None else CheckpointType(kind),
    )


def written(values: dict[str, Any]) -> Manifest:
    """The manifest a save, mark-failed or delete here writes for these values."""
    ident = values["id"]
    backup_id = BackupIdentifier.newer(
        ident["nodeId"], ident["partitionId"], ident["checkpointId"], ident.get("zone")
    )
    created, modified = _instant(values["createdAt"]), _instant(values["modifiedAt"])
    assert created is not None and modified is not None
    if values["descriptor"] is None:
        return Manifest.failed_never_saved(backup_id, values["failureReason"], created)
    started = Manifest.in_progress(
        backup_id,
        _descriptor(values["descriptor"]),
        _files(values["snapshot"]),
        _files(values["segments"]),
        created,
    )
    status = values["status"]
    if status == "IN_PROGRESS":
        return started
    if status == "COMPLETED":
        return started.completed(modified)
    if status == "FAILED":
        return started.failed(values["failureReason"], modified)
    return started.completed(created).deleted(modified)  # completed one nanosecond after


def encoded(store_format: StoreFormat, manifest: Manifest) -> tuple[str, bytes]:
    """Key and bytes in the layout a new backup of the manifest's broker version goes to."""
    version = manifest.descriptor.broker_version if manifest.descriptor else None
    layout = store_format.write_layout(None, version)
    return layout.manifest_key(manifest.id), store_format.encode(manifest, layout)


@pytest.mark.parametrize("case", WRITTEN, ids=[c["case"] for c in WRITTEN])
def test_a_new_manifest_is_written_as_zeebe_writes_it(case: dict[str, Any]) -> None:
    key, data = encoded(FORMATS[case["form"]], written(case["values"]))
    assert data == base64.b64decode(case["bytes"])
    assert key == case["key"]


def test_the_comparison_covers_both_versions_forms_and_statuses() -> None:
    covered = {
        (c["variant"], c["form"], c["values"]["status"])
        for c in WRITTEN
        if c["values"]["descriptor"]
    }
    statuses = {"IN_PROGRESS", "COMPLETED", "FAILED", "DELETED"}
    assert covered == {(v, f, s) for v in ("vB", "vZ") for f in ("common", "s3") for s in statuses}
    names = {_name(c) for c in WRITTEN}
    assert {"zone-us-east-1a", "many-files", "file-names", "failed-without-descriptor"} <= names
    assert len(WRITTEN) > 150


def test_a_deleted_manifest_keeps_descriptor_files_and_creation_and_drops_the_reason() -> None:
    values = next(c for c in WRITTEN if _name(c) == "zone-us-east-1a")["values"]
    failed = written({**values, "status": "FAILED", "failureReason": "disk full"})
    later = Instant(failed.modified_at.epoch_nanos + 1)
    tombstone = failed.deleted(later)
    assert tombstone.failure_reason is None
    assert (tombstone.descriptor, tombstone.created_at) == (failed.descriptor, failed.created_at)
    assert tombstone.files() == failed.files() and tombstone.modified_at == later
    assert tombstone.deleted(Instant(later.epoch_nanos + 5)) is tombstone
