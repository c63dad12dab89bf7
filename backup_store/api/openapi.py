"""The OpenAPI document of the Backup Management API, written out to match the server exactly.

It covers both APIs ``serve`` answers: Zeebe 8.7's ``/actuator/backups`` (here) and
Camunda 8.10's ``/v2/backups`` (:mod:`backup_store.api.openapi_v2`).

Written by hand rather than generated so that it states exactly what the
server does: ids as JSON integers or digit strings, optional fields omitted
(never ``null``), every error a ``{"message": ...}`` body.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from backup_store.api import openapi_v2
from backup_store.model import MAX_CHECKPOINT_ID

OPENAPI_PATH = "/actuator/backups/openapi.json"


def decimal_at_most(bound: int) -> str:
    """A regular expression (no anchors) for the decimal integers 1..``bound``, no leading zeros."""
    digits = str(bound)
    width = len(digits)
    alternatives = []
    if width > 1:
        alternatives.append(f"[1-9][0-9]{{0,{width - 2}}}")
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            top = int(digit) - 1
            rest = width - i - 1
            klass = f"[{low}-{top}]" if top > low else str(low)
            alternatives.append(digits[:i] + klass + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


BACKUP_ID_PATTERN = "^0*" + decimal_at_most(MAX_CHECKPOINT_ID) + "$"
"""A backup id written in decimal: 1 to 2^63-1, no sign (leading zeros allowed, as
Java's ``Long.parseLong`` allows them)."""
PATH_ID_PATTERN = "^(?:0*" + decimal_at_most(MAX_CHECKPOINT_ID) + r"|[0-9]*\*)$"
"""A path's ``{backupId}``: an id, or digits followed by ``*`` (a prefix, GET only)."""

_ISO = (
    "ISO-8601 UTC instant as Java's Instant.toString() prints it, with the precision the "
    "manifest holds"
)


def _message(description: str, example: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Message"},
                "example": {"message": example},
            }
        },
    }


_ERRORS: dict[str, dict[str, Any]] = {
    "400": _message(
        "The request is invalid (bad backupId), or backup is not enabled on this server.",
        "A backupId must be provided and it must be > 0",
    ),
    "500": _message("Any other error; the message gives the cause.", "Backup request failed: ..."),
    "502": _message(
        "The backup store or a partition could not be reached.",
        "The backup store could not be reached: ...",
    ),
    "504": _message(
        "The request could not be handled within the configured timeout.",
        "The request could not be handled within the configured timeout of 30 seconds.",
    ),
}


def _responses(ok: dict[str, Any], *extra: str, token: bool) -> dict[str, Any]:
    responses = dict(ok)
    for code in extra:
        responses[code] = _EXTRA[code]
    responses.update(_ERRORS)
    if token:
        responses["401"] = _message(
            "A valid bearer token is required.", "A valid bearer token is required."
        )
    return dict(sorted(responses.items()))


_EXTRA: dict[str, dict[str, Any]] = {
    "404": _message("No partition has a backup with this id.", "Backup with id 100 does not exist"),
    "409": _message(
        "The id is not greater than the latest backup id (completed, failed, in progress or "
        "deleted).",
        "Requested backup has ID 100. The latest backup has ID 200. The backup ID must be "
        "greater than the ID of previous backups that are completed, failed, or deleted.",
    ),
}

_STATE = ["COMPLETED", "FAILED", "IN_PROGRESS", "DELETED", "DOES_NOT_EXIST"]


def _schemas() -> dict[str, Any]:
    def detail(summary: bool) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "partitionId": {"type": "integer", "minimum": 1},
            "state": {"type": "string", "enum": _STATE},
            "failureReason": {"type": "string"},
            "createdAt": {"type": "string", "format": "date-time", "description": _ISO},
        }
        if not summary:
            properties |= {
                "lastUpdatedAt": {"type": "string", "format": "date-time", "description": _ISO},
                "snapshotId": {"type": "string"},
                "checkpointPosition": {"type": "integer", "format": "int64"},
                "brokerId": {"type": "integer", "minimum": 0},
                "zone": {"type": "string", "description": "The broker's zone (Zeebe 8.10+)."},
            }
        properties["brokerVersion"] = {"type": "string"}
        return {
            "type": "object",
            "description": "One partition's backup: the best copy among the nodes that hold one. "
            "A partition without the backup has only partitionId and state DOES_NOT_EXIST.",
            "required": ["partitionId", "state"],
            "properties": properties,
            "additionalProperties": False,
        }

    def info(details: str) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["backupId", "state", "details"],
            "properties": {
                "backupId": {"type": "integer", "format": "int64", "minimum": 1},
                "state": {
                    "type": "string",
                    "enum": ["COMPLETED", "FAILED", "INCOMPLETE", "IN_PROGRESS", "DELETED"],
                    "description": "Over the partitions' states, in this order: any DELETED → "
                    "DELETED (only by id: the list leaves such backups out); any FAILED → "
                    "FAILED; some have it and some not → INCOMPLETE; any IN_PROGRESS → "
                    "IN_PROGRESS; otherwise COMPLETED.",
                },
                "failureReason": {
                    "type": "string",
                    "description": "Only when FAILED: 'Backup on partition <p> failed due to "
                    "<reason>. ' for each failed partition.",
                },
                "details": {
                    "type": "array",
                    "description": "One entry per partition of the cluster, by partitionId.",
                    "items": {"$ref": f"#/components/schemas/{details}"},
                },
            },
            "additionalProperties": False,
        }

    return {
        "Message": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}},
            "additionalProperties": False,
        },
        "TakeBackupRequest": {
            "type": "object",
            "required": ["backupId"],
            "properties": {
                "backupId": {
                    "description": "The backup id: greater than every id taken before. "
                    "A JSON integer or a string of decimal digits.",
                    "oneOf": [
                        {
                            "type": "integer",
                            "format": "int64",
                            "minimum": 1,
                            "maximum": MAX_CHECKPOINT_ID,
                        },
                        {"type": "string", "pattern": BACKUP_ID_PATTERN},
                    ],
                }
            },
        },
        "PartitionBackupInfo": detail(summary=False),
        "PartitionBackupSummary": detail(summary=True),
        "BackupInfo": info("PartitionBackupInfo"),
        "BackupSummary": info("PartitionBackupSummary"),
    }


