"""Regenerate the Zeebe manifest matrix (``<variant>.jsonl`` beside this file) from Zeebe's classes.

Not a test and never run by pytest: its name does not match ``test_*.py`` and nothing imports it.
It needs Java 17 and Zeebe's own classes, which are NOT part of this repository:

1. Fetch Jackson 2.18.2 and build it as ``../shared/zeebe-java/README.md`` says (scratch folders
   under ``/tmp``; sources and builds stay there and are never committed).
2. For each variant in ``VARIANTS`` read the listed files of camunda/camunda at the listed commits
   into a scratch folder (``shared/`` plus one folder per variant, as ``build_z89.sh`` lays them
   out) and compile them against that Jackson build. Keep each file's record components, Jackson
   annotations and constructors as they are; only factories that need classes outside these files
   may be left out.
3. Run ``python tests/format/zeebe_matrix/generate.py --classpath vB=<jackson>:<vB classes> ...``
   (or ``vB=@file`` to read the classpath from a file). ``ZeebeMatrix.java`` (ours, beside this
   script) is started with ``java -cp <classpath> ZeebeMatrix.java`` once per variant; it builds
   Zeebe's records from each case's values and prints the bytes Zeebe's ObjectMapper settings write.

Each output line is one case: ``variant``, ``case`` (a unique name), ``kind`` (``write``: bytes
Zeebe writes for ``values``; ``read``: bytes given to Zeebe and what it reads and writes back),
``commits`` (the camunda/camunda commits of the classes involved), ``form`` (``common``: GCS,
Azure and filesystem; ``s3``: the 8.9+ S3 store, ISO dates; ``s3-decimal``: the 8.2-8.8 S3 store,
decimal epoch seconds; ``metadata``: the per-partition metadata file), ``key`` (the object key
without base path; null for read cases and where the key was not found in Zeebe's code), ``values``
(plain JSON), ``bytes`` (base64), plus ``zeebe_rereads_same_bytes`` (write cases) or
``zeebe_reads`` / ``zeebe_error`` / ``zeebe_rewrites`` (read cases) and an optional ``note``.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "ZeebeMatrix.java"
# the spec's fixtures, as packaged with the library
SPEC_FIXTURES = HERE.parents[2] / "backup_store" / "testing" / "fixtures"

JsonObject = dict[str, Any]

# Classes every variant shares, by the camunda/camunda commit each file was read at.
SHARED_COMMITS: dict[str, str] = {
    "common/Manifest.java": "ed1cc495788253bfb682531961aad49be78a8681",
    "common/ManifestImpl.java": "ea0810444da2219a78b250fce01c4a34b8001d9e",
    "common/FileSet.java": "camunda/zeebe@288940c9 (8.6 line; not compared with camunda/camunda)",
    "s3/manifest/ValidBackupManifest.java": "ea0810444da2219a78b250fce01c4a34b8001d9e",
    "s3/manifest/CompletedBackupManifest.java": "ea0810444da2219a78b250fce01c4a34b8001d9e",
    "s3/manifest/FailedBackupManifest.java": "ea0810444da2219a78b250fce01c4a34b8001d9e",
    "s3/manifest/DeletedBackupManifest.java": "06349304a7468fa38e6415e97fe77347f29e92dd",
    "s3/manifest/InProgressBackupManifest.java": (
        "e0c4a94de96a20ebeb717ea96f89d876355b1ead (+ asDeleted, no effect on bytes)"
    ),
    "s3/manifest/FileSet.java": "80d53eddbdd6e77e3ae30e0dea82a4f96d8a8cbf",
    "protocol/CheckpointType.java": "ea0810444da2219a78b250fce01c4a34b8001d9e",
    "common/BackupMetadata.java": "36ca526cef0e49922b66ca20ef7fd1bd0d5e737e",
    "S3BackupStore.MAPPER (s3)": "ea0810444da2219a78b250fce01c4a34b8001d9e",
    "S3BackupStore.MAPPER (s3-decimal)": "8d5761976f3052f099e2a1794737d53755fbd519",
    "gcs/ManifestManager.MAPPER (common)": "ea0810444da2219a78b250fce01c4a34b8001d9e",
    "BackupMetadataCodec.MAPPER (metadata)": "1e913b79d1dc78adef6f7b3cb6f23b605bfcf676",
}

FORM_CLASSES: dict[str, list[str]] = {
    "common": [
        "common/Manifest.java",
        "common/ManifestImpl.java",
        "common/FileSet.java",
        "gcs/ManifestManager.MAPPER (common)",
    ],
    "s3": [
        "s3/manifest/ValidBackupManifest.java",
        "s3/manifest/CompletedBackupManifest.java",
        "s3/manifest/FailedBackupManifest.java",
        "s3/manifest/DeletedBackupManifest.java",
        "s3/manifest/InProgressBackupManifest.java",
        "s3/manifest/FileSet.java",
        "S3BackupStore.MAPPER (s3)",
    ],
    "s3-decimal": [
        "s3/manifest/ValidBackupManifest.java",
        "s3/manifest/CompletedBackupManifest.java",
        "s3/manifest/FailedBackupManifest.java",
        "s3/manifest/InProgressBackupManifest.java",
        "s3/manifest/FileSet.java",
        "S3BackupStore.MAPPER (s3-decimal)",
    ],
    "metadata": ["BackupMetadataCodec.MAPPER (metadata)"],
    "metadata-version": ["common/BackupMetadata.java", "BackupMetadataCodec.MAPPER (metadata)"],
}


@dataclass(frozen=True)
class Variant:
    """One consistent set of the record versions that shape the bytes."""

    name: str
    descriptor: str
    identifier: str
    metadata: str
    first_log_position: bool
    zone: bool
    timestamp_millis: bool
    sequence_number: bool
    about: str
    manifests: bool = True


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "vA",
            descriptor="0be0084458799cab57346703de192b6db86b7f73",
            identifier="e0c4a94de96a20ebeb717ea96f89d876355b1ead",
            metadata="6c9881d086d834d9f704d7c105b8e16777d5471f",
            first_log_position=False,
            zone=False,
            timestamp_millis=False,
            sequence_number=False,
            about="descriptor with checkpointTimestamp/checkpointType, no firstLogPosition; "
            "one metadata file without sequenceNumber",
        ),
        Variant(
            "vB",
            descriptor="e0c4a94de96a20ebeb717ea96f89d876355b1ead",
            identifier="e0c4a94de96a20ebeb717ea96f89d876355b1ead",
            metadata="47e386a2bcde7d7f071b1e704a53e98e636a14d4",
            first_log_position=True,
            zone=False,
            timestamp_millis=False,
            sequence_number=True,
            about="descriptor with firstLogPosition; metadata with sequenceNumber (two slots)",
        ),
        Variant(
            "vZ",
            descriptor="e0c4a94de96a20ebeb717ea96f89d876355b1ead",
            identifier="zone-aware version, index file 54743626200 (commit not resolved)",
            metadata="47e386a2bcde7d7f071b1e704a53e98e636a14d4",
            first_log_position=True,
            zone=True,
            timestamp_millis=False,
            sequence_number=True,
            about="as vB with the zone in the identifier (PR #53915/#54211)",
        ),
        Variant(
            "vL",
            descriptor="index file 16412643484 (commit not resolved)",
            identifier="e0c4a94de96a20ebeb717ea96f89d876355b1ead",
            metadata="6c9881d086d834d9f704d7c105b8e16777d5471f",
            first_log_position=False,
            zone=False,
            timestamp_millis=True,
            sequence_number=False,
            about="descriptor whose checkpointTimestamp is a long (epoch milliseconds)",
        ),
        Variant(
            "vS",
            descriptor="e0c4a94de96a20ebeb717ea96f89d876355b1ead",
            identifier="e0c4a94de96a20ebeb717ea96f89d876355b1ead",
            metadata="822d2cf4647ce74ab4a2535b02cfc0f707578984",
            first_log_position=True,
            zone=False,
            timestamp_millis=False,
            sequence_number=True,
            about="metadata file whose checkpointType is a String (BackupMetadataSyncer@822d2cf4 "
            "writes CheckpointType.name()); its manifests are vB's, so only metadata cases",
            manifests=False,
        ),
    )
}

STATUSES = ("IN_PROGRESS", "COMPLETED", "FAILED", "DELETED")
CHECKPOINT_TYPES: tuple[str | None, ...] = ("MARKER", "SCHEDULED_BACKUP", "MANUAL_BACKUP", None)
INSTANT_STAMPS: tuple[str | None, ...] = (
    None,
    "2026-03-01T09:59:59.123456789Z",
    "1969-07-20T20:17:40.500Z",
)
MILLIS_STAMPS: tuple[int, ...] = (1772359199123, 0, -14182939500)
FIRST_LOG_POSITIONS: tuple[int | None, ...] = (None, 1013, -1, 0)
ZONES: tuple[str | None, ...] = (None, "us-east-1a")
CREATED = "2026-03-01T10:00:00.000000001Z"
MODIFIED = "2026-03-01T10:00:05.123Z"
DELETED_AT = "2026-03-01T10:07:00Z"
REASON = '💥 «ошибка» — 失败 \u200d 👩\u200d💻 \t"q\\'
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
INT_MAX = 2**31 - 1


@dataclass
class Case:
    """One line of the matrix before Zeebe's answer is added."""

    name: str
    kind: str
    form: str
    key: str | None
    values: JsonObject
    request: JsonObject
    classes: list[str]
    note: str | None = None
    extra_commits: dict[str, str] = field(default_factory=dict)


def node_folder(node_id: int, zone: str | None) -> str:
    return f"{zone}_{node_id}" if zone else str(node_id)


def is_legacy_s3(broker_version: str) -> bool:
    """S3BackupStore.isLegacyBackup@ea081044: 8.x with x <= 8 keeps the pre-8.9 key layout."""
    parts = broker_version.split("-")[0].split(".")
    return parts[0] == "8" and int(parts[1]) <= 8


def manifest_key(form: str, values: JsonObject) -> tuple[str | None, str | None]:
    ident = values["id"]
    p, c = ident["partitionId"], ident["checkpointId"]
    node = node_folder(ident["nodeId"], ident.get("zone"))
    modern = f"manifests/{p}/{c}/{node}/manifest.json"
    legacy = f"{p}/{c}/{node}/manifest.json"
    if form == "common":
        return modern, None
    if form == "s3-decimal":
        return legacy, None
    descriptor = values["descriptor"]
    if descriptor is None:
        return legacy, (
            "the 8.9+ S3 store derives the key from descriptor.brokerVersion and cannot write a "
            "manifest without descriptor; this is where the 8.2-8.8 store writes it"
        )
    return (legacy if is_legacy_s3(descriptor["brokerVersion"]) else modern), None


def descriptor(
    variant: Variant,
    *,
    snapshot_id: str | None = "1-1-5-4",
    first_log_position: int | None = None,
    checkpoint_position: int = 5000,
    partitions: int = 3,
    broker_version: str = "8.10.1",
    timestamp: str | int | None = None,
    checkpoint_type: str | None = "MANUAL_BACKUP",
) -> JsonObject:
    """The descriptor's values in its record-component order for this variant."""
    d: JsonObject = {"snapshotId": snapshot_id}
    if variant.first_log_position:
        d["firstLogPosition"] = first_log_position
    d["checkpointPosition"] = checkpoint_position
    d["numberOfPartitions"] = partitions
    d["brokerVersion"] = broker_version
    if variant.timestamp_millis:
        d["checkpointTimestamp"] = timestamp if isinstance(timestamp, int) else 0
    else:
        d["checkpointTimestamp"] = timestamp
    d["checkpointType"] = checkpoint_type
    return d


