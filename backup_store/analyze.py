"""Storage analysis: does a location keep the guarantees our backups rely on?

Every guarantee of the stores (one winner per backup id, COMPLETED only after
the data, no lost update of a manifest) rests on the storage service honouring
create-only writes, version-matched writes, read-after-write and atomic
visibility. :func:`analyze` checks each of them, with random data, under a
fresh scratch prefix ``<base>/.backup-store-analysis/<random>/`` of the
location, through the same seam (:class:`~backup_store.io.ObjectIO`) the
stores use. It never touches backups, never writes the store-kind marker, and
removes what it wrote (unless asked to keep it).

Guarantees checked (``docs/operator-guide.md`` has an example run):

================== ==========================================================
read-after-write   a completed write (single request or multipart) reads back
                   whole and in random ranges, by several readers at once
atomic visibility  a read during a write sees nothing or the whole object; an
                   aborted multipart upload is never visible
create-only        of contenders racing to create one key exactly one wins and
                   the object holds its bytes
compare-and-swap   version-matched increments by contenders lose no update and
                   never read the counter as missing or torn; a write based on
                   a stale version fails
listing            written keys are listed, deleted ones are not (and read as
                   missing); prefix and offset listings are exact
overwrite          readers of an object being overwritten see the old or the
                   new bytes, never a mixture
================== ==========================================================

Contenders are :class:`Contender` objects: in this process, or (the CLI) one
worker process each, so that the filesystem's exclusive creation and locking
are tested across processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from backup_store.errors import BackupStoreError, StoreUnavailableError
from backup_store.io import ObjectIO, StoredObject, WriteConflict
from backup_store.operations import NoProgress, Progress

SCRATCH_FOLDER = ".backup-store-analysis"
WORKER_URL_VARIABLE = "BACKUP_STORE_ANALYZE_URL"
"""The store URL a worker process opens (kept out of its command line)."""
CHUNK = 256 * 1024


class Verdict(Enum):
    HELD = "held"
    VIOLATED = "violated"
    NOT_SUPPORTED = "not supported"


@dataclass(frozen=True)
class Violation:
    """The first violation of a guarantee, precisely."""

    key: str
    operation: str
    expected: str
    seen: str

    def to_json(self) -> dict[str, str]:
        return {
            "key": self.key,
            "operation": self.operation,
            "expected": self.expected,
            "seen": self.seen,
        }


@dataclass
class GuaranteeResult:
    """How one guarantee fared."""

    name: str
    checks: int = 0
    violations: int = 0
    first: Violation | None = None
    unsupported: str | None = None

    @property
    def verdict(self) -> Verdict:
        if self.unsupported is not None:
            return Verdict.NOT_SUPPORTED
        return Verdict.VIOLATED if self.violations else Verdict.HELD

    def check(self, ok: bool, key: str, operation: str, expected: str, seen: str) -> None:
        """Count one check; remember the first that failed."""
        self.checks += 1
        if not ok:
            self.violations += 1
            self.first = self.first or Violation(key, operation, expected, seen)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "guarantee": self.name,
            "verdict": self.verdict.value,
            "checks": self.checks,
            "violations": self.violations,
        }
        if self.first is not None:
            out["firstViolation"] = self.first.to_json()
        if self.unsupported is not None:
            out["notSupported"] = self.unsupported
        return out


GUARANTEES = (
    "read-after-write",
    "atomic visibility",
    "create-only",
    "compare-and-swap",
    "listing",
    "overwrite",
)


@dataclass
class OperationStats:
    """Latency and volume of one kind of request."""

    kind: str
    latencies: list[float] = field(default_factory=list)
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        total = sum(ordered)

        def quantile(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

        return {
            "operation": self.kind,
            "count": len(ordered),
            "bytes": self.bytes,
            "p50Ms": round(quantile(0.5) * 1000, 3),
            "p99Ms": round(quantile(0.99) * 1000, 3),
            "meanMs": round(statistics.fmean(ordered) * 1000, 3) if ordered else 0.0,
            "bytesPerSecond": round(self.bytes / total) if total and self.bytes else None,
        }


@dataclass
class AnalysisReport:
    """The outcome of :func:`analyze`."""

    location: str
    scratch_prefix: str
    seed: int
    guarantees: dict[str, GuaranteeResult] = field(
        default_factory=lambda: {name: GuaranteeResult(name) for name in GUARANTEES}
    )
    operations: dict[str, OperationStats] = field(default_factory=dict)
    left_behind: list[str] = field(default_factory=list)
    error: str | None = None
    unreachable: str | None = None
    """Why the location could not be used at all (nothing was tested), else None."""

    @property
    def ok(self) -> bool:
        held = all(g.verdict is Verdict.HELD for g in self.guarantees.values())
        return held and self.error is None and self.unreachable is None

    @property
    def verdict(self) -> str:
        if self.unreachable is not None:
            return f"NOT TESTED: could not reach the store ({self.unreachable})"
        if self.ok:
            return "PASSED: every guarantee the backup stores rely on holds at this location"
        failing = [g.name for g in self.guarantees.values() if g.verdict is not Verdict.HELD]
        reasons = ([", ".join(failing)] if failing else []) + ([self.error] if self.error else [])
        why = "; ".join(reasons)
        return f"FAILED: do not keep backups here ({why})"

    @contextmanager
    def timed(self, kind: str, size: int = 0) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.record(kind, time.perf_counter() - started, size)

    def record(self, kind: str, seconds: float, size: int) -> None:
        stats = self.operations.setdefault(kind, OperationStats(kind))
        stats.latencies.append(seconds)
        stats.bytes += size

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "scratchPrefix": self.scratch_prefix,
            "seed": self.seed,
            "ok": self.ok,
            "verdict": self.verdict,
            "guarantees": [g.to_json() for g in self.guarantees.values()],
            "operations": [s.to_json() for s in self.operations.values()],
            "leftBehind": list(self.left_behind),
            "error": self.error,
            "reachable": self.unreachable is None,
        }


@dataclass(frozen=True)
class Increments:
    """What one contender's version-matched increments came to."""

    done: int
    absent: int  # reads that found no counter, or not a whole one


