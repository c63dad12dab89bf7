"""Fixtures shared by the test modules; the helpers behind them live in ``tests.support``.

Plugins: the storage emulators (session-scoped emulators, a fresh bucket per test) and
``pytester`` (to run the conformance kit against deliberately broken stores).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.filesystem_stores import StoreDir, place_zeebe_filesystem_backups

pytest_plugins = ["tests.emulators.fixtures", "pytester"]


@pytest.fixture
def zeebe_store(tmp_path: Path) -> StoreDir:
    """A filesystem store as Zeebe 8.7 leaves it (``common-*`` fixtures, their files)."""
    store = StoreDir(tmp_path / "zeebe")
    place_zeebe_filesystem_backups(store.root)
    return store
