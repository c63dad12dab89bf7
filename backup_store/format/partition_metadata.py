"""Zeebe 8.9+'s per-partition backup metadata, as a value (``store-format.md`` §7).

A Zeebe 8.9+ broker keeps, per partition, a JSON object listing the checkpoints it
took and the contiguous ranges of backups between them (for point-in-time
restore), at ``[bp/]metadata/{p}/metadata.json``
(:func:`backup_store.format.keys.partition_metadata_key`). Its versions differ
(``docs/on-store-format.md``): one file without ``sequenceNumber``
(camunda/camunda 6c9881d0), or two slots each with a ``sequenceNumber``, of which
the higher wins and a tie goes to slot ``a`` (822d2cf4, 47e386a2; read by
``BackupMetadataCodec`` at 1e913b79), or one file whose record starts with a
``version`` and whose checkpoints lack ``numberOfPartitions`` and ``brokerVersion``
(``BackupMetadata`` at 36ca526c, which the newest syncer found writes).

The metadata is a hint, never the truth: the manifests are. A tool may use it to
show checkpoint types and ranges; a damaged or unknown-shaped file is ignored
(:func:`read_partition_metadata` logs it and gives ``None``), never reported as a
damaged backup. Range markers (``[bp/]ranges/{p}/{c}.start|end|deletion``, empty
objects some 8.9 versions wrote) are recognised by
:func:`backup_store.format.keys.parse_range_marker_key` and never count as damage.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from backup_store.errors import ManifestParseError
from backup_store.format.instant import Instant
from backup_store.format.manifest_json import jackson_string
from backup_store.model import CheckpointType

log = logging.getLogger(__name__)

_LONG = (-(2**63), 2**63 - 1)

RECORD_VERSION = 1
"""The ``version`` the versioned record (``BackupMetadata`` at 36ca526c) writes."""


class PartitionMetadataError(ManifestParseError):
    """A partition metadata file is not one of the shapes Zeebe writes; names the field."""


@dataclass(frozen=True)
class MetadataCheckpoint:
    """One checkpoint a broker recorded. Fields a version did not write are ``None``."""

    checkpoint_id: int
    checkpoint_position: int
    checkpoint_timestamp: Instant | None
    checkpoint_type: CheckpointType | None
    first_log_position: int | None
    number_of_partitions: int | None
    broker_version: str | None


@dataclass(frozen=True)
class BackupRange:
    """Checkpoints ``start`` to ``end`` (ids, inclusive) whose backups are contiguous."""

    start: int
    end: int


@dataclass(frozen=True)
class PartitionMetadata:
    """One partition's metadata file.

    ``sequence_number`` is ``None`` for the one-file versions; of two slots, the one
    with the higher number is current (:func:`current_slot`). ``record_version`` is
    the ``version`` field of the versioned record, ``None`` for the others.
    """

    partition_id: int
    sequence_number: int | None
    last_updated: Instant
    checkpoints: tuple[MetadataCheckpoint, ...]
    ranges: tuple[BackupRange, ...]
    record_version: int | None = None


_TOP_KEYS = {"partitionId", "sequenceNumber", "version", "lastUpdated", "checkpoints", "ranges"}
_CHECKPOINT_KEYS = {
    "checkpointId",
    "checkpointPosition",
    "checkpointTimestamp",
    "checkpointType",
    "firstLogPosition",
    "numberOfPartitions",
    "brokerVersion",
}


def _object(value: Any, where: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PartitionMetadataError(f"partition metadata: {where} is not an object")
    unknown = sorted(set(value) - known)
    if unknown:
        raise PartitionMetadataError(
            f"partition metadata: {where} has unknown field {unknown[0]!r}"
        )
    return value


def _int(obj: dict[str, Any], name: str, where: str, *, optional: bool = False) -> int | None:
    value = obj.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not _LONG[0] <= value <= _LONG[1]:
        raise PartitionMetadataError(f"partition metadata: {where} {name!r} is not a long")
    return value


def _required_int(obj: dict[str, Any], name: str, where: str) -> int:
    value = _int(obj, name, where)
    assert value is not None  # _int raises for a missing required value
    return value


def _instant(value: Any, name: str, where: str) -> Instant | None:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return Instant.parse_iso(value)
    except ValueError:
        pass
    raise PartitionMetadataError(f"partition metadata: {where} {name!r} is not an ISO instant")


def _checkpoint(raw: Any, index: int) -> MetadataCheckpoint:
    where = f"checkpoints[{index}]"
    obj = _object(raw, where, _CHECKPOINT_KEYS)
    kind = obj.get("checkpointType")
    try:
        checkpoint_type = None if kind is None else CheckpointType(kind)
    except ValueError:
        raise PartitionMetadataError(
            f"partition metadata: {where} 'checkpointType' is unknown"
        ) from None
    version = obj.get("brokerVersion")
    if version is not None and not isinstance(version, str):
        raise PartitionMetadataError(f"partition metadata: {where} 'brokerVersion' not a string")
    return MetadataCheckpoint(
        checkpoint_id=_required_int(obj, "checkpointId", where),
        checkpoint_position=_required_int(obj, "checkpointPosition", where),
        checkpoint_timestamp=_instant(obj.get("checkpointTimestamp"), "checkpointTimestamp", where),
        checkpoint_type=checkpoint_type,
        first_log_position=_int(obj, "firstLogPosition", where, optional=True),
        number_of_partitions=_int(obj, "numberOfPartitions", where, optional=True),
        broker_version=version,
    )


def _range(raw: Any, index: int) -> BackupRange:
    where = f"ranges[{index}]"
    obj = _object(raw, where, {"start", "end"})
    return BackupRange(_required_int(obj, "start", where), _required_int(obj, "end", where))


def _list(obj: dict[str, Any], name: str) -> list[Any]:
    value = obj.get(name)
    if not isinstance(value, list):
        raise PartitionMetadataError(f"partition metadata: {name!r} is not an array")
    return value


def decode_partition_metadata(data: bytes) -> PartitionMetadata:
    """Parse one metadata file (either version).

    Raises:
        PartitionMetadataError: not valid JSON of a known shape; the message names the field.
    """
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        raise PartitionMetadataError("partition metadata is not valid JSON") from None
    obj = _object(raw, "the file", _TOP_KEYS)
    last_updated = _instant(obj.get("lastUpdated"), "lastUpdated", "the file")
    if last_updated is None:
        raise PartitionMetadataError("partition metadata: 'lastUpdated' is missing")
    return PartitionMetadata(
        partition_id=_required_int(obj, "partitionId", "the file"),
        sequence_number=_int(obj, "sequenceNumber", "the file", optional=True),
        record_version=_int(obj, "version", "the file", optional=True),
        last_updated=last_updated,
        checkpoints=tuple(_checkpoint(c, i) for i, c in enumerate(_list(obj, "checkpoints"))),
        ranges=tuple(_range(r, i) for i, r in enumerate(_list(obj, "ranges"))),
    )


def _null_or(token: str | None) -> str:
    return "null" if token is None else token


def _checkpoint_json(checkpoint: MetadataCheckpoint, *, versioned: bool) -> str:
    timestamp = checkpoint.checkpoint_timestamp
    kind = checkpoint.checkpoint_type
    version = checkpoint.broker_version
    fields = [
        ("checkpointId", str(checkpoint.checkpoint_id)),
        ("checkpointPosition", str(checkpoint.checkpoint_position)),
        ("checkpointTimestamp", None if timestamp is None else jackson_string(timestamp.iso())),
        ("checkpointType", None if kind is None else jackson_string(kind.value)),
        ("firstLogPosition", _optional_number(checkpoint.first_log_position)),
    ]
    if not versioned:  # the versioned record's checkpoints end here
        fields += [
            ("numberOfPartitions", _optional_number(checkpoint.number_of_partitions)),
            ("brokerVersion", None if version is None else jackson_string(version)),
        ]
    return "{" + ",".join(f'"{name}":{_null_or(token)}' for name, token in fields) + "}"


def _optional_number(value: int | None) -> str | None:
    return None if value is None else str(value)


def encode_partition_metadata(metadata: PartitionMetadata) -> bytes:
    """The file as Zeebe's mapper writes it, byte for byte, in the version the value
    has: with :attr:`~PartitionMetadata.record_version`, the versioned record
    (``version`` first, checkpoints of five fields); else ``BackupMetadataManifest``,
    with ``sequenceNumber`` after ``partitionId`` when
    :attr:`~PartitionMetadata.sequence_number` is set (the two-slot version).

    Field order is each record's; absent checkpoint values are written ``null``, as
    Zeebe's mapper writes them.
    """
    versioned = metadata.record_version is not None
    head = f'"partitionId":{metadata.partition_id}'
    if versioned:
        head = f'"version":{metadata.record_version},{head}'
    elif metadata.sequence_number is not None:
        head += f',"sequenceNumber":{metadata.sequence_number}'
    checkpoints = ",".join(_checkpoint_json(c, versioned=versioned) for c in metadata.checkpoints)
    ranges = ",".join(f'{{"start":{r.start},"end":{r.end}}}' for r in metadata.ranges)
    text = (
        f'{{{head},"lastUpdated":{jackson_string(metadata.last_updated.iso())},'
        f'"checkpoints":[{checkpoints}],"ranges":[{ranges}]}}'
    )
    return text.encode()


def read_partition_metadata(data: bytes | None, key: str) -> PartitionMetadata | None:
    """The metadata at ``key``, or ``None`` when absent, damaged or of an unknown shape
    (logged: the metadata is a hint, the manifests are the truth)."""
    if data is None:
        return None
    try:
        return decode_partition_metadata(data)
    except PartitionMetadataError as error:
        log.warning("ignoring partition metadata %s: %s", key, error.message)
        return None


def current_slot(
    slot_a: PartitionMetadata | None, slot_b: PartitionMetadata | None
) -> PartitionMetadata | None:
    """Of two slots (each ``None`` when absent or damaged), the one with the higher
    ``sequenceNumber``; a tie goes to slot ``a``, as Zeebe's codec decides."""
    if slot_a is None or slot_b is None:
        return slot_a or slot_b
    return slot_b if (slot_b.sequence_number or 0) > (slot_a.sequence_number or 0) else slot_a
