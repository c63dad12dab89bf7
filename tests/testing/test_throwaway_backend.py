"""A backend outside the built-in ones: one class over obstore's MemoryStore and
one registration line; the whole conformance suite passes on it."""

from __future__ import annotations

from urllib.parse import SplitResult

import pytest
from obstore.store import MemoryStore

from backup_store import (
    ZEEBE_COMMON,
    BackupIdentifier,
    ForeignStoreKindError,
    MemoryBackupStore,
    ObjectBackupStore,
    open_store,
    register,
)
from backup_store.io import ObstoreIO
from backup_store.testing import BackupStoreConformance, ObjectStoreHarness

LOCATIONS: dict[str, MemoryStore] = {}


class ThrowawayStore(ObjectBackupStore):
    """Backups in a named in-memory location, in Zeebe's common format."""

    def __init__(self, name: str) -> None:
        memory = LOCATIONS.setdefault(name, MemoryStore())
        io = ObstoreIO(memory, description=f"throwaway://{name}")
        super().__init__(io, kind="throwaway", format=ZEEBE_COMMON)


def from_url(url: SplitResult) -> ThrowawayStore:
    return ThrowawayStore(url.netloc)


register("throwaway", from_url)


class TestThrowawayBackend(BackupStoreConformance):
    @pytest.fixture
    def store_harness(self, request: pytest.FixtureRequest) -> ObjectStoreHarness:
        return ObjectStoreHarness(lambda: ThrowawayStore(request.node.name))


async def test_its_urls_open_it_and_other_kinds_refuse_its_backups() -> None:
    backup_id = BackupIdentifier(1, 2, 3)
    async with open_store("throwaway://claimed") as store:
        assert isinstance(store, ThrowawayStore)
        await store.mark_failed(backup_id, "claimed by the throwaway kind")
    other_kind = MemoryBackupStore(object_store=LOCATIONS["claimed"])
    with pytest.raises(ForeignStoreKindError, match="throwaway"):
        await other_kind.get_status(backup_id)
