"""Sizes as operators read them."""

from __future__ import annotations

UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """Bytes in binary units: ``1 byte``, ``512 bytes``, ``1 KiB``, ``1.5 GiB``."""
    if size < 1024:
        return f"{size} byte" + ("" if size == 1 else "s")
    value = size / 1024
    power = 0
    while value >= 1024 and power < len(UNITS) - 1:
        value /= 1024
        power += 1
    return f"{value:.1f} {UNITS[power]}".replace(".0 ", " ")