class Contender(Protocol):
    """One writer of the create-only and compare-and-swap races."""

    async def create(self, key: str, data: bytes) -> bool:
        """Create ``key`` create-only; True if this writer won, False on a conflict."""

    async def increment(self, key: str, times: int) -> Increments:
        """Add 1 to the decimal counter at ``key`` ``times`` times with version-matched
        writes, retrying on conflicts; says how many succeeded and how often the counter
        was read as absent (a store whose replace is not atomic)."""

    async def close(self) -> None: ...


class IOContender:
    """A contender in this process, over its own :class:`ObjectIO`."""

    def __init__(self, io: ObjectIO) -> None:
        self.io = io

    async def create(self, key: str, data: bytes) -> bool:
        try:
            await self.io.put(key, data, create_only=True)
        except WriteConflict:
            return False
        return True

    async def increment(self, key: str, times: int) -> Increments:
        done = absent = 0
        attempts = 0
        while done < times and attempts < times * 200:
            attempts += 1
            current = await self.io.get(key)
            if current is None or not current.data.isdigit():
                # A violation, not a missing feature: rclone's replace is not atomic, so
                # a racing reader sees no counter for a moment.
                absent += 1
                await asyncio.sleep(random.random() / 200)
                continue
            try:
                value = int(current.data) + 1
                await self.io.replace(key, str(value).encode(), current.version)
            except WriteConflict:
                await asyncio.sleep(random.random() / 200)  # back off a little
                continue
            done += 1
        return Increments(done, absent)

    async def close(self) -> None:
        pass


class ProcessContender:
    """A contender in its own worker process (``python -m backup_store.analyze``),
    which opens the store from :data:`WORKER_URL_VARIABLE` (else the environment it
    inherits names it, as for every command) and answers JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, store_url: str | None) -> ProcessContender:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backup_store.analyze",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **({WORKER_URL_VARIABLE: store_url} if store_url else {})},
        )
        return cls(process)

    async def _ask(self, request: dict[str, Any]) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            await self.process.stdin.drain()
            line = await self.process.stdout.readline()
        if not line:
            raise BackupStoreError("an analysis worker process ended unexpectedly")
        answer = json.loads(line)
        if "error" in answer:
            raise BackupStoreError(f"analysis worker: {answer['error']}")
        return answer["result"]

    async def create(self, key: str, data: bytes) -> bool:
        return bool(await self._ask({"op": "create", "key": key, "data": data.hex()}))

    async def increment(self, key: str, times: int) -> Increments:
        done, absent = await self._ask({"op": "increment", "key": key, "times": times})
        return Increments(int(done), int(absent))

    async def close(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            with suppress(ProcessLookupError):
                await asyncio.wait_for(self.process.wait(), 10)


@dataclass(frozen=True)
class AnalysisPlan:
    """What to do; with a seed, sizes, keys and the plan are reproducible."""

    blobs: int = 20
    max_size: int = 8 * 1024 * 1024
    concurrency: int = 8
    rounds: int = 10
    increments: int = 5
    seed: int | None = None
    timeout: float | None = 600.0


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


# ------------------------------------------------------------------ worker process


async def _serve_worker() -> None:
    from backup_store.service.settings import choose_store

    opener = choose_store(os.environ.get(WORKER_URL_VARIABLE), default_directory=None).open
    if opener is None:
        raise BackupStoreError("backup is disabled: no store to analyze")
    store = opener()
    contender = IOContender(store.io)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        request = json.loads(line)
        try:
            if request["op"] == "create":
                result: Any = await contender.create(request["key"], bytes.fromhex(request["data"]))
            else:
                increments = await contender.increment(request["key"], int(request["times"]))
                result = [increments.done, increments.absent]
            answer = {"result": result}
        except BackupStoreError as error:
            answer = {"error": error.message}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(_serve_worker())
