"""Retention: which backup ids may go, and removing them safely.

One policy serves the ``backup-store prune`` command and the service's
scheduled clean-up. It works on backup *ids* (every partition and node of an id
together), oldest first; the age of an id is the newest ``createdAt`` among its
manifests.

* ``keep_last=N`` keeps the N newest COMPLETED ids; ``max_age`` keeps ids younger
  than the window; with both, an id is kept if either rule keeps it (restic's
  meaning).
* Never deleted, whatever the rules say: the newest COMPLETED id (and the highest
  COMPLETED id, should clock skew or manual ids make it another one), so at least
  one complete backup always remains; any id with a partition backup IN_PROGRESS
  (shown with its age: a backup left IN_PROGRESS by a dead node stays visible);
  any id newer than the newest COMPLETED one; and any id with a manifest that
  cannot be read (shown, never touched).
* Everything else outside the policy goes, FAILED and incomplete ids included, but
  for an id a kept range still needs (Zeebe 8.9's rule: retention shortens a
  partition's range from its old end, never cuts a hole into it;
  :mod:`backup_store.tools.retention_ranges`).

:func:`plan_retention` is the policy as a pure function of what the store holds
and the time (read with the store's own ``list``, where a damaged manifest is a
status flagged ``damaged``); :func:`prune` executes a plan with the store's own
delete, one id after the other, so a prune killed half-way and run again, or two
prunes at once, end where one would.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import Enum
from typing import Any

from backup_store.aggregate import BackupState, aggregate, partition_count_of
from backup_store.concurrency import run_bounded
from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import BackupStoreError, ConfigurationError
from backup_store.format.instant import Instant
from backup_store.model import (
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
)
from backup_store.tools.retention_ranges import needed_by_ranges
from backup_store.units import format_age, format_duration

DEFAULT_CONCURRENCY = 4
"""Partition backups deleted at once."""
DELETE_ATTEMPTS = 3
"""A delete that fails is tried again (another prune may be removing the same objects)."""


@dataclass(frozen=True)
class RetentionPolicy:
    """Which ids to keep: the N newest COMPLETED ones, those younger than a window, or both.

    Raises:
        ConfigurationError: neither rule is given, or ``keep_last`` is below 1.
    """

    keep_last: int | None = None
    max_age: timedelta | None = None

    def __post_init__(self) -> None:
        if self.keep_last is None and self.max_age is None:
            raise ConfigurationError("a retention policy needs keep-last, max-age, or both")
        if self.keep_last is not None and (
            isinstance(self.keep_last, bool)
            or not isinstance(self.keep_last, int)
            or self.keep_last < 1
        ):
            raise ConfigurationError(f"keep-last must be at least 1, got {self.keep_last!r}")
        if self.max_age is not None and self.max_age <= timedelta(0):
            raise ConfigurationError("max-age must be longer than zero")

    def describe(self) -> str:
        rules = []
        if self.keep_last is not None:
            rules.append(f"keep the {self.keep_last} newest completed")
        if self.max_age is not None:
            rules.append(f"keep ids younger than {format_duration(self.max_age)}")
        return " or ".join(rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "keepLast": self.keep_last,
            "maxAge": format_duration(self.max_age) if self.max_age is not None else None,
        }


class Action(Enum):
    KEEP = "keep"
    DELETE = "delete"


class Rule(Enum):
    """Why an id is kept or deleted (machine-readable; the plan also says it in words)."""

    DAMAGED = "damaged"
    DELETED = "deleted"
    """A Zeebe 8.9+ tombstone: skipped; ``delete`` of the id finishes it."""
    IN_PROGRESS = "in-progress"
    NEWEST_COMPLETED = "newest-completed"
    NEWER_THAN_NEWEST_COMPLETED = "newer-than-newest-completed"
    KEEP_LAST = "keep-last"
    MAX_AGE = "max-age"
    RANGE = "range"
    """Zeebe 8.9's rule: a kept range of a partition still needs it (no hole in a range)."""
    NO_AGE = "no-age"
    OUTSIDE_POLICY = "outside-policy"


