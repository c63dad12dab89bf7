"""Model validation, instants, wildcards and key layouts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backup_store import (
    ZEEBE_COMMON,
    ZEEBE_S3,
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
    ConfigurationError,
    Instant,
    InvalidInputError,
    NamedFileSet,
)
from backup_store.errors import BackupStoreError, scrub
from backup_store.format.keys import KeyLayout, check_base_path


@pytest.mark.parametrize(
    "args",
    [
        (0, 1, 0),
        (0, 1, -5),
        (0, 1, 2**63),
        (-1, 1, 1),
        (0, -1, 1),
        (0, 0, 1),
        (True, 1, 1),
        ("1", 1, 1),
        (0, 1, 1.5),
    ],
)
def test_invalid_identifiers_are_refused(args: tuple[object, object, object]) -> None:
    with pytest.raises(InvalidInputError) as raised:
        BackupIdentifier(*args)  # type: ignore[arg-type]
    assert "id" in str(raised.value)


def test_identifier_bounds_are_inclusive() -> None:
    BackupIdentifier(0, 1, 1)
    BackupIdentifier(2**31 - 1, 2**31 - 1, 2**63 - 1)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/abs", "a\\b", "nul\x00"])
def test_unsafe_file_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as raised:
        NamedFileSet({name: tmp_path / "x"})
    assert repr(name) in str(raised.value)


def test_snapshot_and_segment_names_must_not_clash(tmp_path: Path) -> None:
    files = NamedFileSet({"same": tmp_path / "x"})
    with pytest.raises(InvalidInputError, match="same"):
        Backup(BackupIdentifier(1, 1, 1), BackupDescriptor(None, 1, 1, "8.7.0"), files, files)


def test_status_codes_order_worst_to_best() -> None:
    ranks = [
        c.rank
        for c in (
            BackupStatusCode.DOES_NOT_EXIST,
            BackupStatusCode.FAILED,
            BackupStatusCode.IN_PROGRESS,
            BackupStatusCode.COMPLETED,
        )
    ]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("10*", [10, 100, 101, 109999], [1, 11, 20, 210]),
        ("10", [10], [1, 100]),
        (10, [10], [100]),
        ("*", [1, 10, 999], []),
        (None, [1, 5], []),
    ],
)
def test_checkpoint_patterns(
    pattern: int | str | None, matching: list[int], not_matching: list[int]
) -> None:
    wildcard = BackupIdentifierWildcard(checkpoint=pattern)
    assert all(wildcard.matches(BackupIdentifier(1, 1, c)) for c in matching)
    assert not any(wildcard.matches(BackupIdentifier(1, 1, c)) for c in not_matching)


@pytest.mark.parametrize("pattern", ["1*0", "abc", "", "-1", "0", "1**"])
def test_bad_checkpoint_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidInputError):
        BackupIdentifierWildcard(checkpoint=pattern)


@pytest.mark.parametrize(
    ("text", "nanos", "java"),
    [
        ("2023-03-14T10:45:08Z", 1678790708_000000000, "2023-03-14T10:45:08Z"),
        ("2023-03-14T10:45:08.5Z", 1678790708_500000000, "2023-03-14T10:45:08.500Z"),
        ("2023-03-14T10:45:09.123456789Z", 1678790709_123456789, "2023-03-14T10:45:09.123456789Z"),
        ("2023-03-14T10:45:09.1234Z", 1678790709_123400000, "2023-03-14T10:45:09.123400Z"),
        ("2023-03-14T12:45:08+02:00", 1678790708_000000000, "2023-03-14T10:45:08Z"),
        ("2023-03-14T10:45:08.000Z", 1678790708_000000000, "2023-03-14T10:45:08Z"),
    ],
)
def test_instants_parse_and_print_like_java(text: str, nanos: int, java: str) -> None:
    instant = Instant.parse_iso(text)
    assert instant.epoch_nanos == nanos
    assert instant.iso() == java


def test_instant_decimal_seconds_and_datetime() -> None:
    instant = Instant.parse_decimal_seconds("1668519689.290560717")
    assert instant.epoch_nanos == 1668519689_290560717
    assert instant.decimal_seconds() == "1668519689.290560717"
    assert instant.to_datetime() == datetime(2022, 11, 15, 13, 41, 29, 290560, tzinfo=UTC)
    assert Instant.from_datetime(instant.to_datetime()).epoch_nanos == 1668519689_290560000


@pytest.mark.parametrize("base", ["", "/a", "a/", "a//b", "a/../b"])
def test_invalid_base_paths_are_refused(base: str) -> None:
    with pytest.raises(ConfigurationError):
        check_base_path(base)


def test_layouts_follow_the_spec() -> None:
    backup_id = BackupIdentifier(3, 1, 42)
    classic = ZEEBE_S3.write_layout("bp", "8.7.0")
    assert classic.manifest_key(backup_id) == "bp/1/42/3/manifest.json"
    assert classic.file_key(backup_id, "snapshot", "f") == "bp/1/42/3/snapshot/f"
    modern = ZEEBE_S3.write_layout("bp", "8.9.0")
    assert modern.manifest_key(backup_id) == "bp/manifests/1/42/3/manifest.json"
    assert modern.file_key(backup_id, "segments", "f") == "bp/contents/1/42/3/segments/f"
    assert [layout.manifests_apart for layout in ZEEBE_S3.read_layouts(None)] == [True, False]
    assert [layout.manifests_apart for layout in ZEEBE_COMMON.read_layouts(None)] == [True]
    for version in ("8.7.0", "8.9.0"):
        layout = ZEEBE_COMMON.write_layout(None, version)
        assert layout.manifest_key(backup_id) == "manifests/1/42/3/manifest.json"
        assert layout.file_key(backup_id, "snapshot", "f") == "contents/1/42/3/snapshot/f"


def test_list_prefixes_are_as_narrow_as_the_wildcard() -> None:
    layout = KeyLayout("bp", manifests_apart=True)
    assert layout.list_prefix(BackupIdentifierWildcard()) == "bp/manifests/"
    assert layout.list_prefix(BackupIdentifierWildcard(partition_id=1)) == "bp/manifests/1/"
    assert (
        layout.list_prefix(BackupIdentifierWildcard(partition_id=1, checkpoint="10*"))
        == "bp/manifests/1/10"
    )
    # Not narrowed to the node: a node in a zone has the folder {zone}_{node}.
    assert (
        layout.list_prefix(BackupIdentifierWildcard(node_id=2, partition_id=1, checkpoint=7))
        == "bp/manifests/1/7/"
    )
    parsed = layout.parse_manifest_key("bp/manifests/1/7/2/manifest.json")
    assert parsed == BackupIdentifier(2, 1, 7)
    zoned = layout.parse_manifest_key("bp/manifests/1/7/us-east-1a_2/manifest.json")
    assert zoned == BackupIdentifier(2, 1, 7, "us-east-1a")
    assert layout.manifest_key(zoned) == "bp/manifests/1/7/us-east-1a_2/manifest.json"
    assert layout.parse_manifest_key("bp/manifests/1/7/-bad_2/manifest.json") is None
    assert layout.parse_manifest_key("bp/manifests/1/7/2/other.json") is None
    classic = KeyLayout(None, manifests_apart=False)
    assert classic.parse_manifest_key("manifests/1/7/2/manifest.json") is None


def test_errors_carry_context_and_hide_secrets() -> None:
    error = BackupStoreError(
        "boom", store="s3://bucket", backup_id=BackupIdentifier(1, 2, 3), key="k", operation="save"
    )
    assert str(error) == (
        "boom [operation=save, store=s3://bucket, backup=node 1/partition 2/checkpoint 3, key=k]"
    )
    text = scrub("GET https://acc.blob/c/x?sv=2020&sig=SECRET failed; Authorization: Bearer T0K")
    assert "SECRET" not in text and "T0K" not in text


def test_manifest_transitions_refuse_an_illegal_source_state() -> None:
    from backup_store import InvalidBackupStateError, Manifest
    from backup_store.format.instant import Instant

    backup_id = BackupIdentifier(1, 2, 3)
    now = Instant.parse_iso("2024-01-01T00:00:00Z")
    later = Instant.parse_iso("2024-01-01T00:00:01Z")
    failed = Manifest.failed_never_saved(backup_id, "first reason", now)
    with pytest.raises(InvalidBackupStateError, match="FAILED; only IN_PROGRESS can complete"):
        failed.completed(later)
    # FAILED -> FAILED changes nothing: reason and modification time are kept.
    assert failed.failed("second reason", later) is failed
    descriptor = BackupDescriptor(None, 1, 1, "8.7.0")
    started = Manifest.in_progress(backup_id, descriptor, (), (), now)
    completed = started.completed(later)
    with pytest.raises(InvalidBackupStateError):
        completed.completed(later)
    assert completed.failed("marked", later).failure_reason == "marked"
