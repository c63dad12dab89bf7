"""Our cloud stores, their configurations and URLs, over the emulators' buckets."""

from __future__ import annotations

from urllib.parse import urlencode

from backup_store.stores.azure import AzureBackupStore, AzureConfig
from backup_store.stores.gcs import GcsBackupStore, GcsConfig
from backup_store.stores.s3 import S3BackupStore, S3Config
from testbed.emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    AzureContainer,
    EmulatedBucket,
    GcsBucket,
    S3Bucket,
)


def s3_config(bucket: S3Bucket, base_path: str | None = None, **options: object) -> S3Config:
    return S3Config.model_validate(
        {
            "bucket": bucket.name,
            "base_path": base_path,
            "endpoint": bucket.endpoint,
            "region": S3_REGION,
            "access_key_id": S3_ACCESS_KEY_ID,
            "secret_access_key": S3_SECRET_ACCESS_KEY,
            "force_path_style": True,
            **options,
        }
    )


def s3_url(bucket: S3Bucket, base_path: str | None = None, **options: str) -> str:
    """An ``s3://`` store URL for the bucket; ``options`` become more query parameters."""
    query = {
        "endpoint": bucket.endpoint,
        "region": S3_REGION,
        "force_path_style": "true",
        "access_key_id": S3_ACCESS_KEY_ID,
        "secret_access_key": S3_SECRET_ACCESS_KEY,
        **options,
    }
    return f"s3://{bucket.name}/{base_path or ''}?{urlencode(query)}"


def gcs_config(bucket: GcsBucket, base_path: str | None = None, **options: object) -> GcsConfig:
    return GcsConfig.model_validate(
        {"bucket": bucket.name, "base_path": base_path, "host": bucket.base_url, **options}
    )


def gcs_url(bucket: GcsBucket, base_path: str | None = None) -> str:
    """A ``gs://`` store URL for the bucket (through the emulator's XML adapter)."""
    return f"gs://{bucket.name}/{base_path or ''}?{urlencode({'host': bucket.base_url})}"


def azure_config(container: AzureContainer, **options: object) -> AzureConfig:
    return AzureConfig.model_validate(
        {
            "container": container.name,
            "endpoint": container.account_url,
            "account_name": AZURITE_ACCOUNT,
            "account_key": AZURITE_KEY,
            **options,
        }
    )


def azure_url(container: AzureContainer) -> str:
    """An ``az://`` store URL for the container (Azurite's well-known account)."""
    query = {
        "endpoint": container.account_url,
        "account_name": AZURITE_ACCOUNT,
        "account_key": AZURITE_KEY,
    }
    return f"az://{container.name}?{urlencode(query)}"


def url_of(bucket: EmulatedBucket) -> str:
    """The store URL of any emulated bucket."""
    if isinstance(bucket, S3Bucket):
        return s3_url(bucket)
    if isinstance(bucket, GcsBucket):
        return gcs_url(bucket)
    assert isinstance(bucket, AzureContainer)
    return azure_url(bucket)


def s3_store(bucket: S3Bucket, base_path: str | None = None, **options: object) -> S3BackupStore:
    return S3BackupStore(s3_config(bucket, base_path, **options))


def gcs_store(bucket: GcsBucket, base_path: str | None = None, **options: object) -> GcsBackupStore:
    return GcsBackupStore(gcs_config(bucket, base_path, **options))


def azure_store(container: AzureContainer, **options: object) -> AzureBackupStore:
    return AzureBackupStore(azure_config(container, **options))
