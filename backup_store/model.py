"""The backup model shared by every store (see ``store-format.md`` §1).

A backup is identified by ``(node_id, partition_id, checkpoint_id)``. All values
validate themselves on construction and raise :class:`InvalidInputError`, which
names the offending value, so bad input never reaches a store.
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import InitVar, dataclass, field
from enum import Enum
from pathlib import Path

from backup_store.errors import InvalidInputError
from backup_store.format.instant import Instant

MAX_CHECKPOINT_ID = 2**63 - 1
"""Checkpoint ids are Java ``long`` values greater than zero."""
MAX_INT = 2**31 - 1
"""Node and partition ids are Java ``int`` values."""
MAX_PARTITIONS = 8192
"""The most partitions the service and the API enumerate.

Zeebe clusters have a few to a few hundred partitions. A descriptor may state any
``numberOfPartitions`` Zeebe reads (1 to 2^31-1): the value never drives
iteration or allocation past this bound (``docs/on-store-format.md``)."""
_ZONE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")
DAMAGED_REASON_PREFIX = "Damaged manifest: "
"""Start of the failure reason of a partition backup whose manifest cannot be read."""
SNAPSHOT = "snapshot"
SEGMENTS = "segments"
FILE_SETS = (SNAPSHOT, SEGMENTS)
"""The two file sets of a backup, in manifest order; also their folder names."""


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be between {low} and {high}, got {value}")
    return value


def check_checkpoint_id(value: object) -> int:
    """Validate a checkpoint (backup) id: an int64 greater than zero."""
    return _check_int("checkpoint id", value, 1, MAX_CHECKPOINT_ID)


_ASCII_DIGITS = re.compile(r"[0-9]+")


def parse_decimal_id(text: str, name: str, low: int, high: int) -> int:
    """Parse an id written in decimal, as every entry point (API, CLI, library) reads ids.

    ASCII digits only: no sign, space, underscore or other script's digits, which
    Python's ``int()`` would accept. Leading zeros are allowed, as Java's
    ``Long.parseLong`` allows them (``0001`` is 1, however many zeros there are).

    Raises:
        InvalidInputError: not such a text, or outside ``low..high``; the message
            names ``name`` and shows the text (shortened).
    """
    if not isinstance(text, str) or not _ASCII_DIGITS.fullmatch(text):
        shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:30] + "..."
        raise InvalidInputError(
            f"{name} must be a whole number from {low} to {high} written in ASCII decimal "
            f"digits only, got {shown}"
        )
    significant = text.lstrip("0") or "0"
    # More digits than the bound has cannot be in range; never int() them (4,300-digit limit).
    if len(significant) > len(str(high)) or not low <= int(significant) <= high:
        shown = text if len(text) <= 40 else f"{text[:12]}...{text[-12:]} ({len(text)} digits)"
        raise InvalidInputError(f"{name} must be between {low} and {high}, got {shown}")
    return int(significant)


def parse_checkpoint_id(text: str) -> int:
    """Parse a checkpoint (backup) id as the API, the CLI and the library read it.

    See :func:`parse_decimal_id`: ASCII digits, leading zeros allowed, 1 to 2^63-1.

    Raises:
        InvalidInputError: anything else.
    """
    return parse_decimal_id(text, "checkpoint id", 1, MAX_CHECKPOINT_ID)


def check_file_name(name: object) -> str:
    """A stored file name must be one safe path component."""
    if not isinstance(name, str) or name in ("", ".", ".."):
        raise InvalidInputError(f"unsafe file name {name!r}: must be a non-empty path component")
    if "/" in name or "\\" in name or "\x00" in name:
        raise InvalidInputError(f"unsafe file name {name!r}: must not contain '/', '\\' or NUL")
    return name


def check_zone(value: object) -> str:
    """Validate a zone as Zeebe 8.10 names one: ``[A-Za-z0-9][A-Za-z0-9-]*``, at most 63."""
    if not isinstance(value, str) or not _ZONE.fullmatch(value):
        raise InvalidInputError(
            f"zone must be letters, digits and '-' (not first), at most 63, got {value!r}"
        )
    return value


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class BackupIdentifier:
    """Which backup: the broker (node) that took it, its partition and checkpoint.

    ``zone`` is the broker's zone (Zeebe 8.10+), ``None`` for a broker without one;
    a zone-qualified node's folder in keys is ``{zone}_{nodeId}``. Checkpoint ids
    are 1 and more (Zeebe 8.7); :meth:`newer` admits the checkpoint id 0 that
    Zeebe 8.9+ manifests may carry.
    """

    node_id: int
    partition_id: int
    checkpoint_id: int
    zone: str | None = None

    def __post_init__(self) -> None:
        _check_int("node id", self.node_id, 0, MAX_INT)
        _check_int("partition id", self.partition_id, 1, MAX_INT)
        if self.checkpoint_id != 0 or not _NEWER_ZERO.get():
            check_checkpoint_id(self.checkpoint_id)
        if self.zone is not None:
            check_zone(self.zone)

    @classmethod
    def newer(
        cls, node_id: int, partition_id: int, checkpoint_id: int, zone: str | None = None
    ) -> BackupIdentifier:
        """An id as a Zeebe 8.9+ manifest states it: checkpoint id 0 to 2^63-1."""
        token = _NEWER_ZERO.set(True)
        try:
            return cls(node_id, partition_id, checkpoint_id, zone)
        finally:
            _NEWER_ZERO.reset(token)

    @property
    def node_folder(self) -> str:
        """The node's folder in Zeebe's keys: ``{zone}_{nodeId}`` or the bare node id."""
        return f"{self.zone}_{self.node_id}" if self.zone else str(self.node_id)

    def _order(self) -> tuple[int, int, int, str]:
        return self.node_id, self.partition_id, self.checkpoint_id, self.zone or ""

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, BackupIdentifier):
            return NotImplemented
        return self._order() < other._order()

    def __str__(self) -> str:
        return (
            f"node {self.node_folder}/partition {self.partition_id}"
            f"/checkpoint {self.checkpoint_id}"
        )


_NEWER_ZERO: contextvars.ContextVar[bool] = contextvars.ContextVar("newer_zero", default=False)


class CheckpointType(Enum):
    """What took a checkpoint (Zeebe 8.9+ descriptors); absent reads as ``MANUAL_BACKUP``."""

    MARKER = "MARKER"
    SCHEDULED_BACKUP = "SCHEDULED_BACKUP"
    MANUAL_BACKUP = "MANUAL_BACKUP"


@dataclass(frozen=True, slots=True)
class BackupDescriptor:
    """What the engine says about the backup's content.

    ``first_log_position``, ``checkpoint_timestamp`` and ``checkpoint_type`` are
    Zeebe 8.9+'s; ``None`` where the manifest has none (a missing type means
    ``MANUAL_BACKUP``: :attr:`type`). ``number_of_partitions`` is whatever Zeebe
    wrote, 1 to 2^31-1.
    """

    snapshot_id: str | None
    checkpoint_position: int
    number_of_partitions: int
    broker_version: str
    first_log_position: int | None = None
    checkpoint_timestamp: Instant | None = None
    checkpoint_type: CheckpointType | None = None

    @property
    def type(self) -> CheckpointType:
        """The checkpoint type as Zeebe reads it (absent is ``MANUAL_BACKUP``)."""
        return self.checkpoint_type or CheckpointType.MANUAL_BACKUP

    def __post_init__(self) -> None:
        if self.snapshot_id is not None and not isinstance(self.snapshot_id, str):
            raise InvalidInputError(f"snapshot id must be a string, got {self.snapshot_id!r}")
        _check_int("checkpoint position", self.checkpoint_position, -(2**63), 2**63 - 1)
        _check_int("number of partitions", self.number_of_partitions, 1, MAX_INT)
        if self.first_log_position is not None:
            _check_int("first log position", self.first_log_position, -(2**63), 2**63 - 1)
        if not isinstance(self.broker_version, str) or not self.broker_version:
            raise InvalidInputError(
                f"broker version must be a non-empty string, got {self.broker_version!r}"
            )


@dataclass(frozen=True)
class SourceFile:
    """A local file to back up; ``length`` limits the upload to a prefix.

    Segments are append-only: a backup takes each one up to its length at the
    checkpoint even while a writer keeps appending.
    """

    path: Path
    length: int | None = None

    def __post_init__(self) -> None:
        if self.length is not None:
            _check_int("file length", self.length, 0, 2**63 - 1)


class NamedFileSet(Mapping[str, Path]):
    """Files of a backup: a mapping of name to local file path; only names are persisted.

    Accepts paths (``str`` or ``os.PathLike``) or :class:`SourceFile` values (a
    path with a length limit); :meth:`source` gives the :class:`SourceFile`.
    """

    def __init__(self, files: Mapping[str, str | os.PathLike[str] | SourceFile] | None = None):
        entries: dict[str, SourceFile] = {}
        for name, value in (files or {}).items():
            check_file_name(name)
            if isinstance(value, SourceFile):
                entries[name] = value
            elif isinstance(value, str | os.PathLike):
                entries[name] = SourceFile(Path(value))
            else:
                raise InvalidInputError(f"file {name!r}: expected a path, got {value!r}")
        self._files = entries

    def __getitem__(self, name: str) -> Path:
        return self._files[name].path

    def source(self, name: str) -> SourceFile:
        """The file to back up under ``name``, with its length limit if any."""
        return self._files[name]

    @property
    def sources(self) -> dict[str, SourceFile]:
        return dict(self._files)

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    @property
    def paths(self) -> dict[str, Path]:
        return {name: source.path for name, source in self._files.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NamedFileSet):
            return self._files == other._files
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._files.items()))

    def __repr__(self) -> str:
        return f"NamedFileSet({ {n: str(s.path) for n, s in self._files.items()}!r})"


@dataclass(frozen=True)
class Backup:
    """A backup to save, or one restored to local files."""

    id: BackupIdentifier
    descriptor: BackupDescriptor
    snapshot: NamedFileSet = field(default_factory=NamedFileSet)
    segments: NamedFileSet = field(default_factory=NamedFileSet)

    def __post_init__(self) -> None:
        clash = set(self.snapshot) & set(self.segments)
        if clash:
            # Restore writes every file flat into one folder.
            raise InvalidInputError(
                f"file names used both as snapshot and segment files: {sorted(clash)}"
            )


class BackupStatusCode(Enum):
    """A backup's state; members are listed worst to best."""

    DOES_NOT_EXIST = "DOES_NOT_EXIST"
    DELETED = "DELETED"
    """A Zeebe 8.9+ tombstone: the backup is being deleted; never restored."""
    FAILED = "FAILED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"

    @property
    def rank(self) -> int:
        """Position from worst (0) to best (4)."""
        return list(BackupStatusCode).index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, BackupStatusCode):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, BackupStatusCode):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, BackupStatusCode):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, BackupStatusCode):
            return NotImplemented
        return self.rank >= other.rank


