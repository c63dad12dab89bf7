"""``backup-store restore plan`` and ``restore --to TIME``: which backups a restore to a
time needs, and restoring exactly those (:mod:`backup_store.tools.point_in_time`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.markup import escape

from backup_store.cli.opening import limit_transfers, open_url
from backup_store.cli.output import RichProgress, emit_json, plural, stdout_console
from backup_store.cli.params import STORE_URL_HELP, TransferLimits, json_option, store_url_argument
from backup_store.cli.running import run
from backup_store.contract.inspectable import RestoreProgress
from backup_store.errors import scrub
from backup_store.format.instant import Instant
from backup_store.operations import id_json
from backup_store.tools.point_in_time import RestoredBackup, plan, restore_plan
from backup_store.tools.ranges import MANIFESTS, METADATA
from backup_store.tools.restore_plan import (
    EXPLICIT,
    NEAREST,
    NoRestorePlanError,
    PlanRequest,
    RestorePlan,
)

CHOICE_HELP = (
    "Which checkpoint: by default the latest one every partition can restore at or "
    "before --to (never after the time asked for); --nearest takes Zeebe's choice, "
    "the one closest to --to before or after it."
)


SOURCES = {METADATA: "the metadata file", MANIFESTS: "the manifests"}


class Time(click.ParamType):  # type: ignore[type-arg]
    """An ISO-8601 instant with its zone: 2026-12-01T10:00:00Z."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Instant):
            return value
        try:
            return Instant.parse_iso(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time with a zone (2026-12-01T10:00:00Z)")


def backup_ids_list(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        ids = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of ids (5,6,7)") from None
    if not ids or min(ids) < 0:
        raise click.BadParameter(f"{text!r} is not a list of ids (5,6,7)")
    return ids


def plan_request(
    to: Instant | None, from_: Instant | None, backup_ids: str | None, nearest: bool
) -> PlanRequest:
    ids = backup_ids_list(backup_ids)
    if ids and (to or from_ or nearest):
        raise click.UsageError("--backup-ids names the backups: leave out --to, --from, --nearest")
    return PlanRequest(to=to, from_=from_, backup_ids=ids, nearest=nearest)


def plan_options(function: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--from",
                "from_",
                type=Time(),
                help="The chain of every partition must begin at or before this time.",
            ),
            click.option(
                "--backup-ids",
                metavar="A,B",
                help="Restore exactly these backups on every partition (one chain each).",
            ),
            click.option("--nearest", is_flag=True, help=CHOICE_HELP),
        ]
    ):
        function = option(function)
    return function


def explain(planned: RestorePlan) -> str:
    request = planned.request
    if request.mode == EXPLICIT:
        return "the backups asked for"
    if request.mode == NEAREST:
        return f"the one nearest to {request.to.iso()}" if request.to else "the latest"
    if request.to is not None:
        return f"the latest common checkpoint at or before {request.to.iso()}"
    return "the latest common checkpoint"


def print_plan(planned: RestorePlan) -> None:
    console = stdout_console()
    when = planned.time.iso() if planned.time else "time not recorded"
    console.print(
        f"Checkpoint {planned.checkpoint_id} ({when}): {explain(planned)}.", highlight=False
    )
    for partition, chain in sorted(planned.chains.items()):
        backups = ", ".join(
            f"{c.checkpoint_id}" + (f" (node {c.node_id})" if c.node_id is not None else "")
            for c in chain
        )
        console.print(
            f"  partition {partition} (from {SOURCES[planned.sources[partition]]}): "
            f"{plural(len(chain), 'backup')}: {backups}",
            highlight=False,
        )
    if planned.rejected:
        console.print("Rejected:", highlight=False)
    for rejected in planned.rejected:
        console.print(f"  {rejected.checkpoint_id}: {escape(rejected.reason)}", highlight=False)


