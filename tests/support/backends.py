"""One store on each of the four backends (real folders, moto, fake-gcs-server, Azurite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_store.engine import ObjectBackupStore
from backup_store.stores.filesystem import FilesystemBackupStore
from testbed.cloud_stores import azure_store, gcs_store, s3_store

BACKENDS = ["filesystem", "s3", "gcs", "azure"]


def backend_store(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> ObjectBackupStore:
    """A store of ``backend`` at a fresh location: the filesystem under ``tmp_path``, S3 at the
    base path ``bp`` of a fresh bucket, GCS and Azure at the root of a fresh bucket/container."""
    if backend == "filesystem":
        return FilesystemBackupStore(tmp_path / "store")
    if backend == "s3":
        return s3_store(request.getfixturevalue("s3_bucket"), "bp")
    if backend == "gcs":
        return gcs_store(request.getfixturevalue("gcs_bucket"))
    return azure_store(request.getfixturevalue("azure_container"))
