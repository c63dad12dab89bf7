"""``backup-store list``: the backups of a store, one row per backup id
(or per partition backup)."""

from __future__ import annotations

import click
from rich.markup import escape

from backup_store.aggregate import BackupInfo, aggregate
from backup_store.cli.opening import open_url
from backup_store.cli.output import emit_json, plural, stdout_console, table, when
from backup_store.cli.params import (
    NODE_ID,
    PARTITION_ID,
    STORE_URL_HELP,
    json_option,
    store_url_argument,
)
from backup_store.cli.running import run
from backup_store.cli.states import status_cell, styled
from backup_store.errors import InvalidInputError
from backup_store.model import BackupIdentifierWildcard, BackupStatus
from backup_store.operations import by_checkpoint, status_json


@click.command("list", epilog=STORE_URL_HELP)
@store_url_argument
@click.option("--partition", type=PARTITION_ID, help="Only this partition's backups.")
@click.option("--node", type=NODE_ID, help="Only backups taken by this node (broker).")
@click.option(
    "--checkpoint",
    "pattern",
    metavar="ID|PREFIX*",
    help="Only this backup id, or ids starting with PREFIX (e.g. 10*).",
)
@json_option
def list_command(
    store_url: str | None,
    partition: int | None,
    node: int | None,
    pattern: str | None,
    as_json: bool,
) -> None:
    """List backups: one row per (checkpoint, partition, node), with each backup id's
    aggregated state (as the management API reports it).

    The aggregated state of an id always considers all of its partitions, even
    when --partition or --node narrow the rows shown.
    """
    try:
        wildcard = BackupIdentifierWildcard(checkpoint=pattern)
    except InvalidInputError as error:
        raise click.BadParameter(error.message, param_hint="--checkpoint") from None
    store = open_url(store_url, "STORE_URL")

    async def work() -> list[BackupStatus]:
        async with store:
            return await store.list(wildcard)

    statuses = run(work())
    by_id = by_checkpoint(statuses)
    rows: list[tuple[BackupInfo, list[BackupStatus]]] = []
    for backup_id in sorted(by_id, reverse=True):
        shown = sorted(
            (
                s
                for s in by_id[backup_id]
                if (partition is None or s.id.partition_id == partition)
                and (node is None or s.id.node_id == node)
            ),
            key=lambda s: (s.id.partition_id, s.id.node_id),
        )
        if shown:
            rows.append((aggregate(backup_id, by_id[backup_id]), shown))

    if as_json:
        emit_json(
            {
                "store": store.description,
                "backups": [
                    {**info.to_json(), "partitionBackups": [status_json(s) for s in shown]}
                    for info, shown in rows
                ],
            }
        )
        return
    console = stdout_console()
    if not rows:
        console.print(f"No backups in {escape(store.description)}.", highlight=False)
        return
    result = table(
        "Backup",
        "State",
        "Partition",
        "Node",
        "Status",
        "Created",
        "Last modified",
        "Broker",
        "Failure reason",
        optional=("Last modified", "Broker", "Created"),
    )
    for info, shown in rows:
        for index, status in enumerate(shown):
            first = index == 0
            result.add_row(
                str(info.backup_id) if first else "",
                styled(info.state.value) if first else "",
                str(status.id.partition_id),
                status.id.node_folder,  # {zone}_{node} for a broker in a zone
                status_cell(status),
                when(status.created),
                when(status.last_modified),
                status.descriptor.broker_version if status.descriptor else "",
                status.failure_reason or "",
                end_section=index == len(shown) - 1,
            )
    console.print(f"Backups in {escape(store.description)}", highlight=False)
    console.print(result)
    count = sum(len(shown) for _, shown in rows)
    console.print(
        f"{plural(len(rows), 'backup id')}, {plural(count, 'partition backup')}.", highlight=False
    )
