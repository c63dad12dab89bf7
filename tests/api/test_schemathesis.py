"""Schemathesis against a live server: every response matches the OpenAPI document, no 5xx.

Runs all of schemathesis's checks and phases (examples, coverage, fuzzing,
stateful) with a fixed seed so CI is reproducible; set ``API_FUZZ_SEED`` and
``API_FUZZ_EXAMPLES`` to explore further.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.api_server import cli_server


def test_openapi_document_matches_the_live_server(tmp_path: Path) -> None:
    seed = os.environ.get("API_FUZZ_SEED", "20240607")
    examples = os.environ.get("API_FUZZ_EXAMPLES", "40")
    with cli_server(tmp_path, "--store", (tmp_path / "store").as_uri(), "--data-dir",
                    str(tmp_path / "data"), "--no-writer") as server:
        result = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "run",
                f"{server.url}/actuator/backups/openapi.json",
                "--checks", "all",
                "--max-examples", examples,
                "--seed", seed,
                "--workers", "1",
                "--request-timeout", "30",
            ],
            capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False,
            env={**os.environ, "NO_COLOR": "1"},
        )
        log = server.log()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"(\d+) generated, \1 passed", output), output
    assert " 500 " not in log and "Traceback" not in log, log
