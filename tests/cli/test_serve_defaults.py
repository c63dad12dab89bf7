"""``serve``'s defaults and hints, as a user meets them: the data folder, the
start-up hint with a schedule, retention's first clean-up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

from backup_store import BackupIdentifier
from tests.support.api_server import CLI, HOST, cli_server, client, wait_until
from tests.support.filesystem_stores import StoreDir, save_backups


def serve_once(cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``serve`` expected to stop before it serves."""
    return subprocess.run(
        [*CLI, "serve", "--host", HOST, "--port", "0", *options], cwd=cwd, capture_output=True,
        text=True, timeout=60, stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip


def test_a_data_dir_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    result = serve_once(tmp_path, "--data-dir", "dta")
    assert result.returncode == 2
    assert "dta does not exist; pass --sample-data to generate sample partitions there" in (
        result.stderr
    )
    assert list(tmp_path.iterdir()) == []  # no sample data, no store


def test_sample_data_is_generated_when_asked_for_or_by_the_embedded_default(
    tmp_path: Path,
) -> None:
    asked = tmp_path / "asked"
    asked.mkdir()
    with cli_server(tmp_path, "--data-dir", "d", cwd=asked, name="asked"):  # --sample-data
        assert (asked / "d" / "1" / "segments").is_dir()
    fresh = tmp_path / "fresh"  # `make serve` on a fresh clone: no option at all
    fresh.mkdir()
    with cli_server(tmp_path, cwd=fresh, name="fresh"):
        assert (fresh / "data" / "1" / "segments").is_dir()


def test_the_start_up_hint_with_a_schedule_suggests_an_id_the_server_accepts(
    tmp_path: Path,
) -> None:
    server = cli_server(
        tmp_path, "--store", (tmp_path / "store").as_uri(), "--schedule", "PT1S", "--no-writer",
    )  # fmt: skip
    with server, client(server) as api:
        wait_until(lambda: len(api.get("/actuator/backups").json()) >= 2, what="two slots")
        hint = next(line for line in server.log().splitlines() if "Try: curl" in line)
        command = (
            hint.split("Try: ", 1)[1] + " --silent --output /dev/null --write-out '%{http_code}'"
        )
        answer = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True
        )
        assert answer.stdout == "202", hint


def test_retention_cleans_up_at_start(tmp_path: Path) -> None:
    store = StoreDir(tmp_path / "store")

    async def two_old_ids() -> None:
        async with store.open() as opened:
            ids = [BackupIdentifier(0, p, c) for c in (1, 2) for p in range(1, 6)]
            await save_backups(opened, tmp_path / "data", ids)

    asyncio.run(two_old_ids())
    server = cli_server(
        tmp_path, "--store", store.url, "--retention", "PT1S", "--no-writer",
        "--data-dir", str(tmp_path / "sample"), "--partitions", "5",
    )  # fmt: skip
    saved = time.time()
    wait_until(lambda: time.time() - saved > 1.5, what="both ids to be older than the window")
    with server, client(server) as api:
        wait_until(
            lambda: [b["backupId"] for b in api.get("/actuator/backups").json()] == [2],
            timeout=10,
            what="id 1 pruned (the default clean-up schedule is hourly)",
        )
    assert "first clean-up now, then at PT1H" in server.log()
