"""The Backup Management API over HTTP: ``/actuator/backups`` as in Zeebe 8.7, and
Camunda 8.10's ``/v2/backups/runtime`` beside it (:mod:`backup_store.api.runtime_v2`).

:func:`create_app` builds the ASGI app over a
:class:`~backup_store.service.BackupService`; ``backup-store serve`` runs it
with uvicorn. The OpenAPI document is served at
``/actuator/backups/openapi.json`` (:func:`openapi_document`). Next to it, as
in Zeebe's actuator: the health probes (:mod:`backup_store.api.health`) and
``/actuator/prometheus`` (:mod:`backup_store.service.metrics`).
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
from backup_store.api.health import HEALTH_PATHS, LIVENESS_PATH, READINESS_PATH, StoreHealth
from backup_store.api.openapi import OPENAPI_PATH, openapi_document
from backup_store.api.prometheus import PROMETHEUS_PATH

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "HEALTH_PATHS",
    "INVALID_BACKUP_ID",
    "LIVENESS_PATH",
    "NOT_ENABLED",
    "OPENAPI_PATH",
    "PROMETHEUS_PATH",
    "READINESS_PATH",
    "ServiceFactory",
    "StoreHealth",
    "create_app",
    "openapi_document",
    "parse_backup_id",
    "parse_take_backup_body",
]
