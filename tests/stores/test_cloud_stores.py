"""What the cloud stores add to the conformance suite: URLs, credentials, quirks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
    ConfigurationError,
    FileEntry,
    FilesystemBackupStore,
    Instant,
    InvalidBackupStateError,
    Manifest,
    NamedFileSet,
    ObjectBackupStore,
    StoreUnavailableError,
    open_store,
)
from backup_store.contract.inspectable import FileToStore
from backup_store.stores.azure import AzureBackupStore
from backup_store.stores.s3 import S3BackupStore, S3Config
from testbed.cloud_stores import (
    azure_config,
    azure_store,
    azure_url,
    gcs_store,
    gcs_url,
    s3_store,
    s3_url,
)
from testbed.emulators import AZURITE_KEY, S3_SECRET_ACCESS_KEY, AzureContainer, GcsBucket, S3Bucket

BackupFactory = Callable[..., Backup]


async def test_store_urls_reach_each_emulator(
    s3_bucket: S3Bucket,
    gcs_bucket: GcsBucket,
    azure_container: AzureContainer,
    backup_factory: BackupFactory,
) -> None:
    urls = {
        "s3": s3_url(s3_bucket, "zeebe"),
        "gcs": gcs_url(gcs_bucket, "zeebe"),
        "azure": azure_url(azure_container),
    }
    for kind, url in urls.items():
        backup = backup_factory()
        async with open_store(url) as store:
            assert store.kind == kind
            await store.save(backup)
            status = await store.get_status(backup.id)
            assert status.status_code is BackupStatusCode.COMPLETED
            text = f"{store!r} {store.description}"
            for secret in (S3_SECRET_ACCESS_KEY, AZURITE_KEY, "secret_access_key", "account_key"):
                assert secret not in text, (kind, text)


def test_bad_store_urls_are_configuration_errors_without_secrets() -> None:
    cases = [
        "s3://bucket/base?region=x&secret_access_key=TOPSECRET&typo=1",
        "s3://bucket/?secret_access_key=TOPSECRET&endpoint=http://127.0.0.1:1",
        "s3://bucket//double?secret_access_key=TOPSECRET",
        "gs://bucket/?service_account_key=TOPSECRET&part_size=1",
        "az://container?account_key=TOPSECRET&max_concurrency=0",
        "ftp://somewhere/TOPSECRET",
        "file://host/relative",
    ]
    for url in cases:
        with pytest.raises(ConfigurationError) as raised:
            open_store(url)
        assert "TOPSECRET" not in str(raised.value), url
        assert "TOPSECRET" not in repr(raised.value), url


def test_configs_never_show_credentials() -> None:
    config = S3Config(bucket="b", access_key_id="AKIDEXAMPLE", secret_access_key="TOPSECRET")
    assert "TOPSECRET" not in repr(config) and "TOPSECRET" not in str(config)
    assert "AKIDEXAMPLE" not in repr(config)


async def test_unreachable_endpoint_is_store_unavailable(backup_factory: BackupFactory) -> None:
    store = S3BackupStore(
        S3Config(
            bucket="b",
            endpoint="http://127.0.0.1:9",
            region="us-east-1",
            access_key_id="AKIDEXAMPLE",
            secret_access_key="TOPSECRET",
            max_retries=0,
            connect_timeout_seconds=1,
        )
    )
    backup = backup_factory()
    for attempt in (store.get_status(backup.id), store.save(backup)):
        with pytest.raises(StoreUnavailableError) as raised:
            await attempt
        assert "TOPSECRET" not in str(raised.value)
        assert "127.0.0.1:9" in str(raised.value)


async def test_azure_creates_a_missing_container(
    azure_container: AzureContainer, backup_factory: BackupFactory
) -> None:
    config = azure_config(azure_container).model_copy(
        update={"container": azure_container.name + "-new"}
    )
    backup = backup_factory()
    async with AzureBackupStore(config) as store:
        await store.save(backup)
        assert (await store.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED


async def test_azure_without_container_creation_reports_missing_container(
    azure_container: AzureContainer, backup_factory: BackupFactory
) -> None:
    config = azure_config(azure_container).model_copy(
        update={"container": azure_container.name + "-absent", "create_container": False}
    )
    store = AzureBackupStore(config)
    with pytest.raises(StoreUnavailableError):
        await store.save(backup_factory())


async def test_s3_without_batch_delete_deletes_one_by_one(
    s3_bucket: S3Bucket, backup_factory: BackupFactory
) -> None:
    store = s3_store(s3_bucket, batch_delete=False)
    backup = backup_factory()
    await store.save(backup)
    await store.delete(backup.id)
    keys = await store.io.list_keys("")
    assert keys == [".backup-store.json"]


async def test_s3_writes_the_zeebe_8_9_layout_for_8_9_brokers(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    store = s3_store(s3_bucket, "bp")
    source = tmp_path / "seg"
    source.write_bytes(b"data")

    backup = Backup(
        BackupIdentifier(2, 3, 17),
        BackupDescriptor("s", 1, 3, "8.9.0"),
        segments=NamedFileSet({"1.log": source}),
    )
    await store.save(backup)
    raw = await store.io.get("bp/manifests/3/17/2/manifest.json")
    assert raw is not None
    manifest = json.loads(raw.data)
    assert manifest["statusCode"] == "completed"
    assert isinstance(manifest["createdAt"], str) and manifest["createdAt"].endswith("Z")
    meta = await store.io.head("bp/contents/3/17/2/segments/1.log")
    assert meta is not None and meta.size == 4


def stores_under_test(
    s3_bucket: S3Bucket, gcs_bucket: GcsBucket, azure_container: AzureContainer, tmp_path: Path
) -> dict[str, Callable[[], ObjectBackupStore]]:
    return {
        "s3": lambda: s3_store(s3_bucket),
        "gcs": lambda: gcs_store(gcs_bucket),
        "azure": lambda: azure_store(azure_container),
        "filesystem": lambda: FilesystemBackupStore(tmp_path / "fs"),
    }


async def test_a_concurrent_writer_wins_the_completion(
    s3_bucket: S3Bucket,
    gcs_bucket: GcsBucket,
    azure_container: AzureContainer,
    tmp_path: Path,
) -> None:
    """Completion is conditional on the manifest written at the start: another writer
    that marks the backup failed meanwhile wins, and the saver gets the typed error."""
    for kind, open_one in stores_under_test(
        s3_bucket, gcs_bucket, azure_container, tmp_path
    ).items():
        saver, other = open_one(), open_one()
        backup_id = BackupIdentifier(1, 2, 3)

        async def interrupted(
            other: ObjectBackupStore = other, backup_id: BackupIdentifier = backup_id
        ) -> AsyncIterator[bytes]:
            yield b"first half "
            await other.mark_failed(backup_id, "taken over by an operator")
            yield b"second half"

        manifest = Manifest.in_progress(
            backup_id,
            BackupDescriptor(None, 1, 1, "8.7.0"),
            (),
            (FileEntry("1.log"),),
            Instant.now(),
        )
        with pytest.raises(InvalidBackupStateError):
            await saver.write_backup(manifest, [FileToStore("segments", "1.log", 22, interrupted)])
        status = await other.get_status(backup_id)
        assert status.status_code is BackupStatusCode.FAILED, kind
        assert status.failure_reason == "taken over by an operator", kind
