"""The operator commands: list, status, restore, verify, delete, migrate.

Each command opens the store(s) its URL arguments name, runs one library call
(``ObjectBackupStore``, :mod:`backup_store.aggregate`, :mod:`backup_store.verify`,
:mod:`backup_store.migrate`) and presents the result. Exit codes: 0 ok, 1
failure (including problems found by ``verify``), 2 usage error.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, unquote, urlsplit

import click
from obstore.store import MemoryStore
from rich.markup import escape
from rich.text import Text

from backup_store.aggregate import BackupInfo, BackupState, aggregate, best_status
from backup_store.cli.output import (
    USAGE,
    CommandFailed,
    RichProgress,
    choose,
    confirm,
    emit_json,
    fail,
    human_size,
    open_choice,
    open_url,
    plural,
    run,
    stdout_console,
    table,
    warn,
    when,
)
from backup_store.contract.inspectable import InspectableStore, RestoreProgress, Verification
from backup_store.errors import ConfigurationError, InvalidInputError
from backup_store.migrate import Action, MigrationReport, Outcome, migrate
from backup_store.model import (
    FILE_SETS,
    MAX_CHECKPOINT_ID,
    MAX_INT,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    parse_decimal_id,
)
from backup_store.operations import (
    by_checkpoint,
    delete_statuses,
    id_json,
    resolve_store_url,
    status_json,
)
from backup_store.settings import choose_node_id
from backup_store.stores.config import url_options
from backup_store.stores.filesystem import FilesystemBackupStore, FilesystemConfig
from backup_store.verify import VerifyLevel, VerifyReport, verify_store

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
            if backup_id is None and store_url is not None and _DIGITS.fullmatch(store_url):
                store_url, backup_id = None, store_url
            return function(
                store_url=store_url, backup_id=_backup_id(backup_id, required), **options
            )

        # Applied last to first, as decorators stack: BACKUP_ID, then STORE_URL.
        metavar = "BACKUP_ID" if required else "[BACKUP_ID]"
        wrapped = click.argument("backup_id", metavar=metavar, required=False)(wrapper)
        return store_url_argument(wrapped)  # type: ignore[return-value]

    return decorate


_DIGITS = re.compile(r"[0-9]+")


def _backup_id(text: str | None, required: bool) -> int | None:
    ctx = click.get_current_context()
    param = next(p for p in ctx.command.params if p.name == "backup_id")
    if text is None:
        if required:
            raise click.MissingParameter(ctx=ctx, param=param)
        return None
    return BACKUP_ID.convert(text, param, ctx)


STATE_STYLE = {
    "COMPLETED": "green",
    "FAILED": "red",
    "INCOMPLETE": "yellow",
    "IN_PROGRESS": "cyan",
    "DOES_NOT_EXIST": "dim",
}


def json_option(function: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document for scripts."
    )(function)


def styled(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def status_cell(status: BackupStatus) -> Text:
    """A partition backup's status; a damaged manifest is marked as such."""
    cell = styled(status.status_code.value)
    if status.damaged:
        cell.append(" (damaged manifest)", style="bold red")
    return cell


# ---------------------------------------------------------------- list


