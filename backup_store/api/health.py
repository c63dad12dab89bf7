"""Health endpoints in Spring Boot's shape, as Zeebe's actuator serves them.

* ``GET /actuator/health/liveness``: ``livenessState``, UP while the server
  answers at all.
* ``GET /actuator/health/readiness``: ``readinessState`` (UP once the service
  has started, OUT_OF_SERVICE while starting or shutting down) and
  ``backupStore`` (whether the store's location exists and answers; UNKNOWN when
  backup is not enabled).
* ``GET /actuator/health``: every component, and the probe ``groups``.

Each body is ``{"status": ..., "components": {name: {"status": ..., "details":
{...}}}}``; the overall status is the worst of its components (DOWN, then
OUT_OF_SERVICE, then UP, then UNKNOWN) and is answered with 503 when DOWN or
OUT_OF_SERVICE, 200 otherwise. No health endpoint needs the bearer token: probes
carry none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backup_store.contract.store import BackupStore
from backup_store.errors import BackupStoreError, describe_error

HEALTH_PATH: Final = "/actuator/health"
LIVENESS_PATH: Final = "/actuator/health/liveness"
READINESS_PATH: Final = "/actuator/health/readiness"
HEALTH_PATHS: Final = (HEALTH_PATH, LIVENESS_PATH, READINESS_PATH)

UP: Final = "UP"
DOWN: Final = "DOWN"
OUT_OF_SERVICE: Final = "OUT_OF_SERVICE"
UNKNOWN: Final = "UNKNOWN"
_ORDER: Final = (DOWN, OUT_OF_SERVICE, UP, UNKNOWN)
"""Spring Boot's default status order: the first one found wins."""

STORE_CHECK_TTL = 5.0
"""Seconds a store check's answer is reused."""
STORE_CHECK_TIMEOUT = 3.0
"""Seconds the store has to answer the check."""


@dataclass(frozen=True)
class Health:
    """One component's health: a status and details."""

    status: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, **({"details": self.details} if self.details else {})}


class StoreHealth:
    """Whether a store's location exists and answers (:meth:`BackupStore.probe`: a cheap
    request or two, never a listing), answered from a cache.

    Concurrent callers share one probe; its answer is reused for ``ttl`` seconds.
    """

    def __init__(
        self,
        store: BackupStore,
        *,
        ttl: float = STORE_CHECK_TTL,
        timeout: float = STORE_CHECK_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.timeout = timeout
        self.clock = clock
        self._checked: tuple[float, Health] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> Health:
        async with self._lock:
            if self._checked is not None and self.clock() - self._checked[0] < self.ttl:
                return self._checked[1]
            health = await self._ask()
            self._checked = (self.clock(), health)
            return health

    async def _ask(self) -> Health:
        description = str(getattr(self.store, "description", type(self.store).__name__))
        try:
            async with asyncio.timeout(self.timeout):
                await self.store.probe()
        except TimeoutError:
            reason = f"the store did not answer within {self.timeout:g} seconds"
            return Health(DOWN, {"store": description, "error": reason})
        except Exception as error:
            # Store errors name the store and key, never credentials; others are scrubbed.
            reason = str(error) if isinstance(error, BackupStoreError) else describe_error(error)
            return Health(DOWN, {"store": description, "error": reason})
        return Health(UP, {"store": description})


def overall(components: dict[str, Health]) -> str:
    """The worst status among ``components`` (UNKNOWN when there are none)."""
    found = {health.status for health in components.values()}
    return next((status for status in _ORDER if status in found), UNKNOWN)


def _respond(components: dict[str, Health], **extra: Any) -> Response:
    status = overall(components)
    body = {
        "status": status,
        "components": {name: health.to_json() for name, health in components.items()},
        **extra,
    }
    return JSONResponse(body, status_code=503 if status in (DOWN, OUT_OF_SERVICE) else 200)


def _liveness() -> dict[str, Health]:
    return {"livenessState": Health(UP)}


async def _readiness(request: Request) -> dict[str, Health]:
    state = request.app.state
    ready = Health(UP) if state.ready else Health(OUT_OF_SERVICE)
    checker: StoreHealth | None = state.store_health
    if checker is not None:
        store = await checker.check()
    elif state.ready:
        store = Health(UNKNOWN, {"reason": "backup is not enabled: no backup store is configured"})
    else:
        store = Health(UNKNOWN, {"reason": "the backup service is not started"})
    return {"readinessState": ready, "backupStore": store}


async def liveness(request: Request) -> Response:
    return _respond(_liveness())


async def readiness(request: Request) -> Response:
    return _respond(await _readiness(request))


async def health(request: Request) -> Response:
    return _respond({**_liveness(), **await _readiness(request)}, groups=["liveness", "readiness"])


__all__ = [
    "DOWN",
    "HEALTH_PATHS",
    "LIVENESS_PATH",
    "OUT_OF_SERVICE",
    "READINESS_PATH",
    "UNKNOWN",
    "UP",
    "Health",
    "StoreHealth",
    "health",
    "liveness",
    "overall",
    "readiness",
]
