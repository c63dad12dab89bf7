"""Point-in-time restore against a store: read each partition's ranges, plan, restore.

:func:`read_ranges` reads, per partition, Zeebe 8.9+'s metadata file where there is
one (then only the manifest *keys* are listed, to notice backups deleted since the
broker wrote it), else the partition's statuses through the store's ``list``, which
takes them from our listing catalog where it is current: either way no manifest is
read where a metadata file or the catalog is current.

:func:`restore_plan` writes each partition's chain as Zeebe's restore downloads a
chain before it joins the logs (``docs/on-store-format.md``, "Point-in-time
restore"): ``raft-partition/partitions/{p}/restoring-partition{p}-backup-{c}/``
under the target folder, one folder per backup holding its files flat, each
restored with the store's own ``restore`` (the same checks and staging).
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

from backup_store.aggregate import best_status
from backup_store.concurrency import run_bounded
from backup_store.contract.inspectable import NO_PROGRESS, InspectableStore, RestoreProgress
from backup_store.errors import InvalidBackupStateError, InvalidInputError
from backup_store.model import (
    Backup,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
)
from backup_store.tools.ranges import PartitionRanges, from_metadata, from_statuses
from backup_store.tools.restore_plan import PlanRequest, RestorePlan, plan_restore


async def read_partition_ranges(store: InspectableStore, partition_id: int) -> PartitionRanges:
    """One partition's ranges: from its metadata file, else from its backups' statuses."""
    metadata = await store.read_partition_metadata(partition_id)
    wildcard = BackupIdentifierWildcard(partition_id=partition_id)
    if metadata is not None:
        present = {i.checkpoint_id for i in await store.list_ids(wildcard)}
        return from_metadata(metadata, present)
    return from_statuses(partition_id, await store.list(wildcard))


async def read_ranges(store: InspectableStore) -> list[PartitionRanges]:
    """Every partition's ranges (partitions from the manifest keys), in partition order."""
    partitions = await store.list_partitions()
    calls = [functools.partial(read_partition_ranges, store, p) for p in partitions]
    return list(await run_bounded(calls, store.max_concurrency))


async def plan(store: InspectableStore, request: PlanRequest) -> RestorePlan:
    """The restore plan for the store's contents.

    Raises:
        NoRestorePlanError: no checkpoint qualifies (the reason and every rejection).
    """
    return plan_restore(await read_ranges(store), request)


def chain_folder(target: Path, partition_id: int, checkpoint_id: int) -> Path:
    """Where one backup of a partition's chain is written (Zeebe's download folder)."""
    partition = target / "raft-partition" / "partitions" / str(partition_id)
    return partition / f"restoring-partition{partition_id}-backup-{checkpoint_id}"


@dataclass(frozen=True)
class RestoredBackup:
    partition_id: int
    folder: Path
    backup: Backup


async def _copy_to_restore(
    store: InspectableStore, partition_id: int, checkpoint_id: int, node_id: int | None
) -> BackupIdentifier:
    """The COMPLETED copy the plan names (the best copy, where the plan names no node)."""
    found = best_status(
        await store.list(
            BackupIdentifierWildcard(
                node_id=node_id, partition_id=partition_id, checkpoint=checkpoint_id
            )
        )
    )
    if found is None or found.status_code is not BackupStatusCode.COMPLETED:
        status = found.status_code if found else BackupStatusCode.DOES_NOT_EXIST
        raise InvalidBackupStateError(
            f"cannot restore backup {checkpoint_id} of partition {partition_id}: "
            f"its status is {status.value}, not COMPLETED",
            status=status,
        )
    return found.id


async def restore_plan(
    store: InspectableStore,
    planned: RestorePlan,
    target: Path,
    *,
    allow_unverified: bool = False,
    progress: RestoreProgress = NO_PROGRESS,
) -> list[RestoredBackup]:
    """Restore every partition's planned chain under ``target``, one backup after the
    other, each into its own new folder (:func:`chain_folder`).

    All or nothing: when one backup fails (or the task is cancelled), every folder
    made for the plan is removed again.

    Raises:
        InvalidInputError: a chain folder exists already.
        BackupStoreError: as :meth:`InspectableStore.restore`.
    """
    folders = [
        (p, c.checkpoint_id, c.node_id, chain_folder(target, p, c.checkpoint_id))
        for p, chain in sorted(planned.chains.items())
        for c in chain
    ]
    made: list[Path] = []
    restored: list[RestoredBackup] = []
    try:
        for partition_id, checkpoint_id, node_id, folder in folders:
            backup_id = await _copy_to_restore(store, partition_id, checkpoint_id, node_id)
            _new_folder(folder, target, made)
            backup = await store.restore(
                backup_id, folder, allow_unverified=allow_unverified, progress=progress
            )
            restored.append(RestoredBackup(partition_id, folder, backup))
    except BaseException:
        for path in reversed(made):
            shutil.rmtree(path, ignore_errors=True)
        raise
    return restored


def _new_folder(folder: Path, target: Path, made: list[Path]) -> None:
    """Create the folder and its missing parents up to ``target``, remembering the
    topmost one made (what an undo removes)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists() and p != target]
    missing = [p for p in missing if target in p.parents]
    try:
        folder.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise InvalidInputError(f"refusing to restore into {folder}: it exists already") from None
    if missing:
        made.append(missing[-1])
