"""``backup-store verify``: check stored backups against their integrity records."""

from __future__ import annotations

import click
from rich.text import Text

from backup_store.cli.opening import open_url
from backup_store.cli.output import RichProgress, emit_json, plural, stdout_console
from backup_store.cli.params import STORE_URL_HELP, json_option, store_and_backup_id
from backup_store.cli.running import run
from backup_store.tools.verify import VerifyLevel, VerifyReport, verify_store


@click.command("verify", epilog=STORE_URL_HELP)
@store_and_backup_id(required=False)
@click.option(
    "--level",
    type=click.Choice([level.value for level in VerifyLevel]),
    default="checksum",
    show_default=True,
    help="presence: every file exists; size: and has its recorded size; checksum: and its "
    "bytes have the recorded SHA-256.",
)
@click.option(
    "--sample",
    "sample",
    type=click.FloatRange(0, 100, min_open=True),
    default=100.0,
    metavar="PCT",
    help="Check a random PCT% of the files (default: all).",
)
@click.option("--seed", type=int, help="Seed of the random sample (reproducible runs).")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Exit 0 when there is nothing to check (no COMPLETED backup with files).",
)
@json_option
def verify_command(
    store_url: str | None,
    backup_id: int | None,
    level: str,
    sample: float,
    seed: int | None,
    allow_empty: bool,
    as_json: bool,
) -> None:
    """Check stored backups without restoring them.

    For every COMPLETED backup (of BACKUP_ID, or all), every file its manifest
    names must exist, have its recorded size and (checksum level) its recorded
    SHA-256. Each problem is reported precisely; the exit code is 1 if there is
    any, and also when nothing was checked (unless --allow-empty). Backups
    written by Zeebe record no sizes or checksums: for them only presence is
    checked, as the output states.
    """
    store = open_url(store_url, "STORE_URL")
    progress = RichProgress(enabled=not as_json)

    async def work() -> VerifyReport:
        async with store:
            with progress.shown():
                return await verify_store(
                    store,
                    backup_id,
                    level=VerifyLevel(level),
                    sample_percent=sample,
                    seed=seed,
                    progress=progress,
                )

    report = run(work())
    if as_json:
        emit_json(report.to_json())
    else:
        _print_verify(report)
    if not report.ok or (report.files_checked == 0 and not allow_empty):
        raise SystemExit(1)


def _print_verify(report: VerifyReport) -> None:
    console = stdout_console()

    def say(text: str, style: str = "") -> None:
        console.print(Text(text, style=style))

    sampled = f", sample {report.sample_percent:g}%" if report.sample_percent < 100 else ""
    say(
        f"Verifying {plural(len(report.backups), 'partition backup')} in {report.store} "
        f"(level {report.level.value}{sampled})"
    )
    for problem in report.problems:
        say(f"  PROBLEM {problem}", "red")
    for result in report.backups:
        if result.skipped:
            say(f"- {result.backup_id}: skipped, {result.skipped}", "dim")
            for problem in result.problems:
                say(f"    PROBLEM {problem}", "red")
            continue
        mark, style = ("ok", "green") if result.ok else ("FAILED", "red")
        say(
            f"- {result.backup_id}: {mark}, {result.files_checked} of {result.files_total} files "
            f"checked at level {result.level.value}",
            style,
        )
        for note in result.notes:
            say(f"    note: {note}", "yellow")
        for problem in result.problems:
            say(f"    PROBLEM {problem}", "red")
    problems = report.all_problems
    if problems:
        say(f"{plural(len(problems), 'problem')} found.", "bold red")
    elif report.files_checked == 0:
        say(
            f"Nothing was checked: no COMPLETED backup with files in {report.store} "
            "(pass --allow-empty to accept this).",
            "bold yellow",
        )
    else:
        say(f"No problems found ({plural(report.files_checked, 'file')} checked).", "bold green")
