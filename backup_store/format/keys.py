"""Object-key layout of every store kind (``store-format.md`` §2 and §6).

This module is the only place that knows where objects live:

========== ====================================== ==========================================
store      manifest                               file
========== ====================================== ==========================================
S3         ``bp/p/c/n/manifest.json``             ``bp/p/c/n/{snapshot,segments}/<name>``
S3 8.9+    ``bp/manifests/p/c/n/manifest.json``   ``bp/contents/p/c/n/{snapshot,segments}/<name>``
GCS        ``bp/manifests/p/c/n/manifest.json``   ``bp/contents/p/c/n/{snapshot,segments}/<name>``
Azure      ``manifests/p/c/n/manifest.json``      ``contents/p/c/n/{snapshot,segments}/<name>``
filesystem ``manifests/p/c/n/manifest.json``      ``contents/p/c/n/{snapshot,segments}/<name>``
========== ====================================== ==========================================

``n`` is the node id, or ``{zone}_{nodeId}`` for a broker in a zone (Zeebe 8.10+).

Besides Zeebe's objects, our stores keep small objects of their own that Zeebe's
readers never look at (documented in ``docs/on-store-format.md``):

* ``bp/.backup-store.json``: which store kind owns the location;
* ``<backup folder>/backup-store-integrity.json``: size and SHA-256 per file;
* ``bp/.backup-store-catalog/``: the listing catalog's shards
  (``<node>/<partition>/<bound>.json``), bounds records (``shards/<partition>.json``)
  and taken-ids records (``taken/<partition>.json``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backup_store.errors import ConfigurationError
from backup_store.model import MAX_INT, BackupIdentifier, BackupIdentifierWildcard

MANIFEST_NAME = "manifest.json"
INTEGRITY_NAME = "backup-store-integrity.json"
OWNER_MARKER_NAME = ".backup-store.json"


def check_base_path(base_path: str | None) -> str | None:
    """A base path is non-empty and neither starts nor ends with ``/``."""
    if base_path is None:
        return None
    if not base_path or base_path.startswith("/") or base_path.endswith("/"):
        raise ConfigurationError(
            f"invalid base path {base_path!r}: must be non-empty and must not start or end with '/'"
        )
    if any(part in ("", ".", "..") for part in base_path.split("/")):
        raise ConfigurationError(f"invalid base path {base_path!r}: empty, '.' or '..' segment")
    return base_path


@dataclass(frozen=True)
class KeyLayout:
    """Where one layout puts a backup's objects under a base path.

    ``manifests_apart`` is true for the ``manifests/`` + ``contents/`` layout and
    false for the classic S3 one, where everything of a backup shares ``bp/p/c/n/``.
    """

    base_path: str | None
    manifests_apart: bool

    @property
    def root(self) -> str:
        return f"{self.base_path}/" if self.base_path else ""

    @property
    def _manifest_root(self) -> str:
        return self.root + ("manifests/" if self.manifests_apart else "")

    @staticmethod
    def _folder(backup_id: BackupIdentifier) -> str:
        return f"{backup_id.partition_id}/{backup_id.checkpoint_id}/{backup_id.node_folder}/"

    def manifest_key(self, backup_id: BackupIdentifier) -> str:
        return self._manifest_root + self._folder(backup_id) + MANIFEST_NAME

    def contents_prefix(self, backup_id: BackupIdentifier) -> str:
        """Prefix of every object of the backup other than its split manifest."""
        return self.root + ("contents/" if self.manifests_apart else "") + self._folder(backup_id)

    def file_key(self, backup_id: BackupIdentifier, file_set: str, name: str) -> str:
        return f"{self.contents_prefix(backup_id)}{file_set}/{name}"

    def integrity_key(self, backup_id: BackupIdentifier) -> str:
        return self.contents_prefix(backup_id) + INTEGRITY_NAME

    def list_prefix(self, wildcard: BackupIdentifierWildcard) -> str:
        """The narrowest key prefix under which every matching manifest lies."""
        prefix = self._manifest_root
        if wildcard.partition_id is None:
            return prefix
        prefix += f"{wildcard.partition_id}/"
        if wildcard.exact_checkpoint is not None:
            # Not narrowed to the node: its folder may be zone-qualified ({zone}_{node}).
            return prefix + f"{wildcard.exact_checkpoint}/"
        return prefix + wildcard.checkpoint_prefix

    @property
    def partitions_folder(self) -> str:
        """The folder whose sub-folders are the partitions with manifests."""
        return self._manifest_root

    def parse_partition_folder(self, prefix: str) -> int | None:
        """The partition id of a sub-folder of :attr:`partitions_folder`, or None."""
        name = prefix.removeprefix(self._manifest_root).rstrip("/")
        if not prefix.startswith(self._manifest_root) or not _PARTITION.fullmatch(name):
            return None
        partition = int(name)
        return partition if partition <= MAX_INT else None

    def parse_manifest_key(self, key: str) -> BackupIdentifier | None:
        """The backup id of a manifest key of this layout, or None for any other key."""
        if not key.startswith(self._manifest_root):
            return None
        match = _MANIFEST_KEY.match(key[len(self._manifest_root) :])
        if match is None:
            return None
        try:
            return BackupIdentifier.newer(
                int(match["n"]), int(match["p"]), int(match["c"]), match["z"]
            )
        except ValueError:
            return None


_PARTITION = re.compile(r"[1-9][0-9]{0,9}")
# The node folder is the node id, or {zone}_{node id} for a broker in a zone (Zeebe 8.10+);
# checkpoint 0 is Zeebe 8.9+'s.
_MANIFEST_KEY = re.compile(
    r"^(?P<p>[1-9][0-9]*)/(?P<c>0|[1-9][0-9]*)/"
    r"(?:(?P<z>[A-Za-z0-9][A-Za-z0-9-]{0,62})_)?(?P<n>0|[1-9][0-9]*)/manifest\.json$"
)


METADATA_FOLDER = "metadata"
RANGES_FOLDER = "ranges"
RANGE_MARKER_KINDS = ("start", "end", "deletion")


def partition_metadata_key(base_path: str | None, partition_id: int) -> str:
    """Where Zeebe 8.9+ keeps a partition's metadata (``format.partition_metadata``)."""
    root = f"{base_path}/" if base_path else ""
    return f"{root}{METADATA_FOLDER}/{partition_id}/metadata.json"


