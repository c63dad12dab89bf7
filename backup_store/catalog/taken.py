"""The taken-ids record: the highest backup id each node's service accepted, per partition."""

from __future__ import annotations

import logging
from contextlib import suppress

from backup_store.catalog.codec import Highest, decode_taken, encode_taken
from backup_store.catalog.writer import CatalogWriter
from backup_store.errors import BackupStoreError
from backup_store.format.keys import taken_key
from backup_store.model import (
    BackupIdentifier,
)

log = logging.getLogger("backup_store.catalog")


class TakenIds(CatalogWriter):
    """The taken-ids records of one location: read by the backup service to check a
    new id (one read, whatever the store holds), raised when a backup is accepted.
    Only ever grows; an extra: the partition sources are the truth."""

    async def read_taken(self, partition_id: int) -> Highest:
        """The highest backup id each node's service accepted for the partition; none
        when the record is missing or damaged (it is an extra, never the truth)."""
        key = taken_key(self.base_path, partition_id)
        found = await self._get_as_reader(key)
        if found is None:
            return {}
        try:
            return decode_taken(found.data)
        except (ValueError, KeyError, TypeError, BackupStoreError) as error:
            log.warning("ignoring the damaged taken-ids record %s: %s", key, error)
            return {}

    async def record_taken(self, backup_id: BackupIdentifier) -> None:
        """Raise the partition's record of the node's highest accepted id to ``backup_id``."""
        key = taken_key(self.base_path, backup_id.partition_id)

        async def attempt() -> None:
            found = await self.io.get(key)
            highest: Highest = {}
            if found is not None:
                # Damaged: rebuilt from what this writer knows.
                with suppress(ValueError, KeyError, TypeError, BackupStoreError):
                    highest = decode_taken(found.data)
            if highest.get(backup_id.node_id, 0) >= backup_id.checkpoint_id:
                return
            highest[backup_id.node_id] = backup_id.checkpoint_id
            if found is None:
                await self.io.put(key, encode_taken(highest), create_only=True)
            else:
                await self.io.replace(key, encode_taken(highest), found.version)

        await self._until_written(key, attempt)
