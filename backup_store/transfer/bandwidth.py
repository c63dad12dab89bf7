"""A bandwidth limit: one token bucket that every transfer of a process draws from."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from backup_store.errors import ConfigurationError

BURST_SECONDS = 0.25
"""Bytes the bucket holds when full, in seconds of its rate: an idle process may send
this much at once, and no more (a quarter second is 2.5 % of a 10-second window)."""


class TokenBucket:
    """Bytes per second shared by every transfer that takes from it, in threads
    (:meth:`take`) and on the event loop (:meth:`take_async`).

    A taker is charged before it moves its bytes and waits until the bucket's
    debt is paid: the bucket may go below zero by one chunk per taker, so a large
    chunk is never refused, and over any stretch of time longer than a few chunks
    the bytes moved stay at the rate. ``clock`` (seconds, monotonic), ``sleep`` and
    ``async_sleep`` are injectable, so tests watch the bucket without waiting.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ConfigurationError(f"the bandwidth limit must be positive, got {rate}")
        self.rate = rate
        self.capacity = rate * BURST_SECONDS
        self.taken = 0
        """Bytes charged so far (what moved, or is about to)."""
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.rate:g} B/s)"

    def charge(self, amount: int) -> float:
        """Charge ``amount`` bytes; the seconds the taker must wait before moving them."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= amount
            self.taken += amount
            return max(0.0, -self._tokens / self.rate)

    def take(self, amount: int) -> None:
        """Charge ``amount`` bytes and wait (blocking: a transfer thread) until they may move."""
        wait = self.charge(amount)
        if wait > 0:
            self._sleep(wait)

    async def take_async(self, amount: int) -> None:
        """:meth:`take` on the event loop."""
        wait = self.charge(amount)
        if wait > 0:
            await self._async_sleep(wait)