def identifier(
    variant: Variant, node_id: int, partition_id: int, checkpoint_id: int, zone: str | None
) -> JsonObject:
    ident: JsonObject = {"nodeId": node_id}
    if variant.zone:
        ident["zone"] = zone
    ident["partitionId"] = partition_id
    ident["checkpointId"] = checkpoint_id
    return ident


def files(form: str, names: dict[str, str | None] | None) -> dict[str, str | None] | None:
    """Snapshot or segment files: name -> compression (S3) or name -> null (common form)."""
    if names is None:
        return None
    if form == "common":
        return dict.fromkeys(names)
    return dict(names)


SNAPSHOT: dict[str, str | None] = {"CURRENT": None, "000042.sst": "zstd"}
SEGMENTS: dict[str, str | None] = {"1.log": None}


def manifest_case(
    variant: Variant,
    form: str,
    name: str,
    *,
    status: str,
    ident: JsonObject,
    desc: JsonObject | None,
    snapshot: dict[str, str | None] | None = SNAPSHOT,
    segments: dict[str, str | None] | None = SEGMENTS,
    created: str = CREATED,
    modified: str = MODIFIED,
    reason: str | None = None,
    file_order: str = "hash",
    note: str | None = None,
) -> Case:
    snapshot_files: dict[str, str | None] | None
    segment_files: dict[str, str | None] | None
    if form == "common" and desc is None:
        snapshot_files, segment_files = None, None
    elif desc is None:
        snapshot_files, segment_files = {}, {}
    else:
        snapshot_files, segment_files = files(form, snapshot), files(form, segments)
    if status == "IN_PROGRESS" and form != "common" and snapshot_files:
        # FileSet.withoutMetadata: nothing is compressed before the files are uploaded
        snapshot_files = dict.fromkeys(snapshot_files)
    values: JsonObject = {
        "status": status,
        "id": ident,
        "descriptor": desc,
        "snapshot": snapshot_files,
        "segments": segment_files,
        "createdAt": created,
        "modifiedAt": modified,
        "failureReason": reason if status == "FAILED" else None,
    }
    if form != "common":
        values["fileOrder"] = file_order
    key, key_note = manifest_key(form, values)
    request: JsonObject = {"op": "manifest", "form": form, **values}
    return Case(
        name=f"{variant.name}-{form}-{name}",
        kind="write",
        form=form,
        key=key,
        values=values,
        request=request,
        classes=FORM_CLASSES[form],
        note=" ".join(n for n in (note, key_note) if n) or None,
    )


