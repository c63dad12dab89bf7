"""Point-in-time restore on a real filesystem store: the plan (text, JSON, no plan), the
restore of the planned chains byte for byte, all or nothing, and what planning reads."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    FilesystemBackupStore,
    NamedFileSet,
)
from backup_store.format.instant import Instant
from backup_store.format.keys import partition_metadata_key
from backup_store.format.manifest import Manifest
from backup_store.io import Request
from backup_store.model import CheckpointType
from backup_store.tools.point_in_time import chain_folder, plan, restore_plan
from backup_store.tools.restore_plan import PlanRequest
from tests.support.catalog import Counted, hooked, place
from tests.support.filesystem_stores import invoke

T = [f"2026-12-01T0{h}:00:00Z" for h in range(1, 6)]
# Per partition: checkpoint id -> (checkpoint position, first log position). Partition 2's
# backup 3 starts a new range (its log begins after backup 2's checkpoint): a gap.
HISTORY = {
    1: {1: (100, 1), 2: (200, 90), 3: (300, 180), 4: (400, 290)},
    2: {1: (110, 1), 2: (210, 100), 3: (310, 260), 4: (410, 300)},
}


def descriptor(position: int, first: int, checkpoint_id: int) -> BackupDescriptor:
    return BackupDescriptor(
        f"snap-{checkpoint_id}",
        position,
        2,
        "8.9.0",
        first,
        Instant.parse_iso(T[checkpoint_id - 1]),
        CheckpointType.SCHEDULED_BACKUP,
    )


def save_history(
    root: Path, work: Path, history: dict[int, dict[int, tuple[int, int]]] = HISTORY
) -> dict[tuple[int, int], dict[str, bytes]]:
    """Every backup of the history with its own random files; their bytes by (p, c)."""
    saved: dict[tuple[int, int], dict[str, bytes]] = {}

    async def save() -> None:
        async with FilesystemBackupStore(root) as store:
            for partition, checkpoints in history.items():
                for checkpoint_id, (position, first) in checkpoints.items():
                    folder = work / f"{partition}-{checkpoint_id}"
                    folder.mkdir(parents=True)
                    files = {"snapshot.sst": os.urandom(3000), "1.log": os.urandom(500)}
                    for name, data in files.items():
                        (folder / name).write_bytes(data)
                    saved[(partition, checkpoint_id)] = files
                    await store.save(
                        Backup(
                            BackupIdentifier(0, partition, checkpoint_id),
                            descriptor(position, first, checkpoint_id),
                            NamedFileSet({"snapshot.sst": folder / "snapshot.sst"}),
                            NamedFileSet({"1.log": folder / "1.log"}),
                        )
                    )

    asyncio.run(save())
    return saved


def test_plan_names_the_checkpoint_the_chains_and_every_rejection(tmp_path: Path) -> None:
    save_history(tmp_path / "store", tmp_path / "work")
    url = (tmp_path / "store").as_uri()
    result = invoke("restore", "plan", url, "--to", "2026-12-01T04:30:00Z", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["checkpointId"] == 4
    assert document["time"] == "2026-12-01T04:00:00Z"
    chains = {
        p["partitionId"]: [b["checkpointId"] for b in p["backups"]] for p in document["partitions"]
    }
    assert chains == {1: [1, 2, 3, 4], 2: [3, 4]}  # partition 2's chain starts after its gap
    assert {r["checkpointId"]: r["reason"] for r in document["rejected"]} == {
        1: "earlier than checkpoint 4",
        2: "earlier than checkpoint 4",
        3: "earlier than checkpoint 4",
    }
    text = invoke("restore", "plan", url, "--to", "2026-12-01T02:30:00Z")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[:3] == [
        "Checkpoint 2 (2026-12-01T02:00:00Z): the latest common checkpoint at or before "
        "2026-12-01T02:30:00Z.",
        "  partition 1 (from the manifests): 2 backups: 1 (node 0), 2 (node 0)",
        "  partition 2 (from the manifests): 2 backups: 1 (node 0), 2 (node 0)",
    ]
    assert "  3: after --to (2026-12-01T03:00:00Z)" in text.stdout.splitlines()
    nearest = invoke("restore", "plan", url, "--to", "2026-12-01T02:50:00Z", "--nearest")
    assert nearest.stdout.startswith("Checkpoint 3 ")  # Zeebe's choice: after the time


def test_no_plan_exits_1_with_the_reason(tmp_path: Path) -> None:
    save_history(tmp_path / "store", tmp_path / "work")
    url = (tmp_path / "store").as_uri()
    result = invoke("restore", "plan", url, "--to", "2026-11-30T00:00:00Z")
    assert result.exit_code == 1
    assert (
        "error: no checkpoint every partition can restore at or before 2026-11-30" in result.stderr
    )
    assert "  1: after --to (2026-12-01T01:00:00Z)" in result.stderr
    as_json = invoke("restore", "plan", url, "--to", "2026-11-30T00:00:00Z", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["rejected"][0]["checkpointId"] == 1


def test_restore_to_a_time_writes_the_planned_chains_byte_for_byte(tmp_path: Path) -> None:
    saved = save_history(tmp_path / "store", tmp_path / "work")
    url = (tmp_path / "store").as_uri()
    into = tmp_path / "data"
    result = invoke("restore", url, "--to", "2026-12-01T04:30:00Z", "--into", str(into))
    assert result.exit_code == 0, result.stderr
    expected = {(1, c) for c in (1, 2, 3, 4)} | {(2, 3), (2, 4)}
    written = {
        path.relative_to(into): path.read_bytes() for path in into.rglob("*") if path.is_file()
    }
    assert written == {
        chain_folder(into, p, c).relative_to(into) / name: data
        for (p, c) in expected
        for name, data in saved[(p, c)].items()
    }
    assert "Restored checkpoint 4 from" in result.stdout
    # The old usage is unchanged.
    one = invoke("restore", url, "2", "--partition", "1", "--to", str(tmp_path / "one"))
    assert one.exit_code == 0, one.stderr
    assert (tmp_path / "one" / "1.log").read_bytes() == saved[(1, 2)]["1.log"]


def test_a_failing_chain_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    save_history(tmp_path / "store", tmp_path / "work")
    for path in (tmp_path / "store").rglob("1.log"):
        if "/2/4/" in str(path):  # partition 2, backup 4: restored last
            path.write_bytes(b"changed")
    url = (tmp_path / "store").as_uri()
    into = tmp_path / "data"
    result = invoke("restore", url, "--to", "2026-12-01T04:30:00Z", "--into", str(into))
    assert result.exit_code == 1
    assert "does not match what was saved" in result.stderr
    assert not into.exists()


def test_planning_reads_no_manifest_where_the_catalog_or_a_metadata_file_is_current(
    tmp_path: Path,
) -> None:
    save_history(tmp_path / "ours", tmp_path / "work")

    async def manifest_reads(root: Path) -> tuple[int, int]:
        async with FilesystemBackupStore(root) as base:
            counted = Counted()
            store = hooked(base, counted)
            planned = await plan(store, PlanRequest())
        reads = [
            r for r in counted.requests if r.operation == "get" and r.key.endswith("manifest.json")
        ]
        return planned.checkpoint_id, len(reads)

    assert asyncio.run(manifest_reads(tmp_path / "ours")) == (4, 0)  # our catalog is current

    async def zeebe_store(root: Path, with_metadata: bool) -> None:
        async with FilesystemBackupStore(root) as store:
            for partition, checkpoints in HISTORY.items():
                entries = []
                for checkpoint_id, (position, first) in checkpoints.items():
                    backup_id = BackupIdentifier(0, partition, checkpoint_id)
                    started = Manifest.in_progress(
                        backup_id,
                        descriptor(position, first, checkpoint_id),
                        (),
                        (),
                        Instant.parse_iso(T[checkpoint_id - 1]),
                    )
                    await place(store, started.completed(Instant.parse_iso(T[checkpoint_id - 1])))
                    entries.append(
                        {
                            "checkpointId": checkpoint_id,
                            "checkpointPosition": position,
                            "checkpointTimestamp": T[checkpoint_id - 1],
                            "checkpointType": "SCHEDULED_BACKUP",
                            "firstLogPosition": first,
                        }
                    )
                ranges = (
                    [{"start": 1, "end": 4}]
                    if partition == 1
                    else [{"start": 1, "end": 2}, {"start": 3, "end": 4}]
                )
                document = {
                    "partitionId": partition,
                    "sequenceNumber": 3,
                    "lastUpdated": T[4],
                    "checkpoints": entries,
                    "ranges": ranges,
                }
                if with_metadata:
                    key = partition_metadata_key(store.base_path, partition)
                    await store.io.put(key, json.dumps(document).encode())

    asyncio.run(zeebe_store(tmp_path / "zeebe", with_metadata=True))
    assert asyncio.run(manifest_reads(tmp_path / "zeebe")) == (4, 0)
    asyncio.run(zeebe_store(tmp_path / "bare", with_metadata=False))
    assert asyncio.run(manifest_reads(tmp_path / "bare")) == (4, 8)  # every manifest, once


def test_a_restore_cancelled_at_the_last_backup_removes_every_folder_it_made(
    tmp_path: Path,
) -> None:
    save_history(tmp_path / "store", tmp_path / "work")
    target = tmp_path / "data"
    target.mkdir()
    (target / "lost+found").mkdir()  # (what was there stays)

    async def cancel_at_the_last_backup(request: Request) -> None:
        if request.operation.startswith("download") and "contents/2/4/" in request.key:
            raise asyncio.CancelledError  # as Ctrl-C cancels the command's task

    async def restore() -> None:
        async with FilesystemBackupStore(tmp_path / "store") as base:
            counted = Counted()
            counted.also = cancel_at_the_last_backup
            store = hooked(base, counted)
            planned = await plan(store, PlanRequest())
            assert sum(len(c) for c in planned.chains.values()) == 6
            await restore_plan(store, planned, target)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(restore())
    assert sorted(p.name for p in target.rglob("*")) == ["lost+found"]


def test_restore_to_a_time_as_json_by_ids_and_its_usage_errors(tmp_path: Path) -> None:
    save_history(tmp_path / "store", tmp_path / "work")
    url = (tmp_path / "store").as_uri()
    into = tmp_path / "by-ids"
    result = invoke("restore", url, "--backup-ids", "3,4", "--into", str(into), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["plan"]["request"]["mode"] == "backup-ids"
    assert [
        (r["backupId"]["partitionId"], r["backupId"]["checkpointId"]) for r in document["restored"]
    ] == [(1, 3), (1, 4), (2, 3), (2, 4)]
    gap = invoke("restore", url, "--backup-ids", "2,3", "--into", str(tmp_path / "gap"))
    assert gap.exit_code == 1
    assert "error: partition 2: backup 3's log does not continue backup 2's (a gap)" in gap.stderr
    assert not (tmp_path / "gap").exists()
    mixed = invoke(
        "restore", url, "2", "--partition", "1", "--to", str(tmp_path / "x"), "--nearest"
    )
    assert mixed.exit_code == 2 and "leave out BACKUP_ID" in mixed.stderr
    no_folder = invoke("restore", url, "--to", "2026-12-01T04:30:00Z")
    assert no_folder.exit_code == 2 and "Missing argument 'BACKUP_ID'" in no_folder.stderr
    both = invoke("restore", "plan", url, "--to", "2026-12-01T04:30:00Z", "--backup-ids", "1")
    assert both.exit_code == 2 and "--backup-ids names the backups" in both.stderr
    bad_time = invoke("restore", "plan", url, "--to", "yesterday")
    assert bad_time.exit_code == 2 and "not an ISO-8601 time" in bad_time.stderr
    helped = invoke("restore", "plan", "--help")
    assert helped.stdout.startswith("Usage: main restore plan [OPTIONS] [STORE_URL]")
    assert "--nearest takes Zeebe's choice" in " ".join(helped.stdout.split())


def test_a_marker_from_the_metadata_file_is_restored_from_the_backup_after_it(
    tmp_path: Path,
) -> None:
    """Markers exist only in the broker's metadata file: checkpoint 3 (03:00) has no
    backup; the backup after it (4, whose log holds it) completes the chain."""
    history = {p: {1: (100, 1), 2: (200, 90), 4: (400, 190)} for p in (1, 2)}
    saved = save_history(tmp_path / "store", tmp_path / "work", history)

    async def write_metadata() -> None:
        async with FilesystemBackupStore(tmp_path / "store") as store:
            for partition in (1, 2):
                entries = [
                    {
                        "checkpointId": c,
                        "checkpointPosition": position,
                        "checkpointTimestamp": T[c - 1],
                        "checkpointType": "SCHEDULED_BACKUP",
                        "firstLogPosition": first,
                    }
                    for c, (position, first) in history[partition].items()
                ]
                entries.insert(
                    2,
                    {
                        "checkpointId": 3,
                        "checkpointPosition": 300,
                        "checkpointTimestamp": T[2],
                        "checkpointType": "MARKER",
                    },
                )
                document = {
                    "partitionId": partition,
                    "sequenceNumber": 7,
                    "lastUpdated": T[4],
                    "checkpoints": entries,
                    "ranges": [{"start": 1, "end": 4}],
                }
                key = partition_metadata_key(store.base_path, partition)
                await store.io.put(key, json.dumps(document).encode())

    asyncio.run(write_metadata())
    url = (tmp_path / "store").as_uri()
    text = invoke("restore", "plan", url, "--to", "2026-12-01T03:10:00Z")
    assert text.exit_code == 0, text.stderr
    assert text.stdout.splitlines()[:2] == [
        "Checkpoint 3 (2026-12-01T03:00:00Z): the latest common checkpoint at or before "
        "2026-12-01T03:10:00Z.",
        "  partition 1 (from the metadata file): 3 backups: 1, 2, 4",
    ]
    into = tmp_path / "data"
    restored = invoke("restore", url, "--to", "2026-12-01T03:10:00Z", "--into", str(into))
    assert restored.exit_code == 0, restored.stderr
    for partition in (1, 2):
        for checkpoint in (1, 2, 4):
            folder = chain_folder(into, partition, checkpoint)
            assert {f.name: f.read_bytes() for f in folder.iterdir()} == saved[
                (partition, checkpoint)
            ]


def test_a_chain_folder_that_exists_is_refused_and_nothing_else_is_written(
    tmp_path: Path,
) -> None:
    save_history(tmp_path / "store", tmp_path / "work")
    url = (tmp_path / "store").as_uri()
    into = tmp_path / "data"
    taken = chain_folder(into, 2, 3)
    taken.mkdir(parents=True)
    refused = invoke("restore", url, "--into", str(into))
    assert refused.exit_code == 1 and "refusing to restore into" in refused.stderr
    allowed = invoke("restore", url, "--into", str(into), "--allow-non-empty")
    assert allowed.exit_code == 1
    assert f"refusing to restore into {taken}: it exists already" in allowed.stderr
    assert [p for p in into.rglob("*") if p.is_file()] == []
    assert taken.is_dir()  # (what was there stays)