def _example_details(summary: bool) -> list[dict[str, Any]]:
    out = []
    for partition, created, updated, snapshot, position in (
        (1, "2022-12-08T13:00:55.344276672Z", "2022-12-08T13:00:55.805351556Z", "2-1-3-2", 5),
        (2, "2022-12-08T13:00:55.370965069Z", "2022-12-08T13:00:55.84756566Z", "3-1-5-3", 7),
    ):
        detail: dict[str, Any] = {
            "partitionId": partition,
            "state": "COMPLETED",
            "createdAt": created,
        }
        if not summary:
            detail |= {
                "lastUpdatedAt": updated,
                "snapshotId": snapshot,
                "checkpointPosition": position,
                "brokerId": 0,
            }
        detail["brokerVersion"] = "8.7.0"
        out.append(detail)
    return out


def openapi_document(*, token: bool = False, scheduled: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.0 document; ``token`` adds the bearer scheme and 401 responses;
    ``scheduled`` (a backup schedule is configured) makes ``/v2`` generate backup ids."""
    try:
        version = metadata.version("backup-store")
    except metadata.PackageNotFoundError:  # pragma: no cover (source checkout)
        version = "0"
    id_or_prefix = {
        "name": "backupId",
        "in": "path",
        "required": True,
        "description": "A backup id, or a decimal prefix followed by '*' (10* lists 10, 100, "
        "101, ...).",
        "schema": {"type": "string", "pattern": PATH_ID_PATTERN},
        "example": "100",
    }
    backup_id = {
        "name": "backupId",
        "in": "path",
        "required": True,
        "description": "A backup id.",
        "schema": {"type": "string", "pattern": BACKUP_ID_PATTERN},
        "example": "100",
    }
    listed_schema = {"type": "array", "items": {"$ref": "#/components/schemas/BackupSummary"}}
    listed = {
        "description": "Backups, highest backupId first; [] when there are none.",
        "content": {
            "application/json": {
                "schema": listed_schema,
                "example": [
                    {
                        "backupId": 100,
                        "state": "COMPLETED",
                        "details": _example_details(summary=True),
                    }
                ],
            }
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Backup Management API",
            "version": version,
            "description": "Zeebe 8.7's Backup Management API, served by `backup-store serve`. "
            'Every error body is {"message": ...}. Optional fields are omitted, never null. '
            "Beside it, Camunda 8.10's runtime backup API under /v2/backups: errors are "
            "application/problem+json, absent values null.",
        },
        "paths": {
            "/actuator/backups": {
                "post": {
                    "operationId": "takeBackup",
                    "summary": "Take a backup of every partition",
                    "description": "202 once every partition has recorded the checkpoint; "
                    "the backup runs in the background (see GET).",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/TakeBackupRequest"},
                                "example": {"backupId": "100"},
                            }
                        },
                    },
                    "responses": _responses(
                        {
                            "202": _message(
                                "The backup is scheduled.",
                                "A backup with id 100 has been scheduled. Use GET "
                                "actuator/backups/100 to monitor the status.",
                            )
                        },
                        "409",
                        token=token,
                    ),
                },
                "get": {
                    "operationId": "listBackups",
                    "summary": "List every backup",
                    "responses": _responses({"200": listed}, token=token),
                },
            },
            "/actuator/backups/{backupId}": {
                "get": {
                    "operationId": "getBackup",
                    "parameters": [id_or_prefix],
                    "summary": "Get one backup, or list the ids with a prefix ('10*')",
                    "responses": _responses(
                        {
                            "200": {
                                "description": "The backup (for an id), or the list of backups "
                                "whose ids start with the prefix (for 'digits*').",
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "oneOf": [
                                                {"$ref": "#/components/schemas/BackupInfo"},
                                                listed_schema,
                                            ]
                                        },
                                        "example": {
                                            "backupId": 100,
                                            "state": "COMPLETED",
                                            "details": _example_details(summary=False),
                                        },
                                    }
                                },
                            }
                        },
                        "404",
                        token=token,
                    ),
                },
                "delete": {
                    "operationId": "deleteBackup",
                    "parameters": [backup_id],
                    "summary": "Delete a backup on every partition",
                    "description": "In-progress partition backups are marked FAILED first. "
                    "The id stays used. A backup that does not exist is a success.",
                    "responses": _responses(
                        {"204": {"description": "Deleted, or did not exist."}}, token=token
                    ),
                },
            },
            **openapi_v2.paths(token=token, scheduled=scheduled),
        },
        "components": {"schemas": {**_schemas(), **openapi_v2.schemas(scheduled=scheduled)}},
    }
    if token:
        document["components"]["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer"}
        }
        document["security"] = [{"bearerAuth": []}]
    return document
