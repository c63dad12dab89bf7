"""``backup-store migrate``: copy backups from one store to another."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

import click
from obstore.store import MemoryStore
from rich.markup import escape
from rich.text import Text

from backup_store.cli.opening import limit_transfers, open_url
from backup_store.cli.output import (
    RichProgress,
    emit_json,
    human_size,
    plural,
    stdout_console,
    table,
)
from backup_store.cli.params import (
    DIGITS,
    TransferLimits,
    json_option,
    parse_backup_id,
    transfer_limit_options,
)
from backup_store.cli.running import run, warn
from backup_store.cli.states import styled
from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import ConfigurationError
from backup_store.operations import resolve_store_url
from backup_store.stores.config import url_options
from backup_store.stores.filesystem import FilesystemBackupStore, FilesystemConfig
from backup_store.tools.migrate import migrate
from backup_store.tools.migration_plan import Action, MigrationReport, Outcome


@click.command("migrate")
@click.argument("source_url", metavar="[SOURCE_URL]", required=False)
@click.argument("target_url", metavar="TARGET_URL", required=False)
@click.argument("backup_id", metavar="[BACKUP_ID]", required=False)
@click.option("--all", "migrate_all", is_flag=True, help="Migrate every backup of the source.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; write nothing.")
@click.option(
    "--stream",
    is_flag=True,
    help="Send every file through this process even where the target could copy the "
    "source's objects inside one service (on a filesystem: no hard links to the source).",
)
@transfer_limit_options()
@json_option
def migrate_command(
    source_url: str | None,
    target_url: str | None,
    backup_id: str | None,
    migrate_all: bool,
    dry_run: bool,
    stream: bool,
    limits: TransferLimits,
    as_json: bool,
) -> None:
    """Copy backups from one store to another, possibly of another kind.

    Reads each backup (BACKUP_ID on every partition and node, or --all) with
    the source's store kind and writes it with the target's: streaming, with
    bounded memory, re-compressed as the target is configured (or, between two
    base paths of one S3 or GCS bucket, two containers of one Azure account or
    two folders of one device, copied inside the service), keeping ids,
    descriptors, statuses, failure reasons and timestamps. Every byte is read
    back from the target and compared with the source's. The source is never
    changed.

    Backups already at the target are skipped, so a re-run resumes an
    interrupted migration; a target backup left IN_PROGRESS or FAILED by an
    interrupted migration is deleted at the target and copied again. FAILED
    backups are migrated as their manifest only (a FAILED backup is never
    restored); IN_PROGRESS ones are skipped with a warning.

    With one URL, it is the TARGET_URL and the source is the store the
    environment names (BACKUP_STORE_URL, else Zeebe's own variables), as for
    the other commands: in a broker pod, migrate its store elsewhere. The
    target is always given.
    """
    given = [value for value in (source_url, target_url, backup_id) if value is not None]
    backup_id = given.pop() if given and DIGITS.fullmatch(given[-1]) else None
    if not given:
        raise click.UsageError(
            "give the TARGET_URL (and the SOURCE_URL, unless the environment names it)"
        )
    if len(given) > 2:
        raise click.UsageError("give at most SOURCE_URL, TARGET_URL and a BACKUP_ID")
    source_url, target_url = (None, given[0]) if len(given) == 1 else (given[0], given[1])
    checkpoint = parse_backup_id(backup_id, required=False)
    if (checkpoint is None) == (not migrate_all):
        raise click.UsageError("give either a BACKUP_ID or --all (not both)")
    source = open_url(source_url, "SOURCE_URL")
    target = _open_migration_target(target_url, dry_run=dry_run)
    target.incremental = not stream
    limit_transfers([source, target], limits)
    progress = RichProgress(enabled=not as_json)

    async def work() -> MigrationReport:
        async with source, target:
            with progress.shown():
                return await migrate(source, target, checkpoint, dry_run=dry_run, progress=progress)

    report = run(work())
    for result in report.results:
        if result.plan.action is Action.SKIP_IN_PROGRESS:
            warn(f"{result.plan.backup_id}: {result.message}")
    if as_json:
        emit_json(report.to_json())
    else:
        _print_migrate(report)
    if not report.ok:
        raise SystemExit(1)


def _open_migration_target(url: str, *, dry_run: bool) -> InspectableStore:
    """The target store; its folder is created for a migration. A dry run writes
    nothing, not even that folder: a ``file://`` target that does not exist yet is
    planned as the empty store it would start as (its URL checked all the same)."""
    parts = _local_folder_url(url) if dry_run else None
    if parts is not None and not Path(unquote(parts.path)).exists():
        try:
            config = FilesystemConfig(Path(unquote(parts.path)), **url_options(parts))
        except ConfigurationError as error:
            raise click.BadParameter(error.message, param_hint="TARGET_URL") from None
        return FilesystemBackupStore(config, object_store=MemoryStore())
    return open_url(url, "TARGET_URL", create=True)


def _local_folder_url(url: str) -> SplitResult | None:
    """``url`` split when it is a well-formed ``file:///path``; else None."""
    try:
        parts = urlsplit(resolve_store_url(url))
    except ConfigurationError:
        return None  # open_url reports it
    local = parts.scheme == "file" and parts.netloc in ("", "localhost") and bool(parts.path)
    return parts if local else None


def _print_migrate(report: MigrationReport) -> None:
    console = stdout_console()
    verb = "Migration plan" if report.dry_run else "Migration"
    title = f"{verb} from {escape(report.source)} to {escape(report.target)}"
    result_table = table(
        "Backup",
        "Partition",
        "Node",
        "Source",
        "Target",
        "Action",
        "Outcome",
        "Details",
        optional=("Source", "Target", "Node"),
    )
    outcome_style = {
        Outcome.MIGRATED: "green",
        Outcome.SKIPPED: "dim",
        Outcome.FAILED: "red",
        Outcome.PLANNED: "cyan",
    }
    for result in report.results:
        plan = result.plan
        size = (
            f" ({plural(plan.files, 'file')}, {human_size(plan.size)})"
            if report.dry_run and plan.size
            else ""
        )
        result_table.add_row(
            str(plan.backup_id.checkpoint_id),
            str(plan.backup_id.partition_id),
            str(plan.backup_id.node_id),
            styled(plan.source_status.value),
            styled(plan.target_status.value),
            plan.action.value,
            Text(result.outcome.value, style=outcome_style[result.outcome]),
            result.message + size,
        )
    console.print(title, highlight=False)
    if report.results:
        console.print(result_table)
    for problem in report.problems:
        console.print(Text(f"PROBLEM {problem}", style="red"))
    if report.dry_run:
        console.print(
            f"Dry run: {report.count(Outcome.PLANNED)} to migrate, "
            f"{report.count(Outcome.SKIPPED)} to skip, {report.count(Outcome.FAILED)} "
            "conflicts. Nothing was written.",
            highlight=False,
        )
    else:
        sent = report.transfers
        copied = (
            f", {plural(sent.files_copied, 'file')} ({human_size(sent.bytes_copied)}) "
            "copied inside the target"
            if sent.files_copied
            else ""
        )
        if not report.copies and sent.bytes_uploaded:
            copied = " (streamed: the target does not copy the source's objects inside one service)"
        console.print(
            f"{report.count(Outcome.MIGRATED)} migrated, {report.count(Outcome.SKIPPED)} "
            f"skipped, {report.count(Outcome.FAILED)} failed. "
            f"Sent {human_size(sent.bytes_uploaded)}{copied}.",
            highlight=False,
        )
