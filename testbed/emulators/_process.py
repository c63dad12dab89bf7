"""Process plumbing shared by the emulators: free ports, start/readiness/stop, logs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

LOCALHOST = "127.0.0.1"

# Run on Linux in front of every emulator command: ask the kernel to SIGTERM the emulator
# when the process that started it (pytest) dies, even by SIGKILL, so a killed test run
# never leaves emulators behind holding ports and memory. It then execs the real command,
# so the pid we hold is the emulator's own. (A launcher instead of `preexec_fn`, which is
# unsafe in a process that already runs obstore's Tokio threads.)
_PDEATHSIG_LAUNCHER = """
import ctypes, os, signal, sys
expected_parent = int(sys.argv[1])
ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != expected_parent:
    sys.exit(1)  # parent already gone
os.execvp(sys.argv[2], sys.argv[2:])
"""


class EmulatorError(RuntimeError):
    """An emulator could not be installed, started or reached."""


_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")


def exempt_localhost_from_proxies() -> None:
    """Add 127.0.0.1 and localhost to NO_PROXY/no_proxy if a proxy variable is set.

    obstore (reqwest) honours HTTP_PROXY & co. for every request, 127.0.0.1 included, so in
    an environment with a proxy configured it would never reach the emulators.
    """
    if not any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARS):
        return
    for var in ("NO_PROXY", "no_proxy"):
        entries = [e.strip() for e in os.environ.get(var, "").split(",") if e.strip()]
        missing = [h for h in (LOCALHOST, "localhost") if h not in entries]
        if missing:
            os.environ[var] = ",".join([*entries, *missing])


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def http_responds(url: str, *, ok_statuses: Callable[[int], bool] = lambda s: s < 500) -> bool:
    """True if an HTTP GET of ``url`` gets an answer whose status passes ``ok_statuses``."""
    try:
        response = httpx.get(url, timeout=2.0, trust_env=False)  # no proxies for localhost
    except httpx.TransportError:
        return False
    return ok_statuses(response.status_code)


class ManagedProcess:
    """One emulator process: stdout and stderr go to a log file, never to a pipe.

    (A pipe nobody reads fills up and then blocks the emulator.)
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self._proc is not None:
            raise EmulatorError(f"{self.name} already started")
        argv = self.argv
        if sys.platform == "linux":
            argv = [sys.executable, "-c", _PDEATHSIG_LAUNCHER, str(os.getpid()), *argv]
        env = dict(os.environ) if self.env is None else {**os.environ, **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                # Own session: a Ctrl-C aimed at pytest does not kill the emulators
                # under running tests; fixture teardown stops them instead.
                start_new_session=True,
            )

    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def wait_ready(self, probe: Callable[[], bool], *, timeout: float) -> None:
        """Poll ``probe`` until it returns True; fail loudly (with the log) otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.exit_code()
            if code is not None:
                raise EmulatorError(
                    f"{self.name} exited with code {code} before it was ready.\n{self.describe()}"
                )
            if probe():
                return
            if time.monotonic() > deadline:
                raise EmulatorError(
                    f"{self.name} was not ready after {timeout:.0f}s.\n{self.describe()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return text[-max_chars:]

    def describe(self) -> str:
        return (
            f"command: {' '.join(self.argv)}\nlog ({self.log_path}), last lines:\n{self.log_tail()}"
        )
