"""The kit's pytest plugin (entry point ``pytest11``) never gets in the way of other projects.

Installing backup-store registers the plugin with every pytest run in the environment;
without the ``testing`` extra's pytest-asyncio, an unrelated project's tests still pass,
and only using the kit says what to install. pytest-asyncio is made unimportable by a
package of its name on ``PYTHONPATH`` that fails to import (and its own plugin is turned
off, as uninstalling it would); the test venv stays as it is.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from tests.support.imports import without

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

def pytest_in(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:asyncio", "-p", "no:cacheprovider"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def project(tmp_path: Path, name: str, test: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_it.py").write_text(textwrap.dedent(test))
    return folder


def test_an_unrelated_project_passes_without_pytest_asyncio(tmp_path: Path) -> None:
    env = without(tmp_path / "shadows", "pytest_asyncio")
    unrelated = project(tmp_path, "unrelated", "def test_sum():\n    assert 1 + 1 == 2\n")

    result = pytest_in(unrelated, env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    # The plugin is there all the same (its marker is registered).
    markers = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "--markers"], cwd=unrelated,
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "@pytest.mark.conformance" in markers.stdout, markers.stdout + markers.stderr


def test_using_the_kit_without_the_extra_names_the_extra(tmp_path: Path) -> None:
    env = without(tmp_path / "shadows", "pytest_asyncio")
    kit_user = project(
        tmp_path, "kit-user",
        """
        from backup_store.testing import BackupStoreConformance

        class TestMyStore(BackupStoreConformance):
            pass
        """,
    )  # fmt: skip

    result = pytest_in(kit_user, env)

    assert result.returncode != 0
    message = (
        "the backup-store conformance kit needs pytest_asyncio, which is not installed: "
        "pip install 'backup-store[testing]'"
    )
    assert message in result.stdout, result.stdout + result.stderr


def _extras_but_pytest() -> set[str]:
    """Distributions of the optional dependencies (test tools) other than pytest itself."""
    names = set()
    for requirements in PYPROJECT["project"]["optional-dependencies"].values():
        for requirement in requirements:
            match = re.match(r"[A-Za-z0-9._-]+", requirement)
            assert match is not None
            names.add(re.sub(r"[-_.]+", "-", match.group(0)).lower())
    return names - {"pytest", "backup-store"}


def test_the_plugin_imports_pytest_and_the_runtime_dependencies_only() -> None:
    script = (
        "import json, sys; before = set(sys.modules); import backup_store.testing.plugin; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    providers = importlib.metadata.packages_distributions()
    distributions = {
        re.sub(r"[-_.]+", "-", distribution).lower()
        for name in json.loads(loaded)
        for distribution in providers.get(name.split(".")[0], [])
    }
    assert "pytest" in distributions
    assert not distributions & _extras_but_pytest(), distributions & _extras_but_pytest()
