"""The calendar windows of a snapshot date."""

from __future__ import annotations

from datetime import date


def months_before(as_of: date, count: int) -> list[str]:
    """The `count` whole calendar months before as_of's month, as YYYY-MM, oldest first."""
    index = as_of.year * 12 + as_of.month - 1
    return [f"{(index - k) // 12:04d}-{(index - k) % 12 + 1:02d}" for k in range(count, 0, -1)]
