"""The operations layer: what the CLI, the service and the tools share.

Each piece of logic that more than one front end needs lives here once:
opening a store from a URL or ``env:NAME``, deleting partition backups the way
the management API does (mark IN_PROGRESS ones FAILED first), grouping
statuses by backup id, the JSON form of ids and statuses, and progress
reporting. Aggregation into the API's view is :mod:`backup_store.aggregate`;
bounded concurrency is :func:`backup_store.concurrency.run_bounded`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import partial
from typing import Any, Protocol

from backup_store.concurrency import run_bounded
from backup_store.contract.inspectable import InspectableStore
from backup_store.contract.store import DELETING_REASON
from backup_store.errors import ConfigurationError, ManifestParseError
from backup_store.model import BackupIdentifier, BackupStatus, BackupStatusCode
from backup_store.registry import open_store

ENV_PREFIX = "env:"
"""``env:NAME`` in place of a URL reads the URL from the environment variable NAME,
which keeps credentials in a URL out of the command line and shell history."""


def resolve_store_url(value: str) -> str:
    """The store URL itself, or the value of ``NAME`` for ``env:NAME``.

    Raises:
        ConfigurationError: the environment variable is not set.
    """
    if not value.startswith(ENV_PREFIX):
        return value
    name = value.removeprefix(ENV_PREFIX)
    url = os.environ.get(name)
    if not url:
        raise ConfigurationError(f"environment variable {name!r} is not set")
    return url


def open_store_url(value: str) -> InspectableStore:
    """Open the store a URL (or ``env:NAME``) names."""
    return open_store(resolve_store_url(value))


async def delete_partition_backups(
    store: InspectableStore,
    ids: Iterable[BackupIdentifier],
    in_progress: Iterable[BackupIdentifier] = (),
) -> None:
    """Delete partition backups; those ``in_progress`` are marked FAILED first.

    Raises:
        BackupStoreError: the first failure (the others are cancelled).
    """
    failing = sorted(set(in_progress))
    await run_bounded(
        [partial(store.mark_failed, i, DELETING_REASON) for i in failing], store.max_concurrency
    )
    everything = sorted(set(ids) | set(failing))
    await run_bounded([partial(store.delete, i) for i in everything], store.max_concurrency)


def split_damaged(
    statuses: Iterable[BackupStatus],
) -> tuple[list[BackupStatus], list[BackupStatus]]:
    """The statuses of readable manifests, and those of damaged ones
    (:attr:`BackupStatus.damaged`), which nothing deletes or migrates as backups."""
    statuses = list(statuses)
    return [s for s in statuses if not s.damaged], [s for s in statuses if s.damaged]


def damaged_left_error(damaged: Iterable[BackupStatus]) -> ManifestParseError:
    """The error reporting damaged manifests left in place by a delete."""
    found = "; ".join(f"{s.id}: {s.damage}" for s in damaged)
    return ManifestParseError(
        f"left in place, the manifest is damaged (inspect and remove it by hand): {found}"
    )


async def delete_statuses(store: InspectableStore, statuses: Iterable[BackupStatus]) -> None:
    """Delete the listed partition backups, marking IN_PROGRESS ones FAILED first.

    Raises:
        ManifestParseError: some have damaged manifests: those are left in place,
            the others are deleted.
    """
    statuses, damaged = split_damaged(statuses)
    in_progress = [s.id for s in statuses if s.status_code is BackupStatusCode.IN_PROGRESS]
    await delete_partition_backups(store, [s.id for s in statuses], in_progress)
    if damaged:
        raise damaged_left_error(damaged)


def by_checkpoint(statuses: Iterable[BackupStatus]) -> dict[int, list[BackupStatus]]:
    """Partition backups grouped by backup (checkpoint) id."""
    grouped: dict[int, list[BackupStatus]] = {}
    for status in statuses:
        grouped.setdefault(status.id.checkpoint_id, []).append(status)
    return grouped


def id_json(backup_id: BackupIdentifier) -> dict[str, int]:
    """A partition backup's id as JSON."""
    return {
        "nodeId": backup_id.node_id,
        "partitionId": backup_id.partition_id,
        "checkpointId": backup_id.checkpoint_id,
    }


def status_json(status: BackupStatus) -> dict[str, Any]:
    """One partition backup's status as JSON (absent fields omitted)."""
    out: dict[str, Any] = {
        "checkpointId": status.id.checkpoint_id,
        "partitionId": status.id.partition_id,
        "nodeId": status.id.node_id,
        "status": status.status_code.value,
    }
    if status.id.zone is not None:
        out["zone"] = status.id.zone
    descriptor = status.descriptor
    optional = {
        "failureReason": status.failure_reason,
        "createdAt": str(status.created) if status.created else None,
        "lastModifiedAt": str(status.last_modified) if status.last_modified else None,
        "snapshotId": descriptor.snapshot_id if descriptor else None,
        "checkpointPosition": descriptor.checkpoint_position if descriptor else None,
        "numberOfPartitions": descriptor.number_of_partitions if descriptor else None,
        "brokerVersion": descriptor.broker_version if descriptor else None,
        "damaged": True if status.damaged else None,
    }
    out.update((k, v) for k, v in optional.items() if v is not None)
    return out


class Progress(Protocol):
    """Receives progress of a long-running operation, in bytes.

    ``start`` opens a phase (``total`` bytes, ``None`` when unknown), ``advance``
    reports bytes done in the current phase, ``finish`` closes it.
    """

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, amount: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """A :class:`Progress` that ignores everything."""

    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass
