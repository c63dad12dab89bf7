"""The ``backup-store`` console script: Ctrl-C is one line and exit 130 from the start.

A separate top-level package, so that nothing heavy is imported before the guard:
importing :mod:`backup_store` (obstore, pydantic, ...) takes a noticeable moment, and
a Ctrl-C in it must not print a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

INTERRUPTED = 130


def main() -> Any:
    """Import and run the command line; an interrupt while importing exits 130 quietly."""
    try:
        from backup_store.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        raise SystemExit(INTERRUPTED) from None
    return cli()
