"""The guarantee checks, one method each, and :func:`analyze`, which runs them under a
fresh scratch prefix and always cleans it up.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import suppress

from backup_store.errors import BackupStoreError, StoreUnavailableError
from backup_store.io import ObjectIO, StoredObject, WriteConflict
from backup_store.operations import NoProgress, Progress
from backup_store.tools.analyze.contenders import Contender
from backup_store.tools.analyze.report import AnalysisPlan, AnalysisReport, GuaranteeResult

SCRATCH_FOLDER = ".backup-store-analysis"


CHUNK = 256 * 1024


async def _chunks(data: bytes, pause: bool = False) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        if pause:
            await asyncio.sleep(0)  # let readers run while the upload is in flight
        yield data[start : start + CHUNK]


async def _failing_upload(data: bytes) -> AsyncIterator[bytes]:
    async for chunk in _chunks(data):
        yield chunk
    raise RuntimeError("deliberately aborted upload")


def _describe(found: StoredObject | bytes | None, expected: bytes) -> str:
    if found is None:
        return "no object"
    data = found.data if isinstance(found, StoredObject) else found
    if data == expected:
        return f"the expected {len(data)} bytes"
    return f"{len(data)} bytes that differ from the {len(expected)} bytes written"


class _Analysis:
    def __init__(
        self,
        io: ObjectIO,
        prefix: str,
        plan: AnalysisPlan,
        report: AnalysisReport,
        contenders: Sequence[Contender],
        progress: Progress,
    ) -> None:
        self.io = io
        self.prefix = prefix
        self.plan = plan
        self.report = report
        self.contenders = contenders
        self.progress = progress
        self.random = random.Random(report.seed)
        self.slots = asyncio.Semaphore(plan.concurrency)
        self.blobs: dict[str, bytes] = {}  # written by read_after_write, listed by listing

    def guarantee(self, name: str) -> GuaranteeResult:
        return self.report.guarantees[name]

    def payload(self, size: int) -> bytes:
        return self.random.randbytes(size)

    async def put(self, key: str, data: bytes, *, streamed: bool = False) -> None:
        async with self.slots:
            with self.report.timed("put multipart" if streamed else "put", len(data)):
                await self.io.put(key, _chunks(data) if streamed else data)

    async def get(self, key: str) -> StoredObject | None:
        async with self.slots:
            started = time.perf_counter()
            found = await self.io.get(key, max_size=None)
            self.report.record(
                "get", time.perf_counter() - started, len(found.data) if found else 0
            )
            return found

    async def run(self) -> None:
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("read-after-write", self.read_after_write),
            ("listing", self.listing),
            ("atomic visibility", self.atomic_visibility),
            ("create-only", self.create_only),
            ("compare-and-swap", self.compare_and_swap),
            ("overwrite", self.overwrite),
        ]
        self.progress.start("analysing", len(steps))
        for name, step in steps:
            try:
                await step()
            except BackupStoreError as error:
                # A request that fails breaks the guarantee it was checking; go on.
                where = error.key or self.prefix
                result = self.guarantee(name)
                result.check(False, where, "request", "a successful answer", error.message)
            self.progress.advance(1)

    # -------------------------------------------------------------- guarantees

    async def read_after_write(self) -> None:
        multipart = self.io.part_size + 1 + self.random.randrange(CHUNK)
        sizes = [0, multipart] + [
            self.random.randint(1, self.plan.max_size) for _ in range(max(self.plan.blobs - 2, 0))
        ]
        self.blobs = blobs = {
            f"{self.prefix}blobs/{i:05d}": self.payload(size) for i, size in enumerate(sizes)
        }
        await asyncio.gather(
            *(
                self.put(key, data, streamed=len(data) > self.io.part_size)
                for key, data in blobs.items()
            )
        )
        result = self.guarantee("read-after-write")

        async def read_back(key: str, data: bytes) -> None:
            found = await self.get(key)
            result.check(
                found is not None and found.data == data,
                key,
                "get",
                _describe(data, data),
                _describe(found, data),
            )
            if not data:
                return
            start = self.random.randrange(len(data))
            end = self.random.randint(start + 1, len(data))
            async with self.slots:
                with self.report.timed("get range", end - start):
                    part = await self.io.get_range(key, start, end)
            result.check(
                part == data[start:end],
                key,
                f"get range {start}-{end}",
                f"{end - start} bytes",
                f"{len(part)} bytes",
            )

        readers = 3  # several readers of every blob at once
        await asyncio.gather(*(read_back(k, d) for k, d in blobs.items() for _ in range(readers)))

    async def listing(self) -> None:
        result = self.guarantee("listing")
        blobs = self.blobs
        folder = f"{self.prefix}blobs/"
        with self.report.timed("list"):
            listed = sorted(await self.io.list_keys(folder))
        expected = sorted(blobs)
        result.check(
            listed == expected,
            folder,
            "list",
            f"{len(expected)} keys",
            f"{len(listed)} keys: {listed[:3]}...",
        )
        offset = expected[len(expected) // 2]
        with self.report.timed("list"):
            after = sorted(
                [meta.key async for page in self.io.list(folder, offset=offset) for meta in page]
            )
        wanted = [k for k in expected if k > offset]
        result.check(
            after == wanted,
            folder,
            f"list after {offset}",
            f"{len(wanted)} keys",
            f"{len(after)} keys",
        )
        victim = expected[0]
        with self.report.timed("delete"):
            await self.io.delete([victim])
        found = await self.get(victim)
        result.check(found is None, victim, "get after delete", "none", "found")
        with self.report.timed("list"):
            still = victim in await self.io.list_keys(folder)
        result.check(not still, victim, "list after delete", "absent", "listed")

    async def atomic_visibility(self) -> None:
        result = self.guarantee("atomic visibility")
        key = f"{self.prefix}visibility/object"
        data = self.payload(self.io.part_size + CHUNK)
        done = asyncio.Event()

        async def reader() -> None:
            while not done.is_set():
                found = await self.io.get(key, max_size=None)
                result.check(
                    found is None or found.data == data,
                    key,
                    "get during write",
                    "nothing or every byte",
                    _describe(found, data),
                )
                await asyncio.sleep(0)

        async def writer() -> None:
            try:
                with self.report.timed("put multipart", len(data)):
                    await self.io.put(key, _chunks(data, pause=True))
            finally:
                done.set()

        await asyncio.gather(writer(), *(reader() for _ in range(3)))
        aborted = f"{self.prefix}visibility/aborted"
        with suppress(Exception):
            await self.io.put(aborted, _failing_upload(self.payload(self.io.part_size + CHUNK)))
        found = await self.io.get(aborted, max_size=None)
        result.check(
            found is None,
            aborted,
            "get after aborted upload",
            "no object",
            _describe(found, b""),
        )
        listed = aborted in await self.io.list_keys(f"{self.prefix}visibility/")
        result.check(not listed, aborted, "list after aborted upload", "absent", "listed")

    async def create_only(self) -> None:
        result = self.guarantee("create-only")
        for round_ in range(self.plan.rounds):
            key = f"{self.prefix}create/{round_:04d}"
            offers = [self.payload(64) for _ in self.contenders]
            try:
                with self.report.timed("create-only put", 64 * len(offers)):
                    won = await asyncio.gather(
                        *(c.create(key, o) for c, o in zip(self.contenders, offers, strict=True))
                    )
            except BackupStoreError as error:
                result.unsupported = error.message
                return
            winners = [o for o, w in zip(offers, won, strict=True) if w]
            result.check(
                len(winners) == 1,
                key,
                "create-only put",
                f"exactly 1 of {len(offers)} writers wins",
                f"{len(winners)} won",
            )
            found = await self.get(key)
            result.check(
                found is not None and found.data in winners,
                key,
                "get after race",
                "the winner's bytes",
                _describe(found, b""),
            )

    async def compare_and_swap(self) -> None:
        result = self.guarantee("compare-and-swap")
        key = f"{self.prefix}counter"
        await self.put(key, b"0")
        try:
            with self.report.timed("compare-and-swap increments"):
                increments = await asyncio.gather(
                    *(c.increment(key, self.plan.increments) for c in self.contenders)
                )
        except BackupStoreError as error:
            result.unsupported = error.message  # e.g. 501 to a conditional write
            return
        for each in increments:
            result.check(
                each.absent == 0,
                key,
                "get during version-matched increments",
                "the counter, whole",
                f"no counter or not a whole one ({each.absent} reads)",
            )
        done = sum(each.done for each in increments)
        final = await self.get(key)
        seen = final.data.decode(errors="replace") if final else "no object"
        result.check(
            final is not None and final.data == str(done).encode(),
            key,
            "version-matched increments",
            f"counter {done} (the successful increments)",
            f"counter {seen}",
        )
        # A write based on the current version succeeds; one based on an older fails.
        current = await self.get(key)
        assert current is not None
        try:
            await self.io.replace(key, b"next", current.version)
            accepted = True
        except WriteConflict:
            accepted = False
        result.check(
            accepted, key, "write with the current version", "accepted", "refused as a conflict"
        )
        if accepted:
            try:
                await self.io.replace(key, b"stale", current.version)
                stale_won = True
            except WriteConflict:
                stale_won = False
            result.check(
                not stale_won,
                key,
                "write with a stale version",
                "refused as a conflict",
                "accepted",
            )

    async def overwrite(self) -> None:
        result = self.guarantee("overwrite")
        key = f"{self.prefix}overwrite/object"
        size = self.io.part_size + CHUNK
        versions = [self.payload(size) for _ in range(3)]
        await self.put(key, versions[0])
        done = asyncio.Event()

        async def reader() -> None:
            while not done.is_set():
                found = await self.io.get(key, max_size=None)
                result.check(
                    found is not None and found.data in versions,
                    key,
                    "get during overwrite",
                    "one whole version",
                    _describe(found, versions[0]),
                )
                await asyncio.sleep(0)

        async def writer() -> None:
            try:
                for data in versions[1:]:
                    with self.report.timed("put multipart", len(data)):
                        await self.io.put(key, _chunks(data, pause=True))
            finally:
                done.set()

        await asyncio.gather(writer(), *(reader() for _ in range(3)))
        found = await self.get(key)
        result.check(
            found is not None and found.data == versions[-1],
            key,
            "get after overwrite",
            "the last version written",
            _describe(found, versions[-1]),
        )


async def analyze(
    io: ObjectIO,
    base_path: str | None,
    contenders: Sequence[Contender],
    plan: AnalysisPlan | None = None,
    *,
    keep: bool = False,
    progress: Progress | None = None,
) -> AnalysisReport:
    """Check the guarantees under a fresh scratch prefix of ``io``'s location.

    Args:
        io: the location's object I/O (the seam the stores use).
        base_path: the store's base path; the scratch prefix goes under it.
        contenders: writers racing for create-only and compare-and-swap (at least 2).
        plan: sizes and counts; its seed makes the plan reproducible.
        keep: leave the scratch objects (their prefix is in the report).
        progress: receives one step per guarantee.

    Returns:
        The report (its ``left_behind`` lists objects that could not be removed).
    """
    plan = plan or AnalysisPlan()
    seed = plan.seed if plan.seed is not None else random.SystemRandom().randrange(2**32)
    root = f"{base_path}/" if base_path else ""
    # A fresh folder every run; the seed fixes the keys inside it.
    prefix = f"{root}{SCRATCH_FOLDER}/{uuid.uuid4().hex}/"
    report = AnalysisReport(io.description, prefix, seed)
    progress = progress or NoProgress()
    try:
        # A location that cannot be listed (missing bucket, dead endpoint, refused
        # credentials) cannot be tested: that is not a verdict on its guarantees.
        async with asyncio.timeout(plan.timeout):
            await io.prepare_for_writes()
            await io.list_keys(prefix)
    except StoreUnavailableError as error:
        report.unreachable = error.message
        return report
    except TimeoutError:
        report.unreachable = f"no answer within {plan.timeout:g} s"
        return report
    try:
        async with asyncio.timeout(plan.timeout):
            await _Analysis(io, prefix, plan, report, contenders, progress).run()
    except TimeoutError:
        report.error = f"the analysis did not finish within {plan.timeout:g} s"
    except BackupStoreError as error:
        report.error = f"the analysis could not finish: {error}"
    finally:
        if not keep:
            with suppress(BackupStoreError):
                await io.delete(await io.list_keys(prefix))
        with suppress(BackupStoreError):
            report.left_behind = sorted(await io.list_keys(prefix)) if not keep else []
        progress.finish()
    return report
