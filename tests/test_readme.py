"""The README's library example runs unchanged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from testbed.emulators import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3Bucket
from tests.support.api_server import cli_server, client, wait_for_state

README = Path(__file__).resolve().parents[1] / "README.md"


def test_library_example_runs_as_written(tmp_path: Path) -> None:
    match = re.search(r"## The library\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert match is not None, "README has no library example"
    script = tmp_path / "example.py"
    script.write_text(match.group(1))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("COMPLETED ")
    assert "checkpoint_id=100" in result.stdout


def test_serve_configured_by_zeebe_variables_as_written(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    """The README's ``export ZEEBE_...`` block, against moto: only the bucket name and
    endpoint (and moto's credentials) differ from what is written."""
    match = re.search(r"### Configured as Zeebe is\n.*?```sh\n(.*?)```", README.read_text(), re.S)
    assert match is not None, "README has no Zeebe configuration example"
    lines = match.group(1).strip().splitlines()
    assert lines[-1] == "backup-store serve"
    written = dict(line.removeprefix("export ").split("=", 1) for line in lines[:-1])
    prefix = "ZEEBE_BROKER_DATA_BACKUP_"
    assert all(name.startswith(prefix) for name in written)
    here = {
        **written,
        f"{prefix}S3_BUCKETNAME": s3_bucket.name,
        f"{prefix}S3_ENDPOINT": s3_bucket.endpoint,
        f"{prefix}S3_ACCESSKEY": S3_ACCESS_KEY_ID,
        f"{prefix}S3_SECRETKEY": S3_SECRET_ACCESS_KEY,
    }
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("ZEEBE_", "CAMUNDA_", "BACKUP_STORE_", "AWS_"))}
    workdir = tmp_path / "work"
    workdir.mkdir()
    server = cli_server(tmp_path, env={**env, **here}, cwd=workdir)
    with server, client(server) as api:
        assert api.post("/actuator/backups", json={"backupId": 100}).status_code == 202
        wait_for_state(api, 100, "COMPLETED")
    base = written[f"{prefix}S3_BASEPATH"]
    keys = {str(meta["path"]) for batch in s3_bucket.store().list() for meta in batch}
    assert f"{base}/1/100/0/manifest.json" in keys
    assert (
        f"backup store chosen by {prefix}*: s3://{s3_bucket.name}/{base} at {s3_bucket.endpoint}"
        in server.log()
    )


def test_the_runtime_v2_calls_run_as_written(tmp_path: Path) -> None:
    """The README's ``/v2/backups/runtime`` curl block, against ``serve``: only the port
    differs. Each call gets the status the README's order implies."""
    match = re.search(r"runtime backup API has them.*?```sh\n(.*?)```", README.read_text(), re.S)
    assert match is not None, "README has no /v2 example"
    calls = match.group(1).replace("\\\n", " ").strip().splitlines()
    server = cli_server(tmp_path, "--store", (tmp_path / "store").as_uri(), "--data-dir",
                        str(tmp_path / "data"), "--no-writer")
    statuses = []
    with server, client(server) as api:
        for call in calls:
            command = call.replace("http://localhost:9600", server.url)
            if "DELETE" in command:  # a backup still running is marked FAILED, then deleted
                wait_for_state(api, 101, "COMPLETED")
            result = subprocess.run(
                ["bash", "-c", f"{command} -s -o /dev/null -w '%{{http_code}}'"],
                capture_output=True, text=True, timeout=60, check=False,
            )
            statuses.append(result.stdout)
    assert statuses == ["202", "200", "200", "200", "204"]
