"""The manifest's two JSON forms, byte for byte as Zeebe 8.7 writes them.

* The **common** form (GCS, Azure, filesystem): compact JSON, fixed key order,
  absent fields omitted, upper-case ``statusCode``, ISO-8601 dates.
* The **S3** form: polymorphic on a lower-case ``statusCode`` written first,
  file maps with an optional ``compressionAlgorithm``, ``null`` for absent
  values, decimal epoch-second dates (ISO dates from Zeebe 8.9 on).

Reading is lenient where Zeebe's readers are (trailing bytes, ``+00:00`` offsets,
dates as numbers or strings, the 8.1 array form, unknown properties); writing is
exact. Timestamps keep the JSON token they were read from, so an untouched
manifest read and written back gives identical bytes.
"""

from __future__ import annotations

import json
import re
import reprlib
from dataclasses import dataclass
from typing import Any

from backup_store.errors import InvalidInputError, ManifestParseError
from backup_store.format.instant import Instant, InstantForm
from backup_store.format.manifest import (
    FileEntry,
    JsonShape,
    Manifest,
    ManifestForm,
    WrongManifestFormError,
)
from backup_store.model import (
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
    CheckpointType,
)

# Jackson's UTF8JsonGenerator works on Java's UTF-16 code units: it escapes '"', '\\' and
# control characters, and writes each surrogate (so each half of a character outside the
# Basic Multilingual Plane) as \uXXXX in upper-case hex; every other character is raw UTF-8.
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff\U00010000-\U0010ffff]')
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"
    return f"\\u{code:04X}"


def _string(value: str) -> str:
    """A JSON string literal exactly as Zeebe's Jackson writes it (never a lone surrogate)."""
    return '"' + _NEEDS_ESCAPE.sub(_escape, value) + '"'


def _common_instant(value: Instant) -> str:
    if value.source is not None and value.form is InstantForm.ISO:
        return value.source
    return _string(value.iso())


def _s3_instant(value: Instant, iso_dates: bool) -> str:
    # Keep the token read (byte-exact round trips) only if it has the form to write.
    if value.source is not None and (value.form is InstantForm.ISO) == iso_dates:
        return value.source
    return _string(value.iso()) if iso_dates else value.decimal_seconds()


def _id_json(backup_id: BackupIdentifier, shape: JsonShape, *, s3: bool) -> str:
    zone = ""
    if backup_id.zone is not None:
        zone = f'"zone":{_string(backup_id.zone)},'
    elif s3 and "zone" in shape.id_keys:
        zone = '"zone":null,'
    return (
        f'{{"nodeId":{backup_id.node_id},{zone}"partitionId":{backup_id.partition_id},'
        f'"checkpointId":{backup_id.checkpoint_id}}}'
    )


def _descriptor_instant(value: Instant, iso_dates: bool) -> str:
    if value.source is not None:  # as read: ISO, decimal seconds or epoch millis
        return value.source
    return _string(value.iso()) if iso_dates else value.decimal_seconds()


def _descriptor_json(
    descriptor: BackupDescriptor, shape: JsonShape, *, s3: bool, iso_dates: bool
) -> str:
    """Zeebe's field order. An optional field is written when it has a value; in the S3 form
    also as ``null`` when it was read (the common form's mapper never writes ``null``)."""

    def optional(key: str, token: str | None) -> None:
        if token is not None:
            parts.append(f'"{key}":{token}')
        elif s3 and key in shape.descriptor_keys:
            parts.append(f'"{key}":null')

    parts: list[str] = []
    if descriptor.snapshot_id is not None:
        parts.append(f'"snapshotId":{_string(descriptor.snapshot_id)}')
    elif s3:
        parts.append('"snapshotId":null')
    first = descriptor.first_log_position
    optional("firstLogPosition", None if first is None else str(first))
    parts.append(f'"checkpointPosition":{descriptor.checkpoint_position}')
    parts.append(f'"numberOfPartitions":{descriptor.number_of_partitions}')
    parts.append(f'"brokerVersion":{_string(descriptor.broker_version)}')
    stamp = descriptor.checkpoint_timestamp
    stamp_token = None if stamp is None else _descriptor_instant(stamp, iso_dates)
    optional("checkpointTimestamp", stamp_token)
    kind = descriptor.checkpoint_type
    optional("checkpointType", None if kind is None else f'"{kind.value}"')
    return "{" + ",".join(parts) + "}"


