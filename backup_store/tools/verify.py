"""Check stored backups without restoring them.

For every COMPLETED manifest selected, :func:`verify_store` checks that each
file the manifest names is stored, and, as far as the store recorded it:

========== ===============================================================
level      what is checked per file
========== ===============================================================
presence   the object exists
size       ... and its size is the recorded stored size
checksum   ... and its bytes (decompressed as recorded) have the recorded
           size and SHA-256
========== ===============================================================

Backups written by this project carry an integrity record (size and SHA-256
per file) tied to their manifest. At a location our stores never claimed (only
Zeebe wrote there) backups have none, so only presence can be checked (at the
checksum level, every object is additionally read end to end, which proves it
is readable and its zstd frames are whole); the result says so in
:attr:`BackupVerification.notes`. At a claimed location, a missing or stale
record is a problem ("no integrity record"), and presence is checked.

Objects under a COMPLETED backup's folder that its manifest does not name (and
that are not its integrity record) are reported as unaccounted (for example
leftovers of an earlier backup of the same id). Backups in other states are
listed as skipped, not checked. Nothing is written.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from backup_store.concurrency import run_bounded
from backup_store.contract.inspectable import DamagedManifest, InspectableStore, StoredManifest
from backup_store.errors import BackupStoreError, InvalidInputError, ObjectNotFoundError
from backup_store.format.integrity import FileRecord, record_name
from backup_store.format.manifest import FileEntry
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatusCode
from backup_store.operations import NoProgress, Progress, id_json
from backup_store.transfer.files import Digest

ZEEBE_WRITTEN_NOTE = (
    "written by Zeebe: sizes and checksums are not recorded by Zeebe, so only presence was checked"
)
NO_RECORD_MESSAGE = (
    "no integrity record tied to this manifest (missing, or left by an earlier backup of "
    "the same id) at a location our stores claimed: only presence was checked"
)
ZEEBE_WRITTEN_READ_NOTE = (
    "written by Zeebe: sizes and checksums are not recorded by Zeebe, so presence was "
    "checked and every object was read end to end (not compared with any checksum)"
)


class VerifyLevel(Enum):
    """How thoroughly each file is checked (each level includes the previous)."""

    PRESENCE = "presence"
    SIZE = "size"
    CHECKSUM = "checksum"

    @property
    def rank(self) -> int:
        return list(VerifyLevel).index(self)


class ProblemKind(Enum):
    """What is wrong with a file (or a backup)."""

    MISSING = "missing"
    SIZE_MISMATCH = "size-mismatch"
    CHECKSUM_MISMATCH = "checksum-mismatch"
    UNREADABLE = "unreadable"
    NO_RECORD = "no-integrity-record"
    UNACCOUNTED = "unaccounted-object"
    NOT_FOUND = "backup-not-found"
    DAMAGED = "damaged-manifest"


@dataclass(frozen=True)
class VerifyProblem:
    """One problem, precise enough to act on.

    Attributes:
        backup_id: the partition backup concerned.
        file: ``snapshot/<name>`` or ``segments/<name>``; empty for a backup-level problem.
        key: the object key concerned, if any.
        kind: the kind of problem.
        message: what is wrong, in words (without the backup id, file or key).
        expected: the recorded value (size or SHA-256), if any.
        actual: the value found, if any.
    """

    backup_id: BackupIdentifier | None
    file: str
    key: str | None
    kind: ProblemKind
    message: str
    expected: str | int | None = None
    actual: str | int | None = None

    def __str__(self) -> str:
        where = [f"backup {self.backup_id}"] if self.backup_id else []
        if self.file:
            where.append(f"file {self.file}")
        text = ", ".join(where) + f": {self.message}" if where else self.message
        return f"{text} (key {self.key})" if self.key else text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "message": str(self)}
        if self.backup_id is not None:
            out["backupId"] = id_json(self.backup_id)
        if self.file:
            out["file"] = self.file
        if self.key:
            out["key"] = self.key
        if self.expected is not None:
            out["expected"] = self.expected
        if self.actual is not None:
            out["actual"] = self.actual
        return out


@dataclass
class BackupVerification:
    """The result for one partition backup ``(node, partition, checkpoint)``.

    Attributes:
        status: the manifest's status; only COMPLETED backups are checked.
        level: the level actually applied (presence for Zeebe-written backups).
        has_integrity_record: False for backups written by Zeebe itself.
        files_total: files the manifest names.
        files_checked: files checked (fewer with sampling; 0 when skipped).
        bytes_read: bytes read (checksum level).
        problems: what is wrong; empty when everything checked is fine.
        notes: what could not be checked, and why.
        skipped: why the backup was not checked (not COMPLETED), or None.
    """

    backup_id: BackupIdentifier
    status: BackupStatusCode
    level: VerifyLevel
    has_integrity_record: bool = True
    files_total: int = 0
    files_checked: int = 0
    bytes_read: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "backupId": id_json(self.backup_id),
            "status": self.status.value,
            "ok": self.ok,
            "level": self.level.value,
            "integrityRecord": self.has_integrity_record,
            "filesTotal": self.files_total,
            "filesChecked": self.files_checked,
            "bytesRead": self.bytes_read,
            "problems": [p.to_json() for p in self.problems],
            "notes": list(self.notes),
        }
        if self.skipped is not None:
            out["skipped"] = self.skipped
        return out


@dataclass
class VerifyReport:
    """The result of :func:`verify_store`."""

    store: str
    level: VerifyLevel
    sample_percent: float
    backups: list[BackupVerification] = field(default_factory=list)
    problems: list[VerifyProblem] = field(default_factory=list)
    """Problems outside any one backup (e.g. the requested id does not exist)."""

    @property
    def all_problems(self) -> list[VerifyProblem]:
        return self.problems + [p for b in self.backups for p in b.problems]

    @property
    def ok(self) -> bool:
        return not self.all_problems

    @property
    def files_checked(self) -> int:
        return sum(b.files_checked for b in self.backups)

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "level": self.level.value,
            "samplePercent": self.sample_percent,
            "ok": self.ok,
            "filesChecked": self.files_checked,
            "problemCount": len(self.all_problems),
            "problems": [p.to_json() for p in self.all_problems],
            "backups": [b.to_json() for b in self.backups],
        }


@dataclass(frozen=True)
class _FileCheck:
    stored: StoredManifest
    result: BackupVerification
    file_set: str
    entry: FileEntry
    record: FileRecord | None

    @property
    def label(self) -> str:
        return f"{self.file_set}/{self.entry.name}"


async def verify_store(
    store: InspectableStore,
    backup_id: int | None = None,
    *,
    level: VerifyLevel = VerifyLevel.CHECKSUM,
    sample_percent: float = 100.0,
    seed: int | None = None,
    wildcard: BackupIdentifierWildcard | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Verify every COMPLETED backup selected, without restoring anything.

    Args:
        store: the store to check.
        backup_id: check only this checkpoint id (every partition and node);
            ``None`` for every backup (or those ``wildcard`` selects).
        level: presence, size or checksum.
        sample_percent: check a random share of the files (0 < pct ≤ 100); at
            least one file is checked when there is any.
        seed: seed of the random sample, for reproducible runs.
        wildcard: a finer selection (ignored when ``backup_id`` is given).
        progress: receives bytes read at the checksum level.

    Returns:
        The report; :attr:`VerifyReport.ok` is False when any problem was found,
        including a ``backup_id`` that does not exist.

    Raises:
        InvalidInputError: bad ``sample_percent``.
        BackupStoreError: the store could not be listed (a file that cannot be
            read is reported as a problem instead).
    """
    if not 0 < sample_percent <= 100:
        raise InvalidInputError(f"sample percentage must be in (0, 100], got {sample_percent}")
    if backup_id is not None:
        wildcard = BackupIdentifierWildcard(checkpoint=backup_id)
    scanned = await store.scan_manifests(wildcard or BackupIdentifierWildcard())
    report = VerifyReport(store.description, level, sample_percent)
    report.backups.extend(_damaged(scanned, level))
    if backup_id is not None and not scanned:
        report.problems.append(
            VerifyProblem(
                None, "", None, ProblemKind.NOT_FOUND, f"no backup with id {backup_id} in the store"
            )
        )
        return report
    manifests = sorted(
        (s for s in scanned if isinstance(s, StoredManifest)),
        key=lambda s: (
            s.manifest.id.checkpoint_id,
            s.manifest.id.partition_id,
            s.manifest.id.node_id,
        ),
    )
    claimed = await store.is_claimed()
    checks: list[_FileCheck] = []
    for stored in manifests:
        result = BackupVerification(
            stored.manifest.id,
            stored.manifest.status_code,
            level,
            files_total=len(stored.manifest.files()),
        )
        report.backups.append(result)
        checks.extend(await _planned_checks(store, stored, result, claimed))
    await _find_unaccounted(store, report, manifests)
    if sample_percent < 100 and checks:
        checks = _sampled(checks, report, sample_percent, seed)
    await _run_checks(store, checks, level, progress or NoProgress())
    for result in report.backups:
        result.problems.sort(key=lambda p: (p.file, p.kind.value))
    return report


