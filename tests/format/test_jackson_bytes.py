"""Zeebe's exact bytes: the ``jackson-*`` fixtures in both directions.

The fixtures are bytes Zeebe's own manifest classes wrote through Jackson. Reading
them gives the documented values; writing those values gives the same bytes; and
an untouched Zeebe manifest read and written back keeps its bytes. The rules they
show are checked over arbitrary strings and instants against small models of
what Jackson does (``UTF8JsonGenerator`` for strings, ``InstantSerializer`` and
``DecimalUtils`` for epoch-second dates).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from backup_store.errors import ManifestParseError
from backup_store.format.instant import Instant
from backup_store.format.manifest import FileEntry, Manifest, ManifestForm
from backup_store.format.manifest_json import decode_manifest, encode_manifest
from backup_store.model import BackupDescriptor, BackupIdentifier, BackupStatusCode
from backup_store.testing.data import FIXTURES_DIR

EMOJI_REASON = "boom \U0001f4a5 \U0001f680 \U0001f469\u200d\U0001f4bb"
"""``boom 💥 🚀 👩‍💻``: three characters outside the BMP and a zero-width joiner inside it."""
ID = BackupIdentifier(1, 2, 43)
DESCRIPTOR = BackupDescriptor("1-1-5-4", 2345234, 3, "8.7.0")
SNAPSHOT = (FileEntry("snapshotFile1"), FileEntry("CURRENT"))
SEGMENTS = (FileEntry("segmentFile1"),)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_EPOCH_NANOS = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1) * 1000
MAX_EPOCH_NANOS = (datetime(9999, 12, 31, tzinfo=UTC) - EPOCH) // timedelta(seconds=1) * 10**9 + (
    86_400 * 10**9 - 1
)
"""Years 1 to 9999: the dates both manifest forms (and Python) can write."""


def at(text: str) -> Instant:
    """An instant from an ISO text, through Python's datetime (not the code under test)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return Instant((moment - EPOCH) // timedelta(microseconds=1) * 1000)


def manifest(status: BackupStatusCode, created: Instant, modified: Instant,
             reason: str | None = None) -> Manifest:
    return Manifest(ID, status, DESCRIPTOR, SNAPSHOT, SEGMENTS, created, modified, reason)


EMOJI = manifest(
    BackupStatusCode.FAILED,
    at("2023-03-14T10:45:08Z"),
    Instant(at("2023-03-14T10:45:09Z").epoch_nanos + 123_456_789),
    EMOJI_REASON,
)
EPOCH_ZERO = manifest(BackupStatusCode.COMPLETED, Instant(0), Instant(0))
PRE_EPOCH = manifest(
    BackupStatusCode.COMPLETED, at("1969-12-31T23:59:59.500Z"), at("1969-12-31T00:00:00Z")
)

JACKSON = {
    "jackson-failed-emoji.common.json": (ManifestForm.COMMON, EMOJI),
    "jackson-failed-emoji.s3.json": (ManifestForm.S3, EMOJI),
    "jackson-epoch-zero.s3.json": (ManifestForm.S3, EPOCH_ZERO),
    "jackson-pre-epoch.common.json": (ManifestForm.COMMON, PRE_EPOCH),
    "jackson-pre-epoch.s3.json": (ManifestForm.S3, PRE_EPOCH),
}


def fixture(name: str) -> bytes:
    return (FIXTURES_DIR / name).read_bytes().rstrip(b"\n")


@pytest.mark.parametrize("name", JACKSON)
def test_reading_gives_the_values_zeebe_wrote(name: str) -> None:
    form, expected = JACKSON[name]
    read = decode_manifest(fixture(name), form)
    assert read == expected
    assert read.created_at.epoch_nanos == expected.created_at.epoch_nanos
    assert read.modified_at.epoch_nanos == expected.modified_at.epoch_nanos


def test_the_pre_epoch_s3_date_is_not_one_second_off() -> None:
    read = decode_manifest(fixture("jackson-pre-epoch.s3.json"), ManifestForm.S3)
    assert read.created_at.iso() == "1969-12-31T23:59:59.500Z"
    assert read.created_at.epoch_nanos == -500_000_000
    assert read.modified_at.iso() == "1969-12-31T00:00:00Z"


