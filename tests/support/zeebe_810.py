"""A store as a Camunda 8.10 broker leaves it: COMPLETED, FAILED and DELETED backups in
zone-qualified node folders, a partition metadata file and range markers, placed at
Zeebe's keys with the bytes Zeebe's classes wrote (``tests/format/zeebe_matrix``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from backup_store import BackupIdentifier
from backup_store.engine import ObjectBackupStore

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


async def place_810_store(store: ObjectBackupStore) -> None:
    """COMPLETED, DELETED, FAILED and PLAIN in ``store``, with their files and partition 2's
    metadata (which names partition 3) and range markers."""
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
