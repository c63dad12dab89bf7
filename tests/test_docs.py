"""The documentation stands alone: no links out of the repository, every path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_CODE_PATH = re.compile(r"`((?:docs|backup_store|tests|docker|bench)/[\w./-]*|LICENSE|Makefile)`")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_stay_inside_the_repository(page: Path) -> None:
    text = page.read_text()
    for target in _LINK.findall(text):
        if target.startswith("#"):
            continue
        assert "://" not in target, f"{page.name} links outside the repository: {target}"
        resolved = (page.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{page.name}: {target}"
    assert "shared/spec" not in text and "../shared" not in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_repository_path_named_exists(page: Path) -> None:
    for path in _CODE_PATH.findall(page.read_text()):
        assert (ROOT / path.rstrip("/")).exists(), f"{page.name} names {path}, which is missing"


def test_the_readme_says_how_to_run_the_cli_and_the_probes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert ".venv/bin/backup-store" in readme
    assert "source .venv/bin/activate" in readme
    assert "make demo" in readme
    for path in ("/actuator/prometheus", "/actuator/health/liveness",
                 "/actuator/health/readiness"):
        assert f"curl 'http://localhost:9600{path}'" in readme
