"""Readiness asks the store through the contract: its own probe, whatever the store."""

from __future__ import annotations

from backup_store.api.health import StoreHealth
from backup_store.errors import StoreUnavailableError
from backup_store.stores.memory import MemoryBackupStore


class GoneLocation(MemoryBackupStore):
    """A store whose readiness check finds its location gone (answers otherwise)."""

    probes = 0

    async def probe(self, *, writing: bool = False) -> None:
        self.probes += 1
        raise StoreUnavailableError("bucket backups does not exist", store=self.description)


async def test_readiness_is_the_store_probe() -> None:
    async with GoneLocation() as store:
        health = await StoreHealth(store).check()
    assert health.status == "DOWN"
    assert "bucket backups does not exist" in health.details["error"]
    assert store.probes == 1


async def test_a_store_answering_its_probe_is_up() -> None:
    async with MemoryBackupStore() as store:
        assert (await StoreHealth(store).check()).status == "UP"
