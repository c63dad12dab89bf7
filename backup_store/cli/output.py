"""How the CLI talks: JSON for scripts, rich tables for people, progress on stderr.

Everything the CLI prints goes through here, so that two rules hold in one
place: a store is named by its credential-free ``description`` (never by the
URL given), and any text that could carry a credential is scrubbed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

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

from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import (
    BackupStoreError,
    ConfigurationError,
    scrub,
)
from backup_store.format.instant import Instant
from backup_store.settings import CommandLineStoreError, StoreChoice, choose_store
from backup_store.sizes import human_size as human_size

T = TypeVar("T")

USAGE = 2
"""Exit code of a usage or configuration error."""

# Wide enough for the tables when output is not a terminal (pipes, docs, CI logs).
PLAIN_WIDTH = 160


class ScrubbingGroup(click.Group):
    """A click group whose usage errors never echo a credential back, whose Ctrl-C
    is one line and exit 130, and whose heavy commands load only when used.

    Click repeats offending arguments in usage errors ("unexpected extra
    argument (...)"); a misplaced store URL could carry secrets in its query.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, tuple[str, str]] = {}

    def add_lazy_command(self, name: str, module: str, attribute: str) -> None:
        """Register ``module.attribute`` as command ``name``, imported on first use."""
        self._lazy[name] = (module, attribute)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy and cmd_name not in self.commands:
            module, attribute = self._lazy[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as error:
            raise _scrubbed(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise _scrubbed(error) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)


def _scrubbed(error: click.UsageError) -> click.UsageError:
    text = error.format_message()
    clean = scrub(text)
    return error if clean == text else click.UsageError(clean, ctx=error.ctx)


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


class CommandFailed(Exception):
    """Raised inside a command's coroutine to end it with ``error: <message>``, exit 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` on stderr as one clean line and exit."""
    click.echo(f"error: {scrub(message)}", err=True)
    sys.exit(code)


def confirm(question: str, what: str) -> None:
    """Ask ``question`` on the terminal; no answer possible (no terminal) ends the
    command telling to pass --yes; "no" aborts (exit 1)."""
    try:
        confirmed = click.confirm(question, err=True)
    except click.Abort:
        if sys.stdin.isatty():
            raise
        raise CommandFailed(f"no terminal to confirm the deletion of {what}: pass --yes") from None
    if not confirmed:
        raise click.Abort()


def warn(message: str) -> None:
    click.echo(f"warning: {scrub(message)}", err=True)


def choose(url: str | None, given_as: str, *, default_directory: Path | None = None) -> StoreChoice:
    """Which store: :func:`backup_store.settings.choose_store`, its errors presented.

    A wrong command-line URL is a usage error naming the argument (exit 2); a wrong
    variable is one line naming the variable, exit 2, without a usage block (the
    command line was fine).
    """
    try:
        choice = choose_store(url, default_directory=default_directory, given_as=given_as)
    except CommandLineStoreError as error:
        raise click.BadParameter(error.message, param_hint=given_as) from None
    except ConfigurationError as error:
        fail(error.message, USAGE)
    return choice


def open_choice(choice: StoreChoice, *, create: bool = False) -> InspectableStore | None:
    """Open the chosen store (``None``: backup disabled by ``STORE=NONE``); errors
    name where the store was given.

    Unless ``create``, a filesystem location must exist: commands that only read
    never create anything, and a mistyped path is an error (exit 1), not an empty store.
    """
    where = choice.source
    if choice.open is None:
        return None
    if not create and choice.folder is not None and not choice.folder.is_dir():
        what = "is not a folder" if choice.folder.exists() else "does not exist"
        fail(f"no backup store at {choice.folder} ({where}): the folder {what}")
    try:
        return choice.open()
    except (BackupStoreError, OSError) as error:
        # Opening sends no request: what fails here is the location given (a bad
        # option, a folder that cannot be made): a usage error naming where it was given.
        if isinstance(error, OSError):
            message = f"cannot use {error.filename}: {error.strerror or error}"
        else:
            message = scrub(error.message)
        if choice.from_command_line:
            raise click.BadParameter(message, param_hint=where) from None
        fail(f"{where}: {message}", USAGE)


def open_url(url: str | None, param: str, *, create: bool = False) -> InspectableStore:
    """Open the store a command works on: ``url`` (a URL or ``env:NAME``, given as
    argument ``param``), else ``BACKUP_STORE_URL``, else the Zeebe/Camunda variables.
    Errors never repeat the URL."""
    choice = choose(url, param)
    for warning in choice.warnings:
        warn(warning)
    store = open_choice(choice, create=create)
    if store is None:
        fail("backup is disabled (the store variable says NONE): there is no store to use", USAGE)
    return store


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; store and OS errors become one line and exit 1."""
    try:
        return asyncio.run(coroutine)
    except CommandFailed as error:
        fail(error.message)
    except BackupStoreError as error:
        fail(str(error))
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        fail(f"{error.strerror or error}{where}")


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
    """A :class:`backup_store.verify.Progress` drawn with rich on stderr.

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
