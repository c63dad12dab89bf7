"""``backup-store restore``: one partition backup's files into a folder, with a progress bar."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from backup_store.aggregate import best_status
from backup_store.cli.opening import limit_transfers, open_url
from backup_store.cli.output import RichProgress, emit_json, human_size, plural, stdout_console
from backup_store.cli.params import (
    NODE_ID,
    PARTITION_ID,
    STORE_URL_HELP,
    TransferLimits,
    json_option,
    store_and_backup_id,
    transfer_limit_options,
)
from backup_store.cli.point_in_time import (
    Time,
    plan_command,
    plan_options,
    plan_request,
    restore_to_time,
)
from backup_store.cli.running import CommandFailed, fail, run, warn
from backup_store.contract.inspectable import InspectableStore, RestoreProgress, Verification
from backup_store.format.instant import Instant
from backup_store.model import (
    FILE_SETS,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
)
from backup_store.operations import id_json


class RestoreTarget:
    """The folder a restore writes into: refused when it is not empty (unless allowed)
    or holds a file the backup would replace; :meth:`undo` (on failure or Ctrl-C)
    removes the folders made for it. The restore itself leaves no file behind when it
    fails: it publishes its files all at once, once every one is written and checked.
    """

    def __init__(self, target: Path, *, allow_non_empty: bool) -> None:
        self.target = target
        if target.exists() and not target.is_dir():
            fail(f"refusing to restore into {target}: it is not a folder")
        if target.is_dir() and any(target.iterdir()) and not allow_non_empty:
            fail(f"refusing to restore into {target}: the folder is not empty")
        # The folders the restore will make (the target and its missing parents).
        self.created = [p for p in (target, *target.parents) if not p.exists()]

    def check_clashes(self, names: list[str]) -> None:
        """Refuse to replace any file of the folder."""
        clashes = [name for name in names if (self.target / name).exists()]
        if clashes:
            raise CommandFailed(
                f"refusing to replace {plural(len(clashes), 'file')} in {self.target}: "
                f"{', '.join(sorted(clashes)[:5])}"
            )

    def undo(self) -> None:
        for folder in self.created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


class RestoreBar(RestoreProgress):
    """Renders a restore's progress: a bar of bytes, and a warning when unverified."""

    def __init__(self, bar: RichProgress) -> None:
        self.bar = bar
        self.verification: Verification | None = None

    def started(
        self, backup_id: BackupIdentifier, total: int | None, verification: Verification
    ) -> None:
        self.verification = verification
        if verification is Verification.UNVERIFIED:
            warn(
                f"backup {backup_id} has no integrity record tied to its manifest: restoring "
                "UNVERIFIED data (--allow-unverified), only presence is checked"
            )
        self.bar.start(f"restoring {backup_id}", total)

    def advanced(self, amount: int) -> None:
        self.bar.advance(amount)


async def _restorable_copy(
    store: InspectableStore, backup_id: int, partition: int, node: int | None
) -> BackupIdentifier:
    """The best copy of the partition's backup (of ``node``, or of any node); refused
    unless it is COMPLETED."""
    wildcard = BackupIdentifierWildcard(node_id=node, partition_id=partition, checkpoint=backup_id)
    best = best_status(await store.list(wildcard))
    who = f"node {node}" if node is not None else "any node"
    if best is None:
        raise CommandFailed(
            f"backup {backup_id} has no copy of partition {partition} from {who} "
            f"in {store.description}"
        )
    if best.status_code is not BackupStatusCode.COMPLETED:
        reason = f" ({best.failure_reason})" if best.failure_reason else ""
        raise CommandFailed(
            f"cannot restore backup {best.id}: it is {best.status_code.value}{reason}; "
            "only a COMPLETED backup can be restored"
        )
    return best.id


