"""Durations and sizes as operators and Camunda's settings write them.

One parser and one formatter each.

Durations: ISO-8601 as Java's ``Duration.parse`` reads it (``P7D``, ``PT12H``,
``P1DT30M``, ``PT0.5S``) or a number with a Spring Boot unit suffix (``ns``, ``us``, ``ms``, ``s``,
``m``, ``h``, ``d``), case-insensitively; a duration is always positive. Sizes: a
number of bytes with an optional unit, binary (``KiB``, ``MiB``, ``GiB``, also ``K``,
``M``, ``G``) or decimal (``kB``, ``MB``, ``GB``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from backup_store.errors import InvalidInputError

_ISO = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:[.,]\d{1,9})?)S)?)?$",
    re.IGNORECASE,
)
_SIMPLE = re.compile(r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ns|us|ms|s|m|h|d)?$", re.IGNORECASE)
_UNIT_SECONDS = {
    "ns": Decimal("0.000000001"),
    "us": Decimal("0.000001"),
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}
_MAX_SECONDS = 100 * 365 * 86400
"""A century: longer durations are certainly typos (and overflow date arithmetic)."""

_SIZE = re.compile(r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*)$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
}  # fmt: skip
SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")
"""The binary units :func:`human_size` prints, smallest first."""


def parse_duration(text: str, *, what: str = "duration", bare_unit: str | None = None) -> timedelta:
    """A positive duration from ``P7D``, ``PT12H``, ``P1DT30M``, ``PT0.5S``, ``7d``, ``12h``...

    A number without a unit is refused unless ``bare_unit`` names the unit it
    counts (Spring reads ``500`` as milliseconds; ``analyze --timeout 90`` as seconds).

    Raises:
        InvalidInputError: the text is neither form, or the duration is not positive
            or longer than a century; the message names ``what`` (when given) and the text.
    """
    cleaned = text.strip()
    named = f"{what} {text!r}" if what else repr(text)
    seconds: Decimal | None = None
    iso = _ISO.match(cleaned)
    if iso is not None and cleaned.upper() not in ("P", "PT") and not cleaned.upper().endswith("T"):
        seconds = (
            Decimal(iso["d"] or 0) * 86400
            + Decimal(iso["h"] or 0) * 3600
            + Decimal(iso["m"] or 0) * 60
            + Decimal((iso["s"] or "0").replace(",", "."))
        )
    simple = _SIMPLE.match(cleaned)
    if simple is not None and (simple["unit"] or bare_unit):
        unit = (simple["unit"] or bare_unit or "").lower()
        seconds = Decimal(simple["value"]) * _UNIT_SECONDS[unit]
    if seconds is None:
        raise InvalidInputError(
            f"{named} is not a duration: use ISO-8601 (P7D, PT12H, PT30M) "
            "or a number with a unit (7d, 12h, 30m, 45s, 500ms)"
        )
    if seconds <= 0:
        raise InvalidInputError(f"{named} must be longer than zero")
    if seconds > _MAX_SECONDS:
        raise InvalidInputError(f"{named} is longer than a century")
    micros = int(seconds * 1_000_000)
    if micros == 0:
        raise InvalidInputError(f"{named} is shorter than a microsecond")
    return timedelta(microseconds=micros)


def format_duration(value: timedelta) -> str:
    """The ISO-8601 form with days (``P7D``, ``PT12H``, ``P1DT2H30M``, ``PT0.5S``)."""
    micros = value // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    days, micros = divmod(micros, 86_400_000_000)
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    text = f"{sign}P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or micros:
        fraction = f".{micros:06d}".rstrip("0") if micros else ""
        time += f"{seconds}{fraction}S"
    if time:
        text += "T" + time
    return text if text not in ("P", "-P") else "PT0S"


def format_age(value: timedelta) -> str:
    """A short human age: ``3d 4h``, ``2h 5m``, ``42s``."""
    seconds = max(0, int(value.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


def parse_size(text: str, *, what: str = "size") -> int:
    """A positive number of bytes from ``1048576``, ``512KiB``, ``8MiB``, ``1GiB``, ``10MB``...

    Raises:
        InvalidInputError: the text is not a size or is below one byte; the
            message names ``what`` and the text.
    """
    match = _SIZE.match(text.strip())
    if match is None or match["unit"].lower() not in _SIZE_UNITS:
        raise InvalidInputError(
            f"{what} {text!r} is not a size such as 1048576, 512KiB, 8MiB or 1GiB"
        )
    size = int(Decimal(match["value"]) * _SIZE_UNITS[match["unit"].lower()])
    if size < 1:
        raise InvalidInputError(f"{what} {text!r} must be at least 1 byte")
    return size


def human_size(size: float) -> str:
    """Bytes in binary units: ``1 byte``, ``512 bytes``, ``1 KiB``, ``1.5 GiB``."""
    if size < 1024:
        count = int(size)
        return f"{count} byte" + ("" if count == 1 else "s")
    value = size / 1024
    power = 0
    while value >= 1024 and power < len(SIZE_UNITS) - 1:
        value /= 1024
        power += 1
    return f"{value:.1f} {SIZE_UNITS[power]}".replace(".0 ", " ")
