"""A partition source over a data directory: the source ``backup-store serve`` uses.

Layout of a data directory (one sub-folder per partition, named by its id)::

    <data>/<partitionId>/snapshots/<snapshotId>/<files>   snapshots, one folder each
    <data>/<partitionId>/segments/<name>.log              append-only log segments
    <data>/<partitionId>/backup-checkpoint.json           the latest checkpoint (ours)

A backup takes the newest snapshot (snapshot ids of Zeebe's form
``index-term-processedPosition-exportedPosition`` compare numerically; other
names by modification time; folders starting with ``.`` or ending in ``.tmp``
are snapshots being written and are skipped) and every segment up to its length
at the checkpoint, so a writer may keep appending meanwhile. A file that
vanishes before it is uploaded fails the backup with an error naming it.

The checkpoint position is the total length of the segments at the checkpoint
(a byte count standing in for Zeebe's log position).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backup_store import ZEEBE_VERSION
from backup_store.errors import BackupStoreError
from backup_store.format.instant import Instant
from backup_store.model import NamedFileSet, SourceFile, check_checkpoint_id
from backup_store.service.errors import BackupIdConflictError, SourceError, SourceUnavailableError
from backup_store.service.source import Checkpoint, CheckpointContent, PartitionSource
from backup_store.transfer.durability import fsync_directory

STATE_FILE_NAME = "backup-checkpoint.json"
"""The per-partition file holding the latest checkpoint id."""
SNAPSHOTS = "snapshots"
SEGMENTS = "segments"
SEGMENT_SUFFIX = ".log"

_SNAPSHOT_ID = re.compile(r"^[0-9]+(-[0-9]+)*$")


@dataclass(frozen=True)
class DirectoryCheckpoint(Checkpoint):
    """A checkpoint of a :class:`DirectorySource`, with the files captured at it."""

    snapshot_id: str | None
    snapshot: NamedFileSet
    segments: NamedFileSet


@dataclass(frozen=True)
class _State:
    latest_checkpoint_id: int = 0
    checkpoint_position: int = 0


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"([0-9]+)", name)]


class DirectorySource(PartitionSource):
    """One partition stored in ``directory`` (see the module docs for the layout).

    Args:
        directory: the partition's folder.
        partition_id: the partition id; by default the folder's name, which must
            then be a number.
        broker_version: the descriptor's ``brokerVersion``.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        partition_id: int | None = None,
        *,
        broker_version: str = ZEEBE_VERSION,
    ) -> None:
        self.directory = Path(directory)
        if partition_id is None:
            if not self.directory.name.isdigit():
                raise SourceError(
                    f"partition folder {self.directory} is not named by a partition id",
                    key=str(self.directory),
                )
            partition_id = int(self.directory.name)
        if partition_id < 1:
            raise SourceError(f"partition id must be at least 1, got {partition_id}")
        self._partition_id = partition_id
        self.broker_version = broker_version
        self._lock = asyncio.Lock()

    @classmethod
    def discover(
        cls, data_dir: str | os.PathLike[str], *, broker_version: str = ZEEBE_VERSION
    ) -> list[DirectorySource]:
        """A source per partition folder (a sub-folder named by a number), by partition id."""
        root = Path(data_dir)
        try:
            folders = [
                p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"[1-9][0-9]*", p.name)
            ]
        except OSError as error:
            raise SourceUnavailableError(
                f"cannot read the data directory {root}: {error.strerror}", key=str(root)
            ) from None
        return [
            cls(folder, broker_version=broker_version)
            for folder in sorted(folders, key=lambda p: int(p.name))
        ]

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.directory)!r}, partition_id={self._partition_id})"

    @property
    def partition_id(self) -> int:
        return self._partition_id

    @property
    def state_file(self) -> Path:
        return self.directory / STATE_FILE_NAME

    async def latest_checkpoint_id(self) -> int:
        state: _State = await asyncio.to_thread(self._locked, self._read_state)
        return state.latest_checkpoint_id

    async def record_checkpoint(self, checkpoint_id: int) -> Checkpoint:
        check_checkpoint_id(checkpoint_id)
        async with self._lock:
            checkpoint: DirectoryCheckpoint = await asyncio.to_thread(
                self._locked, lambda: self._record(checkpoint_id)
            )
            return checkpoint

    async def backup_content(self, checkpoint: Checkpoint) -> CheckpointContent:
        if not isinstance(checkpoint, DirectoryCheckpoint) or (
            checkpoint.partition_id != self._partition_id
        ):
            raise SourceError(
                f"{checkpoint!r} was not recorded by the source of partition {self._partition_id}"
            )
        return CheckpointContent(
            snapshot_id=checkpoint.snapshot_id,
            checkpoint_position=checkpoint.position,
            snapshot=checkpoint.snapshot,
            segments=checkpoint.segments,
            broker_version=self.broker_version,
        )

    # ------------------------------------------------------------ in worker threads

    def _locked(self, action: Any) -> Any:
        # flock on the partition folder: a second process on the same data
        # directory cannot interleave its read-check-write with ours.
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as error:
            raise SourceUnavailableError(
                f"partition {self._partition_id}: cannot open {self.directory}: {error.strerror}",
                key=str(self.directory),
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return action()
        finally:
            os.close(fd)

    def _read_state(self) -> _State:
        path = self.state_file
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return _State()
        except OSError as error:
            raise SourceUnavailableError(
                f"partition {self._partition_id}: cannot read {path}: {error.strerror}",
                key=str(path),
            ) from None
        try:
            raw = json.loads(data)
            state = _State(int(raw["latestCheckpointId"]), int(raw.get("checkpointPosition", 0)))
        except (ValueError, KeyError, TypeError, RecursionError):
            raise SourceError(
                f"partition {self._partition_id}: the checkpoint state file {path} is unreadable; "
                "restore it or write the latest backup id into it "
                '({"latestCheckpointId": <id>})',
                key=str(path),
            ) from None
        return state

    def _record(self, checkpoint_id: int) -> DirectoryCheckpoint:
        state = self._read_state()
        if checkpoint_id <= state.latest_checkpoint_id:
            raise BackupIdConflictError(
                checkpoint_id, state.latest_checkpoint_id, partition_id=self._partition_id
            )
        snapshot_id, snapshot = self._newest_snapshot()
        segments = self._segments_now()
        clash = set(snapshot) & set(segments)
        if clash:
            raise SourceError(
                f"partition {self._partition_id}: file names used by both the snapshot and the "
                f"segments: {sorted(clash)}"
            )
        position = sum(source.length or 0 for source in segments.sources.values())
        self._write_state(checkpoint_id, position)
        return DirectoryCheckpoint(
            self._partition_id, checkpoint_id, position, snapshot_id, snapshot, segments
        )

    def _write_state(self, checkpoint_id: int, position: int) -> None:
        # Durable: temporary file, fsync, atomic rename, fsync of the folder.
        path = self.state_file
        temporary = path.with_name(f".{path.name}.tmp")
        body = json.dumps(
            {
                "latestCheckpointId": checkpoint_id,
                "checkpointPosition": position,
                "recordedAt": Instant.now().iso(),
            }
        ).encode()
        try:
            with temporary.open("wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(path)
            fsync_directory(self.directory)
        except OSError as error:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise SourceUnavailableError(
                f"partition {self._partition_id}: cannot record the checkpoint in {path}: "
                f"{error.strerror}",
                key=str(path),
            ) from None

    def _listing(self, folder: Path) -> Iterator[Path]:
        try:
            yield from sorted(folder.iterdir(), key=lambda p: _natural_key(p.name))
        except FileNotFoundError:
            return
        except OSError as error:
            raise SourceUnavailableError(
                f"partition {self._partition_id}: cannot list {folder}: {error.strerror}",
                key=str(folder),
            ) from None

    def _newest_snapshot(self) -> tuple[str | None, NamedFileSet]:
        candidates = [
            entry
            for entry in self._listing(self.directory / SNAPSHOTS)
            if entry.is_dir() and not entry.name.startswith(".") and not entry.name.endswith(".tmp")
        ]
        if not candidates:
            return None, NamedFileSet()

        def age(entry: Path) -> tuple[Any, ...]:
            if _SNAPSHOT_ID.match(entry.name):
                return (1, tuple(int(part) for part in entry.name.split("-")))
            return (0, entry.stat().st_mtime_ns, entry.name)

        newest = max(candidates, key=age)
        files: dict[str, SourceFile] = {}
        for entry in self._listing(newest):
            if entry.is_dir():
                raise SourceError(
                    f"partition {self._partition_id}: snapshot {newest.name} contains a folder "
                    f"({entry.name}); snapshots must be flat",
                    key=str(entry),
                )
            files[entry.name] = SourceFile(entry)
        return newest.name, self._file_set(files)

    def _segments_now(self) -> NamedFileSet:
        files: dict[str, SourceFile] = {}
        for entry in self._listing(self.directory / SEGMENTS):
            if not entry.name.endswith(SEGMENT_SUFFIX) or entry.name.startswith("."):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue  # deleted (compacted) between listing and stat
            except OSError as error:
                raise SourceUnavailableError(
                    f"partition {self._partition_id}: cannot read {entry}: {error.strerror}",
                    key=str(entry),
                ) from None
            if entry.is_file():
                files[entry.name] = SourceFile(entry, length=stat.st_size)
        return self._file_set(files)

    def _file_set(self, files: dict[str, SourceFile]) -> NamedFileSet:
        try:
            return NamedFileSet(files)
        except BackupStoreError as error:
            raise SourceError(f"partition {self._partition_id}: {error.message}") from None