@click.command("list", epilog=STORE_URL_HELP)
@store_url_argument
@click.option("--partition", type=PARTITION_ID, help="Only this partition's backups.")
@click.option("--node", type=NODE_ID, help="Only backups taken by this node (broker).")
@click.option(
    "--checkpoint",
    "pattern",
    metavar="ID|PREFIX*",
    help="Only this backup id, or ids starting with PREFIX (e.g. 10*).",
)
@json_option
def list_command(
    store_url: str | None,
    partition: int | None,
    node: int | None,
    pattern: str | None,
    as_json: bool,
) -> None:
    """List backups: one row per (checkpoint, partition, node), with each backup id's
    aggregated state (as the management API reports it).

    The aggregated state of an id always considers all of its partitions, even
    when --partition or --node narrow the rows shown.
    """
    try:
        wildcard = BackupIdentifierWildcard(checkpoint=pattern)
    except InvalidInputError as error:
        raise click.BadParameter(error.message, param_hint="--checkpoint") from None
    store = open_url(store_url, "STORE_URL")

    async def work() -> list[BackupStatus]:
        async with store:
            return await store.list(wildcard)

    statuses = run(work())
    by_id = by_checkpoint(statuses)
    rows: list[tuple[BackupInfo, list[BackupStatus]]] = []
    for backup_id in sorted(by_id, reverse=True):
        shown = sorted(
            (
                s
                for s in by_id[backup_id]
                if (partition is None or s.id.partition_id == partition)
                and (node is None or s.id.node_id == node)
            ),
            key=lambda s: (s.id.partition_id, s.id.node_id),
        )
        if shown:
            rows.append((aggregate(backup_id, by_id[backup_id]), shown))

    if as_json:
        emit_json(
            {
                "store": store.description,
                "backups": [
                    {**info.to_json(), "partitionBackups": [status_json(s) for s in shown]}
                    for info, shown in rows
                ],
            }
        )
        return
    console = stdout_console()
    if not rows:
        console.print(f"No backups in {escape(store.description)}.", highlight=False)
        return
    result = table(
        "Backup",
        "State",
        "Partition",
        "Node",
        "Status",
        "Created",
        "Last modified",
        "Broker",
        "Failure reason",
        optional=("Last modified", "Broker", "Created"),
    )
    for info, shown in rows:
        for index, status in enumerate(shown):
            first = index == 0
            result.add_row(
                str(info.backup_id) if first else "",
                styled(info.state.value) if first else "",
                str(status.id.partition_id),
                status.id.node_folder,  # {zone}_{node} for a broker in a zone
                status_cell(status),
                when(status.created),
                when(status.last_modified),
                status.descriptor.broker_version if status.descriptor else "",
                status.failure_reason or "",
                end_section=index == len(shown) - 1,
            )
    console.print(f"Backups in {escape(store.description)}", highlight=False)
    console.print(result)
    count = sum(len(shown) for _, shown in rows)
    console.print(
        f"{plural(len(rows), 'backup id')}, {plural(count, 'partition backup')}.", highlight=False
    )


# ---------------------------------------------------------------- status


@click.command("status", epilog=STORE_URL_HELP)
@store_and_backup_id(required=True)
@json_option
def status_command(store_url: str | None, backup_id: int, as_json: bool) -> None:
    """Show the aggregated state of one backup id across partitions.

    The same view as the management API's GET /actuator/backups/BACKUP_ID
    (with --json, the same body). Exits 1 when no partition has the backup.
    """
    store = open_url(store_url, "STORE_URL")

    async def work() -> list[BackupStatus]:
        async with store:
            return await store.list(BackupIdentifierWildcard(checkpoint=backup_id))

    info = aggregate(backup_id, run(work()))
    if as_json:
        emit_json(info.to_json())
        if info.state is BackupState.DOES_NOT_EXIST:
            raise SystemExit(1)
        return
    if info.state is BackupState.DOES_NOT_EXIST:
        fail(f"Backup with id {backup_id} does not exist in {store.description}")
    console = stdout_console()
    headline = Text(f"Backup {backup_id} in {store.description}: ")
    headline.append_text(styled(info.state.value))
    console.print(headline)
    if info.failure_reason:
        console.print(f"Failure reason: {escape(info.failure_reason)}", highlight=False)
    result = table(
        "Partition",
        "State",
        "Node",
        "Created",
        "Last updated",
        "Snapshot",
        "Checkpoint position",
        "Broker",
        "Failure reason",
        optional=("Last updated", "Broker", "Checkpoint position", "Snapshot", "Created"),
    )
    for detail in info.details:
        result.add_row(
            str(detail.partition_id),
            styled(detail.state.value),
            detail.broker_folder,
            when(detail.created_at),
            when(detail.last_updated_at),
            detail.snapshot_id or "",
            "" if detail.checkpoint_position is None else str(detail.checkpoint_position),
            detail.broker_version or "",
            detail.failure_reason or "",
        )
    console.print(result)


# ---------------------------------------------------------------- restore


