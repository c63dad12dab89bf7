"""One store on each of the four backends (real folders, moto, fake-gcs-server, Azurite),
and what S3 holds besides objects (unfinished multipart uploads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from backup_store.engine import ObjectBackupStore
from backup_store.stores.filesystem import FilesystemBackupStore
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from testbed.emulators import S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY, S3Bucket

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


def unfinished_uploads(bucket: S3Bucket) -> list[dict[str, Any]]:
    """The multipart uploads begun and neither completed nor aborted in the bucket."""
    client = boto3.client(
        "s3",
        endpoint_url=bucket.endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY_ID,
        aws_secret_access_key=S3_SECRET_ACCESS_KEY,
    )
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket.name).get(
        "Uploads", []
    )
    return uploads
