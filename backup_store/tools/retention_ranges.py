"""Retention over ranges: which ids a kept range still needs (pure).

Zeebe 8.9's retention (``BackupRetention``, ``docs/on-store-format.md``) deletes, per
partition, only backups older than its window, and moves the partition's range start
up to the earliest backup it keeps: it shortens a range from its old end, never cuts
a hole into one. Our policy works on ids across partitions, so an id the policy lets
go (an INCOMPLETE id, say, whose partition 1 backup is COMPLETED) can sit between two
kept backups of one partition's range; deleting it would split that range, and a
restore to the later kept backup could no longer start from the earlier one.

:func:`needed_by_ranges` finds those ids: on some partition, a COMPLETED backup of
the id lies in a range (:mod:`backup_store.tools.ranges`) with a kept backup before
it and one after it. Keeping an id can make another one needed (its other
partitions' backups are kept too), so the search repeats until nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from backup_store.model import BackupStatus
from backup_store.tools.ranges import BackupRange, from_statuses


def needed_by_ranges(statuses: Iterable[BackupStatus], kept: Iterable[int]) -> dict[int, str]:
    """Ids not in ``kept`` that a kept range needs, each with the reason in words."""
    listed = list(statuses)
    ranges = [
        (p, r)
        for p in sorted({s.id.partition_id for s in listed})
        for r in from_statuses(p, listed).ranges
    ]
    keeping = set(kept)
    needed: dict[int, str] = {}
    changed = True
    while changed:
        changed = False
        for partition, backup_range in ranges:
            for backup_id, reason in _holes(partition, backup_range, keeping):
                if backup_id not in keeping:
                    needed[backup_id] = reason
                    keeping.add(backup_id)
                    changed = True
    return needed


def _holes(
    partition: int, backup_range: BackupRange, kept: set[int]
) -> Sequence[tuple[int, str]]:
    ids = [b.checkpoint_id for b in backup_range.backups]
    inside = [i for i in ids if i in kept]
    if len(inside) < 2:
        return ()
    low, high = inside[0], inside[-1]
    span = f"{backup_range.start.checkpoint_id}..{backup_range.end.checkpoint_id}"
    return [
        (
            i,
            f"kept: partition {partition}'s range {span} needs it between kept "
            f"backups {max(k for k in inside if k < i)} and {min(k for k in inside if k > i)}",
        )
        for i in ids
        if low < i < high and i not in kept
    ]
