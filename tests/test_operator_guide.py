"""Every command of docs/operator-guide.md runs as written over the stores of ``make demo``.

Each ``$ command`` of the guide's plain code blocks runs in order (``/tmp/guide`` moved
to a fresh folder of the same length, so tables lay out the same), and must end with
the ``[exit code N]`` shown and print what is shown, up to timestamps and durations.
Commands marked ``# Ctrl-C`` are not run (``make demo`` leaves their result).

``python -m tests.test_operator_guide`` rewrites the guide's outputs from a fresh run.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.imports import TEST_TOOLS, without

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "operator-guide.md"
DEMO = ROOT / "docs" / "demo.py"
SHOWN_ROOT = "/tmp/guide"
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_DURATION = re.compile(r"in [\d.]+(ns|µs|ms|s)\b")
_BOX = re.compile(r"[\u2500-\u257f]")


@dataclass
class Example:
    """One ``$ command`` of the guide, what it prints and its exit code."""

    command: str
    first_line: int
    output: list[str] = field(default_factory=list)
    exit_code: int | None = None
    last_line: int = 0

    @property
    def interrupted(self) -> bool:
        return self.command.rstrip().endswith("# Ctrl-C")

    @property
    def compared(self) -> bool:
        """Whether the output is compared (``ls -l`` shows owners and block counts)."""
        return not self.interrupted and not self.command.startswith(("ls ", "export "))


def examples(lines: list[str]) -> list[Example]:
    found: list[Example] = []
    fenced = plain = False
    current: Example | None = None
    for number, line in enumerate(lines):
        if line.startswith("```"):
            fenced, plain = not fenced, not fenced and line.strip() == "```"
            current = None
            continue
        if not plain:
            continue
        if line.startswith("$ "):
            current = Example(line[2:], number)
            found.append(current)
        elif current is not None:
            match = re.fullmatch(r"\[exit code (\d+)\]", line)
            if match:
                current.exit_code = int(match.group(1))
                current.last_line = number
                current = None
            else:
                current.output.append(line)
    return found


def _tokens(text: str) -> list[str]:
    """Words, without table borders, timestamps or durations: widths and times vary."""
    text = _DURATION.sub("in <duration>", _INSTANT.sub("<instant>", text))
    return _BOX.sub(" ", text).split()


@contextmanager
def demo_root() -> Iterator[Path]:
    """A fresh folder named like /tmp/guide (same length), holding ``make demo``'s stores."""
    while True:
        root = Path(f"/tmp/g{secrets.token_hex(2)}")
        try:
            root.mkdir()
            break
        except FileExistsError:
            continue
    assert len(str(root)) == len(SHOWN_ROOT)
    try:
        # As `make demo` runs right after `make serve`: the runtime only, no test tools.
        with tempfile.TemporaryDirectory() as shadows:
            env = without(Path(shadows), *TEST_TOOLS)
            made = subprocess.run(
                [sys.executable, str(DEMO), str(root)], env=env, capture_output=True, text=True,
                check=False,
            )  # fmt: skip
        assert made.returncode == 0, made.stderr
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(example: Example, root: Path, env: dict[str, str]) -> tuple[int, str]:
    command = example.command.replace(SHOWN_ROOT, str(root))
    if command.startswith("export "):
        name, _, value = shlex.split(command.removeprefix("export "))[0].partition("=")
        env[name] = value
        return 0, ""
    answer = "n\n" if '# answered "n"' in command else ""
    result = subprocess.run(
        ["bash", "-c", command], cwd=root, env=env, input=answer, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=600, check=False,
    )
    return result.returncode, result.stdout.replace(str(root), SHOWN_ROOT)


def _environment() -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("BACKUP_STORE_", "AWS_", "AZURE_", "GOOGLE_"))
    }
    bin_dir = str(Path(sys.executable).parent)
    return {**env, "COLUMNS": "140", "PYTHONUNBUFFERED": "1",
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}


def test_every_command_of_the_operator_guide_runs_as_written() -> None:
    guide = examples(GUIDE.read_text().splitlines())
    assert len([e for e in guide if e.command.startswith("backup-store ")]) >= 30
    failures = []
    env = _environment()
    with demo_root() as root:
        for example in guide:
            if example.interrupted:
                continue
            code, output = run(example, root, env)
            where = f"line {example.first_line + 1}: $ {example.command}"
            if example.exit_code is not None and code != example.exit_code:
                failures.append(f"{where}\nexit code {code}, not {example.exit_code}:\n{output}")
            elif example.compared and _tokens(output) != _tokens("\n".join(example.output)):
                failures.append(f"{where}\nprinted:\n{output}")
    assert not failures, "\n\n".join(failures)


def regenerate() -> None:
    """Rewrite the guide's outputs (and exit codes) from a run over fresh demo stores."""
    lines = GUIDE.read_text().splitlines()
    env = _environment()
    replaced: list[tuple[Example, list[str]]] = []
    with demo_root() as root:
        for example in examples(lines):
            if example.interrupted:
                continue
            code, output = run(example, root, env)
            if example.command.startswith("export "):
                continue
            replaced.append((example, [*output.rstrip("\n").splitlines(), f"[exit code {code}]"]))
    for example, shown in reversed(replaced):
        lines = [*lines[: example.first_line + 1], *shown, *lines[example.last_line + 1 :]]
    GUIDE.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    regenerate()
