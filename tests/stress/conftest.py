"""Locations the race loops run on: a new, empty one per round."""

from __future__ import annotations

from pathlib import Path

import pytest
from obstore.store import MemoryStore

from backup_store import MemoryBackupStore, ObjectBackupStore
from backup_store.stores.filesystem import FilesystemBackupStore
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from tests.support.stress import NewStore


@pytest.fixture(params=["memory", "filesystem", "s3", "gcs", "azure"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> NewStore:
    kind = request.param

    async def new(name: str) -> ObjectBackupStore:
        if kind == "memory":
            return MemoryBackupStore(name, object_store=MemoryStore())
        if kind == "filesystem":
            return FilesystemBackupStore(tmp_path / "stores" / name)
        if kind == "s3":
            return s3_store(request.getfixturevalue("s3_bucket"), name)
        if kind == "gcs":
            return gcs_store(request.getfixturevalue("gcs_bucket"), name)
        # Azure's base path is the container: emptied for each round instead.
        store = azure_store(request.getfixturevalue("azure_container"))
        await store.io.delete(await store.io.list_keys(""))
        return store

    return new
