"""The conformance suite against the filesystem and in-memory stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_store import FilesystemBackupStore, MemoryBackupStore
from backup_store.testing import BackupStoreConformance, ObjectStoreHarness
from tests.support.filesystem_stores import raw_store


class TestFilesystemStore(BackupStoreConformance):
    @pytest.fixture
    def store_harness(self, tmp_path: Path) -> ObjectStoreHarness:
        return ObjectStoreHarness(lambda: FilesystemBackupStore(tmp_path / "store"))


class TestMemoryStore(BackupStoreConformance):
    @pytest.fixture(params=[None, "backups/zeebe"], ids=["no-base-path", "base-path"])
    def store_harness(self, request: pytest.FixtureRequest) -> ObjectStoreHarness:
        shared = MemoryBackupStore(request.param)
        return ObjectStoreHarness(
            lambda: MemoryBackupStore(request.param, object_store=raw_store(shared))
        )
