"""Forcing interleavings of store verbs through the seam, and the invariant they must keep.

Each actor (a save, a delete) gets its own :class:`HookedIO` over one shared
location, driven by a :class:`Script`: it records the actor's requests and can
pause it at its n-th request (until released), fail it there (a simulated
crash), or delay every request by a random amount.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

from backup_store.engine import ObjectBackupStore
from backup_store.errors import InvalidBackupStateError
from backup_store.format.keys import owner_marker_key
from backup_store.io import HookedIO, Request
from backup_store.model import Backup, BackupIdentifier, BackupStatusCode, NamedFileSet


class Crash(Exception):
    """A simulated crash of the actor at one request."""


class Script:
    """The hook of one actor: records requests, pauses, crashes or delays them.

    Args:
        pause_at: index of the request to hold until :meth:`release`.
        crash_at: index of the request that raises :class:`Crash` instead.
        max_delay: every request first sleeps a random time up to this (seconds).
    """

    def __init__(
        self,
        *,
        pause_at: int | None = None,
        crash_at: int | None = None,
        max_delay: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.requests: list[Request] = []
        self.pause_at = pause_at
        self.crash_at = crash_at
        self.max_delay = max_delay
        self.rng = rng or random.Random()
        self.reached = asyncio.Event()
        self._released = asyncio.Event()

    async def __call__(self, request: Request) -> None:
        index = len(self.requests)
        self.requests.append(request)
        if self.max_delay:
            await asyncio.sleep(self.rng.uniform(0, self.max_delay))
        if index == self.pause_at:
            self.reached.set()
            await self._released.wait()
        if index == self.crash_at:
            raise Crash(f"crash at request {index}: {request}")

    def release(self) -> None:
        self._released.set()


def actor(base: ObjectBackupStore, script: Script) -> ObjectBackupStore:
    """Another store over ``base``'s location whose every request passes ``script``."""
    return ObjectBackupStore(
        HookedIO(base.io, script),
        kind=base.kind,
        format=base.format,
        base_path=base.base_path,
        compression=base.compression,
    )


async def run_paused(
    paused: Awaitable[object], script: Script, other: Callable[[], Awaitable[object]]
) -> tuple[BaseException | None, BaseException | None]:
    """Run ``paused`` until ``script`` holds it, then ``other`` to its end, then release.

    Returns each side's error (None when it succeeded).
    """
    first = asyncio.ensure_future(paused)
    reached = asyncio.ensure_future(script.reached.wait())
    await asyncio.wait([first, reached], return_when=asyncio.FIRST_COMPLETED)
    reached.cancel()
    second_error = await outcome(other())
    script.release()
    return await outcome(first), second_error


async def outcome(action: Awaitable[object]) -> BaseException | None:
    try:
        await action
    except Exception as error:
        return error
    return None


def check_outcome(error: BaseException | None, *allowed: type[BaseException]) -> None:
    """Raise ``error`` unless it is None or one of the ``allowed`` kinds."""
    if error is not None and not isinstance(error, allowed):
        raise error


async def assert_no_completed_without_data(
    store: ObjectBackupStore, backup_id: BackupIdentifier, tmp: Path
) -> BackupStatusCode:
    """A COMPLETED backup restores with every file intact; returns the status."""
    stored = await store.read_manifest(backup_id)
    if stored is None:
        return BackupStatusCode.DOES_NOT_EXIST
    if stored.manifest.status_code is BackupStatusCode.COMPLETED:
        for file_set, entry in stored.manifest.files():
            key = store.file_key(stored, file_set, entry)
            assert await store.io.head(key) is not None, f"COMPLETED {backup_id} lost {key}"
        target = tmp / f"restore-{random.getrandbits(64):x}"
        await store.restore(backup_id, target)  # sizes and checksums checked
    return stored.manifest.status_code


async def delete_finishes(store: ObjectBackupStore, backup_id: BackupIdentifier) -> None:
    """A delete (marking an IN_PROGRESS backup failed first) leaves nothing of the backup."""
    try:
        await store.delete(backup_id)
    except InvalidBackupStateError:
        await store.mark_failed(backup_id, "test clean-up")
        await store.delete(backup_id)
    assert await store.read_manifest(backup_id) is None
    for layout in store.format.read_layouts(store.base_path):
        left = await store.io.list_keys(layout.contents_prefix(backup_id))
        assert left == [], f"objects of {backup_id} left after delete: {left}"


async def leftover_keys(store: ObjectBackupStore) -> list[str]:
    """Every key at the store's base path but our store-kind marker."""
    prefix = f"{store.base_path}/" if store.base_path else ""
    marker = owner_marker_key(store.base_path)
    return [k for k in await store.io.list_keys(prefix) if k != marker]


def same_files_again(backup: Backup, folder: Path) -> Backup:
    """``backup`` with new random contents of the same file names (a second save)."""
    folder.mkdir(parents=True, exist_ok=True)

    def renew(files: NamedFileSet) -> NamedFileSet:
        out = {}
        for name, path in files.items():
            size = path.stat().st_size
            (folder / name).write_bytes(os.urandom(size))
            out[name] = folder / name
        return NamedFileSet(out)

    return Backup(backup.id, backup.descriptor, renew(backup.snapshot), renew(backup.segments))