def stamps(variant: Variant) -> tuple[str | int | None, ...]:
    return MILLIS_STAMPS if variant.timestamp_millis else INSTANT_STAMPS


def base_manifests(variant: Variant, form: str) -> Iterator[Case]:
    """Status x checkpoint type x timestamp; first position, zone and versions cycle along."""
    n = 0
    for status in STATUSES:
        if form == "s3-decimal" and status == "DELETED":
            continue
        for checkpoint_type in CHECKPOINT_TYPES:
            for stamp in stamps(variant):
                zone = ZONES[n % len(ZONES)] if variant.zone else None
                flp = FIRST_LOG_POSITIONS[n % len(FIRST_LOG_POSITIONS)]
                broker = "8.8.0" if form == "s3-decimal" else ("8.9.0", "8.10.1")[n % 2]
                desc = descriptor(
                    variant,
                    snapshot_id=None if n % 5 == 4 else "1-1-5-4",
                    first_log_position=flp,
                    checkpoint_position=5000 + n,
                    broker_version=broker,
                    timestamp=stamp,
                    checkpoint_type=checkpoint_type,
                )
                yield manifest_case(
                    variant,
                    form,
                    f"{status}-{checkpoint_type}-{n:03d}",
                    status=status,
                    ident=identifier(variant, 1, 2, 100 + n, zone),
                    desc=desc,
                    created=CREATED if status != "IN_PROGRESS" else MODIFIED,
                    modified={"DELETED": DELETED_AT, "IN_PROGRESS": MODIFIED}.get(status, MODIFIED),
                    reason=REASON,
                )
                n += 1


