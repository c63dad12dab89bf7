"""The README's library example runs unchanged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
