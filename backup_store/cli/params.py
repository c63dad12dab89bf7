"""The parameters commands share: backup, partition and node ids, the store URL
argument, ``--json``, sizes and durations, the transfer limits."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import click

from backup_store.errors import InvalidInputError
from backup_store.model import MAX_CHECKPOINT_ID, MAX_INT, parse_decimal_id
from backup_store.service.settings import LOW_DISK_PRIORITY_VARIABLE, MAX_BANDWIDTH_VARIABLE
from backup_store.units import parse_duration, parse_size

F = TypeVar("F", bound=Callable[..., Any])


class DecimalId(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """An id on the command line, read by the library's one id parser.

    ASCII digits only (other scripts' digits, ``+5``, `` 5`` and ``5_0`` are usage errors,
    exit 2, although Python's ``int()`` accepts them); leading zeros allowed as Java's
    ``Long.parseLong`` allows them.
    """

    name = "integer"

    def __init__(self, what: str, low: int, high: int) -> None:
        self.what, self.low, self.high = what, low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a default, or a caller's int: checked like typed text
        try:
            return parse_decimal_id(value, self.what, self.low, self.high)
        except InvalidInputError as error:
            self.fail(error.message, param, ctx)


BACKUP_ID = DecimalId("backup (checkpoint) id", 1, MAX_CHECKPOINT_ID)
PARTITION_ID = DecimalId("partition id", 1, MAX_INT)
NODE_ID = DecimalId("node id", 0, MAX_INT)

STORE_URL_HELP = (
    "STORE_URL may be left out: then BACKUP_STORE_URL, else Zeebe's own variables "
    "(ZEEBE_BROKER_DATA_BACKUP_*, CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_*) name the store."
)


def store_url_argument(function: F) -> F:
    """``[STORE_URL]``: optional, the environment names the store otherwise."""
    return click.argument("store_url", metavar="[STORE_URL]", required=False)(function)


def store_and_backup_id(*, required: bool) -> Callable[[F], F]:
    """``[STORE_URL] BACKUP_ID`` (``[BACKUP_ID]`` unless ``required``).

    Click fills positional arguments in order, so ``status 5`` would read 5 as the
    URL; a URL is never all digits, an id always is: a lone digits argument is the id.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(store_url: str | None, backup_id: str | None, **options: Any) -> Any:
            if backup_id is None and store_url is not None and DIGITS.fullmatch(store_url):
                store_url, backup_id = None, store_url
            return function(
                store_url=store_url, backup_id=parse_backup_id(backup_id, required), **options
            )

        # Applied last to first, as decorators stack: BACKUP_ID, then STORE_URL.
        metavar = "BACKUP_ID" if required else "[BACKUP_ID]"
        wrapped = click.argument("backup_id", metavar=metavar, required=False)(wrapper)
        return store_url_argument(wrapped)  # type: ignore[return-value]

    return decorate


DIGITS = re.compile(r"[0-9]+")


def parse_backup_id(text: str | None, required: bool) -> int | None:
    ctx = click.get_current_context()
    param = next(p for p in ctx.command.params if p.name == "backup_id")
    if text is None:
        if required:
            raise click.MissingParameter(ctx=ctx, param=param)
        return None
    return BACKUP_ID.convert(text, param, ctx)


def json_option(function: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document for scripts."
    )(function)


class Size(click.ParamType):  # type: ignore[type-arg]
    """A size in bytes as :func:`backup_store.units.parse_size` reads it (``8MiB``)."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value), what=_named(param))
        except InvalidInputError as error:
            self.fail(error.message, param, ctx)


@dataclass(frozen=True)
class TransferLimits:
    """``--max-bandwidth`` (bytes per second, None: no limit) and ``--low-disk-priority``."""

    max_bandwidth: int | None = None
    low_disk_priority: bool = False


def transfer_limit_options(*, from_environment: bool = False) -> Callable[[F], F]:
    """``--max-bandwidth`` and ``--low-disk-priority``, given to the command as one
    ``limits`` (:class:`TransferLimits`); ``from_environment``: also read from
    ``BACKUP_STORE_MAX_BANDWIDTH`` and ``BACKUP_STORE_LOW_DISK_PRIORITY``."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(max_bandwidth: int | None, low_disk_priority: bool, **options: Any) -> Any:
            return function(limits=TransferLimits(max_bandwidth, low_disk_priority), **options)

        bandwidth = click.option(
            "--max-bandwidth",
            type=Size(),
            envvar=MAX_BANDWIDTH_VARIABLE if from_environment else None,
            show_envvar=from_environment,
            default=None,
            metavar="BYTES",
            help="Bytes per second that this process's transfers (save, restore, migrate) "
            "send and receive together, at most (20MB, 50MiB; copies made inside the store "
            "do not count). Default: no limit.",
        )
        priority = click.option(
            "--low-disk-priority",
            is_flag=True,
            envvar=LOW_DISK_PRIORITY_VARIABLE if from_environment else None,
            show_envvar=from_environment,
            help="Read and write local files in Linux's idle I/O class (check with "
            "'ionice -p <thread id>'); elsewhere a logged no-op.",
        )
        return bandwidth(priority(wrapper))  # type: ignore[return-value]

    return decorate


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A duration as :func:`backup_store.units.parse_duration` reads it (``10m``, ``PT1H``)."""

    name = "DURATION"

    def __init__(self, *, bare_unit: str | None = None) -> None:
        self.bare_unit = bare_unit

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value), what=_named(param), bare_unit=self.bare_unit)
        except InvalidInputError as error:
            self.fail(error.message, param, ctx)


def _named(param: click.Parameter | None) -> str:
    """The option's name for an error message (``--max-age``), if known."""
    return param.opts[0] if param is not None and param.opts else ""
