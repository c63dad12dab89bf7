"""Services for tests: an in-memory partition source and the API app served in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette

from backup_store import NamedFileSet
from backup_store.service import (
    BackupIdConflictError,
    Checkpoint,
    CheckpointContent,
    PartitionSource,
)


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, behind an in-process HTTP client."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http



class MemorySource(PartitionSource):
    """A partition whose latest id lives in memory; gates make it wait on demand."""

    def __init__(self, partition_id: int, files: Path) -> None:
        self._partition_id = partition_id
        self.latest = 0
        self.files = files
        self.record_gate = asyncio.Event()
        self.record_gate.set()
        self.content_gate = asyncio.Event()
        self.content_gate.set()
        self.fail_record: Exception | None = None

    @property
    def partition_id(self) -> int:
        return self._partition_id

    async def latest_checkpoint_id(self) -> int:
        return self.latest

    async def record_checkpoint(self, checkpoint_id: int) -> Checkpoint:
        await self.record_gate.wait()
        if self.fail_record is not None:
            raise self.fail_record
        if checkpoint_id <= self.latest:
            raise BackupIdConflictError(checkpoint_id, self.latest)
        self.latest = checkpoint_id
        return Checkpoint(self._partition_id, checkpoint_id, checkpoint_id)

    async def backup_content(self, checkpoint: Checkpoint) -> CheckpointContent:
        await self.content_gate.wait()
        segment = self.files / f"{self._partition_id}.log"
        # Replaced whole, never rewritten in place: a save of an earlier checkpoint may
        # be reading it (truncating it first would show that save a missing file).
        fresh = segment.with_name(f"{segment.name}.{checkpoint.checkpoint_id}")
        fresh.write_bytes(b"x" * 100)
        fresh.replace(segment)
        return CheckpointContent(
            snapshot_id=f"{checkpoint.position}-1-1-1",
            checkpoint_position=checkpoint.position,
            segments=NamedFileSet({segment.name: segment}),
        )
