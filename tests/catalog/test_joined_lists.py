"""Concurrent lists: late lists join a run (ordered listings), and a list that had
to read manifests writes the catalog where the store writes the location (never
where it only reads it, nor where nobody claimed it)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from functools import partial

from backup_store import BackupIdentifier, BackupIdentifierWildcard
from backup_store.catalog import catalog_folder
from backup_store.concurrency import run_bounded
from backup_store.engine import ObjectBackupStore
from backup_store.format.keys import owner_marker_key
from backup_store.io import ObjectIO, ObjectMeta
from backup_store.io.wrapper import WrapperIO
from testbed.cloud_stores import s3_store
from testbed.emulators.s3 import S3Bucket
from tests.support.catalog import Counted, hooked, manifest, place, save

WRITES = {"put", "upload", "replace", "delete"}
PAGE = 1000
"""Keys of one S3 listing response (and of one page of the seam's listings)."""


class HeldListing(WrapperIO):
    """Holds the first listing of ``prefix`` after its first response came back and
    before handing it on; counts the objects every later listing of it took."""

    def __init__(self, inner: ObjectIO, prefix: str) -> None:
        super().__init__(inner)
        self.prefix = prefix
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.later: builtins.list[int] = []
        """Objects listed by each listing of ``prefix`` after the held one."""
        self.others_ended: set[str] = set()
        self.other_ended = asyncio.Event()

    async def list(
        self, prefix: str, *, offset: str | None = None
    ) -> AsyncIterator[builtins.list[ObjectMeta]]:
        if prefix != self.prefix or offset is not None:
            try:
                async for page in self.inner.list(prefix, offset=offset):
                    yield page
            finally:
                self.others_ended.add(prefix if offset is None else offset)
                self.other_ended.set()
            return
        if self.held.is_set():
            self.later.append(0)
            async for page in self.inner.list(prefix, offset=offset):
                self.later[-1] += len(page)
                yield page
            return
        self.held.set()
        async for page in self.inner.list(prefix, offset=offset):
            await self.release.wait()  # the response is in: what it says predates now
            yield page


async def populate(store: ObjectBackupStore, count: int) -> None:
    await run_bounded(
        [partial(place, store, manifest(BackupIdentifier(0, 1, c))) for c in range(1, count + 1)],
        32,
    )


async def test_a_late_list_takes_the_rest_of_the_run_and_lists_again_only_what_it_passed(
    s3_bucket: S3Bucket,
) -> None:
    base = s3_store(s3_bucket, "bp")
    count = 2 * PAGE + 100  # three responses: 1000, 1000 and 100 keys
    await populate(base, count)
    await base.probe(writing=True)  # our location
    wildcard = BackupIdentifierWildcard(partition_id=1)
    layout = base.format.write_layout(base.base_path, "8.7.0")
    prefix = layout.list_prefix(wildcard)
    held = HeldListing(base.io, prefix)
    store = ObjectBackupStore(held, kind=base.kind, format=base.format, base_path=base.base_path)
    run = asyncio.ensure_future(store.list(wildcard))
    await held.held.wait()
    # The run's first response (keys 1, 10, 100, 1000, 1001, ...) is in, not yet used.
    # Changes that finish now, before the late lists are asked:
    gone, new = BackupIdentifier(0, 1, 1000), BackupIdentifier(0, 1, 100000)
    await base.delete(gone)
    await place(base, manifest(new))
    # (The owner known: a list then asks the store nothing before it joins.)
    assert await store.is_claimed()
    late = [asyncio.ensure_future(store.list(wildcard)) for _ in range(3)]
    # Released in this same step: the late lists are asked (their first steps come
    # first) before the run goes on.
    held.release.set()
    first, answers = await run, await asyncio.gather(*late)
    # The run's own answer: its first response predates the new backup (whose key
    # sorts into it); the deleted one it read again, too late to find.
    assert new.checkpoint_id not in {s.id.checkpoint_id for s in first}
    for answer in answers:
        found = {s.id.checkpoint_id for s in answer}
        assert found == set(range(1, count + 1)) - {gone.checkpoint_id} | {new.checkpoint_id}
    # Asked at the same point: one answer, one listing again of what the run had passed
    # (its first two responses at most), never the run's last response.
    assert answers[0] is answers[1] is answers[2]
    assert len(held.later) == 1 and held.later[0] <= 2 * PAGE


async def saved_without_catalog(store: ObjectBackupStore, count: int) -> None:
    for checkpoint in range(1, count + 1):
        await save(store, manifest(BackupIdentifier(0, 1, checkpoint)))
    folder = catalog_folder(store.base_path)
    await store.io.delete(await store.io.list_keys(folder))  # a catalog removed


async def test_a_writer_whose_list_read_manifests_writes_their_catalog(
    base_store: ObjectBackupStore,
) -> None:
    await saved_without_catalog(base_store, 20)
    cold = Counted()
    writer = hooked(base_store, cold)
    await writer.probe(writing=True)  # as the service does before its first backup
    assert len(await writer.list()) == 20
    assert sum(r.key.endswith("manifest.json") for r in cold.requests) == 20
    warm = Counted()
    assert len(await hooked(base_store, warm).list()) == 20
    assert not [r for r in warm.requests if r.key.endswith("manifest.json")]
    assert not {r.operation for r in warm.requests} & WRITES


async def test_a_store_that_only_reads_our_location_never_writes_it(
    base_store: ObjectBackupStore,
) -> None:
    # The CLI's list and status, a migrate's source, verify: reads leave the store as it was.
    await saved_without_catalog(base_store, 20)
    for _ in range(2):
        counted = Counted()
        assert len(await hooked(base_store, counted).list()) == 20
        assert sum(r.key.endswith("manifest.json") for r in counted.requests) == 20
        assert not {r.operation for r in counted.requests} & WRITES
    assert not await base_store.io.list_keys(catalog_folder(base_store.base_path))


async def test_a_list_of_a_location_only_zeebe_wrote_writes_nothing(
    base_store: ObjectBackupStore,
) -> None:
    for checkpoint in range(1, 21):
        await place(base_store, manifest(BackupIdentifier(0, 1, checkpoint)))
    for _ in range(2):
        counted = Counted()
        assert len(await hooked(base_store, counted).list()) == 20
        assert sum(r.key.endswith("manifest.json") for r in counted.requests) == 20
        assert not {r.operation for r in counted.requests} & WRITES
    assert await base_store.io.head(owner_marker_key(base_store.base_path)) is None


async def test_lists_that_join_at_one_point_list_again_only_once_every_one_was_asked(
    s3_bucket: S3Bucket,
) -> None:
    # Lists joining a run at one point share one answer: its listing again must start
    # after the last of them was asked, or a delete that finished between the first and
    # the last one asked would still be in the last one's answer.
    base = s3_store(s3_bucket, "bp")
    await populate(base, PAGE + 100)
    await base.probe(writing=True)
    wildcard = BackupIdentifierWildcard(partition_id=1)
    prefix = base.format.write_layout(base.base_path, "8.7.0").list_prefix(wildcard)
    held = HeldListing(base.io, prefix)
    store = ObjectBackupStore(held, kind=base.kind, format=base.format, base_path=base.base_path)
    assert await store.is_claimed()  # (a list then asks the store nothing before it joins)
    run = asyncio.ensure_future(store.list(wildcard))
    others = {layout.list_prefix(wildcard) for layout in base.format.read_layouts("bp")}
    await held.held.wait()  # the run's first response is in, not yet used
    while not others - {prefix} <= held.others_ended:  # the run's other listings ended
        held.other_ended.clear()
        await held.other_ended.wait()
    first = asyncio.ensure_future(store.list(wildcard))
    gone = BackupIdentifier(0, 1, 10)  # its key is in the part the run has passed
    await base.delete(gone)
    # Nothing is listed again while the run has not moved on.
    assert held.later == []
    last = asyncio.ensure_future(store.list(wildcard))
    held.release.set()
    await run
    answers = await asyncio.gather(first, last)
    assert answers[0] is answers[1]
    found = {s.id.checkpoint_id for s in answers[1]}
    assert found == set(range(1, PAGE + 101)) - {gone.checkpoint_id}
    assert len(held.later) == 1
