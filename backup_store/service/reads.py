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

from backup_store.aggregate import BackupInfo
from backup_store.model import BackupStatus


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