def extreme_manifests(variant: Variant, form: str) -> Iterator[Case]:
    """Edge values, each on a COMPLETED (or the named) manifest."""

    def ident(
        node: int = 1, partition: int = 2, checkpoint: int = 15, zone: str | None = None
    ) -> JsonObject:
        return identifier(variant, node, partition, checkpoint, zone if variant.zone else None)

    def desc(**changes: Any) -> JsonObject:
        base: JsonObject = {
            "first_log_position": 1013,
            "timestamp": stamps(variant)[1],
            "checkpoint_type": "SCHEDULED_BACKUP",
            "broker_version": "8.8.0" if form == "s3-decimal" else "8.10.1",
        }
        base.update(changes)
        return descriptor(variant, **base)

    def case(name: str, **kw: Any) -> Case:
        kw.setdefault("status", "COMPLETED")
        kw.setdefault("ident", ident())
        kw.setdefault("desc", desc())
        return manifest_case(variant, form, name, **kw)

    for partitions in (1, 8192, 8193, INT_MAX):
        yield case(f"partitions-{partitions}", desc=desc(partitions=partitions))
    yield case("checkpoint-id-0", ident=ident(checkpoint=0))
    yield case("checkpoint-id-long-max", ident=ident(checkpoint=LONG_MAX))
    yield case("node-0-partition-int-max", ident=ident(node=0, partition=INT_MAX))
    yield case("node-int-max", ident=ident(node=INT_MAX))
    yield case(
        "positions-long-max",
        desc=desc(checkpoint_position=LONG_MAX, first_log_position=LONG_MAX),
    )
    yield case("position-0", desc=desc(checkpoint_position=0, first_log_position=0))
    if variant.first_log_position:
        yield case("first-log-position-long-min", desc=desc(first_log_position=LONG_MIN))
        yield case("first-log-position-null", desc=desc(first_log_position=None))
    yield case("no-snapshot-id", desc=desc(snapshot_id=None))
    yield case("snapshot-id-non-bmp", desc=desc(snapshot_id="snap-💾-\u200d-ü"))
    for version in ("8.9.0-SNAPSHOT", "8.10.0-alpha3"):
        if form != "s3-decimal":
            yield case(f"broker-{version}", desc=desc(broker_version=version))
    if form == "s3":
        yield case(
            "broker-8.8-rewritten-by-8.9",
            status="DELETED",
            desc=desc(
                broker_version="8.8.3",
                first_log_position=None,
                timestamp=None if not variant.timestamp_millis else 0,
                checkpoint_type="MANUAL_BACKUP",
            ),
            modified=DELETED_AT,
            note="an 8.8 backup marked DELETED by an 8.9+ broker: its values as that broker "
            "reads them (checkpointType MANUAL_BACKUP), rewritten at the legacy key with ISO dates",
        )
    if not variant.timestamp_millis:
        yield case("timestamp-epoch-0", desc=desc(timestamp="1970-01-01T00:00:00Z"))
        yield case("timestamp-whole-second", desc=desc(timestamp="2026-03-01T10:00:00Z"))
        yield case("timestamp-micros", desc=desc(timestamp="2026-03-01T10:00:00.000123Z"))
    yield case(
        "dates-pre-1970",
        created="1969-12-31T23:59:59.500Z",
        modified="1969-12-31T00:00:00Z",
    )
    yield case("dates-epoch-0", created="1970-01-01T00:00:00Z", modified="1970-01-01T00:00:00Z")
    yield case("type-null-with-timestamp", desc=desc(checkpoint_type=None))
    yield case("failed-non-bmp-reason", status="FAILED", reason=REASON)
    yield case("failed-control-chars", status="FAILED", reason="a\u0000b\u001fc\u007fd\u2028e")
    yield case("failed-empty-reason", status="FAILED", reason="")
    yield case(
        "failed-null-reason",
        status="FAILED",
        reason=None,
        note="a FAILED manifest with reason null: the S3 form writes null, the common form "
        "omits it",
    )
    yield case(
        "failed-without-descriptor",
        status="FAILED",
        ident=ident(node=0, partition=1, checkpoint=7),
        desc=None,
        reason="no descriptor",
        created=CREATED,
        modified=CREATED,
        note="Manifest.createFailed / NoBackupManifest.asFailed: mark-failed of a backup that "
        "does not exist",
    )
    if form != "s3-decimal":
        yield case(
            "deleted-without-descriptor",
            status="DELETED",
            ident=ident(node=0, partition=1, checkpoint=7),
            desc=None,
            modified=DELETED_AT,
            note="delete of a FAILED manifest that has no descriptor",
        )
    yield case(
        "file-names",
        snapshot={
            "snapshot 🚀.sst": None,
            "ü-ä.log": "zstd",
            'a"b\\c': None,
            "\u200dzwj": None,
            "CURRENT": None,
        },
    )
    yield case("no-files", snapshot={}, segments={})
    yield case(
        "many-files",
        snapshot={f"{i:06d}.sst": ("zstd" if i % 3 == 0 else None) for i in range(40)},
        segments={f"{i}.log": None for i in range(1, 12)},
    )
    if form != "common":
        yield case("file-order-given", file_order="given")
    if variant.zone:
        for zone in ("us-east-1a", "eu-west-1", "zone-b"):
            yield case(f"zone-{zone}", ident=ident(zone=zone))
        yield case("zone-deleted", status="DELETED", ident=ident(zone="us-east-1a"))


def metadata_key(variant: Variant, partition: int) -> tuple[str | None, str | None]:
    if variant.sequence_number:
        return None, (
            "this record is the two-slot version (slots 'a' and 'b', BackupMetadataCodec@1e913b79 "
            "keeps the higher sequenceNumber); the object key of each slot was not found in the "
            "index"
        )
    return f"metadata/{partition}/metadata.json", None


