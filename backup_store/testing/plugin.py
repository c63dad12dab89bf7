"""pytest plugin (entry point ``pytest11``): fixtures shared by conformance suites.

Kept import-light so that merely having backup-store installed never disturbs
another project's pytest run; the suites themselves live in
:mod:`backup_store.testing.suite`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backup_store.model import Backup, BackupIdentifier
from backup_store.testing.data import make_backup


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a backup-store conformance scenario")


DEFAULT_ID = BackupIdentifier(1, 2, 3)
"""The scenario backup id: node 1, partition 2, checkpoint 3."""


@pytest.fixture
def backup_factory(tmp_path: Path) -> Callable[..., Backup]:
    """Builds conformance test backups with random file contents under ``tmp_path``."""

    def build(
        backup_id: BackupIdentifier = DEFAULT_ID,
        *,
        with_snapshot: bool = True,
        minimal: bool = False,
        sizes: dict[str, int] | None = None,
    ) -> Backup:
        return make_backup(
            tmp_path / "source",
            backup_id,
            with_snapshot=with_snapshot,
            minimal=minimal,
            sizes=sizes,
        )

    return build
