"""What an analysis found: a verdict per guarantee, its violations, request timings."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

GUARANTEES = (
    "read-after-write",
    "atomic visibility",
    "create-only",
    "compare-and-swap",
    "listing",
    "overwrite",
)


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
class AnalysisPlan:
    """What to do; with a seed, sizes, keys and the plan are reproducible."""

    blobs: int = 20
    max_size: int = 8 * 1024 * 1024
    concurrency: int = 8
    rounds: int = 10
    increments: int = 5
    seed: int | None = None
    timeout: float | None = 600.0
