"""A store that does not exist (or cannot be written) is DOWN, and a backup id stays free.

Readiness asks the store's location, through the store contract (``BackupStore.probe``);
a POST asks whether it can write before the partitions record the checkpoint, so a
missing bucket or directory answers 502 with the reason and the id can be taken once
the store is there. A checkpoint once recorded keeps its id, and the backup reads
FAILED with its reason, never 404, also when the store could not be written to say so.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from backup_store import BackupIdentifier, BackupStatusCode, FilesystemBackupStore
from backup_store.api.app import create_app
from backup_store.api.health import READINESS_PATH, StoreHealth
from backup_store.contract.inspectable import InspectableStore
from backup_store.engine import ObjectBackupStore
from backup_store.errors import StoreUnavailableError
from backup_store.io import HookedIO, Request
from backup_store.service import BackupService
from testbed.cloud_stores import s3_store
from testbed.emulators import S3Bucket, S3Emulator
from tests.support.services import MemorySource, serving

PARTITIONS = (1, 2)


def sources(tmp_path: Path) -> list[MemorySource]:
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    return [MemorySource(p, files) for p in PARTITIONS]


async def readiness(app: Starlette, http: httpx.AsyncClient) -> httpx.Response:
    """Readiness as of now (the check's answer is otherwise reused for a few seconds)."""
    app.state.store_health = StoreHealth(app.state.service.store, ttl=0)
    return await http.get(READINESS_PATH)


async def take(http: httpx.AsyncClient, backup_id: int) -> httpx.Response:
    return await http.post("/actuator/backups", json={"backupId": backup_id})


@asynccontextmanager
async def served(store: InspectableStore, tmp_path: Path) -> AsyncIterator[
    tuple[Starlette, httpx.AsyncClient, BackupService, list[MemorySource]]
]:
    partitions = sources(tmp_path)
    service = BackupService(store, partitions)
    app = create_app(service)
    async with serving(app) as http:
        yield app, http, service, partitions


async def test_a_bucket_that_does_not_exist_is_down_and_leaves_the_id_free(
    tmp_path: Path, s3_emulator: S3Emulator, s3_bucket: S3Bucket
) -> None:
    name = f"later-{uuid.uuid4().hex[:12]}"
    async with (
        s3_store(replace(s3_bucket, name=name), "cluster") as store,
        served(store, tmp_path) as (app, http, service, partitions),
    ):
        down = await readiness(app, http)
        assert down.status_code == 503, down.text
        component = down.json()["components"]["backupStore"]
        assert component["status"] == "DOWN"
        assert component["details"]["error"].startswith(f"bucket {name} does not exist")

        refused = await take(http, 5)
        assert refused.status_code == 502, refused.text
        assert f"bucket {name} does not exist" in refused.json()["message"]
        assert [p.latest for p in partitions] == [0, 0]  # nothing recorded

        s3_emulator.create_bucket(name)
        assert (await readiness(app, http)).status_code == 200
        assert (await take(http, 5)).status_code == 202
        await service.wait_for_backups()
        info = (await http.get("/actuator/backups/5")).json()
        assert info["state"] == "COMPLETED", info


async def test_a_store_directory_that_is_gone_is_down_and_leaves_the_id_free(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "store"
    async with (
        FilesystemBackupStore(folder) as store,
        served(store, tmp_path) as (app, http, service, partitions),
    ):
        assert (await readiness(app, http)).status_code == 200
        shutil.rmtree(folder)

        down = await readiness(app, http)
        assert down.status_code == 503, down.text
        reason = f"the backup directory {folder} does not exist"
        assert down.json()["components"]["backupStore"]["details"]["error"].startswith(reason)
        refused = await take(http, 5)
        assert refused.status_code == 502, refused.text
        assert reason in refused.json()["message"], refused.text
        assert [p.latest for p in partitions] == [0, 0]
        assert not folder.exists()  # the POST did not make it either

        folder.mkdir()
        assert (await take(http, 5)).status_code == 202
        await service.wait_for_backups()
        assert (await http.get("/actuator/backups/5")).json()["state"] == "COMPLETED"


async def test_a_recorded_checkpoint_keeps_its_id_and_reads_failed_when_the_store_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store stops taking writes between the check and the manifest (it can always:
    the check only makes that unlikely); the id is used, and reads FAILED with why."""
    failing = False

    async def refuse_writes(request: Request) -> None:
        if failing and request.operation in ("put", "replace"):
            raise StoreUnavailableError("storage request failed: disk gone", key=request.key)

    base = FilesystemBackupStore(tmp_path / "store")
    store = ObjectBackupStore(
        HookedIO(base.io, refuse_writes), kind=base.kind, format=base.format,
        base_path=base.base_path,
    )  # fmt: skip
    async with base, store:
        await store.probe(writing=True)  # claimed: the write check needs no write now
        async with served(store, tmp_path) as (_, http, service, partitions):
            failing = True
            refused = await take(http, 5)
            assert refused.status_code == 502, refused.text
            assert "disk gone" in refused.json()["message"]
            assert [p.latest for p in partitions] == [5, 5]  # recorded: the id is used
            await service.wait_for_backups()

            answer = await http.get("/actuator/backups/5")
            assert answer.status_code == 200, answer.text
            info = answer.json()
            assert info["state"] == "FAILED"
            assert "disk gone" in info["failureReason"]
            assert [d["state"] for d in info["details"]] == ["FAILED", "FAILED"]
            assert (await take(http, 5)).status_code == 409

            # Still refused: the next backup tries to record the failure, says it could
            # not, and keeps it for later.
            with caplog.at_level(logging.WARNING, logger="backup_store.service.service"):
                assert (await take(http, 6)).status_code == 502
            await service.wait_for_backups()
            unmarked = "backup node 0/partition 1/checkpoint 5: still could not be marked failed"
            assert unmarked in caplog.text

            # Once the store takes writes again, the next backup also records those failures.
            failing = False
            assert (await take(http, 7)).status_code == 202
            await service.wait_for_backups()
            for partition in PARTITIONS:
                for failed in (5, 6):
                    status = await base.get_status(BackupIdentifier(0, partition, failed))
                    assert status.status_code is BackupStatusCode.FAILED
                    reason = status.failure_reason
                    assert reason is not None and "disk gone" in reason


@pytest.mark.parametrize("writing", [False, True])
async def test_the_probe_of_an_existing_empty_location_passes(
    tmp_path: Path, s3_bucket: S3Bucket, writing: bool
) -> None:
    async with s3_store(s3_bucket, "empty") as store:
        await store.probe(writing=writing)
