"""Camunda 8.10's ``/v2/backups/runtime`` in ``serve``: every response checked against the
schemas of Camunda's own ``backups.yaml`` (``tests/api/camunda_v2/``, loaded as data)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import ValidationError

from backup_store import FilesystemBackupStore
from backup_store.api import create_app, openapi_document
from backup_store.cli.sample import generate_sample_data
from backup_store.engine import ObjectBackupStore
from backup_store.errors import StoreUnavailableError
from backup_store.format.instant import Instant
from backup_store.io import HookedIO, Request
from backup_store.service import BackupService, DirectorySource
from backup_store.service.clock import ManualClock
from backup_store.service.schedules import parse_schedule
from tests.support.camunda_v2 import CamundaV2
from tests.support.services import MemorySource, serving
from tests.support.zeebe_810 import COMPLETED, DELETED, place_810_store

RUNTIME = "/v2/backups/runtime"


@pytest.fixture(scope="module")
def camunda() -> CamundaV2:
    return CamundaV2()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    generate_sample_data(tmp_path / "data", 2, seed=3)
    return tmp_path / "data"


def test_the_schema_check_refuses_what_backups_yaml_forbids(camunda: CamundaV2) -> None:
    """The checker itself: a missing required field, a bad date, a null where none is
    allowed, an unknown state and an undocumented status all fail."""
    detail = {
        "partitionId": 1, "state": "COMPLETED", "failureReason": None,
        "createdAt": "2026-03-01T10:00:00Z", "lastUpdatedAt": None, "snapshotId": None,
        "firstLogPosition": None, "checkpointPosition": None, "brokerId": None,
        "brokerVersion": None,
    }  # fmt: skip
    info = {"backupId": 1, "state": "COMPLETED", "failureReason": None, "details": [detail]}
    camunda.validate(info, camunda.schema("BackupInfo"))
    for broken in (
        {k: v for k, v in info.items() if k != "failureReason"},
        {**info, "details": [{**detail, "createdAt": "yesterday"}]},
        {**info, "backupId": None},
        {**info, "state": "LOST"},
        {**info, "details": [{**detail, "checkpointPosition": 2**63}]},
    ):
        with pytest.raises(ValidationError):
            camunda.validate(broken, camunda.schema("BackupInfo"))
    with pytest.raises(AssertionError, match="not documented"):
        camunda.check(httpx.Response(418, json={}), "getRuntimeBackup")


def local_service(tmp_path: Path, data: Path) -> BackupService:
    """A service over a filesystem store (started by the app it is served by)."""
    return BackupService(FilesystemBackupStore(tmp_path / "store"), DirectorySource.discover(data))


@pytest.fixture
async def service(base_store: ObjectBackupStore, data: Path) -> AsyncIterator[BackupService]:
    async with BackupService(base_store, DirectorySource.discover(data)) as running:
        yield running


async def test_every_runtime_operation_answers_as_backups_yaml_documents(
    camunda: CamundaV2, service: BackupService
) -> None:
    async with serving(create_app(service)) as http:
        for backup_id in (5, 17, 170):
            taken = camunda.check(
                await http.post(RUNTIME, json={"backupId": backup_id}), "takeRuntimeBackup"
            )
            assert taken == {"backupId": backup_id}
        await service.wait_for_backups()
        for body in ({"backupId": 170}, {"backupId": 6}):  # equal, lower
            conflict = camunda.check(await http.post(RUNTIME, json=body), "takeRuntimeBackup")
            assert conflict["status"] == 409 and conflict["instance"] == RUNTIME
        for bad in (b"", b"{}", b'{"backupId": 0}', b"[1]", b"{"):
            json_type = {"content-type": "application/json"}
            refused = await http.post(RUNTIME, content=bad, headers=json_type)
            assert camunda.check(refused, "takeRuntimeBackup")["status"] == 400, bad

        listed = camunda.check(await http.get(RUNTIME), "listRuntimeBackups")
        assert [b["backupId"] for b in listed] == [170, 17, 5]
        prefixed = camunda.check(
            await http.get(RUNTIME, params={"prefix": "17*"}), "listRuntimeBackups"
        )
        assert [b["backupId"] for b in prefixed] == [170, 17]
        for prefix in ("17", "1*7", "a*"):
            bad_prefix = await http.get(RUNTIME, params={"prefix": prefix})
            assert camunda.check(bad_prefix, "listRuntimeBackups")["status"] == 400

        info = camunda.check(await http.get(f"{RUNTIME}/17"), "getRuntimeBackup")
        assert info["state"] == "COMPLETED" and info["failureReason"] is None
        assert [d["partitionId"] for d in info["details"]] == [1, 2]
        missing = camunda.check(await http.get(f"{RUNTIME}/18"), "getRuntimeBackup")
        assert missing["status"] == 404 and "18" in missing["detail"]

        state = camunda.check(await http.get(f"{RUNTIME}/state"), "getRuntimeBackupState")
        assert {(c["partitionId"], c["checkpointId"]) for c in state["checkpointStates"]} == {
            (1, 170), (2, 170)
        }
        assert [b["checkpointId"] for b in state["backupStates"]] == [170, 170]
        # Manifests of 8.7 record no first log position, which never starts a gap (Zeebe's
        # chain check): one range per partition, its end points without a partition id.
        ranges = [(r["partitionId"], r["start"]["checkpointId"], r["end"]["checkpointId"],
                   r["start"]["partitionId"]) for r in state["ranges"]]  # fmt: skip
        assert ranges == [(1, 5, 170, None), (2, 5, 170, None)]
        for response, operation in (
            (await http.delete(f"{RUNTIME}/state"), "deleteRuntimeBackupState"),
            (await http.post(f"{RUNTIME}/state/sync"), "syncRuntimeBackupState"),
        ):
            refused_state = camunda.check(response, operation)
            assert refused_state["status"] == 403
            assert "holds no broker runtime state" in refused_state["detail"]

        assert camunda.check(await http.delete(f"{RUNTIME}/17"), "deleteRuntimeBackup") is None
        gone = camunda.check(await http.get(f"{RUNTIME}/17"), "getRuntimeBackup")
        assert gone["status"] == 404
        for path_id in ("0", "abc", "9223372036854775808"):
            for response, operation in (
                (await http.get(f"{RUNTIME}/{path_id}"), "getRuntimeBackup"),
                (await http.delete(f"{RUNTIME}/{path_id}"), "deleteRuntimeBackup"),
            ):
                bad_id = camunda.check(response, operation, undocumented_as="InvalidData")
                assert bad_id["status"] == 400
        # The id stays used once deleted, as on the actuator.
        reused = camunda.check(await http.post(RUNTIME, json={"backupId": 17}), "takeRuntimeBackup")
        assert reused["status"] == 409
    assert set(camunda.operations()) <= {operation for operation, _ in camunda.seen}


async def test_history_backups_are_forbidden_as_without_elasticsearch(
    camunda: CamundaV2, tmp_path: Path, data: Path
) -> None:
    service = local_service(tmp_path, data)
    async with serving(create_app(service)) as http:
        for method, path, operation in (
            ("POST", "/v2/backups/history", "takeHistoryBackup"),
            ("GET", "/v2/backups/history", "listHistoryBackups"),
            ("GET", "/v2/backups/history/5", "getHistoryBackup"),
            ("DELETE", "/v2/backups/history/5", "deleteHistoryBackup"),
        ):
            kwargs: dict[str, Any] = {"json": {"backupId": 5}} if method == "POST" else {}
            body = camunda.check(await http.request(method, path, **kwargs), operation)
            assert body["status"] == 403 and "Elasticsearch" in body["detail"]
    assert set(camunda.operations("/backups/history")) <= {o for o, _ in camunda.seen}


async def test_a_store_that_cannot_be_reached_is_503_where_the_actuator_says_502(
    camunda: CamundaV2, tmp_path: Path, data: Path
) -> None:
    base = FilesystemBackupStore(tmp_path / "store")
    failing = False

    async def unreachable(request: Request) -> None:
        if failing:
            raise StoreUnavailableError("storage request failed: disk gone", key=request.key)

    store = ObjectBackupStore(
        HookedIO(base.io, unreachable), kind=base.kind, format=base.format, base_path=base.base_path
    )
    async with serving(create_app(BackupService(store, DirectorySource.discover(data)))) as http:
        failing = True
        for response, operation in (
            (await http.get(RUNTIME), "listRuntimeBackups"),
            (await http.get(f"{RUNTIME}/5"), "getRuntimeBackup"),
            (await http.get(f"{RUNTIME}/state"), "getRuntimeBackupState"),
            (await http.delete(f"{RUNTIME}/5"), "deleteRuntimeBackup"),
            (await http.post(RUNTIME, json={"backupId": 5}), "takeRuntimeBackup"),
        ):
            body = camunda.check(response, operation)
            assert body["status"] == 503 and "disk gone" in body["detail"], body
        actuator = await http.get("/actuator/backups/5")
        assert actuator.status_code == 502 and set(actuator.json()) == {"message"}


async def test_with_a_schedule_the_id_is_generated_and_a_supplied_one_is_400(
    camunda: CamundaV2, tmp_path: Path, data: Path
) -> None:
    clock = ManualClock(Instant.parse_iso("2099-12-08T01:30:00.250Z"))  # after every real createdAt
    service = local_service(tmp_path, data)
    app = create_app(service, backup_schedule=parse_schedule("PT1H"), clock=clock)
    async with serving(app) as http:
        supplied = camunda.check(
            await http.post(RUNTIME, json={"backupId": 5}), "takeRuntimeBackup"
        )
        assert supplied["status"] == 400 and "must be omitted" in supplied["detail"]
        generated = camunda.check(await http.post(RUNTIME), "takeRuntimeBackup")
        assert generated == {"backupId": clock.now().epoch_nanos // 1_000_000}
        # Asked again at the same instant: the next id above the stored one, never a reuse.
        again = camunda.check(await http.post(RUNTIME, json={}), "takeRuntimeBackup")
        assert again == {"backupId": generated["backupId"] + 1}
        await service.wait_for_backups()
        info = camunda.check(
            await http.get(f"{RUNTIME}/{generated['backupId']}"), "getRuntimeBackup"
        )
        assert info["state"] == "COMPLETED"


async def test_a_token_guards_v2_with_a_problem(
    camunda: CamundaV2, tmp_path: Path, data: Path
) -> None:
    service = local_service(tmp_path, data)
    async with serving(create_app(service, token="s3cret")) as http:
        refused = await http.get(RUNTIME)
        body = camunda.check(refused, "listRuntimeBackups")
        assert body["status"] == 401 and refused.headers["www-authenticate"] == "Bearer"
        allowed = await http.get(RUNTIME, headers={"Authorization": "Bearer s3cret"})
        assert camunda.check(allowed, "listRuntimeBackups") == []


async def test_an_810_store_shows_deleted_first_log_positions_and_partition_metadata(
    camunda: CamundaV2, tmp_path: Path, data: Path
) -> None:
    store = FilesystemBackupStore(tmp_path / "store")
    await place_810_store(store)
    metadata = {
        "partitionId": 1, "sequenceNumber": 3, "lastUpdated": "2026-03-02T08:00:00Z",
        "checkpoints": [
            {"checkpointId": 15, "checkpointPosition": 5015, "checkpointTimestamp":
             "2026-03-01T09:00:00Z", "checkpointType": "SCHEDULED_BACKUP",
             "firstLogPosition": 7, "numberOfPartitions": 3, "brokerVersion": "8.10.1"},
            {"checkpointId": 20, "checkpointPosition": 6000, "checkpointTimestamp":
             "2026-03-01T11:00:00Z", "checkpointType": "MARKER"},
        ],
        "ranges": [{"start": 12, "end": 15}],
    }  # fmt: skip
    await store.io.put("metadata/1/metadata.json", json.dumps(metadata).encode())
    service = BackupService(store, DirectorySource.discover(data))
    async with serving(create_app(service)) as http:
        deleted = camunda.check(
            await http.get(f"{RUNTIME}/{DELETED.checkpoint_id}"), "getRuntimeBackup"
        )
        assert deleted["state"] == "DELETED"
        completed = camunda.check(
            await http.get(f"{RUNTIME}/{COMPLETED.checkpoint_id}"), "getRuntimeBackup"
        )
        on_2 = next(d for d in completed["details"] if d["partitionId"] == 2)
        assert on_2["firstLogPosition"] == 1013 and on_2["brokerVersion"] == "8.10.1"
        assert next(d for d in completed["details"] if d["partitionId"] == 3) == {
            "partitionId": 3, "state": "DOES_NOT_EXIST", "failureReason": None,
            "createdAt": None, "lastUpdatedAt": None, "snapshotId": None,
            "firstLogPosition": None, "checkpointPosition": None, "brokerId": None,
            "brokerVersion": None,
        }  # fmt: skip

        state = camunda.check(await http.get(f"{RUNTIME}/state"), "getRuntimeBackupState")
    checkpoints = {c["partitionId"]: c for c in state["checkpointStates"]}
    # Partition 1: the metadata's marker 20 is its latest checkpoint; its backup is 15,
    # the manifest's values with the metadata's timestamp (the manifest has none).
    assert checkpoints[1]["checkpointId"] == 20 and checkpoints[1]["checkpointType"] == "MARKER"
    backups = {b["partitionId"]: b for b in state["backupStates"]}
    assert backups[1] == {
        "checkpointId": 15, "checkpointType": "SCHEDULED_BACKUP", "partitionId": 1,
        "checkpointPosition": 5015, "firstLogPosition": 0,
        "checkpointTimestamp": "2026-03-01T09:00:00Z",
    }  # fmt: skip
    # Partition 2: checkpoint 17 failed, 16 is DELETED: the latest backup is 15.
    assert checkpoints[2]["checkpointId"] == 17 and backups[2]["checkpointId"] == 15
    ranges = {(r["partitionId"], r["start"] and r["start"]["checkpointId"],
               r["end"] and r["end"]["checkpointId"]) for r in state["ranges"]}  # fmt: skip
    # The metadata's range of partition 1 (12 is described nowhere); partition 2's from
    # its manifests (its metadata file names partition 3: ignored).
    assert ranges == {(1, None, 15), (2, 15, 15)}
    assert all(r["end"] is None or r["end"]["partitionId"] is None for r in state["ranges"])


def test_the_served_document_has_camundas_operations_and_codes(camunda: CamundaV2) -> None:
    """Every ``/v2/backups`` operation of ``backups.yaml`` is in the served document, at
    its path, with its status codes; the one addition is 400 for a malformed path id."""
    for token in (False, True):
        served = openapi_document(token=token)["paths"]
        for operation_id, (method, path) in camunda.operations("/backups").items():
            ours = served["/v2" + path][method.lower()]
            assert ours["operationId"] == operation_id
            theirs = camunda.backups["paths"][path][method.lower()]["responses"]
            added = set(ours["responses"]) - set(theirs)
            assert added <= ({"400"} if "{backupId}" in path else set()), (operation_id, added)
            assert ("401" in ours["responses"]) == token
        v2_operations = {
            op["operationId"] for path, item in served.items() if path.startswith("/v2/")
            for op in item.values()
        }  # fmt: skip
        assert v2_operations == set(camunda.operations("/backups"))


async def test_unknown_v2_routes_and_methods_are_problems_too(
    camunda: CamundaV2, tmp_path: Path, data: Path
) -> None:
    async with serving(create_app(local_service(tmp_path, data))) as http:
        unknown = await http.get("/v2/backups/runtime/5/details")
        wrong = await http.put(RUNTIME)
        actuator = await http.get("/actuator/nothing")
    for response, status in ((unknown, 404), (wrong, 405)):
        assert response.headers["content-type"] == "application/problem+json"
        camunda.validate(response.json(), camunda.schema("ProblemDetail", "problem-detail.yaml"))
        assert response.json()["status"] == status
    assert "/v2/backups/runtime" in unknown.json()["detail"]
    assert actuator.json() == {
        "message": "No such resource: GET /actuator/nothing. "
        "The Backup Management API is at /actuator/backups."
    }


@pytest.mark.parametrize("metadata", [b"{not json", b'{"partitionId": 1, "other": 2}'])
async def test_damaged_partition_metadata_is_ignored(
    camunda: CamundaV2, tmp_path: Path, data: Path, metadata: bytes
) -> None:
    service = local_service(tmp_path, data)
    await service.store.io.put("metadata/1/metadata.json", metadata)
    async with serving(create_app(service)) as http:
        assert (await http.post(RUNTIME, json={"backupId": 3})).status_code == 202
        await service.wait_for_backups()
        state = camunda.check(await http.get(f"{RUNTIME}/state"), "getRuntimeBackupState")
    assert [(r["partitionId"], r["start"]["checkpointId"]) for r in state["ranges"]] == [
        (1, 3), (2, 3)
    ]  # fmt: skip


async def test_a_take_past_the_request_timeout_is_504(camunda: CamundaV2, tmp_path: Path) -> None:
    source = MemorySource(1, tmp_path)
    source.record_gate.clear()  # the checkpoint is recorded only once the test says so
    service = BackupService(FilesystemBackupStore(tmp_path / "store"), [source])
    async with serving(create_app(service, request_timeout=1.0)) as http:
        late = camunda.check(await http.post(RUNTIME, json={"backupId": 4}), "takeRuntimeBackup")
        assert late["status"] == 504 and "timeout" in late["detail"]
        source.record_gate.set()
        # The take went on once the partition answered, as on the actuator: the same id
        # again waits for it (one take at a time) and finds the id used.
        again = camunda.check(await http.post(RUNTIME, json={"backupId": 4}), "takeRuntimeBackup")
        assert again["status"] == 409
        info = camunda.check(await http.get(f"{RUNTIME}/4"), "getRuntimeBackup")
        assert info["state"] in ("IN_PROGRESS", "COMPLETED")
