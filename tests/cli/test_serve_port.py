"""The port of ``serve``: ``--port``, else ``MANAGEMENT_SERVER_PORT`` (a Zeebe pod's management
port), else 9600; ``SERVER_PORT`` (the pod's REST port) is not read. The image's HEALTHCHECK
asks the same port.

Which port ``serve`` chose is seen without taking it: on an address this machine does not
have (TEST-NET-1) listening fails at once, with one line naming the port.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.api_server import CLI, ServerProcess, free_port
from tests.support.environment import clean_environment

ROOT = Path(__file__).resolve().parents[2]
NOT_HERE = "192.0.2.1"


def chosen_port(tmp_path: Path, env: dict[str, str], *options: str) -> int:
    result = subprocess.run(
        [*CLI, "serve", "--host", NOT_HERE, *options], cwd=tmp_path,
        env=clean_environment(**env), capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    match = re.fullmatch(rf"error: cannot listen on {NOT_HERE}:(\d+): .+\n", result.stderr)
    assert match is not None, result.stderr
    return int(match.group(1))


@pytest.mark.parametrize(
    ("env", "options", "expected"),
    [
        ({}, (), 9600),
        ({"MANAGEMENT_SERVER_PORT": "9700"}, (), 9700),
        ({"MANAGEMENT_SERVER_PORT": "9700"}, ("--port", "9800"), 9800),
        ({"SERVER_PORT": "8080"}, (), 9600),
        ({"SERVER_PORT": "8080", "MANAGEMENT_SERVER_PORT": "9700"}, (), 9700),
    ],
)
def test_the_option_wins_over_the_management_port_variable_over_9600(
    tmp_path: Path, env: dict[str, str], options: tuple[str, ...], expected: int
) -> None:
    assert chosen_port(tmp_path, env, *options) == expected


@pytest.mark.parametrize("value", ["abc", "70000", "-1"])
def test_a_bad_port_variable_is_named_in_the_error(tmp_path: Path, value: str) -> None:
    result = subprocess.run(
        [*CLI, "serve"], cwd=tmp_path, env=clean_environment(MANAGEMENT_SERVER_PORT=value),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2
    assert "(env var: 'MANAGEMENT_SERVER_PORT')" in result.stderr and value in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created


def healthcheck(document: str) -> list[str]:
    """The Dockerfile's HEALTHCHECK command (exec form)."""
    match = re.search(r"^HEALTHCHECK .*\\\n\s+CMD (\[.*\])$", document, re.M)
    assert match is not None
    command: list[str] = json.loads(match.group(1))
    return command


def test_the_image_healthcheck_asks_the_configured_port(tmp_path: Path) -> None:
    document = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ENV .*MANAGEMENT_SERVER_PORT=9600", document, re.M)
    command = healthcheck(document)
    assert command[0] == "python"
    probe = [sys.executable, *command[1:]]
    port = free_port()
    server = ServerProcess(
        [*CLI, "serve", "--host", "127.0.0.1", "--store", "none"], port_option=False,
        log_path=tmp_path / "server.log", port=port, cwd=tmp_path,
        env=clean_environment(MANAGEMENT_SERVER_PORT=str(port)),
    )  # fmt: skip
    with server:
        assert subprocess.run(
            probe, env=clean_environment(MANAGEMENT_SERVER_PORT=str(port)), timeout=30,
            check=False, capture_output=True,
        ).returncode == 0  # fmt: skip
        other = clean_environment(MANAGEMENT_SERVER_PORT=str(free_port()))
        assert subprocess.run(probe, env=other, timeout=30, capture_output=True).returncode != 0


def test_make_serve_passes_port_on(tmp_path: Path) -> None:
    def serve_command(*arguments: str) -> str:
        made = subprocess.run(
            ["make", "-s", "-n", "-C", str(ROOT), f"VENV={tmp_path}", "serve", *arguments],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return made.stdout.splitlines()[-1]

    assert serve_command("PORT=9700") == f"{tmp_path}/bin/backup-store serve --port 9700"
    # Without PORT, serve's own order applies (MANAGEMENT_SERVER_PORT, else 9600).
    assert serve_command() == f"{tmp_path}/bin/backup-store serve"
