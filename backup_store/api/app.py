"""The Backup Management API as an ASGI (Starlette) app over a :class:`BackupService`.

This module only maps HTTP to the service: it parses ids, calls the service
under the request timeout and turns results and errors into the status codes
and bodies of ``management-api.md``:

=============================================  =====
error                                           code
=============================================  =====
invalid id or body, backups not enabled         400
missing or wrong bearer token                   401
backup id does not exist (GET)                  404
unknown route                                   404
wrong method                                    405
id not greater than the latest one              409
store or partition source unreachable           502
request timeout exceeded                        504
anything else                                   500
=============================================  =====

Every error body is ``{"message": ...}``; no response ever carries a stack trace.
The app also serves Camunda 8.10's ``/v2/backups`` routes of
:mod:`backup_store.api.runtime_v2` over the same service (their errors, 401, 404
and 405 included, are problem+json).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

from starlette.applications import Starlette
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backup_store.aggregate import BackupInfo, BackupState
from backup_store.api.health import (
    HEALTH_PATH,
    HEALTH_PATHS,
    LIVENESS_PATH,
    READINESS_PATH,
    StoreHealth,
    health,
    liveness,
    readiness,
)
from backup_store.api.openapi import OPENAPI_PATH, openapi_document
from backup_store.api.prometheus import PROMETHEUS_PATH, prometheus
from backup_store.api.runtime_v2 import ROUTES as V2_ROUTES
from backup_store.api.runtime_v2 import is_v2, problem
from backup_store.api.shared import (
    INVALID_BACKUP_ID,
    NOT_ENABLED,
    UNAUTHORIZED,
    Action,
    Refused,
    error_status,
    is_json,
    parse_backup_id,
    run_action,
)
from backup_store.errors import InvalidInputError
from backup_store.model import parse_checkpoint_id, parse_checkpoint_pattern
from backup_store.service.clock import Clock, SystemClock
from backup_store.service.metrics import BackupMetrics
from backup_store.service.schedules import Schedule
from backup_store.service.service import BackupService

log = logging.getLogger("backup_store.api")

DEFAULT_REQUEST_TIMEOUT = 30.0
"""Seconds a request may take before the API answers 504."""

COLLECTION_PATHS = ("/actuator/backups", "/actuator/backups/")

ServiceFactory = Callable[[], AbstractAsyncContextManager[BackupService | None]]
"""Makes, in the server's event loop, the service to serve (``None``: backups not enabled)."""


class _AnyText(PathConvertor):
    """Any rest of the path, newlines included: every text there is an id, valid or not (400)."""

    regex = r"[\s\S]*"


register_url_convertor("backup_store_any", _AnyText())


