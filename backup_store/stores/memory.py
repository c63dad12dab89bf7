"""An in-memory store, for tests and experiments (nothing survives the process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obstore.store import MemoryStore

from backup_store.layout import StoreKind
from backup_store.object_backup_store import ObjectBackupStore

if TYPE_CHECKING:
    from obstore.store import ObjectStore


class MemoryBackupStore(ObjectBackupStore):
    """Backups in memory, in the common (GCS/Azure/filesystem) layout."""

    kind = StoreKind.MEMORY

    def __init__(
        self, base_path: str | None = None, *, object_store: ObjectStore | None = None
    ) -> None:
        super().__init__(
            object_store if object_store is not None else MemoryStore(),
            base_path=base_path,
            description="memory://" + (base_path or ""),
        )
