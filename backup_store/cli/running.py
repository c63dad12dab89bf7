"""How a command runs and ends: its coroutine on asyncio, errors as one scrubbed
line and an exit code."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import click

from backup_store.errors import BackupStoreError, scrub

T = TypeVar("T")

USAGE = 2
"""Exit code of a usage or configuration error."""


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
