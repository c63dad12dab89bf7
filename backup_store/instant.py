"""Nanosecond-precise UTC instants, as Zeebe's manifests hold them.

Python's ``datetime`` keeps microseconds; Zeebe (Java ``Instant``) keeps
nanoseconds. An :class:`Instant` holds an integer count of nanoseconds since the
epoch, plus the exact JSON token it was read from, so that an untouched manifest
is written back byte for byte.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum

_NANOS = 1_000_000_000

_ISO = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?(?P<zone>Z|[+-]\d{2}:\d{2})$"
)


class InstantForm(Enum):
    """How an instant was written in the JSON it came from."""

    ISO = "iso"  # "2023-03-14T10:45:08.5Z"
    DECIMAL = "decimal"  # 1668519689.290560717 (a JSON number)
    DECIMAL_STRING = "decimal-string"  # "1668519689.290560717"


@dataclass(frozen=True, eq=False)
class Instant:
    """A UTC instant with nanosecond precision.

    Equality and order use ``epoch_nanos`` only, and also work against aware
    ``datetime`` values; ``source`` (the raw JSON token read, quotes included)
    and ``form`` only matter to the manifest writer.
    """

    epoch_nanos: int
    source: str | None = field(default=None, repr=False)
    form: InstantForm | None = field(default=None, repr=False)

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
        """Parse ISO-8601 (``Z`` or ``±hh:mm`` offset, up to 9 fraction digits)."""
        match = _ISO.match(text)
        if match is None:
            raise ValueError(f"not an ISO-8601 instant: {text!r}")
        base = datetime.fromisoformat(
            f"{match['date']}T{match['h']}:{match['m']}:{match['s']}"
            + ("+00:00" if match["zone"] == "Z" else match["zone"])
        )
        seconds = int(base.timestamp())
        frac = (match["frac"] or "").ljust(9, "0")
        return cls(seconds * _NANOS + int(frac or "0"))

    @classmethod
    def parse_decimal_seconds(cls, text: str) -> Instant:
        """Parse decimal epoch seconds such as ``1668519689.290560717``."""
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a decimal epoch-seconds instant: {text!r}") from None
        if not value.is_finite():
            raise ValueError(f"not a decimal epoch-seconds instant: {text!r}")
        return cls(int((value * _NANOS).to_integral_value()))

    def to_datetime(self) -> datetime:
        """The instant as an aware UTC datetime (truncated to microseconds)."""
        seconds, nanos = divmod(self.epoch_nanos, _NANOS)
        return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=nanos // 1000)

    def iso(self) -> str:
        """Java's ``Instant.toString()``: fraction only when non-zero, in groups of 3."""
        seconds, nanos = divmod(self.epoch_nanos, _NANOS)
        text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if nanos:
            digits = f"{nanos:09d}"
            if nanos % 1_000_000 == 0:
                digits = digits[:3]
            elif nanos % 1000 == 0:
                digits = digits[:6]
            text += "." + digits
        return text + "Z"

    def decimal_seconds(self) -> str:
        """Jackson's form for ``Instant`` as a number: seconds with 9 fraction digits."""
        seconds, nanos = divmod(self.epoch_nanos, _NANOS)
        return f"{seconds}.{nanos:09d}"

    def __str__(self) -> str:
        return self.iso()