def _damaged(
    scanned: Sequence[StoredManifest | DamagedManifest], level: VerifyLevel
) -> list[BackupVerification]:
    """One FAILED, skipped result per damaged manifest, its damage as the problem."""
    results = []
    for damaged in scanned:
        if isinstance(damaged, DamagedManifest):
            result = BackupVerification(damaged.backup_id, BackupStatusCode.FAILED, level)
            result.skipped = "its manifest is damaged"
            result.problems.append(
                VerifyProblem(
                    damaged.backup_id,
                    "",
                    damaged.key,
                    ProblemKind.DAMAGED,
                    f"damaged manifest: {damaged.error.message}",
                )
            )
            results.append(result)
    return results


async def _planned_checks(
    store: InspectableStore, stored: StoredManifest, result: BackupVerification, claimed: bool
) -> list[_FileCheck]:
    """The file checks of one backup, with its integrity record's entries; a
    backup that is not COMPLETED is skipped, one without a record is checked for
    presence (a problem when our stores wrote the location)."""
    manifest = stored.manifest
    files = manifest.files()
    if manifest.status_code is not BackupStatusCode.COMPLETED:
        result.skipped = (
            f"status is {manifest.status_code.value}; only COMPLETED backups are verified"
        )
        return []
    try:
        records = await store.read_integrity(stored)
    except BackupStoreError as error:
        # An unreadable record is a problem of the backup; check presence anyway.
        result.problems.append(
            VerifyProblem(manifest.id, "", error.key, ProblemKind.UNREADABLE, error.message)
        )
        result.level = VerifyLevel.PRESENCE
        return [_FileCheck(stored, result, fs, e, None) for fs, e in files]
    if records is None:
        result.has_integrity_record = False
        wanted, result.level = result.level, VerifyLevel.PRESENCE
        if claimed:
            # Our stores wrote here: a lost or stale record must not pass silently.
            result.problems.append(
                VerifyProblem(
                    manifest.id,
                    "",
                    stored.layout.integrity_key(manifest.id),
                    ProblemKind.NO_RECORD,
                    NO_RECORD_MESSAGE,
                )
            )
        else:
            result.notes.append(
                ZEEBE_WRITTEN_READ_NOTE if wanted is VerifyLevel.CHECKSUM else ZEEBE_WRITTEN_NOTE
            )
    checks = []
    for file_set, entry in files:
        record = records.get(record_name(file_set, entry.name)) if records is not None else None
        check = _FileCheck(stored, result, file_set, entry, record)
        if records is not None and record is None:
            result.problems.append(
                _problem(
                    check,
                    store,
                    ProblemKind.NO_RECORD,
                    "the integrity record has no entry for this file",
                )
            )
            continue
        checks.append(check)
    return checks


