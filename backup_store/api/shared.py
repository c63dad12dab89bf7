"""What both HTTP APIs share (the 8.7 actuator and the 8.10 ``/v2`` API).

The status of each error (:func:`error_status`, in the actuator's codes; the
``/v2`` API answers 503 where this says 502) and one id rule: a backup id in a
body is a JSON integer or a string of decimal digits, read by the library's one
id parser (:func:`~backup_store.model.parse_checkpoint_id`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from backup_store.errors import BackupStoreError, InvalidInputError, StoreUnavailableError
from backup_store.model import check_checkpoint_id, parse_checkpoint_id
from backup_store.service.errors import BackupIdConflictError, SourceUnavailableError
from backup_store.service.service import BackupService

log = logging.getLogger("backup_store.api")

INVALID_BACKUP_ID = "A backupId must be provided and it must be > 0"
NOT_ENABLED = (
    "Backup is not enabled on this server: no backup store is configured "
    "(start it with --store URL)."
)
UNAUTHORIZED = "A valid bearer token is required."


def parse_backup_id(value: object) -> int:
    """A backup id from a JSON body value: an integer or a string of decimal digits.

    Raises:
        InvalidInputError: anything else, or out of 1..2^63-1.
    """
    try:
        if isinstance(value, str):
            return parse_checkpoint_id(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return check_checkpoint_id(value)
    except InvalidInputError:
        pass
    raise InvalidInputError(INVALID_BACKUP_ID)


def is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` is JSON (``application/json`` or ``application/*+json``)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class Refused(Exception):
    """A request answered with an error status before, or instead of, the service."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_status(error: BaseException, timeout: float) -> tuple[int, str]:
    """The actuator's status and message for an error of a request (never a stack trace)."""
    if isinstance(error, Refused):
        return error.status, error.message
    if isinstance(error, TimeoutError):
        return 504, (
            f"The request could not be handled within the configured timeout of {timeout:g} "
            "seconds."
        )
    if isinstance(error, BackupIdConflictError):
        return 409, error.message
    if isinstance(error, InvalidInputError):
        return 400, error.message
    if isinstance(error, StoreUnavailableError):
        return 502, f"The backup store could not be reached: {error}"
    if isinstance(error, SourceUnavailableError):
        return 502, f"A partition could not be reached: {error}"
    if isinstance(error, BackupStoreError):
        log.error("request failed: %s", error)
        return 500, f"Backup request failed: {error}"
    log.error("request failed", exc_info=error)
    return 500, f"Internal server error: {type(error).__name__}: {error}"


Action = Callable[[BackupService], Awaitable[Response]]
"""What a request does with the service."""


async def run_action(request: Request, action: Action, *, disabled_status: int) -> Response:
    """Run ``action`` on the app's service under the request timeout.

    Raises:
        Refused: no service (backup not enabled), with ``disabled_status``.
        TimeoutError: the request timeout passed.
        Exception: what ``action`` raised, for :func:`error_status`.
    """
    service: BackupService | None = request.app.state.service
    if service is None:
        raise Refused(disabled_status, NOT_ENABLED)
    async with asyncio.timeout(request.app.state.request_timeout):
        return await action(service)
