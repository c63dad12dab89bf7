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

Modules: ``checks`` (the checks and :func:`analyze`), ``report`` (verdicts,
violations, timings), ``contenders`` (racing writers, in this process or one
worker process each: ``worker``).
"""

from backup_store.tools.analyze.checks import SCRATCH_FOLDER, analyze
from backup_store.tools.analyze.contenders import (
    WORKER_URL_VARIABLE,
    Contender,
    Increments,
    IOContender,
    ProcessContender,
)
from backup_store.tools.analyze.report import (
    GUARANTEES,
    AnalysisPlan,
    AnalysisReport,
    GuaranteeResult,
    OperationStats,
    Verdict,
    Violation,
)

__all__ = [
    "GUARANTEES",
    "SCRATCH_FOLDER",
    "WORKER_URL_VARIABLE",
    "AnalysisPlan",
    "AnalysisReport",
    "Contender",
    "GuaranteeResult",
    "IOContender",
    "Increments",
    "OperationStats",
    "ProcessContender",
    "Verdict",
    "Violation",
    "analyze",
]