@dataclass(frozen=True, slots=True)
class BackupStatus:
    """What a store knows of one backup. A missing backup is ``DOES_NOT_EXIST``.

    A backup whose manifest exists but cannot be trusted (unparsable, naming
    another backup than its key, out-of-range values) is *damaged*: ``damage``
    says why, its status code is ``FAILED`` (the API's states are Zeebe's) and
    its failure reason names the damage. :attr:`damaged` tells it apart from a
    backup that really failed; nothing that deletes or migrates by status may
    treat a damaged entry as a FAILED backup.
    """

    id: BackupIdentifier
    status_code: BackupStatusCode
    descriptor: BackupDescriptor | None = None
    failure_reason: str | None = None
    created: Instant | None = None
    last_modified: Instant | None = None
    damage: str | None = None
    """Why the manifest cannot be read; None for a readable one."""

    @classmethod
    def of_damaged(cls, backup_id: BackupIdentifier, damage: str) -> BackupStatus:
        """The status of a partition backup whose manifest at its key is damaged."""
        return cls(
            backup_id, BackupStatusCode.FAILED, failure_reason=DAMAGED_REASON_PREFIX + damage,
            damage=damage,
        )

    @property
    def damaged(self) -> bool:
        """True when the manifest is damaged: never a FAILED backup to prune, delete or
        migrate as such."""
        return self.damage is not None


