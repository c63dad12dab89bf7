"""Life cycle and durability: ``conformance.md`` § Life cycle and durability."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from backup_store.contract.store import BackupStore
from backup_store.errors import InvalidBackupStateError
from backup_store.format.instant import Instant
from backup_store.format.manifest_json import decode_manifest
from backup_store.io import Request
from backup_store.model import Backup, BackupStatusCode
from backup_store.testing.behaviours._base import (
    ID,
    BackupFactory,
    StoreScenarios,
    describe_difference,
)
from backup_store.testing.harness import StoreHarness

RACE_ROUNDS = 3
"""How often the held-writer race is run, each time on a new backup id."""


async def _outcome(save: Awaitable[None]) -> BaseException | None:
    """None when the save succeeded, else the error it raised."""
    try:
        await save
    except Exception as error:
        return error
    return None


class DurabilityBehaviour(StoreScenarios):
    """What a save leaves survives the store, is exactly the format's objects, and two
    writers of one id never both win."""

    async def test_a_completed_backup_survives_closing_and_reopening_the_store(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given a backup saved by one store instance, when a new instance opens the same
        location, then the backup is COMPLETED with the same ``last_modified``."""
        backup = backup_factory()
        async with store_harness.open() as first:
            await first.save(backup)
            before = await first.get_status(backup.id)

        async with store_harness.open() as second:
            after = await second.get_status(backup.id)

        assert after.status_code is BackupStatusCode.COMPLETED
        assert after.last_modified == before.last_modified

    async def test_a_saved_backup_leaves_exactly_its_manifest_and_one_object_per_file(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given a backup, when it is saved, then the location holds its manifest and one
        object per file at the keys of ``store-format.md`` (plus the store's documented
        own objects) and nothing else."""
        backup = backup_factory()

        await store.save(backup)

        expected = {store_harness.manifest_key(backup.id)}
        for file_set in ("snapshot", "segments"):
            for name in getattr(backup, file_set):
                expected.add(store_harness.file_key(backup.id, file_set, name))
        expected |= store_harness.extra_keys(backup.id)
        found = set(await store_harness.list_objects())
        assert found == expected, describe_difference(expected, found)

    async def test_the_stored_manifest_parses_as_completed_with_ordered_dates(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given a saved backup, when its manifest object is parsed, then it is COMPLETED,
        ``created <= last_modified <= now``, and it names every file."""
        backup = backup_factory()
        await store.save(backup)

        raw = await store_harness.get_object(store_harness.manifest_key(backup.id))
        manifest = decode_manifest(raw, store_harness.manifest_form)

        assert manifest.status_code is BackupStatusCode.COMPLETED
        assert manifest.created_at <= manifest.modified_at <= Instant.now()
        assert sorted(f.name for f in manifest.snapshot_files or ()) == sorted(backup.snapshot)
        assert sorted(f.name for f in manifest.segment_files or ()) == sorted(backup.segments)

    async def test_of_two_concurrent_saves_of_one_id_exactly_one_succeeds(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given two store instances over one location, when both save the same backup at
        once, then exactly one succeeds, the other fails with the invalid-state error,
        and the backup is COMPLETED."""
        backup = backup_factory()
        async with store_harness.open() as one, store_harness.open() as two:
            results = await asyncio.gather(
                one.save(backup), two.save(backup), return_exceptions=True
            )

            failures = [r for r in results if isinstance(r, BaseException)]
            assert len(failures) == 1, f"both saves of one id must not succeed: {results}"
            assert isinstance(failures[0], InvalidBackupStateError), failures[0]
            assert (await one.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED

    async def test_a_writer_held_just_before_its_manifest_write_loses_to_the_one_that_wrote(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given two store instances over one location, when the first is held at its
        manifest write (after any check it makes) while the second saves the same
        backup, then the second succeeds, the first fails with the invalid-state error
        and the backup is COMPLETED; in every one of several rounds.

        No timing luck is involved: only a write that is create-only at the storage
        itself can refuse the first writer once it is let go.
        """
        failures = []
        for round_number in range(1, RACE_ROUNDS + 1):
            backup = backup_factory(ID(1, 2, 100 + round_number), minimal=True)
            problem = await self._race_held_writer(store_harness, backup)
            if problem is not None:
                failures.append(f"round {round_number}: {problem}")
        assert not failures, (
            f"two writers of one id in {len(failures)} of {RACE_ROUNDS} rounds: "
            + "; ".join(failures)
        )

    @staticmethod
    async def _race_held_writer(harness: StoreHarness, backup: Backup) -> str | None:
        """One round of the held-writer race; what went wrong, or None."""
        manifest_key = harness.manifest_key(backup.id, backup.descriptor.broker_version)
        at_write, let_go = asyncio.Event(), asyncio.Event()

        async def hold_at_manifest_write(request: Request) -> None:
            if request.operation == "put" and request.key == manifest_key and not at_write.is_set():
                at_write.set()
                await let_go.wait()

        async with harness.open_hooked(hold_at_manifest_write) as held, harness.open() as other:
            first = asyncio.create_task(_outcome(held.save(backup)))
            reached = asyncio.create_task(at_write.wait())
            await asyncio.wait({first, reached}, return_when=asyncio.FIRST_COMPLETED)
            reached.cancel()
            if not at_write.is_set():
                pytest.fail(
                    f"the store never wrote the manifest {manifest_key} through its object "
                    f"I/O (outcome: {await first!r})",
                    pytrace=False,
                )
            second = await _outcome(other.save(backup))
            let_go.set()
            held_outcome = await first
            status = await other.get_status(backup.id)
        if second is not None:
            return f"the writer that was not held failed: {second!r}"
        if held_outcome is None:
            return "the held writer also succeeded (its manifest write was not create-only)"
        if not isinstance(held_outcome, InvalidBackupStateError):
            return f"the held writer failed with {held_outcome!r}, not the invalid-state error"
        if status.status_code is not BackupStatusCode.COMPLETED:
            return f"the backup is {status.status_code.value}, not COMPLETED"
        return None