class WithPlan(click.Command):
    """``restore`` with ``restore plan`` beside it: a first argument ``plan`` runs the
    plan command; anything else is ``restore`` as always."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args[:1] == ["plan"]:
            # (named from the top: `restore`'s own arguments are not the plan's)
            ctx.meta[_PLAN] = plan_command.make_context(
                f"{ctx.info_name} plan", args[1:], parent=ctx.parent
            )
            return []
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        sub = ctx.meta.pop(_PLAN, None)
        if sub is not None:
            with sub:
                return plan_command.invoke(sub)
        return super().invoke(ctx)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_usage(ctx, formatter)
        formatter.write_usage(ctx.command_path, "plan [STORE_URL] [--to TIME] [OPTIONS]", "   or: ")
        formatter.write_usage(
            ctx.command_path, "[STORE_URL] [--to TIME] --into DIR [OPTIONS]", "   or: "
        )


_PLAN = "backup_store.restore.plan"


@click.command("restore", cls=WithPlan, epilog=STORE_URL_HELP)
@store_and_backup_id(required=False)
@click.option("--partition", type=PARTITION_ID, help="The partition to restore (with BACKUP_ID).")
@click.option(
    "--node",
    type=NODE_ID,
    help="Restore the copy taken by this node (default: the best copy of any node).",
)
@click.option(
    "--to",
    "target",
    metavar="DIR|TIME",
    help="With BACKUP_ID: the folder to restore into; must be empty or absent (Zeebe "
    "needs an empty data folder) unless --allow-non-empty. Without: the time to restore "
    "every partition to (ISO-8601, 2026-12-01T10:00:00Z; left out: the latest), "
    "into --into.",
)
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Restore to a time: the empty folder that receives each partition's chain of "
    "backups (raft-partition/partitions/P/restoring-partitionP-backup-C/, as Zeebe's "
    "restore downloads them). See `restore plan --help`.",
)
@plan_options
@click.option(
    "--allow-non-empty",
    is_flag=True,
    help="Restore into a folder that already has files (never replacing one). Zeebe "
    "itself needs an empty data folder.",
)
@click.option(
    "--allow-unverified",
    is_flag=True,
    help="Restore even if the backup's integrity record is missing or stale in a location "
    "our stores wrote to (then only presence is checked, with a warning).",
)
@transfer_limit_options()
@json_option
def restore_command(
    store_url: str | None,
    backup_id: int | None,
    partition: int | None,
    node: int | None,
    target: str | None,
    into: Path | None,
    from_: Instant | None,
    backup_ids: str | None,
    nearest: bool,
    allow_non_empty: bool,
    allow_unverified: bool,
    limits: TransferLimits,
    as_json: bool,
) -> None:
    """Restore one partition's backup into an empty folder, or every partition to a time.

    Every snapshot and segment file is written flat into the folder. Sizes and
    SHA-256 are checked against the integrity record written with the backup;
    backups written by Zeebe itself (in a location our stores never wrote to)
    record neither, which the output states. Where our stores wrote, a backup
    whose record is missing or stale is refused unless --allow-unverified is given.
    Files are written under temporary names and renamed when all are there and
    checked: on failure or Ctrl-C the folder is left as it was.

    Without BACKUP_ID, --to TIME --into DIR restores each partition's planned chain
    (`restore plan` shows it) with the same checks, one folder per backup; on failure
    or Ctrl-C every folder made for it is removed.
    """
    if backup_id is None and into is not None:
        _restore_to_time(
            store_url,
            target,
            into,
            (from_, backup_ids, nearest),
            allow_non_empty,
            allow_unverified,
            limits,
            as_json,
        )
        return
    if backup_id is None:
        raise click.MissingParameter(
            ctx=click.get_current_context(), param_hint="'BACKUP_ID'", param_type="argument"
        )
    if into is not None or from_ is not None or backup_ids or nearest:
        raise click.UsageError(
            "--into, --from, --backup-ids and --nearest are for a restore "
            "to a time: leave out BACKUP_ID"
        )
    for value, hint in ((partition, "'--partition'"), (target, "'--to'")):
        if value is None:
            raise click.MissingParameter(
                ctx=click.get_current_context(), param_hint=hint, param_type="option"
            )
    assert partition is not None and target is not None
    _restore_one(
        store_url,
        backup_id,
        partition,
        node,
        Path(target),
        allow_non_empty,
        allow_unverified,
        limits,
        as_json,
    )


def _restore_to_time(
    store_url: str | None,
    to: str | None,
    into: Path,
    choice: tuple[Instant | None, str | None, bool],
    allow_non_empty: bool,
    allow_unverified: bool,
    limits: TransferLimits,
    as_json: bool,
) -> None:
    from_, backup_ids, nearest = choice
    time = None if to is None else Time().convert(to, None, click.get_current_context())
    request = plan_request(time, from_, backup_ids, nearest)
    destination = RestoreTarget(into, allow_non_empty=allow_non_empty)
    progress = RichProgress(enabled=not as_json)
    try:
        restore_to_time(
            store_url,
            request,
            into,
            (progress, RestoreBar(progress)),
            allow_unverified=allow_unverified,
            limits=limits,
            as_json=as_json,
        )
    except BaseException:
        destination.undo()
        raise


def _restore_one(
    store_url: str | None,
    backup_id: int,
    partition: int,
    node: int | None,
    target: Path,
    allow_non_empty: bool,
    allow_unverified: bool,
    limits: TransferLimits,
    as_json: bool,
) -> None:
    destination = RestoreTarget(target, allow_non_empty=allow_non_empty)
    store = open_url(store_url, "STORE_URL")
    limit_transfers([store], limits)
    progress = RichProgress(enabled=not as_json)

    async def work() -> tuple[BackupIdentifier, list[tuple[str, str, int]], Verification]:
        async with store:
            best = await _restorable_copy(store, backup_id, partition, node)
            stored = await store.read_manifest(best)
            if stored is not None:
                destination.check_clashes([entry.name for _, entry in stored.manifest.files()])
            shown = RestoreBar(progress)
            with progress.shown():
                restored = await store.restore(
                    best, target, allow_unverified=allow_unverified, progress=shown
                )
                progress.finish()
            files = [
                (file_set, name, (target / name).stat().st_size)
                for file_set, names in zip(
                    FILE_SETS, (restored.snapshot, restored.segments), strict=True
                )
                for name in names
            ]
            assert shown.verification is not None  # (told before any file is written)
            return best, files, shown.verification

    try:
        restored_id, files, verification = run(work())
    except BaseException:
        destination.undo()
        raise
    total = sum(size for _, _, size in files)
    if as_json:
        emit_json(
            {
                "store": store.description,
                "backupId": id_json(restored_id),
                "target": str(target),
                "checked": verification is Verification.CHECKED,
                "unverified": verification is Verification.UNVERIFIED,
                "files": [{"fileSet": fs, "name": n, "size": s} for fs, n, s in files],
                "bytes": total,
            }
        )
        return
    console = stdout_console()
    console.print(
        f"Restored backup {restored_id} from {escape(store.description)} into "
        f"{escape(str(target))}: {plural(len(files), 'file')}, {human_size(total)}.",
        highlight=False,
    )
    if verification is Verification.CHECKED:
        console.print("Sizes and SHA-256 checked against the integrity record.", highlight=False)
    elif verification is Verification.UNVERIFIED:
        console.print(
            "NOT VERIFIED: the integrity record is missing or stale; only presence was checked.",
            highlight=False,
        )
    else:
        console.print(
            "Written by Zeebe: sizes and checksums are not recorded by Zeebe, "
            "so they were not checked.",
            highlight=False,
        )