_PREFIX_PATTERN = re.compile(r"(?P<digits>[0-9]*)\*")


def parse_checkpoint_pattern(text: str) -> int | str:
    """A checkpoint id (see :func:`parse_checkpoint_id`), or a decimal prefix and ``*``.

    Returns the id as an ``int``, or the pattern itself (``"10*"``, ``"*"``) for a prefix
    (ASCII digits only).

    Raises:
        InvalidInputError: neither.
    """
    if _PREFIX_PATTERN.fullmatch(text):
        return text
    try:
        return parse_checkpoint_id(text)
    except InvalidInputError as error:
        raise InvalidInputError(
            f"checkpoint pattern: {error.message}; or digits followed by '*' for a prefix"
        ) from None


@dataclass(frozen=True)
class BackupIdentifierWildcard:
    """Selects backups: each field given must match; ``None`` matches anything.

    ``checkpoint`` is ``None`` (any), an ``int`` (exact), or a string: decimal
    digits for an exact id, or digits followed by ``*`` for a decimal prefix
    (``"10*"`` matches 10, 100, 101, ...).
    """

    node_id: int | None = None
    partition_id: int | None = None
    checkpoint: int | str | None = None
    checkpoint_pattern: InitVar[int | str | None] = None
    """Alias of ``checkpoint`` (the name ``store-format.md`` uses)."""

    def __post_init__(self, checkpoint_pattern: int | str | None) -> None:
        if checkpoint_pattern is not None:
            if self.checkpoint is not None:
                raise InvalidInputError("give checkpoint or checkpoint_pattern, not both")
            object.__setattr__(self, "checkpoint", checkpoint_pattern)
        if self.node_id is not None:
            _check_int("node id", self.node_id, 0, MAX_INT)
        if self.partition_id is not None:
            _check_int("partition id", self.partition_id, 1, MAX_INT)
        if isinstance(self.checkpoint, str):
            object.__setattr__(self, "checkpoint", parse_checkpoint_pattern(self.checkpoint))
        elif self.checkpoint is not None:
            check_checkpoint_id(self.checkpoint)

    @property
    def exact_checkpoint(self) -> int | None:
        return self.checkpoint if isinstance(self.checkpoint, int) else None

    @property
    def checkpoint_prefix(self) -> str:
        """Decimal prefix every matching checkpoint id starts with ("" for any)."""
        if isinstance(self.checkpoint, int):
            return str(self.checkpoint)
        if isinstance(self.checkpoint, str):
            return self.checkpoint.rstrip("*")
        return ""

    def matches(self, backup_id: BackupIdentifier) -> bool:
        if self.node_id is not None and backup_id.node_id != self.node_id:
            return False
        if self.partition_id is not None and backup_id.partition_id != self.partition_id:
            return False
        if isinstance(self.checkpoint, int):
            return backup_id.checkpoint_id == self.checkpoint
        return str(backup_id.checkpoint_id).startswith(self.checkpoint_prefix)
