"""The scheme registry: built-in schemes, outside packages, configurations."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_store import (
    ConfigurationError,
    FilesystemBackupStore,
    FilesystemConfig,
    MemoryBackupStore,
    S3Config,
    open_config,
    open_store,
    registry,
)


def test_every_built_in_scheme_is_registered() -> None:
    assert {"file", "memory", "s3", "gs", "az"} <= set(registry.backends())


def test_an_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"'ftp://'.*file://.*s3://"):
        open_store("ftp://host/path")


def test_a_configuration_opens_its_backend(tmp_path: Path) -> None:
    store = open_config(FilesystemConfig(tmp_path))
    assert isinstance(store, FilesystemBackupStore)
    assert open_config(S3Config(bucket="bucket", region="eu-west-1")).kind == "s3"
    with pytest.raises(ConfigurationError, match="no store backend takes a str"):
        open_config("file:///tmp")


def test_outside_packages_register_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "outside_store.py").write_text(
        "from backup_store import MemoryBackupStore, register\n"
        "register('outside', lambda url: MemoryBackupStore(url.netloc or None))\n"
    )
    dist = tmp_path / "outside_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{registry.ENTRY_POINT_GROUP}]\noutside = outside_store\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    store = open_store("outside://team")
    assert isinstance(store, MemoryBackupStore)
    assert store.base_path == "team"
