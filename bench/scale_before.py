"""The reference commit's code (``bench.scale.BEFORE``), run by ``bench.scale`` in a subprocess.

Run with ``PYTHONPATH=<a checkout of the older commit>``; this file imports nothing of
the current tree. The venv's editable install of the current tree is removed from the
import machinery first, so ``backup_store`` comes from that checkout.

* ``python bench/scale_before.py list CONFIG_JSON``: prints a JSON object of seconds per
  figure (None when a figure took longer than its timeout) and where the code came from.
  CONFIG_JSON: ``{"url", "backups", "timeout_s"}``.
* ``python bench/scale_before.py serve ARGS...``: ``backup-store serve ARGS...`` of that code.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any


def _without_editable_install() -> None:
    """Drop the current tree's editable-install finder (it would win over PYTHONPATH)."""
    sys.meta_path[:] = [
        finder
        for finder in sys.meta_path
        if not getattr(finder, "__module__", "").startswith("__editable__")
    ]


async def _timed(action: Callable[[], Awaitable[object]], limit_s: float) -> float | None:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(action(), limit_s)
    except TimeoutError:
        return None
    return round(time.perf_counter() - start, 4)


async def _list_figures(config: dict[str, Any]) -> dict[str, Any]:
    import backup_store
    from backup_store import BackupIdentifierWildcard
    from backup_store.registry import open_store

    store = open_store(config["url"])
    timeout = float(config["timeout_s"])
    middle = int(config["backups"]) // 2
    figures: dict[str, Any] = {"code": backup_store.__file__}
    figures["list_all_s"] = await _timed(lambda: store.list(BackupIdentifierWildcard()), timeout)
    figures["prefix_s"] = await _timed(
        lambda: store.list(BackupIdentifierWildcard(partition_id=1, checkpoint="10*")), timeout
    )
    figures["status_of_one_id_s"] = await _timed(
        lambda: store.list(BackupIdentifierWildcard(partition_id=1, checkpoint=middle)), timeout
    )
    await store.close()
    return figures


def main() -> None:
    _without_editable_install()
    mode, *rest = sys.argv[1:]
    if mode == "list":
        print(json.dumps(asyncio.run(_list_figures(json.loads(rest[0])))))
    elif mode == "serve":
        from backup_store.cli import main as cli

        sys.argv = ["backup-store", "serve", *rest]
        cli()
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