def checkpoint(
    checkpoint_id: int,
    position: int,
    stamp: str | None,
    checkpoint_type: str | None,
    first: int,
    partitions: int = 3,
    broker: str | None = "8.10.1",
) -> JsonObject:
    return {
        "checkpointId": checkpoint_id,
        "checkpointPosition": position,
        "checkpointTimestamp": stamp,
        "checkpointType": checkpoint_type,
        "firstLogPosition": first,
        "numberOfPartitions": partitions,
        "brokerVersion": broker,
    }


MIXED = [
    checkpoint(1, 100, "2026-03-01T00:00:00Z", "SCHEDULED_BACKUP", 1, broker="8.9.0"),
    checkpoint(2, 250, "2026-03-01T01:00:00.500Z", "MARKER", 101, broker="8.9.0"),
    checkpoint(3, 400, "2026-03-01T02:00:00.123456789Z", "MANUAL_BACKUP", 251),
    checkpoint(10, 900, "1969-12-31T23:59:59.999Z", "SCHEDULED_BACKUP", -1, partitions=5),
]


def metadata_cases(variant: Variant) -> Iterator[Case]:
    def case(
        name: str,
        checkpoints: list[JsonObject],
        ranges: list[JsonObject],
        *,
        partition: int = 3,
        sequence: int = 7,
        last: str = "2026-03-02T08:00:00.000000123Z",
    ) -> Case:
        manifest: JsonObject = {"partitionId": partition}
        if variant.sequence_number:
            manifest["sequenceNumber"] = sequence
        manifest["lastUpdated"] = last
        manifest["checkpoints"] = checkpoints
        manifest["ranges"] = ranges
        key, note = metadata_key(variant, partition)
        return Case(
            name=f"{variant.name}-metadata-{name}",
            kind="write",
            form="metadata",
            key=key,
            values=manifest,
            request={"op": "metadata", "manifest": manifest},
            classes=FORM_CLASSES["metadata"],
            note=note,
            extra_commits={"common/BackupMetadataManifest.java": variant.metadata},
        )

    yield case("empty", [], [])
    yield case("one", MIXED[:1], [{"start": 1, "end": 1}])
    yield case("mixed-two-ranges", MIXED, [{"start": 1, "end": 3}, {"start": 10, "end": 10}])
    yield case(
        "extremes",
        [
            checkpoint(0, 0, None, None, 0, partitions=1, broker=None),
            checkpoint(
                LONG_MAX,
                LONG_MAX,
                "2026-03-01T00:00:00.000001Z",
                "MARKER",
                LONG_MIN,
                partitions=INT_MAX,
            ),
        ],
        [{"start": 0, "end": LONG_MAX}],
        partition=INT_MAX,
        last="1969-12-31T23:59:59Z",
    )
    if variant.sequence_number:
        for sequence in (0, 1, LONG_MAX):
            yield case(
                f"sequence-{sequence}", MIXED[:2], [{"start": 1, "end": 2}], sequence=sequence
            )
    if variant.name == "vA":
        record: JsonObject = {
            "version": 1,
            "partitionId": 3,
            "lastUpdated": "2026-03-02T08:00:00.000000123Z",
            "checkpoints": [
                {k: v for k, v in c.items() if k not in ("numberOfPartitions", "brokerVersion")}
                for c in MIXED
            ],
            "ranges": [{"start": 1, "end": 3}, {"start": 10, "end": 10}],
        }
        yield Case(
            name="vA-metadata-version-record",
            kind="write",
            form="metadata-version",
            key="metadata/3/metadata.json",
            values=record,
            request={"op": "metadata-version", "manifest": record},
            classes=FORM_CLASSES["metadata-version"],
            note="BackupMetadata@36ca526c, the record with a 'version' field; no store code "
            "using it was found",
        )


