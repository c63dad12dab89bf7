"""``backup-store status``: one backup id's aggregated state and its partitions."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.text import Text

from backup_store.aggregate import BackupState, aggregate
from backup_store.cli.opening import open_url
from backup_store.cli.output import emit_json, stdout_console, table, when
from backup_store.cli.params import STORE_URL_HELP, json_option, store_and_backup_id
from backup_store.cli.running import fail, run
from backup_store.cli.states import styled
from backup_store.model import BackupIdentifierWildcard, BackupStatus


@click.command("status", epilog=STORE_URL_HELP)
@store_and_backup_id(required=True)
@json_option
def status_command(store_url: str | None, backup_id: int, as_json: bool) -> None:
    """Show the aggregated state of one backup id across partitions.

    The same view as the management API's GET /actuator/backups/BACKUP_ID
    (with --json, the same body). Exits 1 when no partition has the backup.
    """
    store = open_url(store_url, "STORE_URL")

    async def work() -> list[BackupStatus]:
        async with store:
            return await store.list(BackupIdentifierWildcard(checkpoint=backup_id))

    info = aggregate(backup_id, run(work()))
    if as_json:
        emit_json(info.to_json())
        if info.state is BackupState.DOES_NOT_EXIST:
            raise SystemExit(1)
        return
    if info.state is BackupState.DOES_NOT_EXIST:
        fail(f"Backup with id {backup_id} does not exist in {store.description}")
    console = stdout_console()
    headline = Text(f"Backup {backup_id} in {store.description}: ")
    headline.append_text(styled(info.state.value))
    console.print(headline)
    if info.failure_reason:
        console.print(f"Failure reason: {escape(info.failure_reason)}", highlight=False)
    result = table(
        "Partition",
        "State",
        "Node",
        "Created",
        "Last updated",
        "Snapshot",
        "Checkpoint position",
        "Broker",
        "Failure reason",
        optional=("Last updated", "Broker", "Checkpoint position", "Snapshot", "Created"),
    )
    for detail in info.details:
        result.add_row(
            str(detail.partition_id),
            styled(detail.state.value),
            detail.broker_folder,
            when(detail.created_at),
            when(detail.last_updated_at),
            detail.snapshot_id or "",
            "" if detail.checkpoint_position is None else str(detail.checkpoint_position),
            detail.broker_version or "",
            detail.failure_reason or "",
        )
    console.print(result)
