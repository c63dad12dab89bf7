"""What the stress tests share: how long a race loop runs, and the store factory's type."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from backup_store import ObjectBackupStore

SECONDS = float(os.environ.get("STRESS_SECONDS", "30"))
"""How long each race loop runs (``make stress``)."""

NewStore = Callable[[str], Awaitable[ObjectBackupStore]]
"""A store at a new, empty location named by the argument (one per round)."""
