"""The Zeebe manifest matrix: bytes Zeebe's own classes wrote (``generate.py`` tells how)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CASES: list[dict[str, Any]] = [
    json.loads(line)
    for path in sorted(HERE.glob("*.jsonl"))
    for line in path.read_text(encoding="utf-8").split("\n")
    if line.strip()
]
"""Every case of every variant, as ``generate.py`` describes a line."""
