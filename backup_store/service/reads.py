"""Reads of many concurrent requests aggregated once.

Concurrent lists of one wildcard are handed the same list by the store
(:meth:`~backup_store.engine.ObjectBackupStore.list`); aggregating thousands of
backups again for each request would cost more than reading the store. An answer
is reused only for the very lists it was made from (matched by identity, kept
alive here so that an identity is never reused) and the same backups of this
process (running or not yet marked).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from backup_store.aggregate import BackupInfo, aggregate, partition_count_of
from backup_store.model import BackupStatus, BackupStatusCode
from backup_store.operations import by_checkpoint


class Aggregates:
    """The last few answers, with what each was made of."""

    def __init__(self, keep: int = 4) -> None:
        self._recent: deque[tuple[object, tuple[list[BackupStatus], ...], list[BackupInfo]]] = (
            deque(maxlen=keep)
        )

    def get(
        self,
        own: object,
        listed: Sequence[list[BackupStatus]],
        make: Callable[[], list[BackupInfo]],
    ) -> list[BackupInfo]:
        """The answer made of ``listed`` (the store's lists) and ``own`` (what this
        process adds), made by ``make`` unless made before."""
        for known_own, known_listed, infos in self._recent:
            if (
                known_own == own
                and len(known_listed) == len(listed)
                and all(a is b for a, b in zip(known_listed, listed, strict=True))
            ):
                return infos
        infos = make()
        self._recent.append((own, tuple(listed), infos))
        return infos


def found_statuses(listed: Sequence[list[BackupStatus]]) -> list[BackupStatus]:
    """The statuses of the store's lists, without ``DOES_NOT_EXIST`` ones."""
    gone = BackupStatusCode.DOES_NOT_EXIST
    return [s for result in listed for s in result if s.status_code is not gone]


def aggregated(
    checkpoint: int | str,
    listed: Sequence[list[BackupStatus]],
    running: list[BackupStatus],
    unmarked: list[BackupStatus],
    partition_count: int,
) -> list[BackupInfo]:
    """Backups of an id or a ``digits*`` pattern, highest first: the store's lists,
    then what this process knows of ids the store does not hold yet (``unmarked``:
    failed here, not yet marked; ``running``: IN_PROGRESS, taken before reading, so
    that a backup running then with no manifest yet when read is there)."""
    statuses = found_statuses(listed)
    stored = {s.id for s in statuses}
    statuses += [s for s in unmarked if s.id not in stored]
    found = stored | {s.id for s in unmarked}
    statuses += [r for r in running if r.id not in found]
    by_id = by_checkpoint(statuses)
    infos = [
        aggregate(
            backup_id,
            by_id[backup_id],
            max(partition_count, partition_count_of(by_id[backup_id]) or 0),
        )
        for backup_id in sorted(by_id, reverse=True)
    ]
    if isinstance(checkpoint, int):
        return infos
    # A listing leaves out backups that are only tombstones (management-api.md).
    gone = {BackupStatusCode.DELETED, BackupStatusCode.DOES_NOT_EXIST}
    return [i for i in infos if not all(d.state in gone for d in i.details)]
