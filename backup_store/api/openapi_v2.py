"""The ``/v2/backups`` part of the served OpenAPI document (:mod:`backup_store.api.runtime_v2`).

Written out to state what this server answers: Camunda 8.10's operations, schema
names and fields, plus what it adds (400 for a malformed path id, 403 for the
operations on a broker's runtime state and for history backups, 401 with a token).
"""

from __future__ import annotations

from typing import Any

from backup_store.api.runtime_v2 import HISTORY_PATH, RUNTIME_PATH
from backup_store.model import MAX_CHECKPOINT_ID

_REF = "#/components/schemas/"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": _REF + "ProblemDetail"}}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_CODES = {
    "400": "The request is invalid: a malformed body, id or prefix, or an id given (or "
    "missing) against the backup schedule.",
    "403": "Not served here (the detail says why).",
    "404": "No partition has a backup with this id.",
    "409": "A backup with the same or a higher id already exists.",
    "500": "Any other error; the detail gives the cause.",
    "503": "The backup store or a partition could not be reached, or backup is not enabled.",
    "504": "The request could not be handled within the configured timeout.",
}


def _operation(
    operation_id: str, summary: str, ok: dict[str, Any], codes: str, token: bool
) -> dict[str, Any]:
    responses = dict(ok)
    for code in codes.split():
        responses[code] = _problem(_CODES[code])
    if token:
        responses["401"] = _problem("A valid bearer token is required.")
    ordered = dict(sorted(responses.items()))
    return {"operationId": operation_id, "summary": summary, "responses": ordered}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


_INT64 = {"type": "integer", "format": "int64"}
_BACKUP_ID = {**_INT64, "minimum": 1, "maximum": MAX_CHECKPOINT_ID}
_DATE = {"type": "string", "format": "date-time"}
_STATES = ["DOES_NOT_EXIST", "IN_PROGRESS", "COMPLETED", "FAILED", "INCOMPLETE", "DELETED"]


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [name for name in properties if name not in optional]
    if required:  # OpenAPI 3.0 refuses an empty list
        schema["required"] = required
    return schema


def _backup_state(partition: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {
            "checkpointId": {**_INT64, "minimum": 0},
            "checkpointType": {"type": "string", "enum": ["MANUAL_BACKUP", "SCHEDULED_BACKUP"]},
            "partitionId": partition,
            "checkpointPosition": _INT64,
            "firstLogPosition": {**_INT64, "description": "-1 where unknown."},
            "checkpointTimestamp": _DATE,
        }
    )


def _take_request(scheduled: bool) -> dict[str, Any]:
    """The id is required without a schedule, and must be omitted (or null) with one."""
    if scheduled:
        omitted = {"type": "integer", "nullable": True, "enum": [None]}
        return _object({"backupId": omitted}, optional=("backupId",))
    return _object({"backupId": _BACKUP_ID})


def schemas(*, scheduled: bool) -> dict[str, Any]:
    """The ``/v2`` component schemas (names as Camunda's, ``Runtime``-prefixed where the
    actuator has one of the same name); ``scheduled``: a backup schedule is configured."""
    partition = {"type": "integer", "format": "int32", "minimum": 1}
    return {
        "ProblemDetail": _object(
            {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
            }
        ),
        "TakeRuntimeBackupRequest": _take_request(scheduled),
        "TakeRuntimeBackupResponse": _object({"backupId": _BACKUP_ID}),
        "RuntimePartitionBackupInfo": _object(
            {
                "partitionId": partition,
                "state": {"type": "string", "enum": _STATES},
                "failureReason": _nullable({"type": "string"}),
                "createdAt": _nullable(_DATE),
                "lastUpdatedAt": _nullable(_DATE),
                "snapshotId": _nullable({"type": "string"}),
                "firstLogPosition": _nullable(_INT64),
                "checkpointPosition": _nullable(_INT64),
                "brokerId": _nullable({"type": "integer", "format": "int32", "minimum": 0}),
                "brokerVersion": _nullable({"type": "string"}),
            }
        ),
        "RuntimeBackupInfo": _object(
            {
                "backupId": _BACKUP_ID,
                "state": {"type": "string", "enum": _STATES},
                "failureReason": _nullable({"type": "string"}),
                "details": {
                    "type": "array",
                    "items": {"$ref": _REF + "RuntimePartitionBackupInfo"},
                },
            }
        ),
        "PartitionCheckpointState": _object(
            {
                "checkpointId": {**_INT64, "minimum": 0},
                "checkpointType": {
                    "type": "string",
                    "enum": ["MARKER", "SCHEDULED_BACKUP", "MANUAL_BACKUP"],
                },
                "partitionId": partition,
                "checkpointPosition": _INT64,
                "checkpointTimestamp": _DATE,
            }
        ),
        "PartitionBackupState": _backup_state(partition),
        "PartitionBackupRangeEnd": _nullable(_backup_state(_nullable(partition))),
        "PartitionBackupRange": _object(
            {
                "partitionId": partition,
                "start": {"$ref": _REF + "PartitionBackupRangeEnd"},
                "end": {"$ref": _REF + "PartitionBackupRangeEnd"},
            }
        ),
        "RuntimeBackupState": _object(
            {
                name: {"type": "array", "items": {"$ref": _REF + item}}
                for name, item in (
                    ("checkpointStates", "PartitionCheckpointState"),
                    ("backupStates", "PartitionBackupState"),
                    ("ranges", "PartitionBackupRange"),
                )
            }
        ),
    }


