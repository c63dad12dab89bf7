"""What an engine provides, per partition, for the backup service to back it up.

The service takes a backup of a partition in two steps, as Zeebe does:

1. :meth:`PartitionSource.record_checkpoint` — before the API answers 202: the
   partition records the backup id as its latest checkpoint, durably, refusing an
   id that is not greater than the latest it has recorded (even if that backup
   was deleted since, and across restarts). It captures what "the partition as it
   was at the checkpoint" means for it: typically the newest snapshot and the
   length of every log segment at that moment.
2. :meth:`PartitionSource.backup_content` — in the background: the descriptor
   data and the files (snapshot and segments, each possibly limited to a prefix
   with :class:`~backup_store.SourceFile`) of that checkpoint, which the service
   then saves to the store.

Engine implementations subclass :class:`PartitionSource`; the project ships
:class:`~backup_store.service.DirectorySource`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from backup_store import ZEEBE_VERSION
from backup_store.model import NamedFileSet


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint a partition recorded for a backup id.

    Sources may return a subclass carrying whatever they captured at the
    checkpoint (for example segment lengths) for :meth:`PartitionSource.backup_content`.

    Attributes:
        partition_id: the partition that recorded it.
        checkpoint_id: the backup id.
        position: the partition's log position of the checkpoint (the descriptor's
            ``checkpointPosition``).
    """

    partition_id: int
    checkpoint_id: int
    position: int


@dataclass(frozen=True)
class CheckpointContent:
    """What a partition backup of one checkpoint consists of.

    Attributes:
        snapshot_id: the snapshot's id, ``None`` when the partition has no snapshot yet.
        checkpoint_position: the descriptor's ``checkpointPosition``.
        snapshot: the snapshot's files by name.
        segments: the log segment files by name, each limited to its length at the
            checkpoint (segments are append-only; a writer may keep appending).
        broker_version: the descriptor's ``brokerVersion``.
    """

    snapshot_id: str | None
    checkpoint_position: int
    snapshot: NamedFileSet = field(default_factory=NamedFileSet)
    segments: NamedFileSet = field(default_factory=NamedFileSet)
    broker_version: str = ZEEBE_VERSION


class PartitionSource(abc.ABC):
    """One partition of the engine, as the backup service sees it.

    Implementations must be safe to call from concurrent tasks of one event loop
    and must not block it (run file I/O in threads).
    """

    @property
    @abc.abstractmethod
    def partition_id(self) -> int:
        """The partition's id (≥ 1)."""

    @abc.abstractmethod
    async def latest_checkpoint_id(self) -> int:
        """The latest checkpoint id this partition ever recorded; 0 when none.

        Raises:
            SourceUnavailableError: the partition's state could not be read.
        """

    @abc.abstractmethod
    async def record_checkpoint(self, checkpoint_id: int) -> Checkpoint:
        """Record ``checkpoint_id`` as the latest checkpoint, durably, and capture its state.

        When this returns, the id is remembered across deletion of its backup and
        restarts: a later call with the same or a lower id must fail.

        Raises:
            BackupIdConflictError: ``checkpoint_id`` is not greater than the latest
                recorded id; nothing is recorded.
            SourceUnavailableError: the checkpoint could not be recorded.
        """

    @abc.abstractmethod
    async def backup_content(self, checkpoint: Checkpoint) -> CheckpointContent:
        """The descriptor data and files of a checkpoint this source recorded.

        Raises:
            SourceError: the content cannot be provided (the message says why).
        """

    async def close(self) -> None:  # noqa: B027  (optional hook, nothing to do by default)
        """Release resources; the default does nothing."""
