"""The catalog's objects as bytes, and the arithmetic of entries across shards.

A shard holds entries as stored (:data:`RawEntries`: manifest key to a list of
:data:`ENTRY_FIELDS` values); the bounds record each node's shard bounds of a
partition; the taken-ids record the highest accepted checkpoint id per node.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backup_store.errors import BackupStoreError
from backup_store.format.instant import Instant
from backup_store.io import StoredObject
from backup_store.model import (
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    CheckpointType,
)

CATALOG_VERSION = 2
"""Version 1 was one object per (node, partition), ``<node>/<partition>.json``: no
longer read, and removed by a rebuild."""
TAKEN_VERSION = 1
SHARD_ENTRIES = 500
"""At most this many entries in one shard (about 80 KB) before it is split."""
ENTRY_FIELDS = 9
"""An entry as stored: token, node, partition, checkpoint, status, descriptor (snapshot
id, checkpoint position, number of partitions, broker version; or null), failure
reason, created and last modified (nanoseconds since the epoch)."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One manifest as last written by us: its listing token and its status."""

    token: str
    status: BackupStatus


Entries = dict[str, CatalogEntry]
"""Catalog entries by manifest key."""
RawEntries = dict[str, Any]
"""Catalog entries by manifest key as stored, decoded one by one when used."""
Highest = dict[int, int]
"""The highest backup id accepted, by node id."""
Bounds = dict[int, list[int]]
"""Each node's shard bounds (ascending, from 0) in one partition."""


def encode_catalog(entries: RawEntries) -> bytes:
    """A shard of entries as stored (see :func:`raw_entries`), in key order."""
    body = {"version": CATALOG_VERSION, "entries": {k: entries[k] for k in sorted(entries)}}
    return json.dumps(body, separators=(",", ":")).encode()


def _json_field(data: bytes, version: int, field: str) -> dict[str, Any]:
    """The object ``field`` of a catalog object of ``version``, as parsed; ValueError
    (or TypeError) for any other shape (another program may have written it)."""
    try:
        body = json.loads(data)
    except RecursionError:
        raise ValueError("a catalog object nested too deeply") from None
    if not isinstance(body, dict) or body.get("version") != version:
        found = body.get("version") if isinstance(body, dict) else type(body).__name__
        raise ValueError(f"not a catalog object of version {version}: {found!r}")
    inner = body.get(field)
    if not isinstance(inner, dict):
        raise TypeError(f"a catalog object's {field!r} is not an object")
    return inner


def raw_entries(data: bytes) -> RawEntries:
    """A shard's entries by manifest key, not yet decoded; ValueError (or KeyError,
    TypeError) when the shard as a whole is damaged."""
    return _json_field(data, CATALOG_VERSION, "entries")


def decode_catalog(data: bytes) -> Entries:
    """The entries of a shard; ValueError (or KeyError, TypeError) when damaged."""
    return {key: decode_entry(raw) for key, raw in raw_entries(data).items()}


def checkpoint_of(raw: Any) -> int | None:
    """The checkpoint id of an entry as stored, or None when it is not shaped like one
    (a cheap check; readers refuse any other damage entry by entry). Fields after
    the nine (the zone, 8.9+ descriptor fields) are kept as they are."""
    if not isinstance(raw, list) or len(raw) < ENTRY_FIELDS or not isinstance(raw[0], str):
        return None
    checkpoint = raw[3]
    return checkpoint if type(checkpoint) is int else None


def stored_entries(found: StoredObject | None) -> RawEntries | None:
    """A shard's entries as stored; None when it is missing or damaged."""
    if found is None:
        return None
    try:
        return raw_entries(found.data)
    except (ValueError, KeyError, TypeError):
        return None


def in_range(entries: RawEntries | None, low: int, high: int | None) -> RawEntries:
    """The entries shaped like one whose checkpoint is in ``[low, high)``."""
    kept: RawEntries = {}
    for key, raw in (entries or {}).items():
        checkpoint = checkpoint_of(raw)
        if checkpoint is not None and low <= checkpoint and (high is None or checkpoint < high):
            kept[key] = raw
    return kept


def owning_shard(bounds: Sequence[int], checkpoint: int) -> int:
    """The index of the shard (among ascending ``bounds``) holding ``checkpoint``; -1
    when it is below them all."""
    return bisect_right(bounds, checkpoint) - 1


def split_shard(entries: RawEntries, bound: int, *, full: bool) -> dict[int, RawEntries]:
    """One shard's entries laid out in shards of at most :data:`SHARD_ENTRIES`, by
    bound (``bound`` always among them, maybe empty); one checkpoint's entries are
    never split. ``full``: full shards and a short last one (appends of new highest
    ids, rebuilds); otherwise halves (an id inserted below others)."""
    if len(entries) <= SHARD_ENTRIES:
        return {bound: entries}
    ordered = sorted(entries.items(), key=lambda item: checkpoint_of(item[1]) or 0)
    size = SHARD_ENTRIES if full else (len(ordered) + 1) // 2
    pieces: dict[int, RawEntries] = {}
    start = 0
    while start < len(ordered):
        end = min(start + size, len(ordered))
        while end < len(ordered) and checkpoint_of(ordered[end][1]) == checkpoint_of(
            ordered[end - 1][1]
        ):
            end += 1
        low = bound if start == 0 else checkpoint_of(ordered[start][1]) or 0
        pieces[low] = dict(ordered[start:end])
        start = end
    return pieces