def encode_common(manifest: Manifest) -> bytes:
    """The GCS/Azure/filesystem form."""
    parts = [f'"id":{_id_json(manifest.id, manifest.shape, s3=False)}']
    if manifest.descriptor is not None:
        descriptor = _descriptor_json(
            manifest.descriptor, manifest.shape, s3=False, iso_dates=True
        )
        parts.append(f'"descriptor":{descriptor}')
    parts.append(f'"statusCode":"{manifest.status_code.value}"')
    for key, files in (("snapshot", manifest.snapshot_files), ("segments", manifest.segment_files)):
        if files is not None:
            names = ",".join(f'{{"name":{_string(f.name)}}}' for f in files)
            parts.append(f'"{key}":{{"files":[{names}]}}')
    parts.append(f'"createdAt":{_common_instant(manifest.created_at)}')
    parts.append(f'"modifiedAt":{_common_instant(manifest.modified_at)}')
    if manifest.status_code is BackupStatusCode.FAILED and manifest.failure_reason is not None:
        parts.append(f'"failureReason":{_string(manifest.failure_reason)}')
    return ("{" + ",".join(parts) + "}").encode()


def encode_s3(manifest: Manifest, *, iso_dates: bool = False) -> bytes:
    """The S3 form; ``iso_dates`` for the Zeebe 8.9+ layout."""

    def file_map(files: tuple[FileEntry, ...] | None) -> str:
        entries = ",".join(
            _string(f.name)
            + ":"
            + (f'{{"compressionAlgorithm":{_string(f.compression)}}}' if f.compression else "{}")
            for f in files or ()
        )
        return f'{{"files":{{{entries}}}}}'

    failed = manifest.status_code is BackupStatusCode.FAILED
    parts = [
        f'"statusCode":"{manifest.status_code.value.lower()}"',
        f'"id":{_id_json(manifest.id, manifest.shape, s3=True)}',
    ]
    descriptor = "null"
    if manifest.descriptor is not None:
        descriptor = _descriptor_json(
            manifest.descriptor, manifest.shape, s3=True, iso_dates=iso_dates
        )
    parts.append(f'"descriptor":{descriptor}')
    if failed:
        reason = manifest.failure_reason
        parts.append(f'"failureReason":{_string(reason) if reason is not None else "null"}')
    parts.append(f'"snapshotFiles":{file_map(manifest.snapshot_files)}')
    parts.append(f'"segmentFiles":{file_map(manifest.segment_files)}')
    parts.append(f'"createdAt":{_s3_instant(manifest.created_at, iso_dates)}')
    parts.append(f'"modifiedAt":{_s3_instant(manifest.modified_at, iso_dates)}')
    return ("{" + ",".join(parts) + "}").encode()


def encode_manifest(manifest: Manifest, form: ManifestForm, *, iso_dates: bool = False) -> bytes:
    if form is ManifestForm.S3:
        return encode_s3(manifest, iso_dates=iso_dates)
    return encode_common(manifest)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Fraction:
    """A JSON number with a fraction, kept as its exact token (epoch seconds)."""

    token: str


class _Integer(int):
    """A JSON integer that remembers its token (``-0`` is not ``0`` to an untouched manifest)."""

    token: str

    def __new__(cls, token: str) -> _Integer:
        value = super().__new__(cls, token)
        value.token = token
        return value


_DECODER = json.JSONDecoder(parse_float=_Fraction, parse_int=_Integer)


