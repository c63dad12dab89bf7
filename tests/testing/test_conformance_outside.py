"""An outside package installs ``backup-store[testing]`` and runs the kit on its own store.

What a store author does from ``docs/conformance.md``, in a temporary folder: a fresh
virtual environment, ``pip install`` of this project with the ``testing`` extra and of
the author's package, then ``pytest`` with nothing but the kit's plugin. Offline: the
fresh environment sees this environment's installed packages (a ``.pth`` line), so pip
resolves every requirement without an index and builds only the two packages.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

AUTHORS_PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "authors-store"
version = "0.0.1"
dependencies = ["backup-store[testing]"]

[project.entry-points."backup_store.backends"]
authors = "authors_store"
"""

AUTHORS_STORE = '''
"""A store of the author's own: backups in memory, in Zeebe's common format."""

from urllib.parse import SplitResult

from obstore.store import MemoryStore

from backup_store import ZEEBE_COMMON, ObjectBackupStore, register
from backup_store.io import ObstoreIO


class AuthorsStore(ObjectBackupStore):
    def __init__(self, location: MemoryStore) -> None:
        io = ObstoreIO(location, description="authors://")
        super().__init__(io, kind="authors", format=ZEEBE_COMMON)


def from_url(url: SplitResult) -> AuthorsStore:
    return AuthorsStore(MemoryStore())


register("authors", from_url)
'''

AUTHORS_TESTS = """
import pytest
from obstore.store import MemoryStore

from authors_store import AuthorsStore
from backup_store import open_store
from backup_store.testing import BackupStoreConformance, ObjectStoreHarness


def test_the_registration_line_makes_the_scheme_known():
    assert isinstance(open_store("authors://"), AuthorsStore)


class TestAuthorsStore(BackupStoreConformance):
    @pytest.fixture
    def store_harness(self):
        location = MemoryStore()
        return ObjectStoreHarness(lambda: AuthorsStore(location))
"""


def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_an_outside_package_installs_the_testing_extra_and_runs_the_kit(tmp_path: Path) -> None:
    # This project's sources, copied so that building it writes nothing into the checkout.
    project = tmp_path / "backup-store"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, project / name)
    shutil.copytree(
        PROJECT / "backup_store",
        project / "backup_store",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    author = tmp_path / "authors-store"
    (author / "tests").mkdir(parents=True)
    (author / "pyproject.toml").write_text(textwrap.dedent(AUTHORS_PYPROJECT))
    (author / "authors_store.py").write_text(AUTHORS_STORE)
    (author / "tests" / "test_conformance.py").write_text(AUTHORS_TESTS)
    (author / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    )
    Path(purelib.stdout.strip(), "installed-here.pth").write_text(
        sysconfig.get_path("purelib") + "\n"
    )

    installed = run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-index",
        "--no-build-isolation", f"{project}[testing]", author,
        cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "does not provide the extra" not in installed.stderr, installed.stderr
    where = run(python, "-c", "import backup_store; print(backup_store.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    kit = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=author)

    assert kit.returncode == 0, kit.stdout + kit.stderr
    assert " passed" in kit.stdout and not re.search(r"\b\d+ failed\b", kit.stdout), kit.stdout
