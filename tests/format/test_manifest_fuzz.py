"""Manifests are input: any bytes give a manifest or ManifestParseError.

A manifest comes from a shared bucket that other programs and people write. Whatever
it holds, reading it gives either a manifest that can be shown and written back, or
the typed :class:`ManifestParseError` \u2014 never a ``RecursionError``, ``OverflowError``,
``ValueError``, ``UnicodeEncodeError`` or anything else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup_store.errors import ManifestParseError
from backup_store.format.manifest import Manifest, ManifestForm
from backup_store.format.manifest_json import decode_manifest, encode_manifest
from backup_store.testing.data import FIXTURES_DIR

TEMPLATES = {
    ManifestForm.COMMON: json.loads((FIXTURES_DIR / "common-completed.json").read_bytes()),
    ManifestForm.S3: json.loads((FIXTURES_DIR / "s3-8.7-completed.json").read_bytes()),
}


def read_or_refuse(data: bytes) -> None:
    """The property: each form reads ``data`` into a usable manifest or refuses it, typed."""
    for form in ManifestForm:
        try:
            manifest = decode_manifest(data, form)
        except ManifestParseError:
            continue
        assert isinstance(manifest, Manifest)
        # What was read can be shown and written back, in both forms.
        status = manifest.to_status()
        assert status.created is not None and status.last_modified is not None
        for instant in (manifest.created_at, manifest.modified_at):
            instant.iso()
            instant.decimal_seconds()
            instant.to_datetime()
        for target in ManifestForm:
            for iso_dates in (False, True):
                written = encode_manifest(manifest, target, iso_dates=iso_dates)
                assert decode_manifest(written, target).id == manifest.id


def with_fields(form: ManifestForm, changes: list[tuple[tuple[str, ...], Any]]) -> bytes:
    """The form's template manifest with each ``(path, value)`` set (objects made as needed)."""
    document = json.loads(json.dumps(TEMPLATES[form]))
    for path, value in changes:
        target = document
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
    return json.dumps(document).encode()


def with_field(form: ManifestForm, path: tuple[str, ...], value: Any) -> bytes:
    return with_fields(form, [(path, value)])


HOSTILE_DATES: list[Any] = [
    1e20, -1e20, 1e300, -99999999999, 99999999999999, 10**4000, -(10**4000), 2**63, -(2**63) - 1,
    float("nan"), float("inf"), float("-inf"), 0, -1, 1.5,
    "1e20", "-99999999999", "1e999999999", "-1e999999999", "1e-999999999", "NaN", "Infinity",
    "0000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "+10000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2023-02-30T00:00:00Z",
    "2023-03-14T24:00:00Z", "2023-03-14T23:59:60Z", "\uff12\uff10\uff12\uff13-03-14T10:45:08Z",
    "2023-03-14T10:45:08.\u0661Z", "2023-03-14T10:45:08Z\n", "T", "", " 1", "1_000", "\u0661\u0662",
    "2023-03-14T10:45:08.1234567890Z", "2023-03-14T10:45:08+99:99", None, [], {}, True,
]
HOSTILE_RAW = [
    b"[" * 100_000,
    b'{"a":' * 100_000,
    b"{" * 3000 + b"}" * 3000,
    b'{"id":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"createdAt":' + b"9" * 5000 + b"}",
    b'{"createdAt":1e999999999}',
    b'{"createdAt":-1e999999999}',
    b'{"createdAt":' + b"1" + b"0" * 100_000 + b".5}",
    b'{"createdAt":0.' + b"0" * 100_000 + b"1}",
    b'{"createdAt":1E-999999999}',
    b'{"createdAt":"\\ud800"}',
    b'{"failureReason":"\\udc00\\ud800"}',
    b"\xef\xbb\xbf{}",
    b"\x00",
    b"\"",
    b"null",
    b"1" * 5000,
]


@pytest.mark.parametrize("data", HOSTILE_RAW, ids=lambda d: repr(d[:20]))
def test_hostile_bytes(data: bytes) -> None:
    read_or_refuse(data)


@pytest.mark.parametrize("value", HOSTILE_DATES, ids=repr)
@pytest.mark.parametrize("field", ["createdAt", "modifiedAt"])
@pytest.mark.parametrize("form", list(ManifestForm))
def test_hostile_dates(form: ManifestForm, field: str, value: Any) -> None:
    read_or_refuse(with_field(form, (field,), value))


def test_the_reported_cases_are_typed_parse_errors() -> None:
    for form in ManifestForm:
        for value in (1e20, -99999999999):
            with pytest.raises(ManifestParseError, match="createdAt"):
                decode_manifest(with_field(form, ("createdAt",), value), form)
        with pytest.raises(ManifestParseError):
            decode_manifest(b"[" * 100_000, form)


HOSTILE_STRINGS = ["\ud800", "\udfff\ud800", "a\x00b", "\U0001f4a5", "\\", '"', ""]


@pytest.mark.parametrize("value", HOSTILE_STRINGS, ids=repr)
@pytest.mark.parametrize("form", list(ManifestForm))
def test_strings_that_python_cannot_encode_raw(form: ManifestForm, value: str) -> None:
    read_or_refuse(with_field(form, ("descriptor", "snapshotId"), value))
    read_or_refuse(with_field(form, ("descriptor", "brokerVersion"), value))
    failed = "FAILED" if form is ManifestForm.COMMON else "failed"
    read_or_refuse(with_fields(form, [(("statusCode",), failed), (("failureReason",), value)]))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text()
    | st.sampled_from(HOSTILE_DATES[:20]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
field_paths = st.sampled_from(
    [("id",), ("id", "nodeId"), ("id", "partitionId"), ("id", "checkpointId"), ("descriptor",),
     ("descriptor", "snapshotId"), ("descriptor", "checkpointPosition"),
     ("descriptor", "numberOfPartitions"), ("descriptor", "brokerVersion"), ("statusCode",),
     ("createdAt",), ("modifiedAt",), ("failureReason",), ("snapshot",), ("segments",),
     ("snapshotFiles",), ("segmentFiles",), ("snapshotFileNames",), ("segmentFileNames",)]
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.sampled_from(list(ManifestForm)), st.lists(st.tuples(field_paths, json_values),
                                                      min_size=1, max_size=3))
def test_manifests_with_random_fields(form: ManifestForm, changes: list[Any]) -> None:
    read_or_refuse(with_fields(form, changes))


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    read_or_refuse(data)


@settings(max_examples=300)
@given(st.sampled_from(sorted(FIXTURES_DIR.glob("*.json"))), st.data())
def test_damaged_fixtures(path: Any, data: st.DataObject) -> None:
    original = path.read_bytes()
    start = data.draw(st.integers(0, len(original)))
    end = data.draw(st.integers(start, min(len(original), start + 8)))
    insert = data.draw(st.binary(max_size=8) | st.sampled_from(
        [b"[", b"{", b"-", b"e99", b"\\ud800", b'"', b"\xff", b"0" * 30, b"9" * 25, b"."]))
    read_or_refuse(original[:start] + insert + original[end:])