@pytest.mark.parametrize("name", JACKSON)
def test_our_values_are_written_as_zeebe_writes_them(name: str) -> None:
    form, values = JACKSON[name]
    assert encode_manifest(values, form) == fixture(name)


@pytest.mark.parametrize("name", JACKSON)
def test_an_untouched_zeebe_manifest_keeps_its_bytes(name: str) -> None:
    form, _ = JACKSON[name]
    data = fixture(name)
    assert encode_manifest(decode_manifest(data, form), form) == data


@pytest.mark.parametrize("name", JACKSON)
def test_a_rewritten_zeebe_manifest_changes_only_what_changed(name: str) -> None:
    form, _ = JACKSON[name]
    data = fixture(name)
    running = replace(
        decode_manifest(data, form), status_code=BackupStatusCode.IN_PROGRESS, failure_reason=None
    )
    later = Instant(running.modified_at.epoch_nanos + 10**9)
    failed = encode_manifest(running.failed("disk \U0001f525 full", later), form)
    assert b'"failureReason":"disk \\uD83D\\uDD25 full"' in failed
    created = data[data.index(b'"createdAt":') :].split(b",")[0].rstrip(b"}")
    assert created in failed  # Zeebe's own date bytes, untouched
    assert decode_manifest(failed, form).failure_reason == "disk \U0001f525 full"


# ---------------------------------------------------------------- strings, as Jackson writes them

_SHORT = {0x22: b'\\"', 0x5C: b"\\\\", 0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f",
          0x0D: b"\\r"}


def jackson_string(text: str) -> bytes:
    """A model of Jackson's UTF8JsonGenerator: Java's UTF-16 code units, one at a time."""
    units = text.encode("utf-16-be", "surrogatepass")
    out = bytearray(b'"')
    for i in range(0, len(units), 2):
        unit = int.from_bytes(units[i : i + 2], "big")
        if unit in _SHORT:
            out += _SHORT[unit]
        elif unit < 0x20 or 0xD800 <= unit <= 0xDFFF:
            out += b"\\u%04X" % unit
        else:
            out += chr(unit).encode()
    return bytes(out + b'"')


any_text = st.text(st.characters(codec="utf-8"))  # every code point but lone surrogates
tricky = st.lists(st.sampled_from(
    ['"', "\\", "\b", "\t", "\n", "\f", "\r", "\x00", "\x1f", "\x7f", "\u2028", "\u200d",
     "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0001f4a5", "\U0010ffff", "/", "a", "\\u00",
     "1f"])).map("".join)


@given(any_text | tricky)
@example(EMOJI_REASON)
@example("\\u001f")  # a backslash then "u001f": text, not an escape
def test_strings_are_written_as_jackson_writes_them(text: str) -> None:
    for form in ManifestForm:
        values = Manifest.failed_never_saved(ID, text, Instant(0))
        data = encode_manifest(values, form)
        literal = jackson_string(text)
        assert b'"failureReason":' + literal in data
        assert max(data, default=0) < 0xF0  # no 4-byte UTF-8 sequence: non-BMP is escaped
        assert decode_manifest(data, form).failure_reason == text


@given(any_text.filter(lambda t: t not in ("", ".", "..") and not set(t) & set("/\\\x00")),
       any_text)
def test_names_and_snapshot_ids_are_written_as_jackson_writes_them(name: str, snap: str) -> None:
    descriptor = BackupDescriptor(snap, 1, 1, "8.7.0")
    values = Manifest.in_progress(ID, descriptor, (FileEntry(name),), (), Instant(0))
    for form in ManifestForm:
        data = encode_manifest(values, form)
        assert b'"snapshotId":' + jackson_string(snap) in data
        assert jackson_string(name) in data
        assert decode_manifest(data, form) == values


def test_a_lone_surrogate_read_is_written_back_escaped() -> None:
    data = fixture("jackson-failed-emoji.common.json").replace(b"\\uDCA5", b"")
    read = decode_manifest(data, ManifestForm.COMMON)
    assert read.failure_reason is not None and "\ud83d" in read.failure_reason
    assert encode_manifest(read, ManifestForm.COMMON) == data


# ---------------------------------------------------------------- instants


