"""Wall-clock time for schedules and retention, injectable so tests never sleep.

:class:`SystemClock` is the real one; :class:`ManualClock` is moved by hand
(forward or back, as a clock step would) and tells a test when a task is
waiting on it, so a test waits for that condition instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from backup_store.format.instant import Instant

LONGEST_SLEEP_SECONDS = 30.0
"""The system clock re-reads the time at least this often while waiting, so a
clock step (NTP, a VM resumed) moves a wait's end with it."""


class Clock(Protocol):
    """What a schedule needs of time."""

    def now(self) -> Instant:
        """The current wall-clock time."""
        ...

    async def sleep_until(self, moment: Instant) -> None:
        """Return once the wall clock reads ``moment`` or later."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> Instant:
        return Instant(time.time_ns())

    async def sleep_until(self, moment: Instant) -> None:
        # No event tells of the wall clock reaching a time: wait in steps, re-reading it.
        while (remaining := (moment.epoch_nanos - time.time_ns()) / 1e9) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(remaining, LONGEST_SLEEP_SECONDS))


class ManualClock:
    """A clock that only moves when told to (for tests).

    ``set`` and ``advance`` move it (backwards too); tasks in :meth:`sleep_until`
    wake when it reaches their moment. :meth:`wait_for_sleepers` returns once
    ``count`` tasks are waiting for a moment still ahead, which is how a test
    knows a scheduler has finished what was due and gone back to waiting.
    """

    def __init__(self, start: Instant) -> None:
        self._now = start
        self._changed = asyncio.Condition()
        self._waiting: dict[int, Instant] = {}

    def now(self) -> Instant:
        return self._now

    async def set(self, moment: Instant) -> None:
        async with self._changed:
            self._now = moment
            self._changed.notify_all()

    async def advance(self, seconds: float) -> None:
        await self.set(Instant(self._now.epoch_nanos + int(seconds * 1e9)))

    async def sleep_until(self, moment: Instant) -> None:
        token = id(asyncio.current_task())
        async with self._changed:
            self._waiting[token] = moment
            self._changed.notify_all()
            try:
                await self._changed.wait_for(lambda: self._now >= moment)
            finally:
                self._waiting.pop(token, None)
                self._changed.notify_all()

    @property
    def wakeups(self) -> list[Instant]:
        """The moments tasks are waiting for, earliest first."""
        return sorted(self._waiting.values())

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Wait until ``count`` tasks sleep until a moment after now."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: sum(1 for m in self._waiting.values() if m > self._now) >= count
            )
