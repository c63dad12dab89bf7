"""An in-memory store, for tests and experiments (nothing survives the process)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import SplitResult

from obstore.store import MemoryStore

from backup_store.engine import ObjectBackupStore
from backup_store.format.formats import ZEEBE_COMMON
from backup_store.io import ObstoreIO
from backup_store.registry import register

if TYPE_CHECKING:
    from obstore.store import ObjectStore


class MemoryBackupStore(ObjectBackupStore):
    """Backups in memory, in the common (GCS/Azure/filesystem) format.

    Give another memory store's ``object_store`` to share its objects.
    """

    def __init__(
        self, base_path: str | None = None, *, object_store: ObjectStore | None = None
    ) -> None:
        io = ObstoreIO(object_store or MemoryStore(), description="memory://" + (base_path or ""))
        super().__init__(io, kind="memory", format=ZEEBE_COMMON, base_path=base_path)


def from_url(url: SplitResult) -> MemoryBackupStore:
    """``memory://[base]``: a new, empty store."""
    return MemoryBackupStore((url.netloc + url.path).strip("/") or None)


register("memory", from_url)
