"""Durations as Camunda's settings write them: ISO-8601 (``P7D``, ``PT12H``) or ``7d`` / ``12h``.

Java's ``Duration.parse`` form is ``[-]PnDTnHnMn.nS``; Spring Boot also accepts a
number with a unit suffix (``ms``, ``s``, ``m``, ``h``, ``d``). Both are read
case-insensitively; a duration used for a schedule or a retention window must
be positive.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from backup_store.errors import InvalidInputError

_ISO = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d{1,9})?)S)?)?$",
    re.IGNORECASE,
)
_SIMPLE = re.compile(r"^(?P<value>\d+)\s*(?P<unit>ms|s|m|h|d)$", re.IGNORECASE)
_UNIT_SECONDS = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}
_MAX_SECONDS = 100 * 365 * 86400
"""A century: longer durations are certainly typos (and overflow date arithmetic)."""


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """A positive duration from ``P7D``, ``PT12H``, ``P1DT30M``, ``PT0.5S``, ``7d``, ``12h``...

    Raises:
        InvalidInputError: the text is neither form, or the duration is not positive;
            the message names ``what`` and the text.
    """
    cleaned = text.strip()
    seconds: Decimal | None = None
    iso = _ISO.match(cleaned)
    if iso is not None and cleaned.upper() not in ("P", "PT") and not cleaned.upper().endswith("T"):
        seconds = (
            Decimal(iso["d"] or 0) * 86400
            + Decimal(iso["h"] or 0) * 3600
            + Decimal(iso["m"] or 0) * 60
            + Decimal(iso["s"] or 0)
        )
    simple = _SIMPLE.match(cleaned)
    if simple is not None:
        seconds = Decimal(simple["value"]) * _UNIT_SECONDS[simple["unit"].lower()]
    if seconds is None:
        raise InvalidInputError(
            f"{what} {text!r} is not a duration: use ISO-8601 (P7D, PT12H, PT30M) "
            "or a number with a unit (7d, 12h, 30m, 45s, 500ms)"
        )
    if seconds <= 0:
        raise InvalidInputError(f"{what} {text!r} must be longer than zero")
    if seconds > _MAX_SECONDS:
        raise InvalidInputError(f"{what} {text!r} is longer than a century")
    micros = int(seconds * 1_000_000)
    if micros == 0:
        raise InvalidInputError(f"{what} {text!r} is shorter than a microsecond")
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
