"""``backup-store serve`` refuses bad options before it listens (no server started)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from backup_store.cli import main


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--store", "foo://x"], "unknown store URL scheme"),
        (["--store", "file://relative"], "three slashes"),
        (["--store", "env:BACKUP_STORE_TEST_UNSET_VARIABLE"], "is not set"),
        (["--store", "FILE_IN_TMP/sub"], "Not a directory"),
        (["--data-dir", "FILE_IN_TMP/sub", "--sample-data"], "cannot create sample data"),
        (["--data-dir", "EMPTY_DIR/typo"], "typo does not exist; pass --sample-data"),
        (["--data-dir", "EMPTY_DIR"], "has no partition folders"),
        (["--data-dir", "TWO_PARTITIONS", "--partitions", "1"], "beyond --partitions 1"),
        (["--token", ""], "the --token value must not be empty"),
        (["--request-timeout", "0"], "--request-timeout"),
        (["--port", "70000"], "--port"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, options: list[str], expected: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    (tmp_path / "empty").mkdir()
    for partition in ("1", "2"):
        (tmp_path / "two" / partition).mkdir(parents=True)
    replacements = {
        "FILE_IN_TMP": str(a_file), "EMPTY_DIR": str(tmp_path / "empty"),
        "TWO_PARTITIONS": str(tmp_path / "two"),
    }
    resolved = []
    for option in options:
        for key, value in replacements.items():
            option = option.replace(key, value)
        resolved.append(option)
    if resolved[:1] == ["--store"] and resolved[1].startswith("/"):
        resolved[1] = Path(resolved[1]).as_uri()
    if "--store" not in resolved:
        resolved += ["--store", (tmp_path / "store").as_uri()]
    if "--data-dir" not in resolved:
        resolved += ["--data-dir", str(tmp_path / "data"), "--sample-data"]
    if "--port" not in resolved:
        resolved += ["--port", "0"]  # the port is bound before the store and data are opened
    result = CliRunner().invoke(main, ["serve", *resolved])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--store", "--data-dir", "--partitions", "--node-id", "--host", "--port",
                   "--token", "--request-timeout"):
        assert option in result.output