async def _find_unaccounted(
    store: InspectableStore, report: VerifyReport, manifests: list[StoredManifest]
) -> None:
    """Add, to each COMPLETED backup, the objects under its folder nothing accounts for."""
    completed = [s for s in manifests if s.manifest.status_code is BackupStatusCode.COMPLETED]
    results = {r.backup_id: r for r in report.backups}
    listings = await run_bounded(
        [functools.partial(store.backup_keys, stored) for stored in completed],
        store.max_concurrency,
    )
    for stored, keys in zip(completed, listings, strict=True):
        results[stored.manifest.id].problems.extend(_unaccounted(store, stored, keys))


def _sampled(
    checks: list[_FileCheck], report: VerifyReport, sample_percent: float, seed: int | None
) -> list[_FileCheck]:
    """A random share of the checks (at least one), noted on every verified backup."""
    count = max(1, math.ceil(len(checks) * sample_percent / 100))
    chosen = set(map(id, random.Random(seed).sample(checks, count)))
    for result in report.backups:
        if result.skipped is None:
            result.notes.append(f"sampled {sample_percent:g}% of all files")
    return [c for c in checks if id(c) in chosen]


async def _run_checks(
    store: InspectableStore, checks: list[_FileCheck], level: VerifyLevel, progress: Progress
) -> None:
    """Check the files, bounded; at the checksum level with the bytes read as progress."""
    if level is VerifyLevel.CHECKSUM:
        total = sum(c.record.size for c in checks if c.record is not None)
        progress.start("verifying checksums", total if all(c.record for c in checks) else None)
    try:
        await run_bounded(
            [functools.partial(_check_file, store, c, level, progress) for c in checks],
            store.max_concurrency,
        )
    finally:
        if level is VerifyLevel.CHECKSUM:
            progress.finish()


