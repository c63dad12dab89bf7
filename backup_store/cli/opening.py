"""Which store a command opens: a URL argument, ``env:NAME``, else the environment's settings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import click

from backup_store.cli.params import TransferLimits
from backup_store.cli.running import USAGE, fail, warn
from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import BackupStoreError, ConfigurationError, scrub
from backup_store.io import ThrottledIO
from backup_store.service.settings import CommandLineStoreError, StoreChoice, choose_store
from backup_store.transfer.bandwidth import TokenBucket
from backup_store.transfer.priority import lower_disk_priority

log = logging.getLogger(__name__)


def choose(url: str | None, given_as: str, *, default_directory: Path | None = None) -> StoreChoice:
    """Which store: :func:`backup_store.service.settings.choose_store`, its errors presented.

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


def limit_transfers(
    stores: Sequence[InspectableStore], limits: TransferLimits
) -> TokenBucket | None:
    """Draw every body the ``stores`` send and receive from one bucket of
    ``limits.max_bandwidth`` bytes per second (the process's limit), and lower the
    transfer threads' disk priority when asked; the bucket, if any."""
    if limits.low_disk_priority:
        lower_disk_priority()
    if limits.max_bandwidth is None:
        return None
    bucket = TokenBucket(limits.max_bandwidth)
    for store in stores:
        store.io = ThrottledIO(store.io, bucket)
    log.info("transfers limited to %d bytes per second", limits.max_bandwidth)
    return bucket