@dataclass(frozen=True)
class PlannedId:
    """The decision for one backup id, with the partition backups it covers."""

    backup_id: int
    action: Action
    rule: Rule
    reason: str
    state: str
    """The id's aggregated state (COMPLETED, FAILED, INCOMPLETE, IN_PROGRESS, DELETED) or
    DAMAGED."""
    age: Instant | None
    """The newest ``createdAt`` among the id's manifests."""
    partition_backups: tuple[BackupIdentifier, ...]
    """Every (node, partition, id) with a manifest, damaged ones included."""

    def to_json(self) -> dict[str, Any]:
        return {
            "backupId": self.backup_id,
            "action": self.action.value,
            "rule": self.rule.value,
            "reason": self.reason,
            "state": self.state,
            "createdAt": self.age.iso() if self.age is not None else None,
            "partitionBackups": [
                {"nodeId": i.node_id, "partitionId": i.partition_id} for i in self.partition_backups
            ],
        }


@dataclass(frozen=True)
class RetentionPlan:
    """What a prune will do: one entry per backup id, oldest first."""

    policy: RetentionPolicy
    now: Instant
    entries: tuple[PlannedId, ...]

    @property
    def to_delete(self) -> list[PlannedId]:
        return [e for e in self.entries if e.action is Action.DELETE]

    @property
    def to_keep(self) -> list[PlannedId]:
        return [e for e in self.entries if e.action is Action.KEEP]


@dataclass
class _IdFacts:
    statuses: list[BackupStatus] = field(default_factory=list)
    damaged: list[BackupStatus] = field(default_factory=list)

    @property
    def age(self) -> Instant | None:
        created = [s.created for s in self.statuses if s.created is not None]
        return max(created) if created else None


def _order_key(backup_id: int, age: Instant | None) -> tuple[int, int]:
    # Oldest first: by age, then by id; an id without any date sorts by id among the oldest.
    return (age.epoch_nanos if age is not None else -1, backup_id)


def plan_retention(
    statuses: Iterable[BackupStatus],
    policy: RetentionPolicy,
    now: Instant,
    *,
    partition_count: int | None = None,
) -> RetentionPlan:
    """The retention plan for a store's contents at time ``now`` (pure: no I/O).

    Args:
        statuses: every manifest's status (any nodes, partitions, ids; in any
            order), as ``list`` gives them: a damaged manifest's status is flagged
            :attr:`~backup_store.model.BackupStatus.damaged` and keeps its whole id.
            ``DOES_NOT_EXIST`` entries are ignored.
        policy: the rules.
        now: the time the ages are measured against.
        partition_count: the cluster's partition count; an id's descriptors
            (``numberOfPartitions``) count too, the larger wins, as in the API.

    Returns:
        One :class:`PlannedId` per id, oldest first. The plan depends only on the
        contents, never on their order.
    """
    facts: dict[int, _IdFacts] = {}
    statuses = list(statuses)
    for status in statuses:
        if status.status_code is not BackupStatusCode.DOES_NOT_EXIST:
            found = facts.setdefault(status.id.checkpoint_id, _IdFacts())
            (found.damaged if status.damaged else found.statuses).append(status)
    store = _StoreFacts.of(facts, policy, now, partition_count)
    entries = []
    for backup_id in sorted(facts, key=lambda b: _order_key(b, facts[b].age)):
        f = facts[backup_id]
        rule, reason = next(
            decided for rule in RULES if (decided := rule(store, backup_id, f)) is not None
        )
        entries.append(
            PlannedId(
                backup_id,
                Action.DELETE if rule is Rule.OUTSIDE_POLICY else Action.KEEP,
                rule,
                reason,
                "DAMAGED" if f.damaged else store.states[backup_id].value,
                f.age,
                tuple(
                    sorted(
                        {s.id for s in f.statuses} | {d.id for d in f.damaged},
                        key=lambda i: (i.partition_id, i.node_id),
                    )
                ),
            )
        )
    return RetentionPlan(policy, now, tuple(_keep_what_ranges_need(entries, statuses)))


def _keep_what_ranges_need(
    entries: list[PlannedId], statuses: Sequence[BackupStatus]
) -> list[PlannedId]:
    kept = [e.backup_id for e in entries if e.action is Action.KEEP]
    # Zeebe before 8.9 kept no ranges: its backups (no first log position) stand alone.
    ranged = [
        s
        for s in statuses
        if not s.damaged
        and s.descriptor is not None
        and s.descriptor.first_log_position is not None
    ]
    needed = needed_by_ranges(ranged, kept)
    return [
        replace(e, action=Action.KEEP, rule=Rule.RANGE, reason=needed[e.backup_id])
        if e.backup_id in needed
        else e
        for e in entries
    ]


