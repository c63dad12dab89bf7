"""Crafted backup histories: chosen dates over real data (retention tests, the guide demo).

COMPLETED and FAILED backups are written through the store's own ``write_backup``
(which keeps the manifest's dates); an IN_PROGRESS manifest left by a dead node
and a torn (damaged) manifest are put at their keys as such a node or accident
would leave them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from backup_store.contract.inspectable import FileToStore, InspectableStore
from backup_store.format.instant import Instant
from backup_store.format.manifest import FileEntry, Manifest
from backup_store.model import BackupDescriptor, BackupIdentifier, BackupStatusCode

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DAMAGED = "damaged"


@dataclass(frozen=True)
class Crafted:
    """One partition backup of a history: id, state (or ``"damaged"``) and age."""

    id: BackupIdentifier
    state: BackupStatusCode | str
    age: timedelta
    partitions: int = 2


def ago(now: Instant, age: timedelta) -> Instant:
    return Instant(now.epoch_nanos - age // timedelta(microseconds=1) * 1000)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def craft(store: InspectableStore, items: list[Crafted], now: Instant) -> None:
    io = store.io  # raw objects go through the store's seam
    for item in items:
        created = ago(now, item.age)
        descriptor = BackupDescriptor("1-1-1-1", 10, item.partitions, "8.7.0")
        layout = store.format.write_layout(store.base_path, descriptor.broker_version)
        if item.state == DAMAGED or item.state is BackupStatusCode.IN_PROGRESS:
            key = layout.manifest_key(item.id)
            data = b'{"id": {"nodeId": '  # cut short, as a torn write would leave it
            if item.state is BackupStatusCode.IN_PROGRESS:
                manifest = Manifest.in_progress(
                    item.id, descriptor, (), (FileEntry("segment.log"),), created
                )
                data = store.format.encode(manifest, layout)
            await io.put(key, data)
            await io.put(layout.file_key(item.id, "segments", "segment.log"), b"x" * 10)
            continue
        assert isinstance(item.state, BackupStatusCode)
        content = os.urandom(64)
        manifest = Manifest(
            item.id,
            item.state,
            descriptor,
            (),
            (FileEntry("segment.log"),),
            created,
            created,
            "disk full" if item.state is BackupStatusCode.FAILED else None,
        )
        file = FileToStore(
            "segments", "segment.log", len(content), functools.partial(_chunks, content)
        )
        await store.write_backup(manifest, [file], operation="craft")


def history(node: int = 0) -> list[Crafted]:
    """Ids 1-9 of two partitions, 30 days to 1 day old (see ``PLANNED``)."""
    c, f, ip = BackupStatusCode.COMPLETED, BackupStatusCode.FAILED, BackupStatusCode.IN_PROGRESS

    def both(checkpoint: int, state: BackupStatusCode, age: timedelta) -> list[Crafted]:
        return [
            Crafted(BackupIdentifier(node, 1, checkpoint), state, age),
            Crafted(BackupIdentifier(node + 1, 2, checkpoint), state, age),
        ]

    return [
        *both(1, c, 30 * DAY),  # completed, old: goes
        Crafted(BackupIdentifier(node, 1, 2), c, 20 * DAY),  # FAILED id, old: goes
        Crafted(BackupIdentifier(node, 2, 2), f, 20 * DAY),
        Crafted(BackupIdentifier(node, 1, 3), c, 15 * DAY),  # incomplete, old: goes
        Crafted(BackupIdentifier(node, 1, 4), c, 12 * DAY),  # IN_PROGRESS left by a dead node
        Crafted(BackupIdentifier(node + 1, 2, 4), ip, 12 * DAY),
        Crafted(BackupIdentifier(node, 1, 5), DAMAGED, 10 * DAY),  # damaged: never touched
        Crafted(BackupIdentifier(node, 2, 5), c, 10 * DAY),
        *both(6, c, 9 * DAY),  # completed, beyond both rules: goes
        *both(7, c, 3 * DAY),  # kept by both rules
        *both(8, c, 2 * DAY),  # the newest completed
        Crafted(BackupIdentifier(node, 1, 9), f, 1 * DAY),  # newer than the newest completed
    ]


PLANNED = {1, 2, 3, 6}
"""What ``--keep-last 2 --max-age P7D`` deletes from :func:`history`."""
