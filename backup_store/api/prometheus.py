"""``GET /actuator/prometheus``: the service's metrics in the Prometheus text format.

The metrics are those of :mod:`backup_store.service.metrics` (Zeebe 8.7's backup
metric names, and this project's); without a service (backup not enabled),
only the process metrics. No token is needed unless the app was created with
``protect_metrics=True``.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from backup_store.service.metrics import BackupMetrics
from backup_store.service.service import BackupService

PROMETHEUS_PATH: Final = "/actuator/prometheus"


async def prometheus(request: Request) -> Response:
    service: BackupService | None = request.app.state.service
    metrics: BackupMetrics = service.metrics if service is not None else request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


__all__ = ["PROMETHEUS_PATH", "prometheus"]
