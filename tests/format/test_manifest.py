"""Manifest codecs: Zeebe's literal fixtures and property-based round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_store.errors import ManifestParseError
from backup_store.format.instant import MAX_EPOCH_NANOS, MIN_EPOCH_NANOS, Instant
from backup_store.format.manifest import FileEntry, Manifest, ManifestForm, WrongManifestFormError
from backup_store.format.manifest_json import decode_manifest, encode_manifest
from backup_store.model import (
    MAX_PARTITIONS,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
)
from backup_store.testing.data import FIXTURES, FIXTURES_DIR

SPEC_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "spec" / "fixtures"


def form_of(name: str) -> ManifestForm:
    s3 = name.startswith("s3") or name.endswith(".s3.json")
    return ManifestForm.S3 if s3 else ManifestForm.COMMON


def test_packaged_fixtures_are_the_spec_fixtures() -> None:
    # The conformance suite ships copies; they must not drift from the spec.
    if SPEC_FIXTURES.is_dir():
        for spec in SPEC_FIXTURES.glob("*.json"):
            assert (FIXTURES_DIR / spec.name).read_bytes() == spec.read_bytes(), spec.name


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.file)
def test_fixture_reads_as_documented(fixture: object) -> None:
    from backup_store.testing.data import FixtureExpectation

    assert isinstance(fixture, FixtureExpectation)
    manifest = decode_manifest((FIXTURES_DIR / fixture.file).read_bytes(), form_of(fixture.file))
    assert manifest.id == fixture.backup_id
    assert manifest.status_code is fixture.status
    assert (manifest.descriptor is not None) == fixture.has_descriptor
    if manifest.descriptor is not None:
        assert manifest.descriptor.snapshot_id == fixture.snapshot_id
    assert manifest.failure_reason == fixture.failure_reason
    if fixture.modified is not None:
        assert manifest.modified_at == fixture.modified
    if fixture.created is not None:
        assert manifest.created_at == fixture.created
    if fixture.same_created_modified:
        assert manifest.created_at == manifest.modified_at
    if fixture.snapshot_files is not None:
        assert tuple(f.name for f in manifest.snapshot_files or ()) == fixture.snapshot_files
    if fixture.segment_files is not None:
        assert tuple(f.name for f in manifest.segment_files or ()) == fixture.segment_files
    compressed = tuple(f.name for _, f in manifest.files() if f.compression == "zstd")
    assert compressed == fixture.compressed


BYTE_EXACT = [
    "common-completed.json",
    "common-in-progress.json",
    "common-failed.json",
    "common-failed-without-descriptor.json",
    "s3-8.7-completed.json",
    "s3-8.7-in-progress.json",
    "s3-8.7-failed.json",
]


@pytest.mark.parametrize("name", BYTE_EXACT)
def test_untouched_manifest_round_trips_byte_for_byte(name: str) -> None:
    data = (FIXTURES_DIR / name).read_bytes().rstrip(b"\n")
    assert encode_manifest(decode_manifest(data, form_of(name)), form_of(name)) == data


def test_trailing_bytes_are_ignored_and_not_written_back() -> None:
    data = (FIXTURES_DIR / "filesystem-trailing-bytes.json").read_bytes()
    manifest = decode_manifest(data, ManifestForm.COMMON)
    written = encode_manifest(manifest, ManifestForm.COMMON)
    assert data.startswith(written) and written.endswith(b'"modifiedAt":"2023-03-14T10:45:09Z"}')


def test_8_1_manifest_is_rewritten_in_the_8_7_form() -> None:
    manifest = decode_manifest((FIXTURES_DIR / "s3-8.1-failed.json").read_bytes(), ManifestForm.S3)
    written = encode_manifest(manifest, ManifestForm.S3)
    assert b'"snapshotFiles":{"files":{"000143.log":{},"CURRENT":{}}}' in written
    assert written.startswith(b'{"statusCode":"failed","id":')


@pytest.mark.parametrize("name", [f.file for f in FIXTURES])
def test_other_form_is_recognised(name: str) -> None:
    other = ManifestForm.COMMON if form_of(name) is ManifestForm.S3 else ManifestForm.S3
    with pytest.raises(WrongManifestFormError) as raised:
        decode_manifest((FIXTURES_DIR / name).read_bytes(), other)
    assert raised.value.found is form_of(name)


@pytest.mark.parametrize(
    "data",
    [
        b"{s",
        b"",
        b"[]",
        b'{"statusCode":"DONE"}',
        b"\xff\xfe",
        b'{"id":{"nodeId":1},"statusCode":"COMPLETED"}',
        b'{"id":{"nodeId":1,"partitionId":2,"checkpointId":0},"statusCode":"FAILED",'
        b'"createdAt":"2023-03-14T10:45:08Z","modifiedAt":"2023-03-14T10:45:08Z"}',
        b'{"id":{"nodeId":1,"partitionId":2,"checkpointId":3},"statusCode":"FAILED",'
        b'"createdAt":"yesterday","modifiedAt":"2023-03-14T10:45:08Z"}',
    ],
)
def test_malformed_manifests_raise_parse_error(data: bytes) -> None:
    for form in ManifestForm:
        with pytest.raises(ManifestParseError):
            decode_manifest(data, form)


def test_new_manifests_use_zeebe_date_forms() -> None:
    now = Instant(1668519689_290560000)
    manifest = Manifest.in_progress(
        BackupIdentifier(0, 1, 100), BackupDescriptor(None, 5, 3, "8.7.0"), (), (), now
    )
    assert b'"createdAt":"2022-11-15T13:41:29.290560Z"' in encode_manifest(
        manifest, ManifestForm.COMMON
    )
    assert b'"createdAt":1668519689.290560000' in encode_manifest(manifest, ManifestForm.S3)
    assert b'"createdAt":"2022-11-15T13:41:29.290560Z"' in encode_manifest(
        manifest, ManifestForm.S3, iso_dates=True
    )


names = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="/\\\x00"), min_size=1
).filter(lambda n: n not in (".", ".."))
instants = st.integers(min_value=MIN_EPOCH_NANOS, max_value=MAX_EPOCH_NANOS).map(Instant)
descriptors = st.builds(
    BackupDescriptor,
    st.none() | st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=1, max_value=MAX_PARTITIONS),
    st.text(min_size=1),
)
ids = st.builds(
    BackupIdentifier,
    st.integers(min_value=0, max_value=2**31 - 1),
    st.integers(min_value=1, max_value=2**31 - 1),
    st.integers(min_value=1, max_value=2**63 - 1),
)


@st.composite
def manifests(draw: st.DrawFn, form: ManifestForm) -> Manifest:
    status = draw(st.sampled_from([c for c in BackupStatusCode if c.rank > 0]))
    compression = st.none() | st.just("zstd") if form is ManifestForm.S3 else st.none()
    files = st.lists(
        st.builds(FileEntry, names, compression), unique_by=lambda f: f.name, max_size=5
    ).map(tuple)
    failed = status is BackupStatusCode.FAILED
    descriptor = draw(st.none() | descriptors) if failed else draw(descriptors)
    no_sets = failed and form is ManifestForm.COMMON and draw(st.booleans())
    return Manifest(
        id=draw(ids),
        status_code=status,
        descriptor=descriptor,
        snapshot_files=None if no_sets else draw(files),
        segment_files=None if no_sets else draw(files),
        created_at=draw(instants),
        modified_at=draw(instants),
        failure_reason=draw(st.none() | st.text()) if failed else None,
    )


@given(manifests(ManifestForm.COMMON))
def test_common_form_round_trips(manifest: Manifest) -> None:
    data = encode_manifest(manifest, ManifestForm.COMMON)
    decoded = decode_manifest(data, ManifestForm.COMMON)
    assert decoded == manifest
    assert encode_manifest(decoded, ManifestForm.COMMON) == data


@given(manifests(ManifestForm.S3), st.booleans())
def test_s3_form_round_trips(manifest: Manifest, iso_dates: bool) -> None:
    data = encode_manifest(manifest, ManifestForm.S3, iso_dates=iso_dates)
    decoded = decode_manifest(data, ManifestForm.S3)
    assert decoded == manifest
    assert encode_manifest(decoded, ManifestForm.S3, iso_dates=iso_dates) == data
