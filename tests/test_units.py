"""Durations and sizes as operators and Camunda's settings write them: one parser and
one formatter each (retention windows, schedules, timeouts, analyze's sizes)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backup_store.errors import InvalidInputError
from backup_store.units import format_duration, human_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P7D", timedelta(days=7)),
        ("PT12H", timedelta(hours=12)),
        ("p1dt30m", timedelta(days=1, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("500ms", timedelta(milliseconds=500)),
    ],
)
def test_durations_in_both_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1DT", "7", "7 days", "-P1D", "PT0S", "0d", "P1W", "1y", "P99999D"]
)
def test_bad_durations_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(InvalidInputError, match="--max-age"):
        parse_duration(text, what="--max-age")


def test_durations_print_in_iso_form() -> None:
    assert [format_duration(parse_duration(t)) for t in ("7d", "12h", "P1DT2H30M", "1500ms")] == [
        "P7D",
        "PT12H",
        "P1DT2H30M",
        "PT1.5S",
    ]


def test_a_bare_number_counts_the_unit_its_setting_names() -> None:
    assert parse_duration("500", bare_unit="ms") == timedelta(milliseconds=500)
    assert parse_duration("90", bare_unit="s") == timedelta(seconds=90)
    assert parse_duration("1.5m", bare_unit="s") == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1024**2),
        ("512KiB", 512 * 1024),
        ("8MiB", 8 * 1024**2),
        ("1 GiB", 1024**3),
        ("4k", 4096),
        ("10MB", 10_000_000),
        ("1.5KiB", 1536),
    ],
)
def test_sizes_in_binary_and_decimal_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "8XB", "0", "0.1b", "-1MiB"])
def test_bad_sizes_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(InvalidInputError, match=f"--max-size {text!r}"):
        parse_size(text, what="--max-size")


def test_sizes_print_in_binary_units() -> None:
    assert [human_size(n) for n in (1, 999, 1024, 1536, 3 * 1024**3)] == [
        "1 byte",
        "999 bytes",
        "1 KiB",
        "1.5 KiB",
        "3 GiB",
    ]
