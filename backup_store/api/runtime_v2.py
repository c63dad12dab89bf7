"""Camunda 8.10's runtime backup API, ``/v2/backups/runtime``, over the same :class:`BackupService`.

The operations and bodies are those of Camunda's ``backups.yaml`` (8.10); the
service underneath is the one the actuator (:mod:`backup_store.api.app`) uses, so
both APIs share one id rule, one aggregation and the optional bearer token.
Where the two differ:

* every error is ``application/problem+json`` (RFC 9457: ``type``, ``title``,
  ``status``, ``detail``, ``instance``);
* an unreachable store or partition is 503 (the actuator's 502: the schema has none);
* every field of ``BackupInfo`` and ``PartitionBackupInfo`` is present, ``null``
  where there is no value;
* with a backup schedule configured, ``POST`` takes no id and generates one as the
  scheduler does (:func:`~backup_store.service.schedules.take_backup_at`);
* ``GET /state`` reads the store (:mod:`backup_store.service.runtime_state`);
  ``DELETE /state`` and ``POST /state/sync`` act on a broker's runtime state, which
  this service does not hold: 403, as the schema answers a cluster that cannot
  serve an operation (its history endpoints without Elasticsearch), never 503
  (retrying would not help) or 500 (nothing failed);
* the history-backup endpoints (Elasticsearch snapshots) answer 403 as for a
  cluster without Elasticsearch.

A path id that is not 1..2^63-1 is 400, as Camunda's gateway answers it.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backup_store.aggregate import BackupInfo, BackupState, PartitionBackupInfo
from backup_store.api.shared import (
    INVALID_BACKUP_ID,
    Action,
    Refused,
    error_status,
    is_json,
    parse_backup_id,
    run_action,
)
from backup_store.errors import InvalidInputError
from backup_store.format.instant import Instant
from backup_store.model import CheckpointType, parse_checkpoint_id
from backup_store.service.clock import Clock
from backup_store.service.runtime_state import (
    CheckpointInfo,
    PartitionRuntimeState,
    read_runtime_state,
)
from backup_store.service.schedules import Schedule, take_backup_at
from backup_store.service.service import BackupService

V2_PREFIX = "/v2/"
RUNTIME_PATH = "/v2/backups/runtime"
HISTORY_PATH = "/v2/backups/history"
PROBLEM_JSON = "application/problem+json"

NO_RUNTIME_STATE = (
    "This server holds no broker runtime state: it serves backups from the backup store, "
    "and a broker's checkpoint state can only be reset or written by the broker itself."
)
NO_HISTORY = (
    "History backups are not available: this server backs up runtime data (Zeebe "
    "partitions) only, and has no Elasticsearch or OpenSearch secondary storage."
)
_PREFIX = re.compile(r"[0-9]*\*")


def is_v2(path: str) -> bool:
    """Whether ``path`` belongs to the ``/v2`` API (its errors are problem+json)."""
    return path.startswith(V2_PREFIX)


def problem(
    status: int, detail: str, path: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An RFC 9457 problem response (``type`` ``about:blank``, the status phrase as title)."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": quote(path, safe="/-._~!$&'()*+,;=:@"),
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _serve(request: Request, action: Action, *, timeout_status: int = 503) -> Response:
    """Run ``action`` on the service under the request timeout; errors become problems.

    No store configured is 503: every operation of the schema has 503, not all have 400.
    """
    try:
        return await run_action(request, action, disabled_status=503)
    except Exception as error:
        status, detail = error_status(error, request.app.state.request_timeout)
        if status in (502, 504):
            status = 503 if status == 502 else timeout_status
        return problem(status, detail, request.url.path)


# ---------------------------------------------------------------- bodies


def _iso(instant: Instant | None) -> str | None:
    return instant.iso() if instant is not None else None


def partition_backup_json(detail: PartitionBackupInfo) -> dict[str, Any]:
    """``PartitionBackupInfo``: every field, ``null`` where there is no value."""
    return {
        "partitionId": detail.partition_id,
        "state": detail.state.value,
        "failureReason": detail.failure_reason,
        "createdAt": _iso(detail.created_at),
        "lastUpdatedAt": _iso(detail.last_updated_at),
        "snapshotId": detail.snapshot_id,
        "firstLogPosition": detail.first_log_position,
        "checkpointPosition": detail.checkpoint_position,
        "brokerId": detail.broker_id,
        "brokerVersion": detail.broker_version,
    }


def backup_info_json(info: BackupInfo) -> dict[str, Any]:
    """``BackupInfo``: every field, ``failureReason`` ``null`` unless FAILED."""
    return {
        "backupId": info.backup_id,
        "state": info.state.value,
        "failureReason": info.failure_reason,
        "details": [partition_backup_json(d) for d in info.details],
    }


def _backup_state_json(info: CheckpointInfo, partition_id: int | None) -> dict[str, Any] | None:
    """``PartitionBackupState``; ``None`` for a marker (not a backup: no backup type)."""
    if info.checkpoint_type is CheckpointType.MARKER:
        return None
    return {
        "checkpointId": info.checkpoint_id,
        "checkpointType": info.checkpoint_type.value,
        "partitionId": partition_id,
        "checkpointPosition": info.checkpoint_position,
        "firstLogPosition": info.first_log_position,
        "checkpointTimestamp": info.checkpoint_timestamp.iso(),
    }


def runtime_state_json(states: list[PartitionRuntimeState]) -> dict[str, Any]:
    """``RuntimeBackupState``: per partition its latest checkpoint, latest backup and
    backup ranges (a range's end points carry ``partitionId`` ``null``, as Camunda's)."""
    checkpoints = [
        {
            "checkpointId": s.checkpoint.checkpoint_id,
            "checkpointType": s.checkpoint.checkpoint_type.value,
            "partitionId": s.partition_id,
            "checkpointPosition": s.checkpoint.checkpoint_position,
            "checkpointTimestamp": s.checkpoint.checkpoint_timestamp.iso(),
        }
        for s in states
        if s.checkpoint is not None
    ]
    backups = [
        _backup_state_json(s.backup, s.partition_id) for s in states if s.backup is not None
    ]
    ranges = [
        {
            "partitionId": s.partition_id,
            "start": _backup_state_json(r.start, None) if r.start is not None else None,
            "end": _backup_state_json(r.end, None) if r.end is not None else None,
        }
        for s in states
        for r in s.ranges
    ]
    return {
        "checkpointStates": checkpoints,
        "backupStates": [b for b in backups if b is not None],
        "ranges": ranges,
    }


def parse_take_body(body: bytes, content_type: str) -> int | None:
    """The ``backupId`` of a ``POST /v2/backups/runtime`` body; ``None`` when omitted
    (no body, ``{}`` or ``{"backupId": null}``).

    Raises:
        InvalidInputError: not a JSON object, or an id that is not 1..2^63-1.
    """
    if not body.strip():
        return None
    if not is_json(content_type):
        raise InvalidInputError("The request body must be JSON (Content-Type: application/json).")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInputError(
            'The request body is not valid JSON (expected for example {"backupId": 100}).'
        ) from None
    if not isinstance(document, dict):
        raise InvalidInputError('The request body must be a JSON object such as {"backupId": 100}.')
    value = document.get("backupId")
    return None if value is None else parse_backup_id(value)


def _path_id(request: Request) -> int:
    text: str = request.path_params["backup_id"]
    try:
        return parse_checkpoint_id(text)
    except InvalidInputError:
        shown = text if len(text) <= 40 else f"{text[:12]}...{text[-12:]}"
        raise Refused(
            400, f"{shown!r} is not a backup id (an integer from 1 to 9223372036854775807)"
        ) from None


# ---------------------------------------------------------------- endpoints


async def runtime_backups(request: Request) -> Response:
    """``POST`` (take) and ``GET`` (list, optionally ``?prefix=17*``) ``/v2/backups/runtime``."""
    if request.method == "POST":
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        schedule: Schedule | None = request.app.state.backup_schedule
        clock: Clock = request.app.state.clock

        async def take(service: BackupService) -> Response:
            backup_id = parse_take_body(body, content_type)
            if schedule is not None:
                if backup_id is not None:
                    raise InvalidInputError(
                        f"backupId must be omitted: backups are scheduled ({schedule.text}), "
                        "so this server generates the id."
                    )
                backup_id = await take_backup_at(service, clock.now())
            elif backup_id is None:
                raise InvalidInputError(
                    f"{INVALID_BACKUP_ID} (no backup schedule is configured, so ids are not "
                    "generated)."
                )
            else:
                await service.take_backup(backup_id)
            return JSONResponse({"backupId": backup_id}, status_code=202)

        return await _serve(request, take, timeout_status=504)

    async def list_backups(service: BackupService) -> Response:
        prefix = request.query_params.get("prefix")
        if prefix is not None and not _PREFIX.fullmatch(prefix):
            raise InvalidInputError(
                f"prefix {prefix!r} must be decimal digits followed by a single '*', such as 17*"
            )
        infos = await service.list_backups((prefix or "").removesuffix("*"))
        return JSONResponse([backup_info_json(info) for info in infos])

    return await _serve(request, list_backups)


async def runtime_backup(request: Request) -> Response:
    """``GET`` and ``DELETE /v2/backups/runtime/{backupId}``."""

    async def get(service: BackupService) -> Response:
        backup_id = _path_id(request)
        info = await service.get_backup(backup_id)
        if info.state is BackupState.DOES_NOT_EXIST:
            raise Refused(404, f"Backup with id {backup_id} does not exist")
        return JSONResponse(backup_info_json(info))

    async def delete(service: BackupService) -> Response:
        await service.delete_backup(_path_id(request))
        return Response(status_code=204)

    return await _serve(request, delete if request.method == "DELETE" else get)


async def runtime_state(request: Request) -> Response:
    """``GET /v2/backups/runtime/state``; ``DELETE`` is refused (see the module)."""
    if request.method == "DELETE":
        return problem(403, NO_RUNTIME_STATE, request.url.path)

    async def read(service: BackupService) -> Response:
        states = await read_runtime_state(service.store, service.partition_count)
        return JSONResponse(runtime_state_json(states))

    return await _serve(request, read)


async def runtime_state_sync(request: Request) -> Response:
    """``POST /v2/backups/runtime/state/sync``: refused (see the module)."""
    return problem(403, NO_RUNTIME_STATE, request.url.path)


async def history_backups(request: Request) -> Response:
    """Every history-backup operation: 403, as for a cluster without Elasticsearch."""
    return problem(403, NO_HISTORY, request.url.path)


ROUTES = [
    Route(RUNTIME_PATH, runtime_backups, methods=["GET", "POST"]),
    Route(f"{RUNTIME_PATH}/state", runtime_state, methods=["GET", "DELETE"]),
    Route(f"{RUNTIME_PATH}/state/sync", runtime_state_sync, methods=["POST"]),
    Route(RUNTIME_PATH + "/{backup_id}", runtime_backup, methods=["GET", "DELETE"]),
    Route(HISTORY_PATH, history_backups, methods=["GET", "POST"]),
    Route(HISTORY_PATH + "/{backup_id}", history_backups, methods=["GET", "DELETE"]),
]
"""The ``/v2`` routes, for :func:`backup_store.api.app.create_app`."""
