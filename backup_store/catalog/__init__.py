"""The listing catalog: what each manifest said when our writers last wrote it.

Listing backups needs each manifest's status, and reading every manifest costs
one request per backup. The catalog keeps, for each manifest key, the manifest's
listing token (its e-tag, or on the filesystem its inode, nanosecond mtime and
size) and the fields :class:`BackupStatus` shows.

The manifest stays the only truth. A reader lists the manifest keys (listings
carry the tokens), reads the catalog shards those manifests fall in, and uses an
entry only when its token equals the listed one; any other manifest (no entry,
another token: written, rewritten or replaced by Zeebe, another node or a person)
is read. A shard that is missing or unreadable is ignored, never trusted. Readers
never write.

**Shards.** The entries of one (node, partition) are split by checkpoint id into
shards of at most :data:`SHARD_ENTRIES` entries, so that what a writer reads and
rewrites stays the same size however many backups the partition holds. A shard is
named by its lower bound and holds the entries from that checkpoint id up to the
next shard's bound; the first bound is 0. Each partition's bounds, by node, are in
one small *bounds record* beside the shards, rewritten only when a shard is split
off (every :data:`SHARD_ENTRIES` saves) or emptied.

Writers (save, mark failed, delete, the service's restart recovery and
``backup-store catalog rebuild``) read the bounds record, then the one shard a
manifest falls in, and write it back compare-and-swap (create-only when absent,
version-matched otherwise), retrying on conflict, so concurrent writers lose no
entry (but for one narrow race with a split, documented there: then a manifest is
read until it is next written). A shard that would grow past the bound is split:
the new shard is written first, then the bounds record names it, then the old
shard drops what moved, so a reader never misses an entry that was written. A
failed catalog update never fails the verb: the next reader reads the manifest
instead.

Modules: :mod:`.codec` (the objects as bytes, entries across shards), :mod:`.reader`,
:mod:`.writer`, :mod:`.taken`; the keys are :mod:`backup_store.format.keys`'.

Where, under ``<base path>/.backup-store-catalog/`` (outside ``manifests/``,
``contents/``, the classic ``<partition>/`` folders and ``index/``; documented in
``docs/on-store-format.md``): shards at ``<node>/<partition>/<bound>.json``, the
bounds records at ``shards/<partition>.json``.

Beside them, one small record per partition, ``taken/<partition>.json``, keeps the
highest backup id each node's service accepted: the backup service checks a new id
against it (one read, whatever the store holds) instead of listing the partition.
It only ever grows (compare-and-swap like the catalogs) and is an extra: the
partition sources are the truth about which ids were taken.
"""

from backup_store.catalog.codec import (
    CATALOG_VERSION,
    ENTRY_FIELDS,
    SHARD_ENTRIES,
    TAKEN_VERSION,
    Bounds,
    CatalogEntry,
    Entries,
    Highest,
    RawEntries,
    decode_bounds,
    decode_catalog,
    decode_taken,
    encode_bounds,
    encode_catalog,
    encode_taken,
    merge_entries,
    normal_token,
    raw_entries,
    split_shard,
)
from backup_store.catalog.reader import (
    CACHED_ENTRIES,
    EMPTY,
    NO_SHARDS,
    READ_CONCURRENCY,
    CatalogView,
    GroupView,
    ShardIndex,
)
from backup_store.catalog.taken import TakenIds
from backup_store.catalog.writer import UPDATE_ATTEMPTS
from backup_store.format.keys import (
    BOUNDS_FOLDER,
    CATALOG_FOLDER,
    TAKEN_FOLDER,
    Group,
    bounds_key,
    catalog_folder,
    legacy_catalog_key,
    parse_shard_key,
    shard_key,
    taken_key,
)


class Catalog(TakenIds):
    """The catalog of one location: read by listings, kept by the store's writers,
    with the taken-ids records; every request through the store's :class:`ObjectIO`."""


__all__ = [
    "BOUNDS_FOLDER",
    "CACHED_ENTRIES",
    "CATALOG_FOLDER",
    "CATALOG_VERSION",
    "EMPTY",
    "ENTRY_FIELDS",
    "NO_SHARDS",
    "READ_CONCURRENCY",
    "SHARD_ENTRIES",
    "TAKEN_FOLDER",
    "TAKEN_VERSION",
    "UPDATE_ATTEMPTS",
    "Bounds",
    "Catalog",
    "CatalogEntry",
    "CatalogView",
    "Entries",
    "Group",
    "GroupView",
    "Highest",
    "RawEntries",
    "ShardIndex",
    "bounds_key",
    "catalog_folder",
    "decode_bounds",
    "decode_catalog",
    "decode_taken",
    "encode_bounds",
    "encode_catalog",
    "encode_taken",
    "legacy_catalog_key",
    "merge_entries",
    "normal_token",
    "parse_shard_key",
    "raw_entries",
    "shard_key",
    "split_shard",
    "taken_key",
]