def range_marker_prefix(base_path: str | None, partition_id: int) -> str:
    """The folder of a partition's range markers (:func:`parse_range_marker_key`)."""
    root = f"{base_path}/" if base_path else ""
    return f"{root}{RANGES_FOLDER}/{partition_id}/"


_RANGE_MARKER = re.compile(
    r"^(?P<p>[1-9][0-9]*)/(?P<c>0|[1-9][0-9]*)\.(?P<kind>start|end|deletion)$"
)


def parse_range_marker_key(key: str, base_path: str | None) -> tuple[int, int, str] | None:
    """``(partition, checkpoint, kind)`` of a range marker some Zeebe 8.9 versions left
    (``[bp/]ranges/{p}/{c}.start|end|deletion``, empty), or None for any other key."""
    prefix = (f"{base_path}/" if base_path else "") + f"{RANGES_FOLDER}/"
    match = _RANGE_MARKER.match(key[len(prefix) :]) if key.startswith(prefix) else None
    if match is None:
        return None
    return int(match["p"]), int(match["c"]), match["kind"]


def owner_marker_key(base_path: str | None) -> str:
    return (f"{base_path}/" if base_path else "") + OWNER_MARKER_NAME


def broker_release(broker_version: str | None) -> tuple[int, int] | None:
    """``(major, minor)`` of a broker version (``8.10.1``, ``8.9.0-SNAPSHOT``), or None."""
    match = re.match(r"^(\d+)\.(\d+)", broker_version or "")
    return None if match is None else (int(match[1]), int(match[2]))


def uses_zeebe_89_layout(broker_version: str | None) -> bool:
    """True for broker versions 8.9 and later (and any later major)."""
    release = broker_release(broker_version)
    return release is not None and release >= (8, 9)


CATALOG_FOLDER = ".backup-store-catalog"
"""The folder of this project's listing catalog, beside Zeebe's objects."""
BOUNDS_FOLDER = "shards"
TAKEN_FOLDER = "taken"

Group = tuple[int, int]
"""(node id, partition id)."""


def catalog_folder(base_path: str | None) -> str:
    """The folder of every catalog object of a location."""
    return f"{base_path}/{CATALOG_FOLDER}/" if base_path else f"{CATALOG_FOLDER}/"


def shard_key(base_path: str | None, node_id: int, partition_id: int, bound: int) -> str:
    """The catalog shard of one node's backups of one partition from checkpoint ``bound``."""
    return f"{group_folder(base_path, node_id, partition_id)}{bound}.json"


def bounds_key(base_path: str | None, partition_id: int) -> str:
    """The record of each node's shard bounds for one partition."""
    return f"{catalog_folder(base_path)}{BOUNDS_FOLDER}/{partition_id}.json"


def legacy_catalog_key(base_path: str | None, node_id: int, partition_id: int) -> str:
    """Where version 1 kept one node's whole catalog of a partition."""
    return f"{catalog_folder(base_path)}{node_id}/{partition_id}.json"


def group_folder(base_path: str | None, node_id: int, partition_id: int) -> str:
    """The folder of one node's catalog shards of one partition."""
    return f"{catalog_folder(base_path)}{node_id}/{partition_id}/"


def parse_bounds_key(key: str, base_path: str | None) -> int | None:
    """The partition of a bounds record's key (:func:`bounds_key`), or None."""
    prefix = f"{catalog_folder(base_path)}{BOUNDS_FOLDER}/"
    if not key.startswith(prefix) or not key.endswith(".json"):
        return None
    return _number(key[len(prefix) : -len(".json")])


def taken_key(base_path: str | None, partition_id: int) -> str:
    """The record of the highest backup id each node's service accepted for a partition."""
    return f"{catalog_folder(base_path)}{TAKEN_FOLDER}/{partition_id}.json"


def _number(text: str) -> int | None:
    """A canonical decimal number (no sign, no leading zero), or None."""
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        return None
    return int(text)


def parse_shard_key(key: str, folder: str) -> tuple[Group, int] | None:
    """The group and bound of a shard key under ``folder`` (:func:`catalog_folder`)."""
    if not key.startswith(folder) or not key.endswith(".json"):
        return None
    parts = key[len(folder) : -len(".json")].split("/")
    if len(parts) != 3:
        return None
    node, partition, bound = (_number(p) for p in parts)
    if node is None or partition is None or bound is None:
        return None
    return (node, partition), bound