def message(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error (or 202) response: ``{"message": text}``."""
    return JSONResponse({"message": text}, status_code=status, headers=headers)


def parse_take_backup_body(body: bytes) -> int:
    """The backup id of a ``POST /actuator/backups`` body.

    Raises:
        InvalidInputError: malformed JSON, not an object, or a missing or invalid id.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInputError(
            f"{INVALID_BACKUP_ID}: the request body is not valid JSON "
            '(expected for example {"backupId": 100})'
        ) from None
    if not isinstance(document, dict):
        raise InvalidInputError(INVALID_BACKUP_ID)
    return parse_backup_id(document.get("backupId"))


def _bad_path_id(text: str, allowed: str = "") -> Refused:
    shown = text if len(text) <= 40 else f"{text[:12]}...{text[-12:]}"
    return Refused(
        400,
        f"{INVALID_BACKUP_ID}: {shown!r} is not a backup id (an integer from 1 to "
        f"9223372036854775807{allowed})",
    )


def _path_id(text: str) -> int:
    try:
        return parse_checkpoint_id(text)
    except InvalidInputError:
        raise _bad_path_id(text) from None


def _path_id_or_prefix(text: str) -> int | str:
    """A path's backup id, or the digits of a ``digits*`` prefix."""
    try:
        target = parse_checkpoint_pattern(text)
    except InvalidInputError:
        raise _bad_path_id(text, " or a prefix such as 10*") from None
    return target.removesuffix("*") if isinstance(target, str) else target


async def _serve(request: Request, action: Action) -> Response:
    """Run ``action`` on the service under the request timeout; map errors to responses."""
    try:
        return await run_action(request, action, disabled_status=400)
    except Exception as error:
        return message(*error_status(error, request.app.state.request_timeout))


# ---------------------------------------------------------------- endpoints


async def backups(request: Request) -> Response:
    """``POST /actuator/backups`` (take) and ``GET /actuator/backups`` (list)."""
    path: str = request.scope["path"]
    if path not in COLLECTION_PATHS:
        # Starlette's route regex ends in `$`, which also matches before a final
        # newline: "/actuator/backups/\n" is a bad id, not the list.
        return message(400, _bad_path_id(path.removeprefix(COLLECTION_PATHS[1])).message)
    if request.method == "POST":
        if not is_json(request.headers.get("content-type", "")):
            return message(
                400,
                f"{INVALID_BACKUP_ID}: the request body must be JSON (Content-Type: "
                "application/json)",
            )
        body = await request.body()

        async def take(service: BackupService) -> Response:
            backup_id = parse_take_backup_body(body)
            await service.take_backup(backup_id)
            return message(
                202,
                f"A backup with id {backup_id} has been scheduled. Use GET "
                f"actuator/backups/{backup_id} to monitor the status.",
            )

        return await _serve(request, take)

    async def list_all(service: BackupService) -> Response:
        return _list_bodies(request).response(await service.list_backups())

    return await _serve(request, list_all)


async def backup(request: Request) -> Response:
    """``GET`` (one backup, or a ``10*`` prefix list) and ``DELETE /actuator/backups/{id}``."""
    text: str = request.path_params["backup_id"]
    deleting = request.method == "DELETE"

    async def get(service: BackupService) -> Response:
        target = _path_id_or_prefix(text)
        if isinstance(target, str):
            return _list_bodies(request).response(await service.list_backups(target))
        info = await service.get_backup(target)
        if info.state is BackupState.DOES_NOT_EXIST:
            return message(404, f"Backup with id {target} does not exist")
        return JSONResponse(info.to_json())

    async def delete(service: BackupService) -> Response:
        await service.delete_backup(_path_id(text))
        return Response(status_code=204)

    return await _serve(request, delete if deleting else get)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


class _ListBodies:
    """The JSON body of each list result, rendered once.

    Identical concurrent list requests share one result (the service's fresh
    shared reads hand every waiter the same list object); rendering thousands of
    backups again for each of them would cost more than reading the store.
    Matched by identity, so a body never outlives the result it was made from.
    """

    def __init__(self, keep: int = 4) -> None:
        self._recent: deque[tuple[list[BackupInfo], bytes]] = deque(maxlen=keep)

    def response(self, infos: list[BackupInfo]) -> Response:
        body = next((b for known, b in self._recent if known is infos), None)
        if body is None:
            body = bytes(JSONResponse([info.to_json(summary=True) for info in infos]).body)
            self._recent.append((infos, body))
        return Response(body, media_type="application/json")


def _list_bodies(request: Request) -> _ListBodies:
    bodies: _ListBodies = request.app.state.list_bodies
    return bodies


# ---------------------------------------------------------------- errors and auth


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        where = (
            "The runtime backup API is at /v2/backups/runtime."
            if is_v2(request.url.path)
            else "The Backup Management API is at /actuator/backups."
        )
        text = f"No such resource: {request.method} {request.url.path}. {where}"
    elif error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "")
        text = f"Method {request.method} is not allowed on {request.url.path}; use {allowed}."
    else:
        text = error.detail
    return _error(request.url.path, error.status_code, text, dict(error.headers or {}))


