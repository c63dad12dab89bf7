"""``backup-store prune``: delete the backup ids a retention policy lets go.

The policy and its never-delete rules are :mod:`backup_store.tools.retention`'s, the
same the service's ``--retention`` uses; this module only asks, prints and
sets the exit code.
"""

from __future__ import annotations

from datetime import timedelta

import click
from rich.markup import escape
from rich.text import Text

from backup_store.cli.opening import open_url
from backup_store.cli.output import emit_json, stdout_console, table
from backup_store.cli.params import STORE_URL_HELP, Duration, json_option, store_url_argument
from backup_store.cli.running import confirm, run
from backup_store.cli.states import styled
from backup_store.tools.retention import (
    Action,
    Outcome,
    PruneReport,
    RetentionPlan,
    RetentionPolicy,
    between,
    entries_json,
    prune,
    summarize,
)
from backup_store.units import format_age

OUTCOME_STYLE = {"deleted": "green", "failed": "red", "skipped": "yellow", "planned": "cyan"}


@click.command("prune", epilog=STORE_URL_HELP)
@store_url_argument
@click.option(
    "--keep-last",
    type=click.IntRange(min=1),
    metavar="N",
    help="Keep the N newest COMPLETED backup ids.",
)
@click.option(
    "--max-age",
    type=Duration(),
    metavar="DURATION",
    help="Keep backup ids younger than DURATION: ISO-8601 (P7D, PT12H) or 7d, 12h.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def prune_command(
    store_url: str | None,
    keep_last: int | None,
    max_age: timedelta | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete old backup ids by a retention policy (at least one of --keep-last, --max-age).

    Works on backup ids (every partition and node of an id), oldest first; the
    age of an id is the newest createdAt of its manifests. With both rules an
    id is kept if either keeps it. Never deleted: the newest COMPLETED id, any
    id with a partition backup IN_PROGRESS, any id newer than the newest
    COMPLETED one, and any id with an unreadable manifest. FAILED and
    incomplete ids outside the policy go.

    --dry-run prints exactly the plan a real run would execute. Without --yes
    the plan is shown and confirmation asked. Exits 1 if any id could not be
    deleted (the others still are).
    """
    if keep_last is None and max_age is None:
        raise click.UsageError("give --keep-last N, --max-age DURATION, or both")
    policy = RetentionPolicy(keep_last=keep_last, max_age=max_age)
    store = open_url(store_url, "STORE_URL")

    async def confirmed(plan: RetentionPlan) -> bool:
        if yes:
            return True
        if not as_json:
            _print_plan(plan, None, store.description)
        what = summarize(plan.to_delete)
        confirm(f"Delete {what} from {store.description}?", what)
        return True

    async def work() -> PruneReport:
        async with store:
            return await prune(store, policy, dry_run=dry_run, confirm=confirmed)

    report = run(work())
    if as_json:
        emit_json(
            {
                "store": store.description,
                "dryRun": report.dry_run,
                "now": report.plan.now.iso(),
                "policy": policy.to_json(),
                "backups": entries_json(report),
                "deleted": [
                    r.entry.backup_id for r in report.results if r.outcome is Outcome.DELETED
                ],
                "failed": [
                    r.entry.backup_id for r in report.results if r.outcome is Outcome.FAILED
                ],
            }
        )
    else:
        _print_outcome(report, store.description)
    if not report.ok:
        raise SystemExit(1)


def _print_plan(plan: RetentionPlan, report: PruneReport | None, store: str) -> None:
    console = stdout_console()
    if not plan.entries:
        console.print(f"No backups in {escape(store)}.", highlight=False)
        return
    outcomes = {r.entry.backup_id: r for r in report.results} if report else {}
    columns = ["Backup", "State", "Created", "Age", "Action", "Reason"]
    if report is not None:
        columns.append("Outcome")
    result = table(*columns, wrap=("Reason", "Outcome"), optional=("Created", "Age"))
    for entry in plan.entries:
        age = format_age(between(entry.age, plan.now)) if entry.age is not None else ""
        row: list[str | Text] = [
            str(entry.backup_id),
            styled(entry.state),
            entry.age.iso() if entry.age is not None else "",
            age,
            Text(entry.action.value, style="red" if entry.action is Action.DELETE else ""),
            entry.reason,
        ]
        if report is not None:
            outcome = outcomes.get(entry.backup_id)
            text = outcome.outcome.value if outcome else "kept"
            if outcome is not None and outcome.message:
                text += f": {outcome.message}"
            row.append(Text(text, style=OUTCOME_STYLE.get(text.split(":")[0], "dim")))
        result.add_row(*row)
    verb = "Retention plan" if report is None or report.dry_run else "Pruned"
    console.print(
        f"{verb} for {escape(store)} at {plan.now.iso()} ({escape(plan.policy.describe())})",
        highlight=False,
    )
    console.print(result)


def _print_outcome(report: PruneReport, store: str) -> None:
    console = stdout_console()
    plan = report.plan
    _print_plan(plan, report if plan.to_delete and not report.dry_run else None, store)
    kept = f"{len(plan.to_keep)} kept"
    if report.dry_run:
        console.print(
            f"Dry run: {summarize(plan.to_delete)} to delete, {kept}. Nothing was deleted.",
            highlight=False,
        )
    elif not plan.to_delete:
        console.print(f"Nothing to delete: {kept}.", highlight=False)
    elif not report.results:
        console.print("Nothing was deleted.", highlight=False)
    else:
        console.print(
            f"{report.count(Outcome.DELETED)} deleted, {report.count(Outcome.FAILED)} failed, "
            f"{report.count(Outcome.SKIPPED)} skipped, {kept}.",
            highlight=False,
        )
