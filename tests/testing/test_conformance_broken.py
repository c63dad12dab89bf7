"""The conformance kit catches broken stores, each failing with a message that says why.

Three small wrappers around the in-memory store each break one promise of the
contract; the kit runs against each in a separate pytest session (``pytester``), as
an outside author would run it, and the scenarios that cover the promise must fail
with a message naming what the store did wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from obstore.store import MemoryStore

from backup_store import MemoryBackupStore, ObjectBackupStore
from backup_store.contract.inspectable import StoredManifest
from backup_store.format.formats import ZEEBE_COMMON
from backup_store.io import ObjectVersion, ObstoreIO
from backup_store.model import Backup, BackupStatusCode
from backup_store.testing import ObjectStoreHarness

AUTHORS_TEST_MODULE = """
from backup_store.testing import BackupStoreConformance


class TestAuthorsStore(BackupStoreConformance):
    pass
"""

OpenStore = Callable[[MemoryStore], ObjectBackupStore]


class CreateOnlyIgnored(ObstoreIO):
    """Object I/O that writes every object unconditionally, create-only writes included."""

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        return await super().put(key, data)


def ignores_create_only(location: MemoryStore) -> ObjectBackupStore:
    io = CreateOnlyIgnored(location, description="ignores-create-only://")
    return ObjectBackupStore(io, kind="memory", format=ZEEBE_COMMON)


class OverwritesCompleted(MemoryBackupStore):
    """Saving a backup that is already COMPLETED deletes it and saves it afresh."""

    async def save(self, backup: Backup, *, accepted: StoredManifest | None = None) -> None:
        if (await self.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED:
            await self.delete(backup.id)
        await super().save(backup, accepted=accepted)


class LosesAFile(MemoryBackupStore):
    """Reports success but keeps no object for the backup's last segment file."""

    async def save(self, backup: Backup, *, accepted: StoredManifest | None = None) -> None:
        await super().save(backup, accepted=accepted)
        lost = sorted(backup.segments)[-1]
        layout = self.format.write_layout(self.base_path, backup.descriptor.broker_version)
        await self.io.delete([layout.file_key(backup.id, "segments", lost)])


class HarnessFor:
    """A pytest plugin giving the author's test class a harness over ``open_store``."""

    def __init__(self, open_store: OpenStore) -> None:
        self.open_store = open_store

    @pytest.fixture
    def store_harness(self) -> ObjectStoreHarness:
        location = MemoryStore()
        return ObjectStoreHarness(lambda: self.open_store(location))


def run_kit(pytester: pytest.Pytester, open_store: OpenStore) -> dict[str, str]:
    """Run the whole kit against a store; the failed scenarios with their messages."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_authors_store=AUTHORS_TEST_MODULE)
    result = pytester.inline_run("-p", "no:cacheprovider", plugins=[HarnessFor(open_store)])
    passed, _skipped, failed = result.listoutcomes()
    assert passed, "the kit ran no scenario at all"
    return {report.nodeid.rsplit("::", 1)[1]: str(report.longrepr) for report in failed}


def test_a_store_that_ignores_create_only_writes_fails_the_kit(pytester: pytest.Pytester) -> None:
    failed = run_kit(pytester, ignores_create_only)

    message = failed["test_saving_an_id_that_already_has_a_manifest_fails_and_changes_nothing"]
    assert (
        "the store must refuse saving over an existing manifest with InvalidBackupStateError, "
        "but it accepted it" in message
    )
    assert (
        "saving over a COMPLETED backup"
        in failed["test_saving_a_completed_backup_again_fails_and_keeps_it"]
    )
    # The held-writer race gives such a store no chance: it loses every round.
    race = failed["test_a_writer_held_just_before_its_manifest_write_loses_to_the_one_that_wrote"]
    assert "two writers of one id in 3 of 3 rounds" in race
    assert "the held writer also succeeded (its manifest write was not create-only)" in race


def test_a_store_that_overwrites_a_completed_backup_fails_the_kit(
    pytester: pytest.Pytester,
) -> None:
    failed = run_kit(pytester, lambda location: OverwritesCompleted(object_store=location))

    # Only that scenario fails: the rest of the kit passes on the wrapped memory store.
    assert set(failed) == {"test_saving_a_completed_backup_again_fails_and_keeps_it"}
    assert (
        "the store must refuse saving over a COMPLETED backup with InvalidBackupStateError, "
        "but it accepted it" in failed["test_saving_a_completed_backup_again_fails_and_keeps_it"]
    )


def test_a_store_that_loses_a_file_fails_the_kit(pytester: pytest.Pytester) -> None:
    failed = run_kit(pytester, lambda location: LosesAFile(object_store=location))

    exact = failed["test_a_saved_backup_leaves_exactly_its_manifest_and_one_object_per_file"]
    assert "missing objects: ['contents/2/3/1/segments/segment-file-2']" in exact
    assert "unexpected objects: none" in exact
    assert "test_restoring_a_saved_backup_returns_the_original_files" in failed