class RestoreTarget:
    """The folder a restore writes into: refused when it is not empty (unless allowed)
    or holds a file the backup would replace; :meth:`undo` (on failure or Ctrl-C)
    removes the folders made for it. The restore itself leaves no file behind when it
    fails: it publishes its files all at once, once every one is written and checked.
    """

    def __init__(self, target: Path, *, allow_non_empty: bool) -> None:
        self.target = target
        if target.exists() and not target.is_dir():
            fail(f"refusing to restore into {target}: it is not a folder")
        if target.is_dir() and any(target.iterdir()) and not allow_non_empty:
            fail(f"refusing to restore into {target}: the folder is not empty")
        # The folders the restore will make (the target and its missing parents).
        self.created = [p for p in (target, *target.parents) if not p.exists()]

    def check_clashes(self, names: list[str]) -> None:
        """Refuse to replace any file of the folder."""
        clashes = [name for name in names if (self.target / name).exists()]
        if clashes:
            raise CommandFailed(
                f"refusing to replace {plural(len(clashes), 'file')} in {self.target}: "
                f"{', '.join(sorted(clashes)[:5])}"
            )

    def undo(self) -> None:
        for folder in self.created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


class RestoreBar(RestoreProgress):
    """Renders a restore's progress: a bar of bytes, and a warning when unverified."""

    def __init__(self, bar: RichProgress) -> None:
        self.bar = bar
        self.verification: Verification | None = None

    def started(
        self, backup_id: BackupIdentifier, total: int | None, verification: Verification
    ) -> None:
        self.verification = verification
        if verification is Verification.UNVERIFIED:
            warn(
                f"backup {backup_id} has no integrity record tied to its manifest: restoring "
                "UNVERIFIED data (--allow-unverified), only presence is checked"
            )
        self.bar.start(f"restoring {backup_id}", total)

    def advanced(self, amount: int) -> None:
        self.bar.advance(amount)


async def _restorable_copy(
    store: InspectableStore, backup_id: int, partition: int, node: int | None
) -> BackupIdentifier:
    """The best copy of the partition's backup (of ``node``, or of any node); refused
    unless it is COMPLETED."""
    wildcard = BackupIdentifierWildcard(node_id=node, partition_id=partition, checkpoint=backup_id)
    best = best_status(await store.list(wildcard))
    who = f"node {node}" if node is not None else "any node"
    if best is None:
        raise CommandFailed(
            f"backup {backup_id} has no copy of partition {partition} from {who} "
            f"in {store.description}"
        )
    if best.status_code is not BackupStatusCode.COMPLETED:
        reason = f" ({best.failure_reason})" if best.failure_reason else ""
        raise CommandFailed(
            f"cannot restore backup {best.id}: it is {best.status_code.value}{reason}; "
            "only a COMPLETED backup can be restored"
        )
    return best.id


