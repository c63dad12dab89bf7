"""The Backup Management API over HTTP: ``/actuator/backups`` as in Zeebe 8.7.

:func:`create_app` builds the ASGI app over a
:class:`~backup_store.service.BackupService`; ``backup-store serve`` runs it
with uvicorn. The OpenAPI document is served at
``/actuator/backups/openapi.json`` (:func:`openapi_document`).
"""

from backup_store.api.app import (
    DEFAULT_REQUEST_TIMEOUT,
    INVALID_BACKUP_ID,
    NOT_ENABLED,
    ServiceFactory,
    create_app,
    parse_backup_id,
    parse_take_backup_body,
)
from backup_store.api.openapi import OPENAPI_PATH, openapi_document

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "INVALID_BACKUP_ID",
    "NOT_ENABLED",
    "OPENAPI_PATH",
    "ServiceFactory",
    "create_app",
    "openapi_document",
    "parse_backup_id",
    "parse_take_backup_body",
]
