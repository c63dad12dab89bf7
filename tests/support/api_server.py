"""Real API server processes for the HTTP tests, and a launcher with test hooks.

:class:`ServerProcess` runs a server on 127.0.0.1 in a subprocess (output to a
log file), waits for it by polling, and stops or kills it.

Run as ``python -m tests.support.api_server CONFIG.json``, this module is a launcher
serving the real app (:func:`backup_store.api.create_app`) over a filesystem
store and a data directory, with hooks the CLI does not have: "hold files"
that make uploads, checkpoint recording or store reads wait while the file
exists (for in-progress, interrupted-backup and 504 tests), and a choice of
which partitions of the cluster this node serves.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from backup_store.api.app import create_app
from backup_store.cli.sample import generate_sample_data
from backup_store.cli.serve import run_app
from backup_store.engine import ObjectBackupStore
from backup_store.io import HookedIO, Request
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatus
from backup_store.service.directory import DirectorySource
from backup_store.service.logs import configure_logging
from backup_store.service.service import BackupService
from backup_store.service.source import Checkpoint, CheckpointContent
from backup_store.stores.filesystem import FilesystemBackupStore

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]  # the checkout: `tests` is importable from it
# On Linux, servers ask the kernel for SIGTERM when the test process dies (even
# by SIGKILL), so an interrupted test run never leaves servers holding ports.
_DIE_WITH_PARENT = (
    "import ctypes, signal, sys\n"
    "if sys.platform == 'linux':\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)\n"
)
CLI = [
    sys.executable, "-c",
    _DIE_WITH_PARENT + "from backup_store.cli import main\nsys.exit(main())",
]
LAUNCHER = [
    sys.executable, "-c",
    _DIE_WITH_PARENT + "from tests.support.api_server import main\nmain(sys.argv[1])",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 20.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


class ServerProcess:
    """One server subprocess on 127.0.0.1:``port``.

    Args:
        argv: the command, without ``--port``/``--host`` (added here).
        log_path: where its stdout and stderr go.
        port: the port; a free one by default (reuse it to restart "the same" server).
    """

    def __init__(
        self, argv: Sequence[str], *, log_path: Path, port: int | None = None,
        port_option: bool = True, env: dict[str, str] | None = None, cwd: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.argv = list(argv)
        if port_option:
            self.argv += ["--host", HOST, "--port", str(self.port)]
        self.log_path = log_path
        self.env = env
        self.cwd = cwd or ROOT
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, *, timeout: float = 30.0) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.cwd, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self._proc.returncode} before it was ready:\n{self.log()}"
                )
            try:
                httpx.get(f"{self.url}/actuator/backups/openapi.json", timeout=1.0)
                return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"server not ready after {timeout:.0f}s:\n{self.log()}")
            time.sleep(0.02)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, *, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful shutdown), SIGKILL if it does not exit in time."""
        if self._proc is None or self._proc.poll() is not None:
            return self._proc.returncode if self._proc else None
        self._proc.send_signal(signal.SIGTERM)
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cli_server(
    tmp: Path, *options: str, name: str = "server", port: int | None = None,
    env: dict[str, str] | None = None, cwd: Path | None = None,
) -> ServerProcess:
    """``backup-store serve`` itself (not started); a ``--data-dir`` is generated
    with sample data when it does not exist (``--sample-data``)."""
    sample = ["--sample-data"] if "--data-dir" in options else []
    return ServerProcess([*CLI, "serve", *options, *sample], log_path=tmp / f"{name}.log",
                         port=port, env=env, cwd=cwd)


def client(server: ServerProcess, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30.0, headers=headers)


