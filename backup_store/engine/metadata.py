"""Zeebe 8.9+'s per-partition backup metadata: stored and loaded as opaque bytes.

One object per partition at :func:`~backup_store.format.keys.partition_metadata_key`,
as Zeebe's four stores keep it (S3 ``putObject``, GCS ``create``, Azure upload with
overwrite, the filesystem a synced write). A write replaces the object whole: the
object I/O's put is atomic on every backend (on the filesystem a temporary file,
fsync and rename, where Zeebe truncates and rewrites in place), so a reader never
sees half a file.
"""

from __future__ import annotations

from backup_store.engine.context import StoreContext
from backup_store.errors import InvalidInputError
from backup_store.format.keys import partition_metadata_key
from backup_store.model import check_partition_id


def metadata_key(ctx: StoreContext, partition_id: int) -> str:
    return partition_metadata_key(ctx.base_path, check_partition_id(partition_id))


async def store(ctx: StoreContext, partition_id: int, content: bytes) -> None:
    """Checked before the first request: bad input changes nothing, not even the marker."""
    key = metadata_key(ctx, partition_id)
    if not isinstance(content, bytes):
        raise InvalidInputError(
            f"backup metadata must be bytes, got {type(content).__name__}", key=key
        )
    await ctx.owner.check(writing=True)
    await ctx.io.put(key, content)


async def load(ctx: StoreContext, partition_id: int) -> bytes | None:
    key = metadata_key(ctx, partition_id)
    await ctx.owner.check(writing=False)
    found = await ctx.io.get(key)
    return None if found is None else found.data
