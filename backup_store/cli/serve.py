"""``backup-store serve``: the Backup Management API over a store and a data directory.

With no options (``make serve``) it uses the embedded default: a filesystem
store under ``./backups`` and the data directory ``./data``, generated with
sample partitions when it is missing, plus a background writer that keeps
appending to the sample segments so backups are taken while the "engine" works.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import click
from starlette.types import ASGIApp

from backup_store.api.app import DEFAULT_REQUEST_TIMEOUT, create_app
from backup_store.api.health import HEALTH_PATH
from backup_store.api.openapi import OPENAPI_PATH
from backup_store.api.prometheus import PROMETHEUS_PATH
from backup_store.cli.opening import choose, open_choice
from backup_store.cli.params import NODE_ID
from backup_store.cli.running import USAGE, fail
from backup_store.cli.sample import SampleWriter, generate_sample_data, is_sample_data
from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import BackupStoreError, ConfigurationError, InvalidInputError
from backup_store.model import MAX_PARTITIONS
from backup_store.service.directory import DirectorySource
from backup_store.service.logs import LOG_FORMATS, configure_logging
from backup_store.service.metrics import BackupMetrics
from backup_store.service.schedules import (
    BackupScheduler,
    RetentionScheduler,
    Schedule,
    parse_schedule,
)
from backup_store.service.service import BackupService
from backup_store.service.settings import choose_node_id
from backup_store.tools.retention import RetentionPolicy
from backup_store.units import parse_duration

log = logging.getLogger("backup_store.serve")

DEFAULT_PORT = 9600
# Spring's management port, as a Zeebe pod sets it (its SERVER_PORT is the REST API's).
PORT_ENV = "MANAGEMENT_SERVER_PORT"
DEFAULT_STORE_DIR = "backups"
DEFAULT_DATA_DIR = "data"
SAMPLE_PARTITIONS = 2
DISABLED = "none"
DEFAULT_RETENTION_SCHEDULE = "PT1H"
SCHEDULE_ENV = "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_SCHEDULE"
RETENTION_WINDOW_ENV = "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_RETENTION_WINDOW"
RETENTION_SCHEDULE_ENV = "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_RETENTION_CLEANUPSCHEDULE"


def _schedule_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> Schedule | None:
    try:
        return parse_schedule(value, what=param.opts[0])
    except InvalidInputError as error:
        raise click.BadParameter(error.message) from None


def _window_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> timedelta | None:
    if value is None or not value.strip() or value.strip().lower() == DISABLED:
        return None
    try:
        return parse_duration(value, what=param.opts[0])
    except InvalidInputError as error:
        raise click.BadParameter(error.message) from None


def bind(host: str, port: int) -> socket.socket:
    """Listen on ``host:port`` before anything is created or announced; a port in use
    ends the command with one line naming it (exit 1)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        reason = (
            f"port {port} is already in use"
            if error.errno == errno.EADDRINUSE
            else (error.strerror or str(error))
        )
        click.echo(f"error: cannot listen on {host}:{port}: {reason}", err=True)
        raise SystemExit(1) from None
    return sock


