"""``backup-store delete``: delete a backup id's partition backups as the management API does."""

from __future__ import annotations

import click
from rich.markup import escape

from backup_store.cli.opening import open_url
from backup_store.cli.output import emit_json, plural, stdout_console, table
from backup_store.cli.params import PARTITION_ID, STORE_URL_HELP, json_option, store_and_backup_id
from backup_store.cli.running import confirm, run
from backup_store.cli.states import status_cell
from backup_store.model import BackupIdentifierWildcard, BackupStatus
from backup_store.operations import delete_statuses, id_json


@click.command("delete", epilog=STORE_URL_HELP)
@store_and_backup_id(required=True)
@click.option("--partition", type=PARTITION_ID, help="Delete only this partition's backup.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete_command(
    store_url: str | None, backup_id: int, partition: int | None, yes: bool, as_json: bool
) -> None:
    """Delete a backup (every partition and node, or one partition).

    Asks for confirmation unless --yes. An IN_PROGRESS partition backup is first
    marked FAILED ("The backup is being deleted."), as the management API does.
    A backup that does not exist is not an error.
    """
    store = open_url(store_url, "STORE_URL")
    wildcard = BackupIdentifierWildcard(partition_id=partition, checkpoint=backup_id)
    what = f"backup {backup_id}" + (f" of partition {partition}" if partition else "")
    console = stdout_console()

    async def work() -> list[BackupStatus]:
        async with store:
            found = sorted(
                await store.list(wildcard), key=lambda s: (s.id.partition_id, s.id.node_id)
            )
            if not found:
                return found
            if not as_json:
                listing = table("Partition", "Node", "Status")
                for status in found:
                    listing.add_row(
                        str(status.id.partition_id),
                        status.id.node_folder,
                        status_cell(status),
                    )
                console.print(f"To delete: {what} in {escape(store.description)}", highlight=False)
                console.print(listing)
            if not yes:
                confirm(
                    f"Delete {what} ({plural(len(found), 'partition backup')}) from "
                    f"{store.description}?",
                    what,
                )
            await delete_statuses(store, found)
            return found

    found = run(work())
    if as_json:
        emit_json(
            {
                "store": store.description,
                "backupId": backup_id,
                "deleted": [
                    {**id_json(s.id), "previousStatus": s.status_code.value} for s in found
                ],
            }
        )
    elif not found:
        console.print(
            f"No {what} in {escape(store.description)}: nothing to delete.", highlight=False
        )
    else:
        console.print(f"Deleted {what}: {plural(len(found), 'partition backup')}.", highlight=False)