@click.command("restore", epilog=STORE_URL_HELP)
@store_and_backup_id(required=True)
@click.option("--partition", type=PARTITION_ID, required=True, help="The partition to restore.")
@click.option(
    "--node",
    type=NODE_ID,
    help="Restore the copy taken by this node (default: the best copy of any node).",
)
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to restore into; must be empty or absent (Zeebe needs an empty data "
    "folder) unless --allow-non-empty.",
)
@click.option(
    "--allow-non-empty",
    is_flag=True,
    help="Restore into a folder that already has files (never replacing one). Zeebe "
    "itself needs an empty data folder.",
)
@click.option(
    "--allow-unverified",
    is_flag=True,
    help="Restore even if the backup's integrity record is missing or stale in a location "
    "our stores wrote to (then only presence is checked, with a warning).",
)
@json_option
def restore_command(
    store_url: str | None,
    backup_id: int,
    partition: int,
    node: int | None,
    target: Path,
    allow_non_empty: bool,
    allow_unverified: bool,
    as_json: bool,
) -> None:
    """Restore one partition's backup into an empty folder.

    Every snapshot and segment file is written flat into the folder. Sizes and
    SHA-256 are checked against the integrity record written with the backup;
    backups written by Zeebe itself (in a location our stores never wrote to)
    record neither, which the output states. Where our stores wrote, a backup
    whose record is missing or stale is refused unless --allow-unverified is given.
    Files are written under temporary names and renamed when all are there and
    checked: on failure or Ctrl-C the folder is left as it was.
    """
    destination = RestoreTarget(target, allow_non_empty=allow_non_empty)
    store = open_url(store_url, "STORE_URL")
    progress = RichProgress(enabled=not as_json)

    async def work() -> tuple[BackupIdentifier, list[tuple[str, str, int]], Verification]:
        async with store:
            best = await _restorable_copy(store, backup_id, partition, node)
            stored = await store.read_manifest(best)
            if stored is not None:
                destination.check_clashes([entry.name for _, entry in stored.manifest.files()])
            shown = RestoreBar(progress)
            with progress.shown():
                restored = await store.restore(
                    best, target, allow_unverified=allow_unverified, progress=shown
                )
                progress.finish()
            files = [
                (file_set, name, (target / name).stat().st_size)
                for file_set, names in zip(
                    FILE_SETS, (restored.snapshot, restored.segments), strict=True
                )
                for name in names
            ]
            assert shown.verification is not None  # (told before any file is written)
            return best, files, shown.verification

    try:
        restored_id, files, verification = run(work())
    except BaseException:
        destination.undo()
        raise
    total = sum(size for _, _, size in files)
    if as_json:
        emit_json(
            {
                "store": store.description,
                "backupId": id_json(restored_id),
                "target": str(target),
                "checked": verification is Verification.CHECKED,
                "unverified": verification is Verification.UNVERIFIED,
                "files": [{"fileSet": fs, "name": n, "size": s} for fs, n, s in files],
                "bytes": total,
            }
        )
        return
    console = stdout_console()
    console.print(
        f"Restored backup {restored_id} from {escape(store.description)} into "
        f"{escape(str(target))}: {plural(len(files), 'file')}, {human_size(total)}.",
        highlight=False,
    )
    if verification is Verification.CHECKED:
        console.print("Sizes and SHA-256 checked against the integrity record.", highlight=False)
    elif verification is Verification.UNVERIFIED:
        console.print(
            "NOT VERIFIED: the integrity record is missing or stale; only presence was checked.",
            highlight=False,
        )
    else:
        console.print(
            "Written by Zeebe: sizes and checksums are not recorded by Zeebe, "
            "so they were not checked.",
            highlight=False,
        )


# ---------------------------------------------------------------- verify


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


# ---------------------------------------------------------------- delete


@click.command("delete", epilog=STORE_URL_HELP)
@store_and_backup_id(required=True)
@click.option("--partition", type=PARTITION_ID, help="Delete only this partition's backup.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete_command(
    store_url: str | None, backup_id: int, partition: int | None, yes: bool, as_json: bool
) -> None:
    """Delete a backup (every partition and node, or one partition).

    Asks for confirmation unless --yes. An IN_PROGRESS partition backup is first
    marked FAILED ("The backup is being deleted."), as the management API does.
    A backup that does not exist is not an error.
    """
    store = open_url(store_url, "STORE_URL")
    wildcard = BackupIdentifierWildcard(partition_id=partition, checkpoint=backup_id)
    what = f"backup {backup_id}" + (f" of partition {partition}" if partition else "")
    console = stdout_console()

    async def work() -> list[BackupStatus]:
        async with store:
            found = sorted(
                await store.list(wildcard), key=lambda s: (s.id.partition_id, s.id.node_id)
            )
            if not found:
                return found
            if not as_json:
                listing = table("Partition", "Node", "Status")
                for status in found:
                    listing.add_row(
                        str(status.id.partition_id),
                        status.id.node_folder,
                        status_cell(status),
                    )
                console.print(f"To delete: {what} in {escape(store.description)}", highlight=False)
                console.print(listing)
            if not yes:
                confirm(
                    f"Delete {what} ({plural(len(found), 'partition backup')}) from "
                    f"{store.description}?",
                    what,
                )
            await delete_statuses(store, found)
            return found

    found = run(work())
    if as_json:
        emit_json(
            {
                "store": store.description,
                "backupId": backup_id,
                "deleted": [
                    {**id_json(s.id), "previousStatus": s.status_code.value} for s in found
                ],
            }
        )
    elif not found:
        console.print(
            f"No {what} in {escape(store.description)}: nothing to delete.", highlight=False
        )
    else:
        console.print(f"Deleted {what}: {plural(len(found), 'partition backup')}.", highlight=False)


# ---------------------------------------------------------------- migrate