def run_app(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM (then the app's shutdown runs);
    on ``sock`` if given (already bound by :func:`bind`)."""
    import uvicorn  # imported here: other CLI commands need not load a server

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level,
        lifespan="on",
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)


def _base_url(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1", "localhost") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


async def _announce(
    service: BackupService,
    *,
    host: str,
    port: int,
    data_dir: Path,
    writer: bool,
    token: bool,
    scheduled: bool,
) -> None:
    base = _base_url(host, port)
    partitions = ", ".join(str(p) for p in sorted(service.sources))
    sample = ""
    if is_sample_data(data_dir):
        sample = " (sample data, background writer appending)" if writer else " (sample data)"
    log.info("Backup Management API of node %d: %s/actuator/backups", service.node_id, base)
    log.info("  store:      %s", getattr(service.store, "description", repr(service.store)))
    log.info("  data:       %s%s", data_dir.absolute(), sample)  # noqa: ASYNC240
    log.info("  partitions: %s of %d", partitions, service.partition_count)
    log.info("  OpenAPI:    %s%s", base, OPENAPI_PATH)
    log.info("  health:     %s%s (no token needed)", base, HEALTH_PATH)
    log.info("  metrics:    %s%s", base, PROMETHEUS_PATH)
    log.info("  token:      %s", "required (Authorization: Bearer ...)" if token else "off")
    try:
        latest = await service.latest_backup_id()
    except BackupStoreError:
        latest = 0
    auth = ' -H "Authorization: Bearer $BACKUP_STORE_TOKEN"' if token else ""
    backup_id = 100 if latest < 100 else latest + 1
    body = f"'{{ \"backupId\": \"{backup_id}\" }}'"
    if scheduled and latest < time.time() * 1000:
        # Scheduled ids are their slot's epoch milliseconds and keep growing: an id
        # fixed now would be below them by the time it is tried; the shell's clock
        # (seconds, plus 1 ms) is above every slot already taken.
        body = '"{ \\"backupId\\": \\"$(date +%s)001\\" }"'
    log.info(
        "Try: curl --request POST '%s/actuator/backups' -H 'Content-Type: application/json'%s "
        "-d %s",
        base,
        auth,
        body,
    )


STARTUP_RECOVERY_WAIT = 2.0
"""Seconds start-up waits for the restart recovery before serving requests anyway
(the recovery goes on in the background: the API answers within 5 s of start)."""


INCREMENTAL_ENV = "BACKUP_STORE_INCREMENTAL"


@click.command()
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    default=None,
    help=f"Backup store URL (file:///abs/path, s3://..., ...), or env:NAME to read it from the "
    f"environment variable NAME. Default: BACKUP_STORE_URL, else Zeebe's own variables "
    f"(ZEEBE_BROKER_DATA_BACKUP_*, CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_*), else a filesystem "
    f"store under ./{DEFAULT_STORE_DIR}. '{DISABLED}' serves with backup disabled (requests "
    f"get 400).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Engine data: one folder per partition (<id>/snapshots/<snapshotId>/, <id>/segments/"
    f"*.log); it must exist unless --sample-data. Default: ./{DEFAULT_DATA_DIR}, generated "
    "with sample data when missing (the embedded default of 'make serve').",
)
@click.option(
    "--sample-data",
    is_flag=True,
    help="Generate sample partitions in --data-dir when it does not exist.",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, MAX_PARTITIONS),
    default=None,
    help=f"The cluster's partition count (default: the highest partition folder; "
    f"{SAMPLE_PARTITIONS} for generated sample data).",
)
@click.option(
    "--node-id",
    type=NODE_ID,
    default=None,
    help="This node's (broker's) id, part of every backup's key. Default: "
    "CAMUNDA_CLUSTER_NODEID, else ZEEBE_BROKER_CLUSTER_NODEID, else 0.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    envvar=PORT_ENV,
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    show_envvar=True,
    help="Port of the API, the health probes and the metrics (0: any free port); the variable "
    "is a Zeebe pod's management port (its SERVER_PORT, the REST port, is not read).",
)
@click.option(
    "--token",
    envvar="BACKUP_STORE_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer <token>' on every request but the health probes and "
    "/actuator/prometheus (or set BACKUP_STORE_TOKEN).",
)
@click.option(
    "--protect-metrics",
    is_flag=True,
    help="Require the --token on /actuator/prometheus too.",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_REQUEST_TIMEOUT,
    show_default=True,
    help="Seconds a request may take before it is answered 504.",
)
@click.option(
    "--schedule",
    envvar=SCHEDULE_ENV,
    callback=_schedule_option,
    metavar="SCHEDULE",
    help="Take a backup of every partition of this node on a schedule: an ISO-8601 duration "
    "(PT1H: every full hour, UTC), a cron expression in Spring's six-field form "
    f"('0 0 * * * *', UTC), or '{DISABLED}' (default). Ids are the slot's epoch milliseconds. "
    f"[env: {SCHEDULE_ENV}]",
)
@click.option(
    "--retention",
    envvar=RETENTION_WINDOW_ENV,
    callback=_window_option,
    metavar="DURATION",
    help="Delete backup ids older than DURATION (P7D, PT12H, 7d) with the same policy as "
    f"'backup-store prune --max-age'. Default: keep everything. [env: {RETENTION_WINDOW_ENV}]",
)
@click.option(
    "--retention-schedule",
    envvar=RETENTION_SCHEDULE_ENV,
    callback=_schedule_option,
    metavar="SCHEDULE",
    help=f"When retention runs (same forms as --schedule). Default: {DEFAULT_RETENTION_SCHEDULE}. "
    f"[env: {RETENTION_SCHEDULE_ENV}]",
)
@click.option(
    "--incremental/--no-incremental",
    envvar=INCREMENTAL_ENV,
    default=True,
    show_default=True,
    show_envvar=True,
    help="Copy each file that the partition's latest earlier COMPLETED backup holds unchanged "
    "inside the store (S3, GCS, filesystem: a hard link) instead of sending it again.",
)
@click.option(
    "--writer/--no-writer",
    default=True,
    show_default=True,
    help="Keep appending to the segments of generated sample data while serving.",
)
@click.option("--writer-interval", type=click.FloatRange(min=0.001), default=0.1, hidden=True)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="text, or json: one JSON object per line (time, level, logger, message, backupId, "
    "partitionId, operation).",
)
def serve(
    store_url: str | None,
    data_dir: Path | None,
    sample_data: bool,
    partitions: int | None,
    node_id: int | None,
    host: str,
    port: int,
    token: str | None,
    protect_metrics: bool,
    request_timeout: float,
    schedule: Schedule | None,
    retention: timedelta | None,
    retention_schedule: Schedule | None,
    incremental: bool,
    writer: bool,
    writer_interval: float,
    log_level: str,
    log_format: str,
) -> None:
    """Serve the Backup Management API (POST/GET/DELETE /actuator/backups) as Zeebe 8.7 does."""
    configure_logging(log_level, log_format)
    if token is not None and not token:
        raise click.UsageError("the --token value must not be empty")
    if protect_metrics and token is None:
        raise click.UsageError("--protect-metrics needs --token (or BACKUP_STORE_TOKEN)")
    make_app = functools.partial(
        create_app, token=token, request_timeout=request_timeout, protect_metrics=protect_metrics
    )
    choice = choose(store_url, "--store", default_directory=Path(DEFAULT_STORE_DIR))
    try:
        node_id, node_source = choose_node_id(node_id)
    except ConfigurationError as error:
        fail(error.message, USAGE)
    for warning in choice.warnings:
        log.warning("%s", warning)
    # The embedded default (no --data-dir) makes its sample data; a folder named
    # explicitly must exist, unless sample data is asked for: a typo is not data.
    if data_dir is None:
        data_dir = Path(DEFAULT_DATA_DIR)
    elif not data_dir.exists() and not sample_data:
        raise click.BadParameter(
            f"{data_dir} does not exist; pass --sample-data to generate sample partitions there",
            param_hint="--data-dir",
        )
    # Bind first: a port in use must fail before anything is created or announced.
    sock = bind(host, port)
    port = sock.getsockname()[1]
    store = open_choice(choice, create=True)
    if store is None:
        log.warning(
            "backup is not enabled (store chosen by %s): every backup request gets 400",
            choice.source,
        )
        run_app(make_app(None), host=host, port=port, log_level=log_level, sock=sock)
        return
    log.info("backup store chosen by %s: %s", choice.source, store.description)
    store.incremental = incremental
    if not incremental:
        log.info("incremental backups are off: every file of every backup is sent")
    log.info("node id %d set by %s", node_id, node_source)
    if retention is not None and retention_schedule is None:
        retention_schedule = parse_schedule(DEFAULT_RETENTION_SCHEDULE)
    sources = _sources(data_dir, partitions)
    count = partitions or max(s.partition_id for s in sources)
    writing = writer and is_sample_data(data_dir)

    runtime = functools.partial(
        _runtime,
        store,
        sources,
        node_id=node_id,
        partition_count=count,
        request_timeout=request_timeout,
        data_dir=data_dir,
        writer_interval=writer_interval if writing else None,
        address=(host, port),
        token=token is not None,
        schedule=schedule,
        retention=retention,
        retention_schedule=retention_schedule,
    )
    run_app(make_app(runtime), host=host, port=port, log_level=log_level, sock=sock)


@contextlib.asynccontextmanager
async def _runtime(
    store: InspectableStore,
    sources: list[DirectorySource],
    *,
    node_id: int,
    partition_count: int,
    request_timeout: float,
    data_dir: Path,
    writer_interval: float | None,
    address: tuple[str, int],
    token: bool,
    schedule: Schedule | None,
    retention: timedelta | None,
    retention_schedule: Schedule | None,
) -> AsyncIterator[BackupService]:
    """The service while the app runs: the sample writer (``writer_interval`` set),
    the service, then the backup and retention schedulers; the store closed last."""
    host, port = address
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(_close_store, store)
        if writer_interval is not None:
            await stack.enter_async_context(SampleWriter(data_dir, interval=writer_interval))
        service = BackupService(
            store,
            sources,
            node_id=node_id,
            partition_count=partition_count,
            recovery_timeout=min(request_timeout, STARTUP_RECOVERY_WAIT),
            metrics=BackupMetrics(),
        )
        await stack.enter_async_context(service)
        await _announce(
            service,
            host=host,
            port=port,
            data_dir=data_dir,
            writer=writer_interval is not None,
            token=token,
            scheduled=schedule is not None,
        )
        if schedule is not None:
            await stack.enter_async_context(BackupScheduler(service, schedule))
            log.info("Scheduled backups: %s (UTC)", schedule.text)
        if retention is not None and retention_schedule is not None:
            policy = RetentionPolicy(max_age=retention)
            await stack.enter_async_context(
                RetentionScheduler(
                    store,
                    policy,
                    retention_schedule,
                    partition_count=partition_count,
                    metrics=service.metrics,
                )
            )
            log.info(
                "Retention: %s, first clean-up now, then at %s",
                policy.describe(),
                retention_schedule.text,
            )
        yield service


async def _close_store(store: InspectableStore) -> None:
    await store.close()


def _sources(data_dir: Path, partitions: int | None) -> list[DirectorySource]:
    if not data_dir.exists():
        try:
            generate_sample_data(data_dir, partitions or SAMPLE_PARTITIONS)
        except OSError as error:
            raise click.BadParameter(
                f"cannot create sample data in {data_dir}: {error.strerror}",
                param_hint="--data-dir",
            ) from None
        log.info(
            "generated sample data for %d partitions in %s",
            partitions or SAMPLE_PARTITIONS,
            data_dir.absolute(),
        )
    try:
        sources = DirectorySource.discover(data_dir)
    except BackupStoreError as error:
        raise click.BadParameter(error.message, param_hint="--data-dir") from None
    if not sources:
        raise click.BadParameter(
            f"{data_dir} has no partition folders (sub-folders named 1, 2, ...)",
            param_hint="--data-dir",
        )
    highest = max(s.partition_id for s in sources)
    if partitions is not None and partitions < highest:
        raise click.BadParameter(
            f"{data_dir} has a folder for partition {highest}, beyond --partitions {partitions}",
            param_hint="--partitions",
        )
    return sources