def wait_for_state(
    api: httpx.Client, backup_id: int, *states: str, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll ``GET /actuator/backups/{id}`` until its state is one of ``states``; the body."""
    last: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal last
        response = api.get(f"/actuator/backups/{backup_id}")
        last = response.json() if response.status_code == 200 else {"status": response.status_code}
        return last.get("state") in states

    wait_until(reached, timeout=timeout, what=f"backup {backup_id} to be {states} (last: {last})")
    return last


def launcher_server(
    tmp: Path, config: dict[str, Any], *, name: str = "server", port: int | None = None
) -> ServerProcess:
    """The test launcher of this module with ``config`` (not started).

    Config keys: ``store`` (directory), ``data_dir``, ``partitions`` (ids this
    node serves, default all folders), ``partition_count``, ``node_id``,
    ``request_timeout``, ``token``, ``hold_uploads``, ``hold_records``,
    ``hold_content`` (the partitions' backup content), ``hold_reads`` (paths of
    hold files).
    """
    port = port or free_port()
    path = tmp / f"{name}-config.json"
    path.write_text(json.dumps({**config, "port": port}))
    return ServerProcess([*LAUNCHER, str(path)], log_path=tmp / f"{name}.log", port=port,
                         port_option=False)


# ---------------------------------------------------------------- launcher (subprocess side)


async def _hold(path: str | None) -> None:
    # A file is the signal (polled: a test process creates and removes it).
    while path is not None and os.path.exists(path):  # noqa: ASYNC110, ASYNC240
        await asyncio.sleep(0.02)


class HeldStore(ObjectBackupStore):
    """A filesystem store whose uploads and reads wait while hold files exist."""

    def __init__(self, root: Path, *, hold_uploads: str | None, hold_reads: str | None) -> None:
        base = FilesystemBackupStore(root)
        self.hold_reads = hold_reads

        async def hold(request: Request) -> None:
            data_file = "/segments/" in request.key or "/snapshot/" in request.key
            if request.operation == "upload" and data_file:
                await _hold(hold_uploads)

        super().__init__(HookedIO(base.io, hold), kind=base.kind, format=base.format)

    async def get_status(self, backup_id: BackupIdentifier) -> BackupStatus:
        await _hold(self.hold_reads)
        return await super().get_status(backup_id)

    async def list(
        self, wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard()  # noqa: B008
    ) -> list[BackupStatus]:
        await _hold(self.hold_reads)
        return await super().list(wildcard)

    async def list_ids(
        self, wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard()  # noqa: B008
    ) -> builtins.list[BackupIdentifier]:
        await _hold(self.hold_reads)
        return await super().list_ids(wildcard)

    async def highest_taken(self, partition_id: int) -> dict[int, int]:
        await _hold(self.hold_reads)  # what a POST reads
        return await super().highest_taken(partition_id)


class HeldSource(DirectorySource):
    """A directory source whose checkpoint recording, or the content of a recorded
    checkpoint, waits while a hold file exists."""

    def __init__(
        self, directory: Path, *, hold_records: str | None, hold_content: str | None = None
    ) -> None:
        super().__init__(directory)
        self.hold_records = hold_records
        self.hold_content = hold_content

    async def record_checkpoint(self, checkpoint_id: int) -> Checkpoint:
        await _hold(self.hold_records)
        return await super().record_checkpoint(checkpoint_id)

    async def backup_content(self, checkpoint: Checkpoint) -> CheckpointContent:
        await _hold(self.hold_content)
        return await super().backup_content(checkpoint)


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    configure_logging("info")
    data_dir = Path(config["data_dir"])
    if not data_dir.exists():
        generate_sample_data(data_dir, max(config.get("partitions") or [2]))
    wanted = config.get("partitions")
    sources = [
        HeldSource(
            source.directory,
            hold_records=config.get("hold_records"),
            hold_content=config.get("hold_content"),
        )
        for source in DirectorySource.discover(data_dir)
        if wanted is None or source.partition_id in wanted
    ]
    store = HeldStore(
        Path(config["store"]), hold_uploads=config.get("hold_uploads"),
        hold_reads=config.get("hold_reads"),
    )

    @contextlib.asynccontextmanager
    async def runtime() -> AsyncIterator[BackupService]:
        async with store, BackupService(
            store, sources, node_id=config.get("node_id", 0),
            partition_count=config.get("partition_count"), recovery_timeout=5.0,
        ) as service:
            yield service

    app = create_app(runtime, token=config.get("token"),
                     request_timeout=config.get("request_timeout", 30.0))
    run_app(app, host=HOST, port=config["port"])


if __name__ == "__main__":
    main(sys.argv[1])