def _unaccounted(
    store: InspectableStore, stored: StoredManifest, keys: list[str]
) -> list[VerifyProblem]:
    """Objects under a backup's folder that neither its manifest nor we wrote
    (leftovers of an earlier backup of the id, of a killed upload...)."""
    accounted = {
        store.file_key(stored, file_set, entry) for file_set, entry in stored.manifest.files()
    }
    accounted.add(stored.layout.integrity_key(stored.manifest.id))
    return [
        VerifyProblem(
            stored.manifest.id,
            "",
            key,
            ProblemKind.UNACCOUNTED,
            "no manifest accounts for this object under the backup's folder",
        )
        for key in sorted(keys)
        if key not in accounted
    ]


def _problem(
    check: _FileCheck,
    store: InspectableStore,
    kind: ProblemKind,
    message: str,
    expected: str | int | None = None,
    actual: str | int | None = None,
) -> VerifyProblem:
    return VerifyProblem(
        check.result.backup_id,
        check.label,
        store.file_key(check.stored, check.file_set, check.entry),
        kind,
        message,
        expected,
        actual,
    )


async def _check_file(
    store: InspectableStore, check: _FileCheck, level: VerifyLevel, progress: Progress
) -> None:
    result, record = check.result, check.record
    key = store.file_key(check.stored, check.file_set, check.entry)
    result.files_checked += 1
    try:
        meta = await store.stat(key)
    except BackupStoreError as error:
        result.problems.append(_problem(check, store, ProblemKind.UNREADABLE, error.message))
        return
    if meta is None:
        result.problems.append(_problem(check, store, ProblemKind.MISSING, "object is missing"))
        return
    size_checked = level.rank >= VerifyLevel.SIZE.rank and record is not None
    if size_checked and record is not None and meta.size != record.stored_size:
        what = "stored size" if record.stored_size != record.size else "size"
        result.problems.append(
            _problem(
                check,
                store,
                ProblemKind.SIZE_MISMATCH,
                f"object is {meta.size} bytes, the recorded {what} is {record.stored_size} bytes",
                record.stored_size,
                meta.size,
            )
        )
        return  # its checksum cannot match either; one precise problem is enough
    if level is not VerifyLevel.CHECKSUM:
        return
    digest = Digest()
    try:
        async for chunk in store.open_file(check.stored, check.file_set, check.entry):
            digest.update(chunk)
            progress.advance(len(chunk))
    except BackupStoreError as error:
        missing = isinstance(error, ObjectNotFoundError)
        kind = ProblemKind.MISSING if missing else ProblemKind.UNREADABLE
        result.problems.append(_problem(check, store, kind, error.message))
        return
    finally:
        result.bytes_read += digest.size
    if record is None:
        return
    if digest.size != record.size:
        result.problems.append(
            _problem(
                check,
                store,
                ProblemKind.SIZE_MISMATCH,
                f"content is {digest.size} bytes, the recorded size is {record.size} bytes",
                record.size,
                digest.size,
            )
        )
    elif digest.sha256 != record.sha256:
        result.problems.append(
            _problem(
                check,
                store,
                ProblemKind.CHECKSUM_MISMATCH,
                f"SHA-256 is {digest.sha256}, the recorded SHA-256 is {record.sha256}",
                record.sha256,
                digest.sha256,
            )
        )
