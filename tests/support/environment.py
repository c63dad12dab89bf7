"""The environment a CLI or server process is started with in tests."""

from __future__ import annotations

import os

ZEEBE = "ZEEBE_BROKER_DATA_BACKUP_"
"""Zeebe 8.7's prefix of the backup store variables."""
CAMUNDA = "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_"
"""Camunda 8.8's prefix of the backup store variables."""


def clean_environment(**extra: str) -> dict[str, str]:
    """The test process's environment without any store variables, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith((ZEEBE, CAMUNDA, "BACKUP_STORE_", "AWS_"))
        and name not in ("ZEEBE_BROKER_CLUSTER_NODEID", "CAMUNDA_CLUSTER_NODEID")
    }
    return {**env, **extra}
