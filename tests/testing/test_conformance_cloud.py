"""The conformance suite against S3 (moto), GCS (fake-gcs-server) and Azure (Azurite)."""

from __future__ import annotations

import pytest

from backup_store.testing import BackupStoreConformance, CompressionBehaviour, ObjectStoreHarness
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from testbed.emulators import AzureContainer, GcsBucket, S3Bucket


class TestS3Store(BackupStoreConformance):
    @pytest.fixture(params=[None, "zeebe/backups"], ids=["root", "base"])
    def store_harness(
        self, request: pytest.FixtureRequest, s3_bucket: S3Bucket
    ) -> ObjectStoreHarness:
        return ObjectStoreHarness(lambda: s3_store(s3_bucket, request.param))


class TestS3StoreCompressed(CompressionBehaviour):
    """Compression changes only files over 8 MiB: the other scenarios run on TestS3Store."""

    @pytest.fixture(params=[None, "zeebe/backups"], ids=["root", "base"])
    def store_harness(
        self, request: pytest.FixtureRequest, s3_bucket: S3Bucket
    ) -> ObjectStoreHarness:
        return ObjectStoreHarness(lambda: s3_store(s3_bucket, request.param, compression="zstd"))


class TestGcsStore(BackupStoreConformance):
    @pytest.fixture(params=[None, "zeebe/backups"], ids=["root", "base"])
    def store_harness(
        self, request: pytest.FixtureRequest, gcs_bucket: GcsBucket
    ) -> ObjectStoreHarness:
        return ObjectStoreHarness(lambda: gcs_store(gcs_bucket, request.param))


class TestAzureStore(BackupStoreConformance):
    @pytest.fixture
    def store_harness(self, azure_container: AzureContainer) -> ObjectStoreHarness:
        return ObjectStoreHarness(lambda: azure_store(azure_container))
