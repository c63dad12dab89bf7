"""Writers racing for create-only and compare-and-swap: in this process, or one worker
process each (so that the filesystem's exclusive creation and locking are tested
across processes).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from backup_store.errors import BackupStoreError
from backup_store.io import ObjectIO, WriteConflict

WORKER_URL_VARIABLE = "BACKUP_STORE_ANALYZE_URL"
"""The store URL a worker process opens (kept out of its command line)."""


@dataclass(frozen=True)
class Increments:
    """What one contender's version-matched increments came to."""

    done: int
    absent: int  # reads that found no counter, or not a whole one


class Contender(Protocol):
    """One writer of the create-only and compare-and-swap races."""

    async def create(self, key: str, data: bytes) -> bool:
        """Create ``key`` create-only; True if this writer won, False on a conflict."""

    async def increment(self, key: str, times: int) -> Increments:
        """Add 1 to the decimal counter at ``key`` ``times`` times with version-matched
        writes, retrying on conflicts; says how many succeeded and how often the counter
        was read as absent (a store whose replace is not atomic)."""

    async def close(self) -> None: ...


class IOContender:
    """A contender in this process, over its own :class:`ObjectIO`."""

    def __init__(self, io: ObjectIO) -> None:
        self.io = io

    async def create(self, key: str, data: bytes) -> bool:
        try:
            await self.io.put(key, data, create_only=True)
        except WriteConflict:
            return False
        return True

    async def increment(self, key: str, times: int) -> Increments:
        done = absent = 0
        attempts = 0
        while done < times and attempts < times * 200:
            attempts += 1
            current = await self.io.get(key)
            if current is None or not current.data.isdigit():
                # A violation, not a missing feature: rclone's replace is not atomic, so
                # a racing reader sees no counter for a moment.
                absent += 1
                await asyncio.sleep(random.random() / 200)
                continue
            try:
                value = int(current.data) + 1
                await self.io.replace(key, str(value).encode(), current.version)
            except WriteConflict:
                await asyncio.sleep(random.random() / 200)  # back off a little
                continue
            done += 1
        return Increments(done, absent)

    async def close(self) -> None:
        pass


class ProcessContender:
    """A contender in its own worker process (``python -m backup_store.tools.analyze.worker``),
    which opens the store from :data:`WORKER_URL_VARIABLE` (else the environment it
    inherits names it, as for every command) and answers JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, store_url: str | None) -> ProcessContender:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backup_store.tools.analyze.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **({WORKER_URL_VARIABLE: store_url} if store_url else {})},
        )
        return cls(process)

    async def _ask(self, request: dict[str, Any]) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            await self.process.stdin.drain()
            line = await self.process.stdout.readline()
        if not line:
            raise BackupStoreError("an analysis worker process ended unexpectedly")
        answer = json.loads(line)
        if "error" in answer:
            raise BackupStoreError(f"analysis worker: {answer['error']}")
        return answer["result"]

    async def create(self, key: str, data: bytes) -> bool:
        return bool(await self._ask({"op": "create", "key": key, "data": data.hex()}))

    async def increment(self, key: str, times: int) -> Increments:
        done, absent = await self._ask({"op": "increment", "key": key, "times": times})
        return Increments(int(done), int(absent))

    async def close(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            with suppress(ProcessLookupError):
                await asyncio.wait_for(self.process.wait(), 10)
