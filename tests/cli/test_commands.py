"""The ``backup-store`` operator commands, run in-process against file:// stores."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from backup_store import (
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    FilesystemBackupStore,
)
from backup_store.aggregate import aggregate
from backup_store.cli import main
from backup_store.cli.opening import limit_transfers
from backup_store.cli.params import TransferLimits
from backup_store.format.manifest_json import encode_manifest
from backup_store.io import ThrottledIO
from backup_store.transfer.priority import lower_disk_priority
from tests.support.filesystem_stores import (
    ZEEBE_COMPLETED,
    ZEEBE_FILES,
    StoreDir,
    built_once,
    file_bytes,
    invoke,
    invoke_json,
    save_backups,
)

A = BackupIdentifier(0, 1, 10)
B = BackupIdentifier(0, 2, 10)
C = BackupIdentifier(1, 1, 11)
D = BackupIdentifier(2, 1, 11)  # a second node's copy of partition 1 of backup 11
FAILED_ID = BackupIdentifier(0, 2, 11)
COMMANDS = ["list", "status", "restore", "verify", "delete", "migrate", "serve"]
SECRET = "SuperSecretValue42"


async def _build_template(store: FilesystemBackupStore, data: Path) -> None:
    await save_backups(store, data, [A, B, C, D])
    await store.mark_failed(FAILED_ID, "disk full")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> StoreDir:
    return built_once(tmp_path_factory, _build_template)


@pytest.fixture
def store(template: StoreDir, tmp_path: Path) -> StoreDir:
    """Backup 10 COMPLETED on partitions 1 and 2 (of 5); backup 11 COMPLETED on partition 1
    (nodes 1 and 2) and FAILED on partition 2."""
    return template.copy_to(tmp_path / "store")


# ---------------------------------------------------------------- help, usage, errors


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: main {command}")


def test_main_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"  {command} " in result.stdout


def test_installed_entry_point_runs() -> None:
    script = Path(sys.executable).parent / "backup-store"
    bad = subprocess.run([str(script), "status", "file:///tmp", "not-a-number"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("Usage: backup-store status [OPTIONS] [STORE_URL] BACKUP_ID")
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["status", "file:///tmp/x", "abc"],
        ["status", "file:///tmp/x", "0"],
        ["restore", "file:///tmp/x", "10", "--to", "/tmp/x"],  # no --partition
        ["list", "file:///tmp/x", "--checkpoint", "1x*"],
        ["verify", "file:///tmp/x", "--level", "everything"],
        ["verify", "file:///tmp/x", "--sample", "0"],
        ["migrate", "file:///tmp/a", "file:///tmp/b"],  # neither BACKUP_ID nor --all
        ["migrate", "file:///tmp/a", "file:///tmp/b", "10", "--all"],
        ["list", "ftp://host/path"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_a_store_error_is_one_clean_line(store: StoreDir) -> None:
    (store.root / ".backup-store.json").write_text('{"storeKind":"s3","format":1}')
    result = invoke("list", store.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: this location holds backups written by the s3 store")
    assert "backup-store migrate" in lines[0]


def test_credentials_are_never_echoed() -> None:
    url = (f"s3://bucket/base?endpoint=http://127.0.0.1:9&region=us-east-1"
           f"&access_key_id=AKIDEXAMPLE&secret_access_key={SECRET}&max_retries=0"
           "&connect_timeout_seconds=1")
    result = invoke("list", url)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert SECRET not in result.output
    misplaced = invoke("list", "file:///tmp/x", url)
    assert misplaced.exit_code == 2
    assert SECRET not in misplaced.output
    bad_option = invoke("list", url.replace("region=", "regoin="))
    assert bad_option.exit_code == 2
    assert SECRET not in bad_option.output


# ---------------------------------------------------------------- list


def test_list_table(store: StoreDir) -> None:
    result = invoke("list", store.url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Backups in {store.url}"
    rows = [line for line in lines if line.startswith("│")]
    cells = [[c.strip() for c in row.strip("│").split("│")] for row in rows]
    assert [c[:5] for c in cells] == [
        ["11", "FAILED", "1", "1", "COMPLETED"],
        ["", "", "1", "2", "COMPLETED"],
        ["", "", "2", "0", "FAILED"],
        ["10", "INCOMPLETE", "1", "0", "COMPLETED"],
        ["", "", "2", "0", "COMPLETED"],
    ]
    assert "disk full" in rows[2]
    assert lines[-1] == "2 backup ids, 5 partition backups."


def test_list_json(store: StoreDir) -> None:
    result, listing = invoke_json("list", store.url)
    assert result.exit_code == 0
    assert listing["store"] == store.url
    assert [b["backupId"] for b in listing["backups"]] == [11, 10]
    eleven = listing["backups"][0]
    assert eleven["state"] == "FAILED"
    assert eleven["failureReason"] == "Backup on partition 2 failed due to disk full. "
    assert [(p["partitionId"], p["nodeId"], p["status"]) for p in eleven["partitionBackups"]] == [
        (1, 1, "COMPLETED"), (1, 2, "COMPLETED"), (2, 0, "FAILED"),
    ]
    assert eleven["partitionBackups"][2]["failureReason"] == "disk full"
    assert [d["state"] for d in listing["backups"][1]["details"]][:3] == [
        "COMPLETED", "COMPLETED", "DOES_NOT_EXIST",
    ]


def test_list_filters_rows_but_aggregates_every_partition(store: StoreDir) -> None:
    _, by_partition = invoke_json("list", store.url, "--partition", "1")
    assert [b["state"] for b in by_partition["backups"]] == ["FAILED", "INCOMPLETE"]
    assert all(p["partitionId"] == 1 for b in by_partition["backups"]
               for p in b["partitionBackups"])
    _, by_node = invoke_json("list", store.url, "--node", "2")
    assert [(b["backupId"], len(b["partitionBackups"])) for b in by_node["backups"]] == [(11, 1)]
    _, by_prefix = invoke_json("list", store.url, "--checkpoint", "1*")
    assert [b["backupId"] for b in by_prefix["backups"]] == [11, 10]
    _, exact = invoke_json("list", store.url, "--checkpoint", "10")
    assert [b["backupId"] for b in exact["backups"]] == [10]
    _, none = invoke_json("list", store.url, "--checkpoint", "2*")
    assert none["backups"] == []


def test_list_empty_store(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke("list", (tmp_path / "empty").as_uri())
    assert result.exit_code == 0
    assert result.stdout.startswith("No backups in ")


def test_list_zeebe_written_backups(zeebe_store: StoreDir) -> None:
    result, listing = invoke_json("list", zeebe_store.url)
    assert result.exit_code == 0
    assert [(b["backupId"], b["state"]) for b in listing["backups"]] == [
        (100, "INCOMPLETE"), (44, "FAILED"), (43, "INCOMPLETE"),
    ]
    [row] = listing["backups"][2]["partitionBackups"]
    assert row == {
        "checkpointId": 43, "partitionId": 2, "nodeId": 1, "status": "COMPLETED",
        "createdAt": "2023-03-14T10:45:08Z", "lastModifiedAt": "2023-03-14T10:45:09.123456789Z",
        "snapshotId": "1-1-5-4", "checkpointPosition": 2345234, "numberOfPartitions": 3,
        "brokerVersion": "8.7.0",
    }
    human = invoke("list", zeebe_store.url)
    assert "2023-03-14T10:45:09.123456789Z" in human.stdout


# ---------------------------------------------------------------- status


def test_status_json_is_the_management_api_body(store: StoreDir) -> None:
    result, info = invoke_json("status", store.url, "11")
    assert result.exit_code == 0

    async def read() -> list[BackupStatus]:
        async with store.open() as opened:
            return await opened.list(BackupIdentifierWildcard(checkpoint=11))

    statuses = asyncio.run(read())
    assert info == aggregate(11, statuses).to_json()
    assert info["state"] == "FAILED"
    assert [d["partitionId"] for d in info["details"]] == [1, 2, 3, 4, 5]


def test_status_table(store: StoreDir) -> None:
    result = invoke("status", store.url, "10")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"Backup 10 in {store.url}: INCOMPLETE"
    assert "DOES_NOT_EXIST" in result.stdout
    failed = invoke("status", store.url, "11")
    assert "Failure reason: Backup on partition 2 failed due to disk full." in failed.stdout


def test_status_of_a_missing_backup_exits_1(store: StoreDir) -> None:
    result = invoke("status", store.url, "12")
    assert result.exit_code == 1
    assert result.stderr == f"error: Backup with id 12 does not exist in {store.url}\n"
    json_result, info = invoke_json("status", store.url, "12")
    assert json_result.exit_code == 1
    assert info["state"] == "DOES_NOT_EXIST"


# ---------------------------------------------------------------- restore


def test_restore_into_an_absent_folder(store: StoreDir, tmp_path: Path) -> None:
    target = tmp_path / "restored" / "p1"
    result = invoke("restore", store.url, "10", "--partition", "1", "--to", str(target))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in target.iterdir()) == [
        "segment-file-1", "segment-file-2", "snapshot-file-1", "snapshot-file-2",
    ]
    assert (target / "segment-file-1").read_bytes() == file_bytes(
        store.root, A, "segments/segment-file-1"
    ).read_bytes()
    assert "Sizes and SHA-256 checked against the integrity record." in result.stdout


def test_restore_with_transfer_limits(store: StoreDir, tmp_path: Path) -> None:
    target = tmp_path / "limited"
    try:
        result = invoke(
            "restore", store.url, "10", "--partition", "1", "--to", str(target),
            "--max-bandwidth", "1MB", "--low-disk-priority",
        )  # fmt: skip
    finally:
        lower_disk_priority(False)
    assert result.exit_code == 0, result.output
    assert len(list(target.iterdir())) == 4
    wrong = invoke("restore", store.url, "10", "--partition", "1", "--to", str(target),
                   "--max-bandwidth", "fast")  # fmt: skip
    assert wrong.exit_code == 2
    assert "--max-bandwidth 'fast' is not a size" in wrong.stderr


def test_serve_reads_the_bandwidth_limit_from_its_variable() -> None:
    result = CliRunner().invoke(main, ["serve"], env={"BACKUP_STORE_MAX_BANDWIDTH": "fast"})
    assert result.exit_code == 2
    assert "'fast' is not a size" in result.stderr


async def test_limited_stores_share_one_bucket(store: StoreDir, tmp_path: Path) -> None:
    source, target = FilesystemBackupStore(store.root), FilesystemBackupStore(tmp_path / "t")
    bucket = limit_transfers([source, target], TransferLimits(max_bandwidth=10**9))
    assert bucket is not None
    assert all(isinstance(s.io, ThrottledIO) and s.io.bucket is bucket for s in (source, target))
    await source.restore(A, tmp_path / "restored")
    assert bucket.taken >= sum(p.stat().st_size for p in (tmp_path / "restored").iterdir())


def test_restore_json_and_best_copy_of_any_node(store: StoreDir, tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    result, restored = invoke_json("restore", store.url, "11", "--partition", "1",
                                   "--to", str(target))
    assert result.exit_code == 0
    assert restored["backupId"]["partitionId"] == 1
    assert restored["backupId"]["nodeId"] in (1, 2)
    assert restored["checked"] is True
    assert restored["bytes"] == 4096 and len(restored["files"]) == 4
    node_2 = tmp_path / "node2"
    _, chosen = invoke_json("restore", store.url, "11", "--partition", "1", "--node", "2",
                            "--to", str(node_2))
    assert chosen["backupId"] == {"nodeId": 2, "partitionId": 1, "checkpointId": 11}


def test_restore_refuses_a_non_empty_folder(store: StoreDir, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = invoke("restore", store.url, "10", "--partition", "1", "--to", str(target))
    assert result.exit_code == 1
    assert result.stderr == f"error: refusing to restore into {target}: the folder is not empty\n"
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_restore_refuses_a_failed_or_missing_backup(store: StoreDir, tmp_path: Path) -> None:
    failed = invoke("restore", store.url, "11", "--partition", "2", "--to", str(tmp_path / "f"))
    assert failed.exit_code == 1
    assert "it is FAILED (disk full); only a COMPLETED backup can be restored" in failed.stderr
    missing = invoke("restore", store.url, "10", "--partition", "3", "--to", str(tmp_path / "m"))
    assert missing.exit_code == 1
    assert "backup 10 has no copy of partition 3 from any node" in missing.stderr
    assert not (tmp_path / "f").exists() and not (tmp_path / "m").exists()


def test_restore_of_a_damaged_backup_fails_and_leaves_the_folder_empty(
    store: StoreDir, tmp_path: Path
) -> None:
    path = file_bytes(store.root, A, "snapshot/snapshot-file-2")
    data = bytearray(path.read_bytes())
    data[0] ^= 0x55
    path.write_bytes(bytes(data))
    target = tmp_path / "target"
    target.mkdir()
    result = invoke("restore", store.url, "10", "--partition", "1", "--to", str(target))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: snapshot/snapshot-file-2 does not match what was saved")
    assert list(target.iterdir()) == []


def test_restore_zeebe_written_backup(zeebe_store: StoreDir, tmp_path: Path) -> None:
    target = tmp_path / "restored"
    result = invoke("restore", zeebe_store.url, "43", "--partition", "2", "--to", str(target))
    assert result.exit_code == 0, result.output
    assert "not recorded by Zeebe" in result.stdout
    for name, data in ZEEBE_FILES.items():
        assert (target / name.split("/")[1]).read_bytes() == data


# ---------------------------------------------------------------- verify


def test_verify_ok(store: StoreDir) -> None:
    result = invoke("verify", store.url)
    assert result.exit_code == 0, result.output
    assert "No problems found (16 files checked)." in result.stdout
    assert "skipped, status is FAILED" in result.stdout


@pytest.mark.parametrize(
    ("damage", "level", "message"),
    [
        ("delete", "presence",
         "backup node 0/partition 1/checkpoint 10, file segments/segment-file-2: object is "
         "missing (key contents/1/10/0/segments/segment-file-2)"),
        ("truncate", "size",
         "backup node 0/partition 1/checkpoint 10, file segments/segment-file-2: object is "
         "1000 bytes, the recorded size is 1024 bytes "
         "(key contents/1/10/0/segments/segment-file-2)"),
        ("flip", "checksum",
         "backup node 0/partition 1/checkpoint 10, file segments/segment-file-2: SHA-256 is "),
    ],
)
def test_verify_reports_each_problem_precisely(
    store: StoreDir, damage: str, level: str, message: str
) -> None:
    path = file_bytes(store.root, A, "segments/segment-file-2")
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        data = bytearray(path.read_bytes())
        data[-1] ^= 0x80
        path.write_bytes(bytes(data))
    result = invoke("verify", store.url, "--level", level)
    assert result.exit_code == 1
    problems = [line.strip() for line in result.stdout.splitlines() if "PROBLEM" in line]
    assert len(problems) == 1
    assert problems[0].startswith("PROBLEM " + message)
    assert "1 problem found." in result.stdout
    _, report = invoke_json("verify", store.url, "--level", level)
    assert report["ok"] is False and report["problemCount"] == 1


def test_verify_one_backup_json(store: StoreDir) -> None:
    result, report = invoke_json("verify", store.url, "10", "--level", "size")
    assert result.exit_code == 0
    assert report["level"] == "size"
    assert {b["backupId"]["checkpointId"] for b in report["backups"]} == {10}
    missing, report = invoke_json("verify", store.url, "99")
    assert missing.exit_code == 1
    assert report["problems"][0]["kind"] == "backup-not-found"


def test_verify_sample_is_reproducible(store: StoreDir) -> None:
    _, first = invoke_json("verify", store.url, "--sample", "25", "--seed", "5")
    _, second = invoke_json("verify", store.url, "--sample", "25", "--seed", "5")
    assert first["filesChecked"] == 4
    assert first == second


def test_verify_zeebe_written_backup_states_what_was_checked(zeebe_store: StoreDir) -> None:
    for level in ("presence", "size"):
        result = invoke("verify", zeebe_store.url, "43", "--level", level)
        assert result.exit_code == 0, result.output
        assert "3 of 3 files checked at level presence" in result.stdout
        assert "sizes and checksums are not recorded by Zeebe" in result.stdout
    file_bytes(zeebe_store.root, ZEEBE_COMPLETED, "segments/segmentFile1").unlink()
    broken = invoke("verify", zeebe_store.url, "--level", "size")
    assert broken.exit_code == 1
    assert "file segments/segmentFile1: object is missing" in broken.stdout


# ---------------------------------------------------------------- delete


def test_delete_with_yes(store: StoreDir) -> None:
    result = invoke("delete", store.url, "11", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("Deleted backup 11: 3 partition backups.")
    _, listing = invoke_json("list", store.url)
    assert [b["backupId"] for b in listing["backups"]] == [10]


def test_delete_one_partition_json(store: StoreDir) -> None:
    result, deleted = invoke_json("delete", store.url, "10", "--partition", "2", "--yes")
    assert result.exit_code == 0
    assert deleted["deleted"] == [
        {"nodeId": 0, "partitionId": 2, "checkpointId": 10, "previousStatus": "COMPLETED"}
    ]
    _, listing = invoke_json("list", store.url, "--checkpoint", "10")
    assert [p["partitionId"] for p in listing["backups"][0]["partitionBackups"]] == [1]


def test_delete_asks_first(store: StoreDir) -> None:
    declined = invoke("delete", store.url, "10", input="n\n")
    assert declined.exit_code == 1
    assert "Delete backup 10 (2 partition backups)" in declined.stderr
    _, listing = invoke_json("list", store.url, "--checkpoint", "10")
    assert len(listing["backups"][0]["partitionBackups"]) == 2
    accepted = invoke("delete", store.url, "10", input="y\n")
    assert accepted.exit_code == 0
    _, listing = invoke_json("list", store.url, "--checkpoint", "10")
    assert listing["backups"] == []


def test_delete_of_a_missing_backup_succeeds(store: StoreDir) -> None:
    result = invoke("delete", store.url, "77", "--yes")
    assert result.exit_code == 0
    assert "nothing to delete" in result.stdout


def test_delete_marks_an_in_progress_backup_failed_first(store: StoreDir) -> None:
    async def rewrite_as_in_progress() -> None:
        async with store.open() as opened:
            stored = await opened.read_manifest(A)
            assert stored is not None
            in_progress = type(stored.manifest).in_progress(
                A, stored.manifest.descriptor,  # type: ignore[arg-type]
                stored.manifest.snapshot_files or (), stored.manifest.segment_files or (),
                stored.manifest.created_at,
            )
            (store.root / stored.key).write_bytes(
                encode_manifest(in_progress, opened.format.manifest_form)
            )

    async def status() -> BackupStatusCode:
        async with store.open() as opened:
            return (await opened.get_status(A)).status_code

    asyncio.run(rewrite_as_in_progress())
    assert asyncio.run(status()) is BackupStatusCode.IN_PROGRESS
    result, deleted = invoke_json("delete", store.url, "10", "--partition", "1", "--yes")
    assert result.exit_code == 0, result.output
    assert deleted["deleted"][0]["previousStatus"] == "IN_PROGRESS"
    assert asyncio.run(status()) is BackupStatusCode.DOES_NOT_EXIST
    assert not file_bytes(store.root, A, "segments").exists()


# ---------------------------------------------------------------- migrate


def test_migrate_dry_run_then_all_then_rerun(store: StoreDir, tmp_path: Path) -> None:
    target = StoreDir(tmp_path / "target")
    before = store.tree()
    dry = invoke("migrate", store.url, target.url, "--all", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Nothing was written." in dry.stdout
    assert target.tree() == {}
    result, report = invoke_json("migrate", store.url, target.url, "--all")
    assert result.exit_code == 0, result.output
    assert report["migrated"] == 5 and report["failed"] == 0
    assert {b["outcome"] for b in report["backups"]} == {"migrated"}
    # What was sent is every byte of the migrated files (all at the target now).
    stored = sum(
        p.stat().st_size
        for p in (target.root / "contents").rglob("*")
        if p.is_file() and p.parent.name in ("snapshot", "segments")
    )
    assert report["bytesSent"] == stored > 0
    again = invoke("migrate", store.url, target.url, "--all")
    assert again.exit_code == 0
    assert "0 migrated, 5 skipped, 0 failed. Sent 0 bytes." in again.stdout
    assert store.tree() == before
    _, source_listing = invoke_json("list", store.url)
    _, target_listing = invoke_json("list", target.url)
    assert source_listing["backups"] == target_listing["backups"]
    assert invoke("verify", target.url).exit_code == 0


def test_migrate_one_backup_id(store: StoreDir, tmp_path: Path) -> None:
    target = StoreDir(tmp_path / "target")
    result = invoke("migrate", store.url, target.url, "10")
    assert result.exit_code == 0, result.output
    assert "2 migrated, 0 skipped, 0 failed." in result.stdout
    _, listing = invoke_json("list", target.url)
    assert [b["backupId"] for b in listing["backups"]] == [10]


def test_migrate_reports_a_conflict_and_exits_1(store: StoreDir, tmp_path: Path) -> None:
    target = StoreDir(tmp_path / "target")
    invoke("migrate", store.url, target.url, "10")
    invoke("delete", store.url, "10", "--partition", "1", "--yes")
    # A new, different backup 10 on partition 1 at the source.
    async def resave() -> None:
        async with store.open() as opened:
            await save_backups(opened, tmp_path / "again", [A])

    asyncio.run(resave())
    result, report = invoke_json("migrate", store.url, target.url, "10")
    assert result.exit_code == 1
    [conflict] = [b for b in report["backups"] if b["outcome"] == "failed"]
    assert conflict["action"] == "conflict"
    assert "delete it at the target" in conflict["message"]


def test_migrate_warns_about_in_progress_backups(zeebe_store: StoreDir, tmp_path: Path) -> None:
    target = StoreDir(tmp_path / "target")
    result = invoke("migrate", zeebe_store.url, target.url, "--all")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        "warning: node 0/partition 1/checkpoint 100: IN_PROGRESS at the source"
    )
    assert "2 migrated, 1 skipped, 0 failed." in result.stdout


def test_zeebe_format_backup_is_listed_verified_and_migrated(
    zeebe_store: StoreDir, tmp_path: Path
) -> None:
    before = zeebe_store.tree()
    assert invoke("list", zeebe_store.url).exit_code == 0
    assert invoke("verify", zeebe_store.url, "--level", "size").exit_code == 0
    target = StoreDir(tmp_path / "target")
    result, report = invoke_json("migrate", zeebe_store.url, target.url, "43")
    assert result.exit_code == 0
    assert report["backups"][0]["message"].startswith("copied 3 files")
    _, verified = invoke_json("verify", target.url, "43", "--level", "checksum")
    assert verified["ok"] and verified["backups"][0]["integrityRecord"] is True
    _, source_info = invoke_json("status", zeebe_store.url, "43")
    _, target_info = invoke_json("status", target.url, "43")
    assert source_info == target_info
    assert zeebe_store.tree() == before


def test_json_outputs_parse(store: StoreDir, tmp_path: Path) -> None:
    target = StoreDir(tmp_path / "t")
    for args in (
        ["list", store.url], ["status", store.url, "10"], ["verify", store.url],
        ["migrate", store.url, target.url, "--all", "--dry-run"],
        ["restore", store.url, "10", "--partition", "2", "--to", str(tmp_path / "r")],
        ["delete", store.url, "11", "--yes"],
    ):
        result = invoke(*args, "--json")
        assert result.exit_code == 0, (args, result.output)
        assert isinstance(json.loads(result.stdout), dict)


def test_a_url_can_come_from_the_environment(
    store: StoreDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_STORE_TEST_URL", store.url)
    result, listing = invoke_json("list", "env:BACKUP_STORE_TEST_URL")
    assert result.exit_code == 0
    assert listing["store"] == store.url
    missing = invoke("list", "env:BACKUP_STORE_UNSET_VARIABLE")
    assert missing.exit_code == 2
    assert "environment variable 'BACKUP_STORE_UNSET_VARIABLE' is not set" in missing.stderr
