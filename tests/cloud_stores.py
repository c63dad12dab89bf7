"""Our cloud stores built over the emulators' buckets (shared by several test modules)."""

from __future__ import annotations

from backup_store.stores.azure import AzureBackupStore, AzureConfig
from backup_store.stores.gcs import GcsBackupStore, GcsConfig
from backup_store.stores.s3 import S3BackupStore, S3Config
from tests.emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    AzureContainer,
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


def s3_url(bucket: S3Bucket, base_path: str | None = None) -> str:
    return (
        f"s3://{bucket.name}/{base_path or ''}?endpoint={bucket.endpoint}&region={S3_REGION}"
        f"&force_path_style=true&access_key_id={S3_ACCESS_KEY_ID}"
        f"&secret_access_key={S3_SECRET_ACCESS_KEY}"
    )


def gcs_config(bucket: GcsBucket, base_path: str | None = None, **options: object) -> GcsConfig:
    return GcsConfig.model_validate(
        {"bucket": bucket.name, "base_path": base_path, "host": bucket.base_url, **options}
    )


def gcs_url(bucket: GcsBucket, base_path: str | None = None) -> str:
    return f"gs://{bucket.name}/{base_path or ''}?host={bucket.base_url}"


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
    return (
        f"az://{container.name}?endpoint={container.account_url}"
        f"&account_name={AZURITE_ACCOUNT}&account_key={AZURITE_KEY.replace('+', '%2B')}"
    )


def s3_store(bucket: S3Bucket, base_path: str | None = None, **options: object) -> S3BackupStore:
    return S3BackupStore(s3_config(bucket, base_path, **options))


def gcs_store(bucket: GcsBucket, base_path: str | None = None) -> GcsBackupStore:
    return GcsBackupStore(gcs_config(bucket, base_path))


def azure_store(container: AzureContainer, **options: object) -> AzureBackupStore:
    return AzureBackupStore(azure_config(container, **options))
