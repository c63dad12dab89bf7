"""Deprecated: re-exports :mod:`backup_store.tools.analyze`."""

from backup_store.tools.analyze import (
    GUARANTEES,
    SCRATCH_FOLDER,
    WORKER_URL_VARIABLE,
    AnalysisPlan,
    AnalysisReport,
    Contender,
    GuaranteeResult,
    Increments,
    IOContender,
    OperationStats,
    ProcessContender,
    Verdict,
    Violation,
    analyze,
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