def _error(path: str, status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    """An error in the body format of the API ``path`` belongs to."""
    if is_v2(path):
        return problem(status, text, path, headers)
    return message(status, text, headers)


class _CatchAll:
    """Last line of defence: any exception becomes a JSON 500, never a stack trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(event: Message) -> None:
            nonlocal started
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            log.error("unhandled error", exc_info=error)
            if started:
                raise
            text = f"Internal server error: {type(error).__name__}: {error}"
            response = _error(scope["path"], 500, text)
            await response(scope, receive, send)


class _BearerToken:
    """Requests need ``Authorization: Bearer <token>``; others get 401, nothing more.

    The ``public`` paths (health probes, and the metrics unless protected) need none.
    """

    def __init__(self, app: ASGIApp, token: str, public: frozenset[str]) -> None:
        self.app = app
        self.expected = token.encode()
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.public:
            given = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, credentials = given.strip().partition(b" ")
            # The scheme name is case-insensitive (RFC 7235); the token is not.
            valid = scheme.lower() == b"bearer" and hmac.compare_digest(
                credentials.strip(), self.expected
            )
            if not valid:
                headers = {"WWW-Authenticate": "Bearer"}
                response = _error(scope["path"], 401, UNAUTHORIZED, headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ---------------------------------------------------------------- the app


def create_app(
    service: BackupService | ServiceFactory | None,
    *,
    token: str | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    protect_metrics: bool = False,
    backup_schedule: Schedule | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The ASGI app of the Backup Management API.

    Args:
        service: the service to serve, started and closed with the app; or a
            factory of an async context manager yielding it (entered in the
            server's event loop at startup); or ``None`` when backup is not
            enabled (every backup request gets 400).
        token: when set, every request must carry ``Authorization: Bearer <token>``,
            except the health probes (``/actuator/health``, ``.../liveness``,
            ``.../readiness``) and ``/actuator/prometheus``.
        request_timeout: seconds before a request is answered 504.
        protect_metrics: ``/actuator/prometheus`` needs the token too.
        backup_schedule: the schedule backups are taken on, if any: then
            ``POST /v2/backups/runtime`` takes no id and generates one.
        clock: what generated ids are read from (the system clock by default).
    """
    if request_timeout <= 0:
        raise InvalidInputError(f"request timeout must be positive, got {request_timeout}")
    if token is not None and not token:
        raise InvalidInputError("the bearer token must not be empty")

    def factory() -> AbstractAsyncContextManager[BackupService | None]:
        if service is None or isinstance(service, BackupService):
            return service if service is not None else nullcontext(None)
        return service()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with factory() as running:
            app.state.service = running
            app.state.store_health = StoreHealth(running.store) if running is not None else None
            app.state.ready = True
            try:
                yield
            finally:
                app.state.ready = False

    middleware = [Middleware(_CatchAll)]
    if token is not None:
        public = {*HEALTH_PATHS, *(() if protect_metrics else (PROMETHEUS_PATH,))}
        middleware.insert(0, Middleware(_BearerToken, token=token, public=frozenset(public)))
    app = Starlette(
        routes=[
            Route(OPENAPI_PATH, openapi, methods=["GET"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
            Route(LIVENESS_PATH, liveness, methods=["GET"]),
            Route(READINESS_PATH, readiness, methods=["GET"]),
            Route(PROMETHEUS_PATH, prometheus, methods=["GET"]),
            *(Route(path, backups, methods=["GET", "POST"]) for path in COLLECTION_PATHS),
            Route(
                "/actuator/backups/{backup_id:backup_store_any}",
                backup,
                methods=["GET", "DELETE"],
            ),
            *V2_ROUTES,
        ],
        middleware=middleware,
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.service = None
    app.state.store_health = None
    app.state.ready = False
    app.state.metrics = BackupMetrics()  # process metrics, when no service has its own
    app.state.request_timeout = request_timeout
    app.state.list_bodies = _ListBodies()
    app.state.backup_schedule = backup_schedule
    app.state.clock = clock if clock is not None else SystemClock()
    app.state.openapi = openapi_document(
        token=token is not None, scheduled=backup_schedule is not None
    )
    return app


__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "INVALID_BACKUP_ID",
    "NOT_ENABLED",
    "ServiceFactory",
    "create_app",
    "parse_backup_id",
    "parse_take_backup_body",
]