def _load(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ManifestParseError(f"manifest is not UTF-8: {error}") from None
    try:
        # raw_decode stops after the first JSON value: Zeebe's filesystem store
        # rewrites manifests in place without truncating, leaving stale bytes.
        value, _ = _DECODER.raw_decode(text.lstrip())
    except RecursionError:
        raise ManifestParseError("manifest is not valid JSON: nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, or an integer over Python's digit limit
        raise ManifestParseError(f"manifest is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ManifestParseError("manifest is not a JSON object")
    return value


# Values read go into messages shortened: a manifest may hold anything, of any size.
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = _SHORT_REPR.maxlong = 60


def _shown(value: object) -> str:
    return _SHORT_REPR.repr(value)


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj or obj[name] is None:
        raise ManifestParseError(f"manifest {where}: missing {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ManifestParseError(f"manifest {where}: {name!r} has the wrong type: {_shown(value)}")
    return value


def _int_field(obj: dict[str, Any], name: str, where: str) -> int:
    return int(_field(obj, name, int, where))  # a plain int, not the token-keeping _Integer


def _optional_str(obj: dict[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise ManifestParseError(f"manifest {where}: {name!r} must be a string: {_shown(value)}")
    return value


_NEWER_DESCRIPTOR_KEYS = frozenset({"firstLogPosition", "checkpointTimestamp", "checkpointType"})


def _shape(obj: dict[str, Any]) -> JsonShape:
    raw_id, raw_descriptor = obj.get("id"), obj.get("descriptor")
    return JsonShape(
        id_keys=frozenset({"zone"} & raw_id.keys()) if isinstance(raw_id, dict) else frozenset(),
        descriptor_keys=_NEWER_DESCRIPTOR_KEYS & raw_descriptor.keys()
        if isinstance(raw_descriptor, dict)
        else frozenset(),
    )


def _parse_id(obj: dict[str, Any], shape: JsonShape) -> BackupIdentifier:
    raw = _field(obj, "id", dict, "")
    zone = _optional_str(raw, "zone", "id")
    # Checkpoint id 0 is Zeebe 8.9+'s (its CheckpointId has minimum 0), 8.7's ids start at 1.
    newer = bool(shape.id_keys or shape.descriptor_keys)
    try:
        return (BackupIdentifier.newer if newer else BackupIdentifier)(
            _int_field(raw, "nodeId", "id"),
            _int_field(raw, "partitionId", "id"),
            _int_field(raw, "checkpointId", "id"),
            zone,
        )
    except InvalidInputError as error:
        raise ManifestParseError(f"manifest id: {error.message}") from None


def _checkpoint_timestamp(raw: dict[str, Any]) -> Instant | None:
    value = raw.get("checkpointTimestamp")
    if value is None:
        return None
    if isinstance(value, _Integer):  # a Java long of epoch milliseconds (Instant.ofEpochMilli)
        return Instant(int(value) * 1_000_000, value.token, InstantForm.DECIMAL)
    return _parse_instant(raw, "checkpointTimestamp", "descriptor")


def _checkpoint_type(raw: dict[str, Any]) -> CheckpointType | None:
    value = raw.get("checkpointType")
    if value is None:
        return None
    if value == "":  # 8.9's first reader took "" for MANUAL_BACKUP; later ones refuse it
        return CheckpointType.MANUAL_BACKUP
    try:
        return CheckpointType(value)
    except ValueError:  # Zeebe refuses these too
        names = ", ".join(t.value for t in CheckpointType)
        raise ManifestParseError(
            f"manifest descriptor: 'checkpointType' must be one of {names}: {_shown(value)}"
        ) from None


def _parse_descriptor(raw: Any) -> BackupDescriptor | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ManifestParseError(f"manifest descriptor must be an object: {_shown(raw)}")
    first = raw.get("firstLogPosition")
    try:
        return BackupDescriptor(
            snapshot_id=_optional_str(raw, "snapshotId", "descriptor"),
            checkpoint_position=_int_field(raw, "checkpointPosition", "descriptor"),
            number_of_partitions=_int_field(raw, "numberOfPartitions", "descriptor"),
            broker_version=_field(raw, "brokerVersion", str, "descriptor"),
            first_log_position=None
            if first is None
            else _int_field(raw, "firstLogPosition", "descriptor"),
            checkpoint_timestamp=_checkpoint_timestamp(raw),
            checkpoint_type=_checkpoint_type(raw),
        )
    except InvalidInputError as error:
        raise ManifestParseError(f"manifest descriptor: {error.message}") from None


def _parse_instant(obj: dict[str, Any], name: str, where: str = "") -> Instant:
    value = _field(obj, name, (str, int, _Fraction), where)
    try:
        if isinstance(value, str):
            if "T" in value:
                return Instant(
                    Instant.parse_iso(value).epoch_nanos, _string(value), InstantForm.ISO
                )
            parsed = Instant.parse_decimal_seconds(value)
            return Instant(parsed.epoch_nanos, _string(value), InstantForm.DECIMAL_STRING)
        token = value.token if isinstance(value, _Fraction | _Integer) else str(value)
        return Instant(Instant.parse_decimal_seconds(token).epoch_nanos, token, InstantForm.DECIMAL)
    except ValueError as error:
        raise ManifestParseError(f"manifest {name!r}: {error}") from None


_STATUS_NAMES = {
    ManifestForm.COMMON: {code.value: code for code in BackupStatusCode if code.rank > 0},
    ManifestForm.S3: {code.value.lower(): code for code in BackupStatusCode if code.rank > 0},
}


def _status(value: Any, form: ManifestForm) -> BackupStatusCode:
    for found, names in _STATUS_NAMES.items():
        if isinstance(value, str) and value in names:
            if found is not form:
                raise WrongManifestFormError(
                    f"manifest is in the {found.value} form, not the {form.value} form",
                    found=found,
                )
            return names[value]
    raise ManifestParseError(f"manifest has an unknown statusCode: {_shown(value)}")


def _looks_like(obj: dict[str, Any]) -> ManifestForm | None:
    if {"snapshotFiles", "segmentFiles", "snapshotFileNames", "segmentFileNames"} & obj.keys():
        return ManifestForm.S3
    if {"snapshot", "segments"} & obj.keys():
        return ManifestForm.COMMON
    return None


def decode_common(data: bytes) -> Manifest:
    obj = _load(data)
    if _looks_like(obj) is ManifestForm.S3:
        raise WrongManifestFormError("manifest is in the S3 form", found=ManifestForm.S3)
    status = _status(obj.get("statusCode"), ManifestForm.COMMON)

    def file_set(name: str) -> tuple[FileEntry, ...] | None:
        raw = obj.get(name)
        if raw is None:
            return None
        files = _field(raw, "files", list, name) if isinstance(raw, dict) else None
        if files is None or not all(isinstance(f, dict) for f in files):
            raise ManifestParseError(f'manifest {name!r} must be {{"files":[{{"name":...}}]}}')
        return tuple(FileEntry(_field(f, "name", str, name)) for f in files)

    shape = _shape(obj)
    return Manifest(
        id=_parse_id(obj, shape),
        status_code=status,
        descriptor=_parse_descriptor(obj.get("descriptor")),
        snapshot_files=file_set("snapshot"),
        segment_files=file_set("segments"),
        created_at=_parse_instant(obj, "createdAt"),
        modified_at=_parse_instant(obj, "modifiedAt"),
        failure_reason=_optional_str(obj, "failureReason", "")
        if status is BackupStatusCode.FAILED
        else None,
        shape=shape,
    )


def decode_s3(data: bytes) -> Manifest:
    obj = _load(data)
    if _looks_like(obj) is ManifestForm.COMMON:
        raise WrongManifestFormError("manifest is in the common form", found=ManifestForm.COMMON)
    status = _status(obj.get("statusCode"), ManifestForm.S3)

    def file_set(name: str, legacy: str) -> tuple[FileEntry, ...]:
        if legacy in obj and name not in obj:  # Zeebe 8.1: a plain array of names
            names = _field(obj, legacy, list, "")
            if not all(isinstance(n, str) for n in names):
                raise ManifestParseError(f"manifest {legacy!r} must be an array of names")
            return tuple(FileEntry(n) for n in names)
        raw = obj.get(name)
        if raw is None:
            return ()
        files = _field(raw, "files", dict, name) if isinstance(raw, dict) else None
        if files is None:
            raise ManifestParseError(f'manifest {name!r} must be {{"files":{{...}}}}')
        entries = []
        for file_name, meta in files.items():
            if not isinstance(meta, dict):
                raise ManifestParseError(
                    f"manifest {name!r}: entry {_shown(file_name)} not an object"
                )
            entries.append(FileEntry(file_name, _optional_str(meta, "compressionAlgorithm", name)))
        return tuple(entries)

    shape = _shape(obj)
    return Manifest(
        id=_parse_id(obj, shape),
        status_code=status,
        descriptor=_parse_descriptor(obj.get("descriptor")),
        snapshot_files=file_set("snapshotFiles", "snapshotFileNames"),
        segment_files=file_set("segmentFiles", "segmentFileNames"),
        created_at=_parse_instant(obj, "createdAt"),
        modified_at=_parse_instant(obj, "modifiedAt"),
        failure_reason=_optional_str(obj, "failureReason", "")
        if status is BackupStatusCode.FAILED
        else None,
        shape=shape,
    )


def decode_manifest(data: bytes, form: ManifestForm) -> Manifest:
    """Parse a manifest in the given form.

    Raises:
        WrongManifestFormError: the bytes are a manifest of the other form.
        ManifestParseError: anything else that is not a valid manifest.
    """
    return decode_s3(data) if form is ManifestForm.S3 else decode_common(data)
