"""Reading Zeebe's own manifests: ``conformance.md`` § Reading Zeebe's own manifests."""

from __future__ import annotations

from pathlib import Path

from backup_store.model import BackupIdentifierWildcard
from backup_store.testing.behaviours._base import StoreScenarios
from backup_store.testing.data import FIXTURES, FIXTURES_DIR
from backup_store.testing.harness import StoreHarness


class ZeebeManifestsBehaviour(StoreScenarios):
    """Every manifest Zeebe writes for the store's format reads as ``fixtures/README.md``
    says."""

    async def test_every_zeebe_manifest_placed_at_its_key_reads_as_zeebe_wrote_it(
        self, store_harness: StoreHarness, tmp_path: Path
    ) -> None:
        """Given each of Zeebe's manifests for this format placed at its key, when a store
        reads its status and lists its partition, then it has Zeebe's id, status,
        descriptor, failure reason and dates."""
        applicable = [f for f in FIXTURES if store_harness.format in f.formats]
        assert applicable, f"no fixture applies to the {store_harness.format.name} format"
        for fixture in applicable:
            key = (f"{store_harness.base_path}/" if store_harness.base_path else "") + fixture.key
            await store_harness.put_object(key, (FIXTURES_DIR / fixture.file).read_bytes())

            async with store_harness.open() as store:
                status = await store.get_status(fixture.backup_id)
                listed = await store.list(
                    BackupIdentifierWildcard(partition_id=fixture.backup_id.partition_id)
                )

            assert status.status_code is fixture.status, fixture.file
            assert [s.id for s in listed] == [fixture.backup_id], fixture.file
            assert (status.descriptor is not None) == fixture.has_descriptor, fixture.file
            if status.descriptor is not None:
                assert status.descriptor.snapshot_id == fixture.snapshot_id, fixture.file
            assert status.failure_reason == fixture.failure_reason, fixture.file
            if fixture.modified is not None:
                assert status.last_modified == fixture.modified, fixture.file
            if fixture.created is not None:
                assert status.created == fixture.created, fixture.file
            if fixture.same_created_modified:
                assert status.created == status.last_modified, fixture.file
            await store_harness.delete_object(key)
