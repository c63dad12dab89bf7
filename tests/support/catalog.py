"""Helpers of the catalog tests (tests/catalog, tests/stress): counted requests, hooked
stores, manifests written as our writers or as Zeebe would."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from backup_store import BackupIdentifier
from backup_store.engine import ObjectBackupStore
from backup_store.format.instant import Instant
from backup_store.format.manifest import Manifest
from backup_store.io import HookedIO, Request
from backup_store.model import BackupDescriptor

SHARD = 4
"""Entries per catalog shard in the shard tests (the default is 500)."""


Hook = Callable[[Request], Awaitable[None]]


class Counted:
    """Requests seen by a HookedIO, with an optional extra hook."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.also: Hook | None = None

    async def __call__(self, request: Request) -> None:
        self.requests.append(request)
        if self.also is not None:
            await self.also(request)

    def operations(self) -> Counter[str]:
        return Counter(r.operation for r in self.requests)

    def clear(self) -> None:
        self.requests.clear()


def hooked(store: ObjectBackupStore, counted: Counted) -> ObjectBackupStore:
    return ObjectBackupStore(
        HookedIO(store.io, counted), kind=store.kind, format=store.format, base_path=store.base_path
    )


def manifest(
    backup_id: BackupIdentifier,
    *,
    completed: bool = True,
    snapshot: str = "s1",
    partitions: int = 3,
) -> Manifest:
    started = Manifest.in_progress(
        backup_id, BackupDescriptor(snapshot, 7, partitions, "8.7.0"), (), (), Instant.now()
    )
    return started.completed(Instant.now()) if completed else started


async def place(store: ObjectBackupStore, m: Manifest) -> str:
    """Write a manifest as Zeebe would: straight through the seam, no catalog."""
    layout = store.format.write_layout(store.base_path, "8.7.0")
    key = layout.manifest_key(m.id)
    await store.io.put(key, store.format.encode(m, layout))
    return key


async def save(store: ObjectBackupStore, m: Manifest) -> None:
    """Write a backup as our writers do (catalog kept)."""
    await store.write_backup(m, [])