def jackson_decimal(epoch_nanos: int) -> str:
    """Jackson's InstantSerializer: DecimalUtils.toBigDecimal(seconds, nanos).toString()."""
    seconds, nanos = divmod(epoch_nanos, 10**9)
    if nanos == 0:
        return "0.0" if seconds == 0 else f"{seconds}.000000000"
    if seconds == 0 and nanos < 1000:
        # BigDecimal.toString switches to scientific notation below 10^-6.
        digits = str(nanos)
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{mantissa}E{len(digits) - 10}"
    return f"{seconds}.{nanos:09d}"


def java_instant_string(epoch_nanos: int) -> str:
    """Java's Instant.toString() (years 1 to 9999)."""
    seconds, nanos = divmod(epoch_nanos, 10**9)
    moment = EPOCH + timedelta(seconds=seconds)
    text = moment.strftime("%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}"
    while nanos and fraction.endswith("000"):
        fraction = fraction[:-3]
    return f"{moment.year:04d}-{text}" + (f".{fraction}" if nanos else "") + "Z"


instants = st.integers(MIN_EPOCH_NANOS, MAX_EPOCH_NANOS) | st.integers(-(10**12), 10**12) | (
    st.integers(-(2**33), 2**33).map(lambda s: s * 10**9)
)


@given(instants)
@example(0)
@example(-500_000_000)
@example(-1)
@example(1)
@example(999)
@example(1000)
@example(MIN_EPOCH_NANOS)
@example(MAX_EPOCH_NANOS)
def test_instants_are_written_as_jackson_writes_them(epoch_nanos: int) -> None:
    instant = Instant(epoch_nanos)
    values = Manifest.failed_never_saved(ID, "x", instant)
    s3 = encode_manifest(values, ManifestForm.S3)
    common = encode_manifest(values, ManifestForm.COMMON)
    iso = encode_manifest(values, ManifestForm.S3, iso_dates=True)
    assert f'"createdAt":{jackson_decimal(epoch_nanos)},'.encode() in s3
    assert f'"createdAt":"{java_instant_string(epoch_nanos)}",'.encode() in common
    assert f'"createdAt":"{java_instant_string(epoch_nanos)}",'.encode() in iso
    for form, data in ((ManifestForm.S3, s3), (ManifestForm.COMMON, common),
                       (ManifestForm.S3, iso)):
        assert decode_manifest(data, form).created_at.epoch_nanos == epoch_nanos


def jackson_read(token: str) -> int:
    """Jackson's DecimalUtils.extractSecondsAndNanos, then Instant.ofEpochSecond."""
    with localcontext() as context:
        context.prec = 200
        value = Decimal(token)
        seconds = int(value)  # BigDecimal.longValue(): toward zero
        nanos = int((value - seconds) * 10**9)  # intValue(): toward zero
        if seconds < 0:
            nanos = abs(nanos)
        return seconds * 10**9 + nanos


decimal_tokens = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.integers(0, 10**11).map(str) | st.integers(10**11, 10**14).map(str),
    st.just("") | st.text("0123456789", min_size=1, max_size=14).map(lambda d: "." + d),
    st.just("") | st.integers(-12, 3).map(lambda e: f"E{e}"),
)


@given(decimal_tokens, st.booleans())
@example("-1.500000000", False)
@example("-1.25", False)
@example("-0.5", False)
@example("0.0", False)
@example("1E-9", False)
@example("-86400.000000000", True)
def test_decimal_dates_are_read_as_jackson_reads_them(token: str, quoted: bool) -> None:
    assume(not (quoted and "E" in token))  # Jackson reads quoted dates only in plain digits
    text = fixture("jackson-epoch-zero.s3.json").decode()
    value = json.dumps(token) if quoted else token
    data = text.replace('"createdAt":0.0', f'"createdAt":{value}').encode()
    expected = jackson_read(token)
    if not MIN_EPOCH_NANOS <= expected <= MAX_EPOCH_NANOS:
        with pytest.raises(ManifestParseError, match="createdAt"):
            decode_manifest(data, ManifestForm.S3)
        return
    read = decode_manifest(data, ManifestForm.S3)
    assert read.created_at.epoch_nanos == expected
    assert encode_manifest(read, ManifestForm.S3) == data  # the token read is kept