def read_inputs(variant: Variant) -> Iterator[tuple[str, str, bytes, str | None]]:
    """Bytes Zeebe did not necessarily write with these classes: (name, form, bytes, note)."""
    for fixture, form in (
        ("common-completed.json", "common"),
        ("common-failed-without-descriptor.json", "common"),
        ("s3-8.7-completed.json", "s3"),
        ("s3-8.1-failed.json", "s3"),
        ("zeebe89-completed.common.json", "common"),
        ("zeebe89-completed.s3.json", "s3"),
        ("zeebe810-zone.common.json", "common"),
        ("zeebe810-zone.s3.json", "s3"),
        ("zeebe89-metadata.json", "metadata"),
    ):
        path = SPEC_FIXTURES / fixture
        if not path.exists():
            raise SystemExit(f"spec fixture not found: {path}")
        yield f"fixture-{fixture}", form, path.read_bytes(), None
    ident = '{"nodeId":1,"partitionId":2,"checkpointId":15}'
    files_common = '"snapshot":{"files":[{"name":"a"}]},"segments":{"files":[{"name":"1.log"}]}'
    dates = '"createdAt":"2026-03-01T10:00:00Z","modifiedAt":"2026-03-01T10:00:05Z"'

    def common(desc_fields: str, status: str = "COMPLETED", id_json: str = ident) -> bytes:
        return (
            f'{{"id":{id_json},"descriptor":{{"snapshotId":"s","checkpointPosition":5,'
            f'"numberOfPartitions":3,"brokerVersion":"8.10.1"{desc_fields}}},'
            f'"statusCode":"{status}",{files_common},{dates}}}'
        ).encode()

    def s3(desc_fields: str, status: str = "completed") -> bytes:
        return (
            f'{{"statusCode":"{status}","id":{ident},"descriptor":{{"snapshotId":"s",'
            f'"checkpointPosition":5,"numberOfPartitions":3,"brokerVersion":"8.10.1"{desc_fields}}},'
            f'"snapshotFiles":{{"files":{{"a":{{}}}}}},"segmentFiles":{{"files":{{"1.log":{{}}}}}},'
            f"{dates}}}"
        ).encode()

    yield (
        "common-explicit-nulls",
        "common",
        common(',"firstLogPosition":null,"checkpointTimestamp":null,"checkpointType":null'),
        "null where the common form omits",
    )
    yield "common-type-empty-string", "common", common(',"checkpointType":""'), None
    yield "common-type-unknown", "common", common(',"checkpointType":"FOO"'), None
    yield "common-timestamp-number", "common", common(',"checkpointTimestamp":1772359199.5'), None
    yield "common-timestamp-millis", "common", common(',"checkpointTimestamp":1772359199123'), None
    yield (
        "common-partitions-over-int",
        "common",
        common(',"x":1').replace(b'"numberOfPartitions":3', b'"numberOfPartitions":2147483648'),
        None,
    )
    yield "common-unknown-descriptor-field", "common", common(',"somethingNew":1'), None
    yield (
        "common-zone-in-id",
        "common",
        common("", id_json='{"nodeId":1,"zone":"us-east-1a","partitionId":2,"checkpointId":15}'),
        "a zone-qualified id read by this variant's identifier",
    )
    yield (
        "common-deleted-with-reason",
        "common",
        common("", status="DELETED").replace(b',"createdAt"', b',"failureReason":"r","createdAt"'),
        None,
    )
    yield (
        "s3-decimal-dates-new-fields",
        "s3",
        s3(',"checkpointTimestamp":1772359199.123456789,"checkpointType":"MARKER"').replace(
            b'"createdAt":"2026-03-01T10:00:00Z"', b'"createdAt":1772359200.000000000'
        ),
        None,
    )
    yield "s3-deleted", "s3", s3(',"checkpointType":"MARKER"', status="deleted"), None
    yield (
        "s3-deleted-with-reason",
        "s3",
        s3("", status="deleted").replace(
            b'"snapshotFiles"', b'"failureReason":"r","snapshotFiles"'
        ),
        None,
    )
    yield "s3-unknown-status", "s3", s3("", status="archived"), None
    yield (
        "metadata-no-sequence",
        "metadata",
        (b'{"partitionId":1,"lastUpdated":"2026-03-01T00:00:00Z","checkpoints":[],"ranges":[]}'),
        None,
    )
    yield (
        "metadata-unknown-version-field",
        "metadata",
        (
            b'{"version":1,"partitionId":1,"lastUpdated":"2026-03-01T00:00:00Z",'
            b'"checkpoints":[],"ranges":[]}'
        ),
        None,
    )
    yield (
        "metadata-missing-type",
        "metadata",
        (
            b'{"partitionId":1,"sequenceNumber":1,"lastUpdated":"2026-03-01T00:00:00Z",'
            b'"checkpoints":[{"checkpointId":1,"checkpointPosition":2,'
            b'"checkpointTimestamp":"2026-03-01T00:00:00Z","firstLogPosition":1,'
            b'"numberOfPartitions":3,"brokerVersion":"8.9.0"}],"ranges":[]}'
        ),
        None,
    )
    yield (
        "metadata-type-unknown",
        "metadata",
        (
            b'{"partitionId":1,"sequenceNumber":1,"lastUpdated":"2026-03-01T00:00:00Z",'
            b'"checkpoints":[{"checkpointId":1,"checkpointPosition":2,'
            b'"checkpointTimestamp":null,"checkpointType":"FOO","firstLogPosition":1,'
            b'"numberOfPartitions":3,"brokerVersion":"8.9.0"}],"ranges":[]}'
        ),
        None,
    )
    yield "metadata-truncated", "metadata", b'{"partitionId":1,"sequenceNumber":1,', None


