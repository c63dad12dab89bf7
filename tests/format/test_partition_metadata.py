"""Zeebe 8.9+ partition metadata: every file a Zeebe version wrote reads into PartitionMetadata;
damaged or unknown-shaped ones are ignored (logged), never trusted; range markers are
recognised."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from backup_store.format.keys import parse_range_marker_key, partition_metadata_key
from backup_store.format.partition_metadata import (
    PartitionMetadataError,
    current_slot,
    decode_partition_metadata,
    encode_partition_metadata,
    read_partition_metadata,
)
from backup_store.model import CheckpointType

MATRIX = Path(__file__).parent / "zeebe_matrix"
CASES = [
    json.loads(line)
    for path in sorted(MATRIX.glob("*.jsonl"))
    for line in path.read_text(encoding="utf-8").split("\n")
    if line.strip()
]
WRITTEN = [c for c in CASES if c["form"].startswith("metadata") and c["kind"] == "write"]
# Refused here (Zeebe's readers refuse them too, all but one variant for the unknown type).
REFUSED = {"read-metadata-truncated": "JSON", "read-metadata-type-unknown": "checkpointType"}
READ = [c for c in CASES if c["form"] == "metadata" and c["kind"] == "read"]


def _name(case: dict[str, Any]) -> str:
    return str(case["case"]).removeprefix(case["variant"] + "-")


@pytest.mark.parametrize("case", WRITTEN, ids=[c["case"] for c in WRITTEN])
def test_every_metadata_file_zeebe_writes_reads(case: dict[str, Any]) -> None:
    metadata = decode_partition_metadata(base64.b64decode(case["bytes"]))
    values = case["values"]
    assert metadata.partition_id == values["partitionId"]
    assert metadata.sequence_number == values.get("sequenceNumber")
    assert [c.checkpoint_id for c in metadata.checkpoints] == [
        c["checkpointId"] for c in values["checkpoints"]
    ]
    assert [(r.start, r.end) for r in metadata.ranges] == [
        (r["start"], r["end"]) for r in values["ranges"]
    ]


@pytest.mark.parametrize("case", WRITTEN, ids=[c["case"] for c in WRITTEN])
def test_metadata_is_written_byte_for_byte_as_zeebe_writes_it(case: dict[str, Any]) -> None:
    """Every version (one file; two slots with sequenceNumber; the versioned record):
    the values Zeebe's classes wrote, encoded here, are Zeebe's bytes."""
    written = base64.b64decode(case["bytes"])
    metadata = decode_partition_metadata(written)

    assert encode_partition_metadata(metadata) == written


@pytest.mark.parametrize("case", READ, ids=[c["case"] for c in READ])
def test_metadata_read_cases(case: dict[str, Any]) -> None:
    data = base64.b64decode(case["bytes"])
    if _name(case) in REFUSED:
        with pytest.raises(PartitionMetadataError, match=REFUSED[_name(case)]):
            decode_partition_metadata(data)
        return
    metadata = decode_partition_metadata(data)
    assert metadata.partition_id >= 1


def test_the_fixture_reads_with_types_and_timestamps() -> None:
    fixture = Path(__file__).parents[2] / "backup_store/testing/fixtures/zeebe89-metadata.json"
    metadata = decode_partition_metadata(fixture.read_bytes())
    assert metadata.sequence_number == 7
    first = metadata.checkpoints[0]
    assert first.checkpoint_type is CheckpointType.SCHEDULED_BACKUP
    assert first.checkpoint_timestamp is not None
    assert first.checkpoint_timestamp.iso() == "2026-03-01T00:00:00Z"


def test_damaged_metadata_is_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    key = partition_metadata_key("bp", 3)
    assert key == "bp/metadata/3/metadata.json"
    with caplog.at_level(logging.WARNING):
        assert read_partition_metadata(b'{"partitionId":1,', key) is None
        assert read_partition_metadata(b'{"partitionId":1,"somethingElse":2}', key) is None
    assert key in caplog.text and "somethingElse" in caplog.text
    assert read_partition_metadata(None, key) is None


def test_the_slot_with_the_higher_sequence_number_is_current() -> None:
    def slot(sequence: int) -> Any:
        return decode_partition_metadata(
            json.dumps(
                {
                    "partitionId": 1,
                    "sequenceNumber": sequence,
                    "lastUpdated": "2026-03-01T00:00:00Z",
                    "checkpoints": [],
                    "ranges": [],
                }
            ).encode()
        )

    a, b = slot(4), slot(5)
    assert current_slot(a, b) is b
    assert current_slot(b, a) is b
    tie = slot(4)
    assert current_slot(a, tie) is a  # a tie goes to slot a
    assert current_slot(None, b) is b
    assert current_slot(None, None) is None


def test_range_markers_are_recognised() -> None:
    assert parse_range_marker_key("bp/ranges/2/15.start", "bp") == (2, 15, "start")
    assert parse_range_marker_key("ranges/2/16.deletion", None) == (2, 16, "deletion")
    assert parse_range_marker_key("bp/ranges/2/15.other", "bp") is None
    assert parse_range_marker_key("bp/manifests/2/15/1/manifest.json", "bp") is None
