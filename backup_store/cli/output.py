"""How the CLI prints: JSON for scripts, rich tables for people, progress on stderr.

A store is named by its credential-free ``description`` (never by the URL
given), and any text that could carry a credential is scrubbed before printing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console, ConsoleOptions, RenderResult
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from backup_store.format.instant import Instant
from backup_store.units import human_size as human_size

# Wide enough for the tables when output is not a terminal (pipes, docs, CI logs).
PLAIN_WIDTH = 160


def stdout_console() -> Console:
    """The console of the results: the terminal's width, else COLUMNS, else
    :data:`PLAIN_WIDTH`."""
    console = Console(soft_wrap=True)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(width=PLAIN_WIDTH, soft_wrap=True)
    return console


def stderr_console() -> Console:
    return Console(stderr=True)


def emit_json(value: Any) -> None:
    """One JSON document on stdout (for ``--json``)."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def plural(count: int, noun: str) -> str:
    """``1 backup id``, ``2 backup ids``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def when(instant: Instant | None) -> str:
    return instant.iso() if instant is not None else ""


WRAP_FLOOR = 12
"""Narrowest a free-text column is counted as when deciding which columns fit."""


class FittingTable(Table):
    """A table that fits the width it is printed at by dropping its optional
    columns (in the order given) rather than truncating a cell: ids, states and
    other values stay whole on one line; only the free-text columns wrap."""

    def __init__(self, optional: tuple[str, ...]) -> None:
        super().__init__(show_lines=False, expand=False)
        self.optional = optional

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for name in self.optional:
            if self._needed_width(console, options) <= options.max_width:
                break
            self.columns = [c for c in self.columns if c.header != name]
            for index, column in enumerate(self.columns):
                column._index = index  # rich pads the first and last columns by index
        return super().__rich_console__(console, options)

    def _needed_width(self, console: Console, options: ConsoleOptions) -> int:
        """Width with every unwrapped column whole and each free-text one at
        :data:`WRAP_FLOOR` (or less, if its text is shorter)."""
        total = self._extra_width
        for column in self.columns:
            measured = self._measure_column(console, options, column)
            padding = self._get_padding_width(column._index)
            if column.no_wrap:
                total += measured.maximum
            else:
                total += min(measured.maximum, WRAP_FLOOR + padding)
        return total


def table(
    *columns: str,
    wrap: tuple[str, ...] = ("Failure reason", "Details"),
    optional: tuple[str, ...] = (),
) -> Table:
    """A plain, copy-paste friendly table; only the free-text columns (``wrap``)
    wrap. Where it does not fit, the ``optional`` columns are dropped, first
    named first dropped; the others are never cut."""
    result = FittingTable(optional)
    for column in columns:
        free_text = column in wrap
        result.add_column(column, overflow="fold", no_wrap=not free_text)
    return result


class RichProgress:
    """A :class:`backup_store.tools.verify.Progress` drawn with rich on stderr.

    Shows one transient bar per phase (bytes, speed, time left); draws nothing
    when stderr is not a terminal or JSON output was asked for.
    """

    def __init__(self, *, enabled: bool) -> None:
        console = stderr_console()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not (enabled and console.is_terminal),
        )
        self._task: TaskID | None = None

    @contextmanager
    def shown(self) -> Iterator[RichProgress]:
        with self._progress:
            yield self

    def start(self, description: str, total: int | None) -> None:
        self.finish()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def set_completed(self, completed: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=completed)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