@click.command("migrate")
@click.argument("source_url", metavar="[SOURCE_URL]", required=False)
@click.argument("target_url", metavar="TARGET_URL", required=False)
@click.argument("backup_id", metavar="[BACKUP_ID]", required=False)
@click.option("--all", "migrate_all", is_flag=True, help="Migrate every backup of the source.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; write nothing.")
@json_option
def migrate_command(
    source_url: str | None,
    target_url: str | None,
    backup_id: str | None,
    migrate_all: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Copy backups from one store to another, possibly of another kind.

    Reads each backup (BACKUP_ID on every partition and node, or --all) with
    the source's store kind and writes it with the target's: streaming, with
    bounded memory, re-compressed as the target is configured, keeping ids,
    descriptors, statuses, failure reasons and timestamps. Every byte is read
    back from the target and compared with the source's. The source is never
    changed.

    Backups already at the target are skipped, so a re-run resumes an
    interrupted migration; a target backup left IN_PROGRESS or FAILED by an
    interrupted migration is deleted at the target and copied again. FAILED
    backups are migrated as their manifest only (a FAILED backup is never
    restored); IN_PROGRESS ones are skipped with a warning.

    With one URL, it is the TARGET_URL and the source is the store the
    environment names (BACKUP_STORE_URL, else Zeebe's own variables), as for
    the other commands: in a broker pod, migrate its store elsewhere. The
    target is always given.
    """
    given = [value for value in (source_url, target_url, backup_id) if value is not None]
    backup_id = given.pop() if given and _DIGITS.fullmatch(given[-1]) else None
    if not given:
        raise click.UsageError(
            "give the TARGET_URL (and the SOURCE_URL, unless the environment names it)"
        )
    if len(given) > 2:
        raise click.UsageError("give at most SOURCE_URL, TARGET_URL and a BACKUP_ID")
    source_url, target_url = (None, given[0]) if len(given) == 1 else (given[0], given[1])
    checkpoint = _backup_id(backup_id, required=False)
    if (checkpoint is None) == (not migrate_all):
        raise click.UsageError("give either a BACKUP_ID or --all (not both)")
    source = open_url(source_url, "SOURCE_URL")
    target = _open_migration_target(target_url, dry_run=dry_run)
    progress = RichProgress(enabled=not as_json)

    async def work() -> MigrationReport:
        async with source, target:
            with progress.shown():
                return await migrate(source, target, checkpoint, dry_run=dry_run, progress=progress)

    report = run(work())
    for result in report.results:
        if result.plan.action is Action.SKIP_IN_PROGRESS:
            warn(f"{result.plan.backup_id}: {result.message}")
    if as_json:
        emit_json(report.to_json())
    else:
        _print_migrate(report)
    if not report.ok:
        raise SystemExit(1)


def _open_migration_target(url: str, *, dry_run: bool) -> InspectableStore:
    """The target store; its folder is created for a migration. A dry run writes
    nothing, not even that folder: a ``file://`` target that does not exist yet is
    planned as the empty store it would start as (its URL checked all the same)."""
    parts = _local_folder_url(url) if dry_run else None
    if parts is not None and not Path(unquote(parts.path)).exists():
        try:
            config = FilesystemConfig(Path(unquote(parts.path)), **url_options(parts))
        except ConfigurationError as error:
            raise click.BadParameter(error.message, param_hint="TARGET_URL") from None
        return FilesystemBackupStore(config, object_store=MemoryStore())
    return open_url(url, "TARGET_URL", create=True)


def _local_folder_url(url: str) -> SplitResult | None:
    """``url`` split when it is a well-formed ``file:///path``; else None."""
    try:
        parts = urlsplit(resolve_store_url(url))
    except ConfigurationError:
        return None  # open_url reports it
    local = parts.scheme == "file" and parts.netloc in ("", "localhost") and bool(parts.path)
    return parts if local else None


def _print_migrate(report: MigrationReport) -> None:
    console = stdout_console()
    verb = "Migration plan" if report.dry_run else "Migration"
    title = f"{verb} from {escape(report.source)} to {escape(report.target)}"
    result_table = table(
        "Backup",
        "Partition",
        "Node",
        "Source",
        "Target",
        "Action",
        "Outcome",
        "Details",
        optional=("Source", "Target", "Node"),
    )
    outcome_style = {
        Outcome.MIGRATED: "green",
        Outcome.SKIPPED: "dim",
        Outcome.FAILED: "red",
        Outcome.PLANNED: "cyan",
    }
    for result in report.results:
        plan = result.plan
        size = (
            f" ({plural(plan.files, 'file')}, {human_size(plan.size)})"
            if report.dry_run and plan.size
            else ""
        )
        result_table.add_row(
            str(plan.backup_id.checkpoint_id),
            str(plan.backup_id.partition_id),
            str(plan.backup_id.node_id),
            styled(plan.source_status.value),
            styled(plan.target_status.value),
            plan.action.value,
            Text(result.outcome.value, style=outcome_style[result.outcome]),
            result.message + size,
        )
    console.print(title, highlight=False)
    if report.results:
        console.print(result_table)
    for problem in report.problems:
        console.print(Text(f"PROBLEM {problem}", style="red"))
    if report.dry_run:
        console.print(
            f"Dry run: {report.count(Outcome.PLANNED)} to migrate, "
            f"{report.count(Outcome.SKIPPED)} to skip, {report.count(Outcome.FAILED)} "
            "conflicts. Nothing was written.",
            highlight=False,
        )
    else:
        console.print(
            f"{report.count(Outcome.MIGRATED)} migrated, {report.count(Outcome.SKIPPED)} "
            f"skipped, {report.count(Outcome.FAILED)} failed.",
            highlight=False,
        )


# ---------------------------------------------------------------- catalog


@click.group("catalog")
def catalog_group() -> None:
    """The listing catalog: what each manifest said when this tool last wrote it
    (lists read it instead of every manifest; the manifests stay the truth)."""


@catalog_group.command("rebuild", epilog=STORE_URL_HELP)
@store_url_argument
@click.option("--node", type=NODE_ID, help="Only this node's (broker's) catalogs.")
@json_option
def catalog_rebuild_command(store_url: str | None, node: int | None, as_json: bool) -> None:
    """Read every manifest (or the node's) and rewrite the catalogs from them.

    Needs write access; only needed after a catalog was lost or for a store that
    Zeebe alone wrote (our writers keep the catalogs up to date otherwise).
    """
    store = open_url(store_url, "STORE_URL")

    async def work() -> list[BackupStatus]:
        async with store:
            return await store.rebuild_catalog(BackupIdentifierWildcard(node_id=node))

    statuses = run(work())
    if as_json:
        emit_json({"store": store.description, "manifests": len(statuses)})
        return
    stdout_console().print(
        f"Catalogs of {escape(store.description)} rebuilt from "
        f"{plural(len(statuses), 'manifest')}.",
        highlight=False,
    )


# ---------------------------------------------------------------- config


@click.command("config")
@store_url_argument
@json_option
def config_command(store_url: str | None, as_json: bool) -> None:
    """Show the store the commands use (and serve's node id), what chose them, and
    the variables read, secrets masked. Opens nothing over the network."""
    choice = choose(store_url, "STORE_URL")
    try:
        node_id, node_source = choose_node_id(None)
    except ConfigurationError as error:
        fail(error.message, USAGE)
    description: str | None = None
    if choice.open is not None and (choice.folder is None or choice.folder.is_dir()):
        store = open_choice(choice)
        description = store.description if store is not None else None
    elif choice.folder is not None:
        description = f"{choice.folder.as_uri()} (the folder does not exist)"
    if as_json:
        emit_json(
            {
                "store": description,
                "source": choice.source,
                "variables": dict(choice.settings),
                "nodeId": node_id,
                "nodeIdSource": node_source,
                "warnings": choice.warnings,
            }
        )
        return
    console = stdout_console()
    lines = [
        f"store:      {description or 'none (backup disabled)'}",
        f"chosen by:  {choice.source}",
        f"node id:    {node_id} ({node_source})",
    ]
    lines += [f"  {variable} = {value}" for variable, value in choice.settings]
    lines += [f"warning: {warning}" for warning in choice.warnings]
    for line in lines:
        console.print(Text(line))


COMMANDS = [
    config_command,
    list_command,
    status_command,
    restore_command,
    verify_command,
    delete_command,
    migrate_command,
    catalog_group,
]
