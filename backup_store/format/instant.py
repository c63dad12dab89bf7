"""Nanosecond-precise UTC instants, as Zeebe's manifests hold them.

Python's ``datetime`` keeps microseconds; Zeebe (Java ``Instant``) keeps
nanoseconds. An :class:`Instant` holds an integer count of nanoseconds since the
epoch, plus the exact JSON token it was read from, so that an untouched manifest
is written back byte for byte.

Both text forms follow Jackson (``jackson-datatype-jsr310``), which wrote Zeebe's
manifests:

* ISO-8601 (:meth:`Instant.iso`) is Java's ``Instant.toString()``.
* Decimal epoch seconds (:meth:`Instant.decimal_seconds`) is
  ``DecimalUtils.toBigDecimal(epochSecond, nano).toString()``: the epoch second
  rounded *down* and the nanosecond of that second, so 1969-12-31T23:59:59.500Z is
  ``-1.500000000``; the epoch itself is ``0.0``; instants less than a microsecond
  after the epoch come out in scientific notation (``1E-9``), as ``BigDecimal``
  writes them.
* Reading decimal seconds (:meth:`Instant.parse_decimal_seconds`) is Jackson's
  ``DecimalUtils.extractSecondsAndNanos``: the whole seconds toward zero, the
  fraction as the nanoseconds of a negative second *after* it, so that
  ``-1.500000000`` reads back as 1969-12-31T23:59:59.500Z (and ``-0.5`` as
  half a second before the epoch); digits below a nanosecond are dropped.

Instants are limited to the years 1 to 9999, which both forms (and Python's
``datetime``) can write; anything outside is refused with ``ValueError``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum

_NANOS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MIN_EPOCH_NANOS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(seconds=1) * _NANOS
"""0001-01-01T00:00:00Z, the earliest instant a manifest may hold."""
MAX_EPOCH_NANOS = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH) // timedelta(
    seconds=1
) * _NANOS + (_NANOS - 1)
"""9999-12-31T23:59:59.999999999Z, the latest instant a manifest may hold."""

_ISO = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]{1,9}))?(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})"
)
# A decimal number as JSON (or Java's BigDecimal) writes it; ASCII digits only.
_DECIMAL = re.compile(
    r"(?P<sign>-)?(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]*))?(?:[eE](?P<exponent>[+-]?[0-9]+))?"
)
# Nanosecond counts with more digits are far beyond the year 9999 (about 2.5e20 ns).
_MAX_NANOS_DIGITS = 30


class InstantForm(Enum):
    """How an instant was written in the JSON it came from."""

    ISO = "iso"  # "2023-03-14T10:45:08.5Z"
    DECIMAL = "decimal"  # 1668519689.290560717 (a JSON number)
    DECIMAL_STRING = "decimal-string"  # "1668519689.290560717"


@dataclass(frozen=True, eq=False, slots=True)
class Instant:
    """A UTC instant with nanosecond precision.

    Equality and order use ``epoch_nanos`` only, and also work against aware
    ``datetime`` values; ``source`` (the raw JSON token read, quotes included)
    and ``form`` only matter to the manifest writer.
    """

    epoch_nanos: int
    source: str | None = field(default=None, repr=False)
    form: InstantForm | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.epoch_nanos, bool) or not isinstance(self.epoch_nanos, int):
            raise ValueError(f"an instant is an integer count of nanoseconds: {self.epoch_nanos!r}")
        if not MIN_EPOCH_NANOS <= self.epoch_nanos <= MAX_EPOCH_NANOS:
            raise ValueError(
                f"instant {self.epoch_nanos} ns after the epoch is outside the years 1 to 9999"
            )

    @staticmethod
    def _nanos(other: object) -> int | None:
        if isinstance(other, Instant):
            return other.epoch_nanos
        if isinstance(other, datetime) and other.tzinfo is not None:
            return Instant.from_datetime(other).epoch_nanos
        return None

    def __eq__(self, other: object) -> bool:
        nanos = self._nanos(other)
        return NotImplemented if nanos is None else self.epoch_nanos == nanos

    def __hash__(self) -> int:
        return hash(self.epoch_nanos)

    def __lt__(self, other: object) -> bool:
        nanos = self._nanos(other)
        return NotImplemented if nanos is None else self.epoch_nanos < nanos

    def __le__(self, other: object) -> bool:
        nanos = self._nanos(other)
        return NotImplemented if nanos is None else self.epoch_nanos <= nanos

    def __gt__(self, other: object) -> bool:
        nanos = self._nanos(other)
        return NotImplemented if nanos is None else self.epoch_nanos > nanos

    def __ge__(self, other: object) -> bool:
        nanos = self._nanos(other)
        return NotImplemented if nanos is None else self.epoch_nanos >= nanos

    def canonical(self) -> Instant:
        """The same instant without the JSON token it was read from."""
        return Instant(self.epoch_nanos)

    @classmethod
    def now(cls) -> Instant:
        return cls(time.time_ns())

    @classmethod
    def from_datetime(cls, value: datetime) -> Instant:
        if value.tzinfo is None:
            raise ValueError("a naive datetime has no time zone; give a UTC datetime")
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return cls(micros * 1000)

    @classmethod
    def parse_iso(cls, text: str) -> Instant:
        """Parse ISO-8601 (``Z`` or ``±hh:mm`` offset, up to 9 fraction digits).

        Raises:
            ValueError: not such a text (ASCII digits only), or outside the years 1 to 9999.
        """
        match = _ISO.fullmatch(text)
        if match is None:
            raise ValueError(f"not an ISO-8601 instant: {text[:40]!r}")
        base = datetime.fromisoformat(
            f"{match['date']}T{match['h']}:{match['m']}:{match['s']}"
            + ("+00:00" if match["zone"] == "Z" else match["zone"])
        )
        seconds = (base - _EPOCH) // timedelta(seconds=1)
        return cls(seconds * _NANOS + int((match["frac"] or "").ljust(9, "0")))

    @classmethod
    def parse_decimal_seconds(cls, text: str) -> Instant:
        """Parse decimal epoch seconds (``1668519689.290560717``) as Jackson reads them.

        Raises:
            ValueError: not a decimal number, or outside the years 1 to 9999.
        """
        match = _DECIMAL.fullmatch(text)
        if match is None:
            raise ValueError(f"not a decimal epoch-seconds instant: {text[:40]!r}")
        fraction = match["fraction"] or ""
        digits = (match["whole"] + fraction).lstrip("0")
        exponent = match["exponent"] or "0"
        if not digits:
            return cls(0)
        out_of_range = ValueError(f"decimal epoch-seconds instant out of range: {text[:40]!r}")
        if len(exponent.lstrip("+-").lstrip("0")) > 9:  # |exponent| >= 10^9: never int() it
            if exponent.startswith("-"):
                return cls(0)  # below a nanosecond
            raise out_of_range
        # The magnitude in nanoseconds is digits * 10^shift, truncated toward zero.
        shift = int(exponent) - len(fraction) + 9
        whole_digits = len(digits) + shift
        if whole_digits > _MAX_NANOS_DIGITS:
            raise out_of_range
        if whole_digits <= 0:
            magnitude = 0
        elif shift >= 0:
            magnitude = int(digits) * 10**shift
        else:
            magnitude = int(digits[:whole_digits])
        if not match["sign"]:
            return cls(magnitude)
        # Jackson: Instant.ofEpochSecond(whole seconds toward zero, nanos), where a negative
        # whole second takes its fraction as a positive nano-of-second.
        seconds, nanos = divmod(magnitude, _NANOS)
        return cls(-seconds * _NANOS + nanos if seconds else -nanos)

    def to_datetime(self) -> datetime:
        """The instant as an aware UTC datetime (truncated to microseconds)."""
        seconds, nanos = divmod(self.epoch_nanos, _NANOS)
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)

    def iso(self) -> str:
        """Java's ``Instant.toString()``: fraction only when non-zero, in groups of 3."""
        seconds, nanos = divmod(self.epoch_nanos, _NANOS)
        moment = _EPOCH + timedelta(seconds=seconds)
        # strftime's %Y does not pad years below 1000 on every platform.
        text = (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        )
        if nanos:
            digits = f"{nanos:09d}"
            if nanos % 1_000_000 == 0:
                digits = digits[:3]
            elif nanos % 1000 == 0:
                digits = digits[:6]
            text += "." + digits
        return text + "Z"

    def decimal_seconds(self) -> str:
        """Jackson's form for ``Instant`` as a number (see the module documentation)."""
        seconds, nanos = divmod(self.epoch_nanos, _NANOS)
        if nanos == 0:
            return "0.0" if seconds == 0 else f"{seconds}.000000000"
        # A BigDecimal of scale 9; Decimal's str() is BigDecimal.toString() (same standard).
        return str(Decimal(f"{seconds}.{nanos:09d}"))

    def __str__(self) -> str:
        return self.iso()
