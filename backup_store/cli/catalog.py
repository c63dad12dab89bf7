"""``backup-store catalog``: the listing catalog's commands (rebuild), and on request
Zeebe 8.9+'s partition metadata (``--metadata``)."""

from __future__ import annotations

from datetime import timedelta

import click
from rich.markup import escape

from backup_store.cli.opening import open_url
from backup_store.cli.output import emit_json, plural, stdout_console
from backup_store.cli.params import (
    NODE_ID,
    PARTITION_ID,
    STORE_URL_HELP,
    Duration,
    json_option,
    store_url_argument,
)
from backup_store.cli.running import run
from backup_store.format.instant import Instant
from backup_store.model import BackupIdentifierWildcard, BackupStatus
from backup_store.tools.metadata_rebuild import DEFAULT_QUIET, MetadataPlan, rebuild_metadata
from backup_store.units import format_duration


@click.group("catalog")
def catalog_group() -> None:
    """The listing catalog: what each manifest said when this tool last wrote it
    (lists read it instead of every manifest; the manifests stay the truth)."""


@catalog_group.command("rebuild", epilog=STORE_URL_HELP)
@store_url_argument
@click.option("--node", type=NODE_ID, help="Only this node's (broker's) catalogs.")
@click.option(
    "--metadata",
    is_flag=True,
    help="Also rewrite Zeebe 8.9+'s partition metadata (metadata/<partition>/metadata.json) "
    "from what the manifests prove. Refused, writing nothing, where a broker may be writing: "
    "a backup IN_PROGRESS, or a manifest or the metadata written within --quiet-for.",
)
@click.option(
    "--partition",
    "partitions",
    type=PARTITION_ID,
    multiple=True,
    help="With --metadata: only this partition's metadata (repeatable; default: every "
    "partition with a manifest).",
)
@click.option(
    "--quiet-for",
    type=Duration(),
    default=format_duration(DEFAULT_QUIET),
    show_default=True,
    help="With --metadata: how long a partition must have seen no write.",
)
@json_option
def catalog_rebuild_command(
    store_url: str | None,
    node: int | None,
    metadata: bool,
    partitions: tuple[int, ...],
    quiet_for: timedelta,
    as_json: bool,
) -> None:
    """Read every manifest (or the node's) and rewrite the catalogs from them.

    Needs write access; only needed after a catalog was lost or for a store that
    Zeebe alone wrote (our writers keep the catalogs up to date otherwise).

    With --metadata, first rebuilds each partition's metadata, which a broker
    otherwise writes from its own state: only for a location no broker writes
    (a stopped cluster, a copy), and it says what it could not recover.
    """
    if partitions and not metadata:
        raise click.UsageError("--partition only applies with --metadata")
    store = open_url(store_url, "STORE_URL")

    async def work() -> tuple[list[MetadataPlan], list[BackupStatus]]:
        async with store:
            plans = []
            if metadata:
                chosen = list(partitions) or None
                plans = await rebuild_metadata(store, chosen, now=Instant.now(), quiet=quiet_for)
            return plans, await store.rebuild_catalog(BackupIdentifierWildcard(node_id=node))

    plans, statuses = run(work())
    if as_json:
        document: dict[str, object] = {"store": store.description, "manifests": len(statuses)}
        if metadata:
            document["metadata"] = [_plan_json(plan) for plan in plans]
        emit_json(document)
        return
    console = stdout_console()
    for plan in plans:
        console.print(_plan_text(plan), highlight=False)
    console.print(
        f"Catalogs of {escape(store.description)} rebuilt from "
        f"{plural(len(statuses), 'manifest')}.",
        highlight=False,
    )


def _plan_json(plan: MetadataPlan) -> dict[str, object]:
    return {
        "partition": plan.partition_id,
        "checkpoints": [c.checkpoint_id for c in plan.metadata.checkpoints],
        "ranges": [[r.start, r.end] for r in plan.metadata.ranges],
        "notRecovered": list(plan.not_recovered),
    }


def _plan_text(plan: MetadataPlan) -> str:
    ranges = ", ".join(f"{r.start}..{r.end}" for r in plan.metadata.ranges) or "none"
    return (
        f"Metadata of partition {plan.partition_id} rebuilt: "
        f"{plural(len(plan.metadata.checkpoints), 'checkpoint')}, ranges {ranges}. "
        f"Not recovered: {escape('; '.join(plan.not_recovered))}."
    )