def paths(*, token: bool, scheduled: bool) -> dict[str, Any]:
    """The ``/v2/backups`` paths; ``token`` adds 401 to every operation; ``scheduled``
    (a backup schedule is configured) makes the body of a take optional."""
    info = {"$ref": _REF + "RuntimeBackupInfo"}
    state = _json("The state, read from the store.", {"$ref": _REF + "RuntimeBackupState"})
    backup_id = {
        "name": "backupId", "in": "path", "required": True, "schema": _BACKUP_ID,
    }  # fmt: skip
    prefix = {
        "name": "prefix", "in": "query", "required": False,
        "schema": {"type": "string", "pattern": r"^[0-9]*\*$"},
        "description": "Digits followed by a single '*': only ids starting with them.",
    }  # fmt: skip
    refused = "403"
    take = _operation(
        "takeRuntimeBackup", "Take a backup of every partition",
        {"202": _json("Scheduled.", {"$ref": _REF + "TakeRuntimeBackupResponse"})},
        "400 409 500 503 504", token,
    )  # fmt: skip
    take["requestBody"] = {
        "required": not scheduled,
        "content": {"application/json": {"schema": {"$ref": _REF + "TakeRuntimeBackupRequest"}}},
    }
    listed = _operation(
        "listRuntimeBackups", "List backups, highest id first",
        {"200": _json("Backups.", {"type": "array", "items": info})}, "400 500 503", token,
    )  # fmt: skip
    listed["parameters"] = [prefix]
    get = _operation(
        "getRuntimeBackup", "Get one backup", {"200": _json("The backup.", info)},
        "400 404 500 503", token,
    )  # fmt: skip
    delete = _operation(
        "deleteRuntimeBackup", "Delete a backup on every partition",
        {"204": {"description": "Deleted, or did not exist."}}, "400 500 503", token,
    )  # fmt: skip
    get["parameters"] = delete["parameters"] = [backup_id]
    history = [
        _operation(name, "History backups are not served here (403).", {}, refused, token)
        for name in ("takeHistoryBackup", "listHistoryBackups", "getHistoryBackup",
                     "deleteHistoryBackup")
    ]  # fmt: skip
    history[2]["parameters"] = history[3]["parameters"] = [backup_id]
    no_state = "Refused: this server holds no broker runtime state"
    return {
        RUNTIME_PATH: {"post": take, "get": listed},
        f"{RUNTIME_PATH}/state": {
            "get": _operation(
                "getRuntimeBackupState", "Checkpoints, backups and ranges", {"200": state},
                "500 503", token,
            ),
            "delete": _operation("deleteRuntimeBackupState", no_state, {}, refused, token),
        },
        f"{RUNTIME_PATH}/state/sync": {
            "post": _operation("syncRuntimeBackupState", no_state, {}, refused, token),
        },
        RUNTIME_PATH + "/{backupId}": {"get": get, "delete": delete},
        HISTORY_PATH: {"post": history[0], "get": history[1]},
        HISTORY_PATH + "/{backupId}": {"get": history[2], "delete": history[3]},
    }