@dataclass(frozen=True)
class _StoreFacts:
    """What the rules compare one id against: the policy and the store's completed ids."""

    policy: RetentionPolicy
    now: Instant
    states: dict[int, BackupState]
    protected_completed: set[int]
    """The newest completed id by age and the highest completed id."""
    newest_key: tuple[int, int] | None
    """The order key of the newest completed id (``None``: no completed id)."""
    highest: int
    kept_by_count: set[int]
    window: str

    @classmethod
    def of(
        cls,
        facts: dict[int, _IdFacts],
        policy: RetentionPolicy,
        now: Instant,
        partition_count: int | None,
    ) -> _StoreFacts:
        # As the API counts partitions: the cluster's count or the descriptors', the larger.
        states = {
            backup_id: aggregate(
                backup_id,
                f.statuses,
                max(partition_count or 0, partition_count_of(f.statuses) or 0) or None,
            ).state
            for backup_id, f in facts.items()
        }
        completed = [
            b for b, f in facts.items() if states[b] is BackupState.COMPLETED and not f.damaged
        ]
        ordered = sorted(completed, key=lambda b: _order_key(b, facts[b].age))
        newest = ordered[-1] if ordered else None
        return cls(
            policy,
            now,
            states,
            set(ordered[-1:]) | set(sorted(completed)[-1:]),
            _order_key(newest, facts[newest].age) if newest is not None else None,
            max(completed, default=0),
            set(ordered[-policy.keep_last :] if policy.keep_last is not None else []),
            format_duration(policy.max_age) if policy.max_age is not None else "",
        )


_Decision = tuple[Rule, str] | None
"""A rule's decision for an id (the rule and the reason in words), ``None``: not this rule."""


