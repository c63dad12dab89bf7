"""A store left by a Camunda 8.10 broker: COMPLETED, FAILED and DELETED backups in zone-qualified
node folders, a partition metadata file and range markers, placed at Zeebe's keys with the bytes
Zeebe's classes wrote (``tests/format/zeebe_matrix``). Every backend lists each backup in its own
state, none as damaged."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backup_store import BackupIdentifier, BackupStatusCode
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

MATRIX = Path(__file__).parents[1] / "format" / "zeebe_matrix" / "vZ.jsonl"
ZONE = "us-east-1a"
COMPLETED = BackupIdentifier(1, 2, 15, ZONE)
DELETED = BackupIdentifier(1, 2, 16, ZONE)
FAILED = BackupIdentifier(2, 2, 17, ZONE)
PLAIN = BackupIdentifier(0, 1, 15)  # a broker without a zone, same checkpoint


def _zeebe_bytes(case: str) -> bytes:
    for line in MATRIX.read_text(encoding="utf-8").split("\n"):
        if line.strip() and json.loads(line)["case"] == case:
            return base64.b64decode(json.loads(line)["bytes"])
    raise LookupError(case)


def _manifest(form: str, case: str, backup_id: BackupIdentifier) -> bytes:
    """Zeebe's bytes of ``case`` with the id changed in place (the rest as Zeebe wrote it)."""
    data = _zeebe_bytes(f"vZ-{form}-{case}")
    zone = b'"zone":"us-east-1a",' if backup_id.zone else b'"zone":null,' if form == "s3" else b""
    start = data.index(b'"id":{')
    end = data.index(b"}", start) + 1
    rest = f'"partitionId":{backup_id.partition_id},"checkpointId":{backup_id.checkpoint_id}}}'
    new_id = f'"id":{{"nodeId":{backup_id.node_id},'.encode() + zone + rest.encode()
    return data[:start] + new_id + data[end:]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectBackupStore]:
    async with backend_store(request, request.param, tmp_path) as made:
        yield made


async def place_810_store(store: ObjectBackupStore) -> None:
    form = "s3" if store.format.manifest_form.value == "s3" else "common"
    root = f"{store.base_path}/" if store.base_path else ""
    placed = {
        COMPLETED: _manifest(form, "zone-us-east-1a", COMPLETED),
        DELETED: _manifest(form, "zone-deleted", DELETED),
        FAILED: _manifest(form, "FAILED-SCHEDULED_BACKUP-027", FAILED),
        PLAIN: _manifest(form, "COMPLETED-SCHEDULED_BACKUP-015", PLAIN),
    }
    for backup_id, data in placed.items():
        folder = f"{backup_id.partition_id}/{backup_id.checkpoint_id}/{backup_id.node_folder}/"
        await store.io.put(f"{root}manifests/{folder}manifest.json", data)
        for file_set, name in (("snapshot", "CURRENT"), ("segments", "1.log")):
            await store.io.put(f"{root}contents/{folder}{file_set}/{name}", b"data")
        if form == "common":  # the S3 form names 000042.sst zstd-compressed: placed plain here
            await store.io.put(f"{root}contents/{folder}snapshot/000042.sst", b"sst")
    await store.io.put(f"{root}metadata/2/metadata.json", _zeebe_bytes("vZ-metadata-one"))
    for marker in ("15.start", "15.end", "16.deletion"):
        await store.io.put(f"{root}ranges/2/{marker}", b"")


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
