"""``backup-store analyze``: check a storage location before trusting it with backups."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from rich.markup import escape

from backup_store.cli.opening import open_url
from backup_store.cli.output import RichProgress, emit_json, stdout_console, table
from backup_store.cli.params import STORE_URL_HELP, Duration, Size, store_url_argument
from backup_store.cli.running import run
from backup_store.operations import resolve_store_url
from backup_store.tools.analyze import (
    AnalysisPlan,
    AnalysisReport,
    Contender,
    IOContender,
    ProcessContender,
    Verdict,
    analyze,
)
from backup_store.units import human_size

UNREACHABLE = 3
"""Exit code of ``analyze`` when the store could not be reached: nothing was tested."""


@click.command("analyze", epilog=STORE_URL_HELP)
@store_url_argument
@click.option("--blobs", type=click.IntRange(2), default=20, show_default=True,
              help="Objects written and read back.")  # fmt: skip
@click.option("--max-size", type=Size(), default="8MiB", show_default=True,
              help="Largest random object (a multipart-sized one is always added).")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1), default=8, show_default=True,
              help="Requests in flight at once.")  # fmt: skip
@click.option("--contenders", type=click.IntRange(2), default=4, show_default=True,
              help="Writers racing for create-only and compare-and-swap.")  # fmt: skip
@click.option("--seed", type=int, help="Fix sizes, keys and the plan (not the outcome of races).")
@click.option("--timeout", type=Duration(bare_unit="s"), default="10m", show_default=True,
              help="Give up after this long (90s, 10m, 1h).")  # fmt: skip
@click.option("--keep", is_flag=True, help="Leave the scratch objects for inspection.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for scripts.")
def analyze_command(
    store_url: str | None,
    blobs: int,
    max_size: int,
    concurrency: int,
    contenders: int,
    seed: int | None,
    timeout: timedelta,
    keep: bool,
    as_json: bool,
) -> None:
    """Check that a storage location keeps the guarantees backups rely on.

    Works only under a fresh scratch prefix (<base>/.backup-store-analysis/<random>/):
    never touches backups, never claims the location for a store kind, and removes
    what it wrote unless --keep. Checks read-after-write, atomic visibility,
    create-only writes, compare-and-swap, listing and overwrites, and measures
    latency and throughput. Exit 0 when every guarantee holds, 1 when one is
    violated or not supported, 2 on usage errors, 3 when the store could not be
    reached (missing bucket, dead endpoint, refused credentials): nothing was tested.
    """
    store = open_url(store_url, "STORE_URL", create=True)  # it writes a scratch prefix
    plan = AnalysisPlan(blobs, max_size, concurrency, seed=seed, timeout=timeout.total_seconds())
    url = resolve_store_url(store_url) if store_url is not None else None
    progress = RichProgress(enabled=not as_json)

    async def work() -> AnalysisReport:
        racers: list[Contender] = []
        try:
            # A memory location exists only in this process; any other is raced from
            # separate processes, so that cross-process exclusion is what gets tested.
            for _ in range(contenders):
                in_process = store.kind == "memory"
                racers.append(
                    IOContender(store.io) if in_process else await ProcessContender.start(url)
                )
            with progress.shown():
                return await analyze(
                    store.io, store.base_path, racers, plan, keep=keep, progress=progress
                )
        finally:
            for racer in racers:
                await racer.close()

    report = run(work())
    if as_json:
        emit_json(report.to_json())
    else:
        _print(report)
    sys.exit(0 if report.ok else UNREACHABLE if report.unreachable else 1)


_VERDICT_STYLE = {Verdict.HELD: "green", Verdict.VIOLATED: "red", Verdict.NOT_SUPPORTED: "red"}


def _print(report: AnalysisReport) -> None:
    console = stdout_console()
    console.print(f"Analysis of {escape(report.location)} (seed {report.seed})", highlight=False)
    if report.unreachable is not None:
        console.print(f"[red]{escape(report.verdict)}[/]", highlight=False)
        return
    guarantees = table("Guarantee", "Verdict", "Checks", "Details")
    for result in report.guarantees.values():
        details = ""
        if result.first is not None:
            first = result.first
            details = (
                f"{first.operation} of {first.key}: expected {first.expected}, saw {first.seen}"
                + (f" ({result.violations} violations)" if result.violations > 1 else "")
            )
        elif result.unsupported is not None:
            details = result.unsupported
        verdict = result.verdict
        guarantees.add_row(
            result.name,
            f"[{_VERDICT_STYLE[verdict]}]{verdict.value}[/]",
            str(result.checks),
            escape(details),
        )
    console.print(guarantees)
    performance = table("Operation", "Count", "Bytes", "p50", "p99", "Throughput")
    for stats in report.operations.values():
        row = stats.to_json()
        speed = row["bytesPerSecond"]
        performance.add_row(
            row["operation"],
            str(row["count"]),
            human_size(row["bytes"]),
            f"{row['p50Ms']:.1f} ms",
            f"{row['p99Ms']:.1f} ms",
            f"{human_size(speed)}/s" if speed else "",
        )
    console.print(performance)
    if report.error:
        console.print(f"[red]{escape(report.error)}[/]")
    if report.left_behind:
        console.print(
            f"Left under {escape(report.scratch_prefix)}: "
            + ", ".join(escape(k) for k in report.left_behind[:20]),
            highlight=False,
        )
    style = "green" if report.ok else "red"
    console.print(f"[{style}]{escape(report.verdict)}[/]", highlight=False)
