"""A store left by a Camunda 8.10 broker: COMPLETED, FAILED and DELETED backups in zone-qualified
node folders, a partition metadata file and range markers, placed at Zeebe's keys with the bytes
Zeebe's classes wrote (``tests/format/zeebe_matrix``). Every backend lists each backup in its own
state, none as damaged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backup_store import BackupStatusCode
from backup_store.api import create_app
from backup_store.cli.sample import generate_sample_data
from backup_store.engine import ObjectBackupStore
from backup_store.errors import InvalidBackupStateError
from backup_store.format.instant import Instant
from backup_store.service import BackupService, DirectorySource
from backup_store.stores.filesystem import FilesystemBackupStore
from backup_store.tools.migrate import migrate
from backup_store.tools.migration_plan import Action
from backup_store.tools.retention import RetentionPolicy, Rule, plan_retention
from backup_store.tools.verify import verify_store
from tests.support.backends import BACKENDS, backend_store
from tests.support.filesystem_stores import StoreDir, invoke, invoke_json
from tests.support.services import serving
from tests.support.zeebe_810 import COMPLETED, DELETED, FAILED, PLAIN, ZONE, place_810_store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectBackupStore]:
    async with backend_store(request, request.param, tmp_path) as made:
        yield made


async def test_an_810_store_lists_each_backup_in_its_own_state(store: ObjectBackupStore) -> None:
    await place_810_store(store)
    statuses = {s.id: s for s in await store.list()}
    assert {i: s.status_code for i, s in statuses.items()} == {
        COMPLETED: BackupStatusCode.COMPLETED,
        DELETED: BackupStatusCode.DELETED,
        FAILED: BackupStatusCode.FAILED,
        PLAIN: BackupStatusCode.COMPLETED,
    }
    assert not any(s.damaged for s in statuses.values())
    assert (await store.get_status(COMPLETED)).status_code is BackupStatusCode.COMPLETED
    assert (await store.get_status(DELETED)).status_code is BackupStatusCode.DELETED
    assert [s.id for s in await store.list()] == [s.id for s in await store.list()]  # stable


async def test_a_deleted_backup_is_never_restored(store: ObjectBackupStore, tmp_path: Path) -> None:
    await place_810_store(store)
    with pytest.raises(InvalidBackupStateError, match="DELETED") as raised:
        await store.restore(DELETED, tmp_path / "restored")
    assert "16" in str(raised.value)


async def test_delete_by_id_finishes_a_tombstone_and_removes_a_zone_backup(
    store: ObjectBackupStore,
) -> None:
    await place_810_store(store)
    await store.delete(DELETED)
    await store.delete(COMPLETED)
    left = {s.id: s.status_code for s in await store.list()}
    assert left == {FAILED: BackupStatusCode.FAILED, PLAIN: BackupStatusCode.COMPLETED}
    root = f"{store.base_path}/" if store.base_path else ""
    for backup_id in (DELETED, COMPLETED):
        folder = f"{backup_id.partition_id}/{backup_id.checkpoint_id}/{backup_id.node_folder}/"
        assert await store.io.get(f"{root}contents/{folder}snapshot/CURRENT") is None


# ---------------------------------------------------------------- tools and front ends


@pytest.fixture
async def folder(tmp_path: Path) -> StoreDir:
    folder = StoreDir(tmp_path / "zeebe810")
    async with folder.open() as opened:
        await place_810_store(opened)
    return folder


def test_cli_list_and_status_show_deleted_and_the_zone(folder: StoreDir) -> None:
    listed = invoke("list", folder.url)
    assert listed.exit_code == 0, listed.output
    assert "DELETED" in listed.stdout and "us-east-1a_1" in listed.stdout
    assert "damaged" not in listed.stdout
    result, body = invoke_json("list", folder.url)
    rows = {b["backupId"]: b for b in body["backups"]}
    assert rows[16]["state"] == "DELETED"
    assert rows[16]["partitionBackups"][0]["zone"] == ZONE
    result, status = invoke_json("status", folder.url, "16")
    assert result.exit_code == 0 and status["state"] == "DELETED"
    detail = {d["partitionId"]: d for d in status["details"]}[2]
    assert detail["state"] == "DELETED" and detail["zone"] == ZONE


async def test_verify_migrate_and_prune_skip_a_deleted_backup(
    folder: StoreDir, tmp_path: Path
) -> None:
    async with folder.open() as source, FilesystemBackupStore(tmp_path / "target") as target:
        report = await verify_store(source)
        assert not report.problems  # range markers and the metadata file are no damage
        by_id = {r.backup_id: r for r in report.backups}
        assert "DELETED" in (by_id[DELETED].skipped or "")
        migrated = await migrate(source, target)
        actions = {r.plan.backup_id: r.plan.action for r in migrated.results}
        assert actions[DELETED] is Action.SKIP
        assert (
            await target.io.get(target.format.read_layouts(None)[0].manifest_key(DELETED)) is None
        )
        plan = plan_retention(
            await source.list(),
            RetentionPolicy(keep_last=1),
            Instant.parse_iso("2030-01-01T00:00:00Z"),
        )
        deleted = next(p for p in plan.entries if p.backup_id == 16)
        assert deleted.rule is Rule.DELETED and deleted.state == "DELETED"


async def test_the_api_shows_deleted_by_id_and_leaves_it_out_of_the_list(
    folder: StoreDir, tmp_path: Path
) -> None:
    generate_sample_data(tmp_path / "sample", 2, seed=3)
    async with folder.open() as opened:
        service = BackupService(opened, DirectorySource.discover(tmp_path / "sample"))
        async with serving(create_app(service)) as http:
            one = await http.get("/actuator/backups/16")
            assert one.status_code == 200
            assert one.json()["state"] == "DELETED"
            detail = {d["partitionId"]: d for d in one.json()["details"]}[2]
            assert detail["state"] == "DELETED" and detail["zone"] == ZONE
            listed = await http.get("/actuator/backups")
            assert {b["backupId"] for b in listed.json()} == {15, 17}


async def test_a_tombstone_is_never_rewritten_as_failed(folder: StoreDir) -> None:
    key = f"manifests/2/16/{DELETED.node_folder}/manifest.json"
    before = (folder.root / key).read_bytes()
    async with folder.open() as opened:
        await opened.mark_failed(DELETED, "disk full")
        assert (folder.root / key).read_bytes() == before
        assert (await opened.get_status(DELETED)).status_code is BackupStatusCode.DELETED


async def test_a_zone_backup_restores_by_id(folder: StoreDir, tmp_path: Path) -> None:
    async with folder.open() as opened:
        await opened.restore(COMPLETED, tmp_path / "restored")
    restored = tmp_path / "restored"
    assert sorted(p.name for p in restored.iterdir()) == ["000042.sst", "1.log", "CURRENT"]
    assert (restored / "000042.sst").read_bytes() == b"sst"
