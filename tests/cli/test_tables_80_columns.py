"""Every table of the CLI read at 80 columns, the width of ``kubectl exec``.

Columns may wrap (free text) or be left out, never cut: each id and each state
must appear whole, and no line may be wider than the screen.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from backup_store import BackupIdentifier
from tests.support.api_server import CLI
from tests.support.filesystem_stores import StoreDir, save_backups

WIDTH = 80
BOX = re.compile(r"[\u2500-\u257f]")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Scheduled backups are numbered by epoch milliseconds: 13 digits.
OLD, FAILED, NEW = 1765152000000, 1765155600000, 1765159200000
PARTITIONS = range(1, 6)  # make_backup's descriptor says 5 partitions
REASON = "the store stopped answering: nothing for 30 s while uploading segment 00042.log"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> StoreDir:
    """Two COMPLETED ids and one FAILED (partition 2), on five partitions and two nodes."""
    root = tmp_path_factory.mktemp("tables")
    store = StoreDir(root / "store")

    async def fill() -> None:
        async with store.open() as opened:
            ids = [
                BackupIdentifier(node, partition, checkpoint)
                for checkpoint in (OLD, FAILED, NEW)
                for partition in PARTITIONS
                for node in (0, 1)
            ]
            await save_backups(opened, root / "data", ids)
            for node in (0, 1):
                await opened.mark_failed(BackupIdentifier(node, 2, FAILED), REASON)

    asyncio.run(fill())
    return store


def at_80_columns(*args: str) -> str:
    """``backup-store ARGS`` on a terminal 80 columns wide (as ``kubectl exec -t``
    gives), its output without colours."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, WIDTH, 0, 0))
    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    with subprocess.Popen(
        [*CLI, *args], stdout=terminal, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env={**env, "TERM": "xterm", "NO_COLOR": "1"},
    ) as process:  # fmt: skip
        os.close(terminal)
        output = bytearray()
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not chunk:
                break
            output += chunk
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert process.wait(timeout=180) in (0, 1), stderr
    os.close(controller)
    text = ANSI.sub("", output.decode()).replace("\r\n", "\n")
    lines = text.splitlines()
    assert lines, stderr
    # Sentences are left for the terminal to wrap (nothing is lost); table rows are not.
    too_wide = [line for line in lines if len(line) > WIDTH and BOX.search(line)]
    assert not too_wide, "\n".join(too_wide)
    assert "…" not in text
    return text


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Z_]{4,}|\d+", text))


def test_list(store: StoreDir) -> None:
    shown = words(at_80_columns("list", store.url))
    assert {str(OLD), str(FAILED), str(NEW)} <= shown
    assert {"COMPLETED", "FAILED"} <= shown
    assert {str(p) for p in PARTITIONS} <= shown


def test_status(store: StoreDir) -> None:
    text = at_80_columns("status", store.url, str(FAILED))
    shown = words(text)
    assert {str(FAILED), "FAILED", "COMPLETED"} <= shown
    assert {str(p) for p in PARTITIONS} <= shown
    assert " ".join(REASON.split()) in " ".join(text.replace("│", " ").split())


def test_prune_plan(store: StoreDir) -> None:
    shown = words(at_80_columns("prune", store.url, "--keep-last", "1", "--dry-run"))
    assert {str(OLD), str(FAILED), str(NEW), "COMPLETED", "FAILED"} <= shown


def test_delete_listing(store: StoreDir, tmp_path: Path) -> None:
    copy = store.copy_to(tmp_path / "copy")
    shown = words(at_80_columns("delete", copy.url, str(FAILED), "--yes"))
    assert {"COMPLETED", "FAILED"} <= shown


def test_migrate_plan(store: StoreDir, tmp_path: Path) -> None:
    text = at_80_columns("migrate", store.url, (tmp_path / "target").as_uri(), "--all", "--dry-run")
    shown = words(text)
    assert {str(OLD), str(FAILED), str(NEW)} <= shown
    assert "copy-manifest" in text


def test_verify(store: StoreDir) -> None:
    shown = words(at_80_columns("verify", store.url, str(NEW)))
    assert str(NEW) in shown


def test_analyze(tmp_path: Path) -> None:
    text = at_80_columns("analyze", "memory://", "--blobs", "2", "--max-size", "1KiB")
    assert "read-after-write" in text and "compare-and-swap" in text
