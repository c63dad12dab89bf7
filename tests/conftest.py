"""Fixtures shared by the test modules; the helpers behind them live in ``tests.support``.

Plugins: the storage emulators (session-scoped emulators, a fresh bucket per test) and
``pytester`` (to run the conformance kit against deliberately broken stores).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_store.engine import ObjectBackupStore
from backup_store.stores.filesystem import FilesystemBackupStore
from testbed.cloud_stores import s3_store
from testbed.emulators.s3 import S3Bucket
from tests.support.filesystem_stores import StoreDir, place_zeebe_filesystem_backups

pytest_plugins = ["testbed.emulators.fixtures", "pytester"]


@pytest.fixture
def zeebe_store(tmp_path: Path) -> StoreDir:
    """A filesystem store as Zeebe 8.7 leaves it (``common-*`` fixtures, their files)."""
    store = StoreDir(tmp_path / "zeebe")
    place_zeebe_filesystem_backups(store.root)
    return store


@pytest.fixture(params=["filesystem", "s3"])
def base_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectBackupStore:
    """An empty store of each ordering of listings: a folder, and an S3 bucket (moto)
    under base path ``bp``."""
    if request.param == "filesystem":
        return FilesystemBackupStore(tmp_path / "store")
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return s3_store(bucket, "bp")
