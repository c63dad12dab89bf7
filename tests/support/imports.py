"""Environments in which chosen modules cannot be imported, as if not installed."""

from __future__ import annotations

import os
from pathlib import Path

TEST_TOOLS = ("pytest", "_pytest", "pytest_asyncio", "hypothesis", "httpx", "moto", "psutil")
"""Modules of the test extras: absent after `make serve`, which installs the runtime only."""


def without(folder: Path, *modules: str) -> dict[str, str]:
    """This process's environment in which ``modules`` cannot be imported.

    A package of each name under ``folder``, on ``PYTHONPATH`` (so found before the
    installed one), fails to import as a missing module does, whichever finder comes
    first (pytest's assertion rewriter finds its plugins' modules itself).
    """
    for name in modules:
        (folder / name).mkdir(parents=True, exist_ok=True)
        message = f"No module named {name!r}"
        (folder / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError({message!r}, name={name!r})\n"
        )
    return {**os.environ, "PYTHONPATH": str(folder)}