def read_cases(variant: Variant) -> Iterator[Case]:
    for name, form, data, note in read_inputs(variant):
        if form != "metadata" and not variant.manifests:
            continue
        b64 = base64.b64encode(data).decode()
        yield Case(
            name=f"{variant.name}-read-{name}",
            kind="read",
            form=form,
            key=None,
            values={},
            request={"op": "decode", "form": form, "b64": b64},
            classes=FORM_CLASSES[form],
            note=note,
            extra_commits=(
                {"common/BackupMetadataManifest.java": variant.metadata}
                if form == "metadata"
                else {}
            ),
        )


def all_cases(variant: Variant) -> list[Case]:
    cases: list[Case] = []
    for form in ("common", "s3", "s3-decimal") if variant.manifests else ():
        cases.extend(base_manifests(variant, form))
        cases.extend(extreme_manifests(variant, form))
    cases.extend(metadata_cases(variant))
    cases.extend(read_cases(variant))
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"duplicate case names: {sorted(duplicates)}")
    return cases


def commits_of(variant: Variant, case: Case) -> dict[str, str]:
    commits = {cls: SHARED_COMMITS[cls] for cls in case.classes}
    if case.form in ("common", "s3", "s3-decimal"):
        commits["common/BackupDescriptorImpl.java"] = variant.descriptor
        commits["common/BackupIdentifierImpl.java"] = variant.identifier
        commits["protocol/CheckpointType.java"] = SHARED_COMMITS["protocol/CheckpointType.java"]
    commits.update(case.extra_commits)
    return commits


def run_driver(classpath: str, requests: list[JsonObject]) -> list[JsonObject]:
    stdin = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in requests)
    done = subprocess.run(
        ["java", "-cp", classpath, str(DRIVER)],
        input=stdin.encode(),
        capture_output=True,
        check=True,
    )
    answers = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    if len(answers) != len(requests):
        raise SystemExit(f"driver answered {len(answers)} of {len(requests)} requests")
    return answers


def line(variant: Variant, case: Case, answer: JsonObject) -> JsonObject:
    out: JsonObject = {
        "variant": variant.name,
        "case": case.name,
        "kind": case.kind,
        "commits": commits_of(variant, case),
        "form": case.form,
        "key": case.key,
    }
    if case.kind == "write":
        if not answer.get("ok"):
            raise SystemExit(f"{case.name}: Zeebe's classes refused the values: {answer}")
        out["values"] = case.values
        out["bytes"] = answer["b64"]
        out["zeebe_rereads_same_bytes"] = answer["roundtrip_equal"]
    else:
        out["bytes"] = case.request["b64"]
        out["zeebe_reads"] = answer.get("read")
        out["zeebe_error"] = answer.get("error")
        out["zeebe_rewrites"] = answer.get("reencoded_b64")
    if case.note:
        out["note"] = case.note
    return out


def classpath_of(spec: str) -> str:
    return Path(spec[1:]).read_text().strip() if spec.startswith("@") else spec


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--classpath",
        action="append",
        default=[],
        metavar="VARIANT=CLASSPATH",
        help="Jackson + that variant's Zeebe classes (or VARIANT=@file holding the classpath)",
    )
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    for spec in args.classpath:
        name, _, cp = spec.partition("=")
        variant = VARIANTS[name]
        cases = all_cases(variant)
        answers = run_driver(classpath_of(cp), [c.request for c in cases])
        target = args.out / f"{variant.name}.jsonl"
        with target.open("w", encoding="utf-8") as out:
            for case, answer in zip(cases, answers, strict=True):
                out.write(json.dumps(line(variant, case, answer), ensure_ascii=False) + "\n")
        print(f"{target}: {len(cases)} cases ({variant.about})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