def _damaged(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    if not f.damaged:
        return None
    first = min(f.damaged, key=lambda d: (d.id.partition_id, d.id.node_id))
    return Rule.DAMAGED, (
        f"kept: damaged manifest (partition {first.id.partition_id}, node "
        f"{first.id.node_id}: {first.damage})"
    )


def _deleted(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    if store.states[backup_id] is not BackupState.DELETED:
        return None
    return Rule.DELETED, "skipped: DELETED (being deleted); delete the id to finish"


def _in_progress(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    in_progress = [s for s in f.statuses if s.status_code is BackupStatusCode.IN_PROGRESS]
    if not in_progress:
        return None
    since = min((s.created for s in in_progress if s.created), default=None)
    if since is None:
        return Rule.IN_PROGRESS, "kept: in progress"
    ago = format_age(between(since, store.now))
    return Rule.IN_PROGRESS, f"kept: in progress since {since.iso()} ({ago} ago)"


def _newest_completed(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    if backup_id not in store.protected_completed:
        return None
    return Rule.NEWEST_COMPLETED, "kept: newest completed"


def _newer_than_newest_completed(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    if store.newest_key is None:
        return Rule.NEWER_THAN_NEWEST_COMPLETED, "kept: no completed backup yet"
    if _order_key(backup_id, f.age) > store.newest_key or backup_id > store.highest:
        return Rule.NEWER_THAN_NEWEST_COMPLETED, "kept: newer than the newest completed"
    return None


def _keep_last(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    if backup_id not in store.kept_by_count:
        return None
    return Rule.KEEP_LAST, f"kept: one of the {store.policy.keep_last} newest completed"


def _no_age(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    return (Rule.NO_AGE, "kept: no creation time recorded") if f.age is None else None


def _max_age(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    max_age = store.policy.max_age
    if max_age is None or f.age is None or between(f.age, store.now) >= max_age:
        return None
    return Rule.MAX_AGE, f"kept: younger than {store.window}"


def _outside_policy(store: _StoreFacts, backup_id: int, f: _IdFacts) -> _Decision:
    reasons = []
    if store.policy.max_age is not None:
        reasons.append(f"older than {store.window}")
    if store.policy.keep_last is not None:
        state = store.states[backup_id]
        reasons.append(
            f"not one of the {store.policy.keep_last} newest completed"
            if state is BackupState.COMPLETED
            else f"{state.value.lower()}, not completed"
        )
    return Rule.OUTSIDE_POLICY, ", ".join(reasons)


RULES: tuple[Callable[[_StoreFacts, int, _IdFacts], _Decision], ...] = (
    _damaged,
    _deleted,
    _in_progress,
    _newest_completed,
    _newer_than_newest_completed,
    _keep_last,
    _no_age,
    _max_age,
    _outside_policy,
)
"""The rules in the order they are asked: the first that decides an id decides it."""


def between(earlier: Instant, later: Instant) -> timedelta:
    """The time from ``earlier`` to ``later`` (microsecond precision)."""
    return timedelta(microseconds=(later.epoch_nanos - earlier.epoch_nanos) // 1000)


# ---------------------------------------------------------------- pruning


class Outcome(Enum):
    PLANNED = "planned"
    """Dry run: would be deleted."""
    DELETED = "deleted"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Changed since it was planned (for example now IN_PROGRESS): left alone."""


@dataclass(frozen=True)
class PruneResult:
    entry: PlannedId
    outcome: Outcome
    message: str = ""


@dataclass(frozen=True)
class PruneReport:
    plan: RetentionPlan
    dry_run: bool
    results: tuple[PruneResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.outcome is not Outcome.FAILED for r in self.results)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)


async def prune(
    store: InspectableStore,
    policy: RetentionPolicy,
    *,
    now: Instant | None = None,
    dry_run: bool = False,
    partition_count: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    confirm: Callable[[RetentionPlan], Awaitable[bool]] | None = None,
    on_deleted: Callable[[BackupIdentifier], Awaitable[None]] | None = None,
) -> PruneReport:
    """Plan with :func:`plan_retention` and delete the ids it selects, oldest first.

    Each id is checked again just before it goes (a partition backup that became
    IN_PROGRESS or damaged since the plan leaves the whole id alone) and then
    every partition backup of it is removed with the store's ``delete``. A failure
    on one id does not stop the others; the report says which failed.

    Args:
        now: the time ages are measured against (default: the wall clock).
        dry_run: plan only; nothing is changed.
        confirm: asked with the plan before anything is deleted; False stops.
        on_deleted: called after each partition backup is deleted (progress).

    Raises:
        BackupStoreError: the store could not be read; nothing was deleted.
    """
    plan = plan_retention(
        await store.list(BackupIdentifierWildcard()),
        policy,
        now if now is not None else Instant.now(),
        partition_count=partition_count,
    )
    if dry_run:
        planned = tuple(PruneResult(e, Outcome.PLANNED) for e in plan.to_delete)
        return PruneReport(plan, True, planned)
    if confirm is not None and plan.to_delete and not await confirm(plan):
        return PruneReport(plan, False, ())
    results = [await _delete_id(store, entry, concurrency, on_deleted) for entry in plan.to_delete]
    return PruneReport(plan, False, tuple(results))


async def _delete_id(
    store: InspectableStore,
    entry: PlannedId,
    concurrency: int,
    on_deleted: Callable[[BackupIdentifier], Awaitable[None]] | None,
) -> PruneResult:
    try:
        current = await store.list(BackupIdentifierWildcard(checkpoint=entry.backup_id))
    except BackupStoreError as error:
        return PruneResult(entry, Outcome.FAILED, str(error))
    if any(s.damaged for s in current):
        return PruneResult(entry, Outcome.SKIPPED, "a manifest became unreadable; left alone")
    if any(s.status_code is BackupStatusCode.IN_PROGRESS for s in current):
        return PruneResult(entry, Outcome.SKIPPED, "a partition backup is now in progress")
    ids = sorted({s.id for s in current})  # (list gives existing manifests only)

    async def delete(backup_id: BackupIdentifier) -> str | None:
        error: BackupStoreError | None = None
        for _attempt in range(DELETE_ATTEMPTS):
            try:
                await store.delete(backup_id)
            except BackupStoreError as failure:
                error = failure
                continue
            if on_deleted is not None:
                await on_deleted(backup_id)
            return None
        return f"{backup_id}: {error}"

    problems = [
        p for p in await run_bounded([functools.partial(delete, i) for i in ids], concurrency) if p
    ]
    if problems:
        return PruneResult(entry, Outcome.FAILED, "; ".join(problems))
    return PruneResult(entry, Outcome.DELETED)


def entries_json(report: PruneReport) -> list[dict[str, Any]]:
    """The plan's entries as JSON, each with the outcome of this run."""
    outcomes = {r.entry.backup_id: r for r in report.results}
    out = []
    for entry in report.plan.entries:
        item = entry.to_json()
        result = outcomes.get(entry.backup_id)
        item["outcome"] = result.outcome.value if result else "kept"
        if result is not None and result.message:
            item["message"] = result.message
        out.append(item)
    return out


def summarize(entries: Sequence[PlannedId]) -> str:
    """``3 ids (7 partition backups)``."""
    count = sum(len(e.partition_backups) for e in entries)
    return (
        f"{len(entries)} id{'s' if len(entries) != 1 else ''} "
        f"({count} partition backup{'s' if count != 1 else ''})"
    )
