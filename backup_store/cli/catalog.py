"""``backup-store catalog``: the listing catalog's commands (rebuild)."""

from __future__ import annotations

import click
from rich.markup import escape

from backup_store.cli.opening import open_url
from backup_store.cli.output import emit_json, plural, stdout_console
from backup_store.cli.params import NODE_ID, STORE_URL_HELP, json_option, store_url_argument
from backup_store.cli.running import run
from backup_store.model import BackupIdentifierWildcard, BackupStatus


@click.group("catalog")
def catalog_group() -> None:
    """The listing catalog: what each manifest said when this tool last wrote it
    (lists read it instead of every manifest; the manifests stay the truth)."""


@catalog_group.command("rebuild", epilog=STORE_URL_HELP)
@store_url_argument
@click.option("--node", type=NODE_ID, help="Only this node's (broker's) catalogs.")
@json_option
def catalog_rebuild_command(store_url: str | None, node: int | None, as_json: bool) -> None:
    """Read every manifest (or the node's) and rewrite the catalogs from them.

    Needs write access; only needed after a catalog was lost or for a store that
    Zeebe alone wrote (our writers keep the catalogs up to date otherwise).
    """
    store = open_url(store_url, "STORE_URL")

    async def work() -> list[BackupStatus]:
        async with store:
            return await store.rebuild_catalog(BackupIdentifierWildcard(node_id=node))

    statuses = run(work())
    if as_json:
        emit_json({"store": store.description, "manifests": len(statuses)})
        return
    stdout_console().print(
        f"Catalogs of {escape(store.description)} rebuilt from "
        f"{plural(len(statuses), 'manifest')}.",
        highlight=False,
    )
