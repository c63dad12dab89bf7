"""``async with`` for objects that start and close: stores, the service, writers."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class AsyncResource(abc.ABC):
    """``async with resource:`` awaits :meth:`start` on entry and :meth:`close` on exit."""

    async def start(self) -> None:  # noqa: B027  (optional hook, nothing to do by default)
        """Begin work; called on entering ``async with``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release resources; the object must not be used afterwards."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
