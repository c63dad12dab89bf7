"""Point-in-time restore planning: one checkpoint common to every partition, and each
partition's chain of backups up to it.

:func:`plan_restore` is pure: it decides from each partition's
:class:`~backup_store.tools.ranges.PartitionRanges` (read by
:mod:`backup_store.tools.point_in_time`). A checkpoint can be restored on a
partition when the partition has it (a usable backup, or a marker) inside a range
whose first backup is at or before ``from_`` (when given): the chain is that
range's backups from its start to the first backup at or after the checkpoint.

Which checkpoint, among those every partition can restore:

* by default the latest (by time, then id) at or before ``to``: nothing after the
  time asked for;
* ``nearest=True``: Zeebe's choice, the one closest to ``to`` in either direction
  (times of the lowest partition; a tie goes to the lower id), or the latest
  without ``to``;
* ``backup_ids``: exactly those backups on every partition, as one chain per
  partition ending at the highest id.

Unlike Zeebe's dry run, the plan names every candidate it rejected with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backup_store.errors import BackupStoreError
from backup_store.format.instant import Instant
from backup_store.tools.ranges import Checkpoint, PartitionRanges, joins

LATEST = "latest-at-or-before"
NEAREST = "nearest"
EXPLICIT = "backup-ids"


@dataclass(frozen=True)
class PlanRequest:
    """What is asked: the time window, or the backup ids."""

    to: Instant | None = None
    from_: Instant | None = None
    backup_ids: tuple[int, ...] | None = None
    nearest: bool = False

    @property
    def mode(self) -> str:
        return EXPLICIT if self.backup_ids else NEAREST if self.nearest else LATEST

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "to": self.to.iso() if self.to else None,
            "from": self.from_.iso() if self.from_ else None,
            "backupIds": list(self.backup_ids) if self.backup_ids else None,
        }


@dataclass(frozen=True)
class Rejected:
    checkpoint_id: int
    reason: str


@dataclass(frozen=True)
class RestorePlan:
    """The chosen checkpoint, its time (the latest of its partitions'), and per
    partition the backups to restore, oldest first."""

    request: PlanRequest
    checkpoint_id: int
    time: Instant | None
    chains: Mapping[int, tuple[Checkpoint, ...]]
    sources: Mapping[int, str]
    rejected: tuple[Rejected, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request.to_json(),
            "checkpointId": self.checkpoint_id,
            "time": self.time.iso() if self.time else None,
            "partitions": [
                {
                    "partitionId": p,
                    "source": self.sources[p],
                    "backups": [_checkpoint_json(c) for c in chain],
                }
                for p, chain in sorted(self.chains.items())
            ],
            "rejected": [
                {"checkpointId": r.checkpoint_id, "reason": r.reason} for r in self.rejected
            ],
        }


def _checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "checkpointId": checkpoint.checkpoint_id,
        "nodeId": checkpoint.node_id,
        "type": checkpoint.type.value,
        "time": checkpoint.time.iso() if checkpoint.time else None,
    }


class NoRestorePlanError(BackupStoreError):
    """No checkpoint satisfies the request; ``rejected`` says why for each candidate."""

    def __init__(self, message: str, rejected: Sequence[Rejected] = ()) -> None:
        super().__init__(message)
        self.rejected = tuple(rejected)


def checkpoint_time(partitions: Sequence[PartitionRanges], checkpoint_id: int) -> Instant | None:
    """The latest time any partition recorded for the checkpoint (None: one has none)."""
    times = []
    for partition in partitions:
        found = partition.checkpoint(checkpoint_id)
        if found is None or found.time is None:
            return None
        times.append(found.time)
    return max(times) if times else None


def why_not(
    partitions: Sequence[PartitionRanges], checkpoint_id: int, from_: Instant | None
) -> str | None:
    """Why the checkpoint cannot be restored on every partition (None: it can)."""
    for partition in partitions:
        p = partition.partition_id
        found = partition.checkpoint(checkpoint_id)
        if found is None:
            unusable = partition.unusable.get(checkpoint_id)
            return f"partition {p}: {unusable}" if unusable else f"not on partition {p}"
        backup_range = partition.range_of(found)
        if backup_range is None:
            return f"partition {p}: in a gap between ranges"
        start = backup_range.start
        if from_ is not None and (start.time is None or start.time > from_):
            began = start.time.iso() if start.time else "an unknown time"
            return (
                f"partition {p}: its range starts at checkpoint {start.checkpoint_id} "
                f"({began}), after --from"
            )
    return None


def plan_restore(partitions: Sequence[PartitionRanges], request: PlanRequest) -> RestorePlan:
    """The restore plan for the request.

    Raises:
        NoRestorePlanError: no checkpoint qualifies; the message says why.
    """
    ordered = sorted(partitions, key=lambda p: p.partition_id)
    if not ordered:
        raise NoRestorePlanError("no partition has a backup")
    if request.backup_ids:
        return _explicit(ordered, request)
    candidates = sorted(
        {c.checkpoint_id for p in ordered for c in p.checkpoints}
        | {c for p in ordered for c in p.unusable}
    )
    reasons: dict[int, str] = {}
    eligible: list[tuple[int, Instant | None]] = []
    for candidate in candidates:
        reason = why_not(ordered, candidate, request.from_)
        time = checkpoint_time(ordered, candidate)
        if reason is None and request.to is not None and not request.nearest:
            if time is None:
                reason = "no time recorded"
            elif time > request.to:
                reason = f"after --to ({time.iso()})"
        if reason is None:
            eligible.append((candidate, time))
        else:
            reasons[candidate] = reason
    if not eligible:
        raise NoRestorePlanError(_nothing(request), _rejections(reasons))
    chosen = _nearest(ordered[0], eligible, request.to) if request.nearest else _latest(eligible)
    for candidate, _ in eligible:
        if candidate != chosen:
            reasons[candidate] = (
                f"farther from --to than checkpoint {chosen}"
                if request.nearest and request.to is not None
                else f"earlier than checkpoint {chosen}"
            )
    return _plan(ordered, request, chosen, reasons)


def _latest(eligible: Sequence[tuple[int, Instant | None]]) -> int:
    return max(eligible, key=lambda e: (e[1].epoch_nanos if e[1] else -1, e[0]))[0]


def _nearest(
    first: PartitionRanges, eligible: Sequence[tuple[int, Instant | None]], to: Instant | None
) -> int:
    if to is None:
        return max(c for c, _ in eligible)

    def distance(candidate: int) -> tuple[int, int]:
        found = first.checkpoint(candidate)
        time = found.time if found else None
        gap = abs(time.epoch_nanos - to.epoch_nanos) if time else 2**127
        return gap, candidate

    return min((c for c, _ in eligible), key=distance)


def _plan(
    ordered: Sequence[PartitionRanges], request: PlanRequest, chosen: int, reasons: dict[int, str]
) -> RestorePlan:
    return RestorePlan(
        request,
        chosen,
        checkpoint_time(ordered, chosen),
        {p.partition_id: p.chain_to(chosen) for p in ordered},
        {p.partition_id: p.source for p in ordered},
        _rejections(reasons),
    )


def _rejections(reasons: Mapping[int, str]) -> tuple[Rejected, ...]:
    return tuple(Rejected(c, reasons[c]) for c in sorted(reasons))


def _nothing(request: PlanRequest) -> str:
    if request.to is not None and not request.nearest:
        return f"no checkpoint every partition can restore at or before {request.to.iso()}"
    return "no checkpoint every partition can restore"


def _explicit(ordered: Sequence[PartitionRanges], request: PlanRequest) -> RestorePlan:
    """Exactly the given backups on every partition, joined into one chain each."""
    assert request.backup_ids
    ids = sorted(set(request.backup_ids))
    chains: dict[int, tuple[Checkpoint, ...]] = {}
    for partition in ordered:
        chain: list[Checkpoint] = []
        for backup_id in ids:
            found = partition.checkpoint(backup_id)
            if found is None or not found.is_backup:
                why = partition.unusable.get(backup_id, "no backup")
                raise NoRestorePlanError(
                    f"backup {backup_id} cannot be restored on partition "
                    f"{partition.partition_id}: {why}",
                    [Rejected(backup_id, f"partition {partition.partition_id}: {why}")],
                )
            if chain and not joins(chain[-1], found):
                raise NoRestorePlanError(
                    f"partition {partition.partition_id}: backup {backup_id}'s log does not "
                    f"continue backup {chain[-1].checkpoint_id}'s (a gap)",
                    [Rejected(backup_id, "a gap before it")],
                )
            chain.append(found)
        chains[partition.partition_id] = tuple(chain)
    return RestorePlan(
        request,
        ids[-1],
        checkpoint_time(ordered, ids[-1]),
        chains,
        {p.partition_id: p.source for p in ordered},
        (),
    )