def encode_bounds(bounds: Bounds) -> bytes:
    body = {"version": CATALOG_VERSION, "bounds": {str(n): b for n, b in sorted(bounds.items())}}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_bounds(data: bytes) -> Bounds:
    """Each node's bounds of a bounds record; ValueError (or KeyError, TypeError) when
    damaged."""
    bounds: Bounds = {}
    for node, listed in _json_field(data, CATALOG_VERSION, "bounds").items():
        if not isinstance(listed, list) or any(type(b) is not int or b < 0 for b in listed):
            raise TypeError(f"the bounds of node {node} are not checkpoint ids")
        bounds[int(node)] = sorted({0, *listed})
    return bounds


def encode_taken(highest: Mapping[int, int]) -> bytes:
    body = {"version": TAKEN_VERSION, "highest": {str(n): i for n, i in sorted(highest.items())}}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_taken(data: bytes) -> Highest:
    """The highest ids by node of a taken-ids record; ValueError (or KeyError,
    TypeError) when damaged."""
    highest = {
        int(node): checkpoint
        for node, checkpoint in _json_field(data, TAKEN_VERSION, "highest").items()
    }
    for node, checkpoint in highest.items():
        # Checked as ids are: a node id and a checkpoint id in range.
        if type(checkpoint) is not int:
            raise TypeError(f"the highest id of node {node} is not an integer")
        BackupIdentifier(node, 1, checkpoint)
    return highest


_STATUS_CODES = {code.value: code for code in BackupStatusCode}


def _instant(nanos: int | None) -> Instant | None:
    return None if nanos is None else Instant(nanos)


def encode_entry(entry: CatalogEntry) -> list[Any]:
    """An entry as stored: an array (parsed twice as fast as an object)."""
    status = entry.status
    descriptor = status.descriptor
    return [
        entry.token,
        status.id.node_id,
        status.id.partition_id,
        status.id.checkpoint_id,
        status.status_code.value,
        None
        if descriptor is None
        else [
            descriptor.snapshot_id,
            descriptor.checkpoint_position,
            descriptor.number_of_partitions,
            descriptor.broker_version,
        ],
        status.failure_reason,
        None if status.created is None else status.created.epoch_nanos,
        None if status.last_modified is None else status.last_modified.epoch_nanos,
        *_trailing(status),
    ]


def _trailing(status: BackupStatus) -> list[Any]:
    """The zone, then Zeebe 8.9+'s descriptor fields (first log position, checkpoint
    time in nanoseconds, checkpoint type), each only when there is something to keep:
    readers that know only the zone ignore the rest."""
    zone = [status.id.zone] if status.id.zone is not None else []
    d = status.descriptor
    newer = (d.first_log_position, d.checkpoint_timestamp, d.checkpoint_type) if d else ()
    if all(value is None for value in newer):
        return zone
    assert d is not None
    timestamp = None if d.checkpoint_timestamp is None else d.checkpoint_timestamp.epoch_nanos
    kind = None if d.checkpoint_type is None else d.checkpoint_type.value
    return [status.id.zone, [d.first_log_position, timestamp, kind]]


def _descriptor(stored: list[Any], newer: list[Any] | None) -> BackupDescriptor:
    if newer is None:
        return BackupDescriptor(*stored)
    first, timestamp, kind = newer
    snapshot_id, position, partitions, version = stored
    return BackupDescriptor(
        snapshot_id,
        position,
        partitions,
        version,
        first_log_position=first,
        checkpoint_timestamp=_instant(timestamp),
        checkpoint_type=None if kind is None else CheckpointType(kind),
    )


def decode_entry(raw: list[Any], listed: BackupIdentifier | None = None) -> CatalogEntry:
    """One entry; with ``listed`` (the id of the listed manifest), only when the entry
    names that very id (ValueError otherwise), which is then not built again."""
    token, node, partition, checkpoint, code, descriptor, reason, created, modified, *rest = raw
    if not isinstance(token, str) or not (reason is None or isinstance(reason, str)):
        raise ValueError("a catalog entry's token and reason are strings")
    zone = rest[0] if rest else None  # the zone, when the broker had one
    newer = rest[1] if len(rest) > 1 else None
    if listed is None:
        backup_id = BackupIdentifier.newer(node, partition, checkpoint, zone)
    elif (
        node == listed.node_id
        and partition == listed.partition_id
        and checkpoint == listed.checkpoint_id
        and zone == listed.zone
    ):
        backup_id = listed
    else:
        raise ValueError("the entry names another backup than its manifest key")
    status = BackupStatus(
        backup_id,
        _STATUS_CODES[code],  # (a KeyError for an unknown code: a damaged entry)
        None if descriptor is None else _descriptor(descriptor, newer),
        reason,
        _instant(created),
        _instant(modified),
    )
    return CatalogEntry(token, status)


def normal_token(e_tag: str | None) -> str | None:
    """An e-tag as compared: services quote it in some answers and not in others.

    ``W/`` marks a weak e-tag only before a quote: an unquoted e-tag may begin
    with it (GCS's are base64, one in 4,096 does)."""
    if not e_tag:
        return None
    if e_tag.startswith('W/"'):
        e_tag = e_tag[2:]
    return e_tag.strip('"') or None


def merge_entries(
    scope: BackupIdentifierWildcard, found: Mapping[str, CatalogEntry], entries: RawEntries
) -> None:
    """Make ``entries`` (as stored) say what a listing of ``scope`` found: entries of
    manifests in scope that were not found are dropped (damaged ones too), found
    ones set."""
    for key in [k for k, raw in entries.items() if k not in found and _in_scope(scope, raw)]:
        del entries[key]
    entries.update({key: encode_entry(entry) for key, entry in found.items()})


def _in_scope(scope: BackupIdentifierWildcard, raw: Any) -> bool:
    """Whether a stored entry is of a backup ``scope`` selects; a damaged one is."""
    try:
        return scope.matches(BackupIdentifier.newer(*raw[1:4]))
    except (ValueError, KeyError, TypeError, BackupStoreError):
        return True
