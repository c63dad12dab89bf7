"""Packaging: dependencies are exactly the imports; the licence, the sdist, the Makefile."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "backup_store"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _imported_distributions(files: list[Path]) -> set[str]:
    """Distributions providing the third-party modules ``files`` import (anywhere in them)."""
    modules: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"backup_store", "__future__"}
    providers = importlib.metadata.packages_distributions()
    return {_name(providers[module][0]) for module in third_party}


def test_dependencies_are_exactly_what_the_code_imports() -> None:
    library = [p for p in PACKAGE.rglob("*.py") if "testing" not in p.relative_to(PACKAGE).parts]
    suite = list((PACKAGE / "testing").rglob("*.py"))
    runtime = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    testing = {_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["testing"]}
    assert runtime == _imported_distributions(library)
    # The conformance suite for outside store authors needs only pytest and pytest-asyncio.
    assert testing == _imported_distributions(suite) - runtime == {"pytest", "pytest-asyncio"}
    assert "fastapi" not in runtime


def test_the_licence_is_the_full_apache_2_text() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    for section in ("TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
                    "9. Accepting Warranty or Additional Liability.",
                    "END OF TERMS AND CONDITIONS",
                    "APPENDIX: How to apply the Apache License to your work."):
        assert section in text


def test_the_sdist_ships_no_tests_but_the_licence_and_docs(tmp_path: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    source = tmp_path / "source"
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    build = (
        "import sys; from setuptools import build_meta; "
        "print(build_meta.build_sdist(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)], cwd=source, capture_output=True,
        text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    archive = tmp_path / result.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as sdist:
        names = [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]
    assert "LICENSE" in names
    assert "docs/operator-guide.md" in names
    assert "backup_store/testing/suite.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/")) or "/test_" in n]


def _make(*arguments: str, venv: Path) -> str:
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"VENV={venv}", *arguments],
        capture_output=True, text=True, check=True,
    )
    return result.stdout


def test_make_serve_installs_the_runtime_only_and_test_adds_the_extras_once(
    tmp_path: Path,
) -> None:
    fresh = tmp_path / "fresh"
    serve = _make("serve", venv=fresh)
    assert re.search(r"pip install --quiet -e \.$", serve, re.M), serve
    assert "[test]" not in serve
    test = _make("test", venv=fresh)
    assert "pip install --quiet -e '.[test]'" in test
    assert f"-m venv {fresh}" in test
    # Once installed (stamps newer than pyproject.toml), nothing is installed again.
    installed = tmp_path / "installed"
    (installed / "bin").mkdir(parents=True)
    for stamp in ("bin/python", ".runtime-installed", ".test-installed"):
        (installed / stamp).touch()
    for target in ("serve", "test"):
        assert "pip install" not in _make(target, venv=installed)
