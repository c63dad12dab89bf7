"""Deprecated: re-exports :mod:`backup_store.tools.verify`."""

from backup_store.tools.verify import (
    NO_RECORD_MESSAGE,
    ZEEBE_WRITTEN_NOTE,
    ZEEBE_WRITTEN_READ_NOTE,
    BackupVerification,
    ProblemKind,
    VerifyLevel,
    VerifyProblem,
    VerifyReport,
    verify_store,
)

__all__ = [
    "NO_RECORD_MESSAGE",
    "ZEEBE_WRITTEN_NOTE",
    "ZEEBE_WRITTEN_READ_NOTE",
    "BackupVerification",
    "ProblemKind",
    "VerifyLevel",
    "VerifyProblem",
    "VerifyReport",
    "verify_store",
]