def no_plan(error: NoRestorePlanError, as_json: bool) -> NoReturn:
    """Exit 1: the reason on stderr (then each rejected checkpoint's), or with --json
    the same as a document on stdout."""
    if as_json:
        emit_json(
            {
                "error": error.message,
                "rejected": [
                    {"checkpointId": r.checkpoint_id, "reason": r.reason} for r in error.rejected
                ],
            }
        )
        sys.exit(1)
    click.echo(f"error: {scrub(error.message)}", err=True)
    for rejected in error.rejected:
        click.echo(f"  {rejected.checkpoint_id}: {scrub(rejected.reason)}", err=True)
    sys.exit(1)


def planned_or_exit(store_url: str | None, request: PlanRequest, as_json: bool) -> RestorePlan:
    """The plan, or exit 1 with the reason (and every rejection) when none exists."""
    store = open_url(store_url, "STORE_URL")

    async def work() -> RestorePlan | NoRestorePlanError:
        async with store:
            try:
                return await plan(store, request)
            except NoRestorePlanError as error:
                return error

    planned = run(work())
    if isinstance(planned, NoRestorePlanError):
        no_plan(planned, as_json)
    return planned


@click.command("plan", epilog=STORE_URL_HELP)
@store_url_argument
@click.option(
    "--to",
    "to",
    type=Time(),
    help="Restore to this time (ISO-8601 with its zone); left out: the latest checkpoint.",
)
@plan_options
@json_option
def plan_command(
    store_url: str | None,
    to: Instant | None,
    from_: Instant | None,
    backup_ids: str | None,
    nearest: bool,
    as_json: bool,
) -> None:
    """Say which backups a restore to a time needs, and why every other one was left out.

    Per partition, the ranges of joined backups come from Zeebe's metadata file
    where there is one, else from the manifests (checkpoint ids, positions, first log
    positions). The plan names the checkpoint common to every partition and its time,
    each partition's chain of backups up to it, and the reason for every rejected
    checkpoint. Exit 1, with the reason, when no plan exists.
    """
    planned = planned_or_exit(store_url, plan_request(to, from_, backup_ids, nearest), as_json)
    if as_json:
        emit_json(planned.to_json())
    else:
        print_plan(planned)


def restore_to_time(
    store_url: str | None,
    request: PlanRequest,
    into: Path,
    progress: tuple[RichProgress, RestoreProgress],
    *,
    allow_unverified: bool,
    limits: TransferLimits,
    as_json: bool,
) -> None:
    """Plan, then restore every partition's chain under ``into`` (a folder per backup),
    drawing each backup's progress on ``progress`` (the bar, and what feeds it)."""
    store = open_url(store_url, "STORE_URL")
    limit_transfers([store], limits)
    bar, shown = progress

    async def work() -> tuple[RestorePlan, list[RestoredBackup]] | NoRestorePlanError:
        async with store:
            try:
                planned = await plan(store, request)
            except NoRestorePlanError as error:
                return error
            with bar.shown():
                restored = await restore_plan(
                    store, planned, into, allow_unverified=allow_unverified, progress=shown
                )
                bar.finish()
            return planned, restored

    outcome = run(work())
    if isinstance(outcome, NoRestorePlanError):
        no_plan(outcome, as_json)
    planned = outcome[0]
    restored = [
        (r.partition_id, r.backup.id, r.folder, len(r.backup.snapshot) + len(r.backup.segments))
        for r in outcome[1]
    ]
    if as_json:
        emit_json(
            {
                "store": store.description,
                "plan": planned.to_json(),
                "target": str(into),
                "restored": [
                    {"backupId": id_json(i), "folder": str(f), "files": n}
                    for _, i, f, n in restored
                ],
            }
        )
        return
    console = stdout_console()
    console.print(
        f"Restored checkpoint {planned.checkpoint_id} from {escape(store.description)} into "
        f"{escape(str(into))}: {plural(len(restored), 'backup')} of "
        f"{plural(len(planned.chains), 'partition')}.",
        highlight=False,
    )
    for _, backup_id, folder, files in restored:
        where = escape(str(folder.relative_to(into)))
        console.print(f"  {backup_id}: {where} ({plural(files, 'file')})", highlight=False)
