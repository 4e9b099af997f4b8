"""The calendar windows of a snapshot date, computed once as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pipelines.policy.config import IndexPolicy


def months_before(as_of: date, count: int) -> list[str]:
    """The `count` whole calendar months before as_of's month, as YYYY-MM, oldest first."""
    index = as_of.year * 12 + as_of.month - 1
    return [f"{(index - k) // 12:04d}-{(index - k) % 12 + 1:02d}" for k in range(count, 0, -1)]


@dataclass(frozen=True)
class Windows:
    as_of: date
    income_periods: list[str]  # the 12 whole months before D's month
    unemployment_periods: list[str]  # the 3 months before D's month
    medical_after: date  # (D - 365 days, D]
    death_after: date
    inpatient_shock_after: date  # (D - 90 days, D]

    @classmethod
    def of(cls, as_of: date, index: IndexPolicy) -> Windows:
        return cls(
            as_of=as_of,
            income_periods=months_before(as_of, index.income_window_months),
            unemployment_periods=months_before(as_of, index.unemployment_window_months),
            medical_after=as_of - timedelta(days=index.medical_window_days),
            death_after=as_of - timedelta(days=index.shock_death_window_days),
            inpatient_shock_after=as_of - timedelta(days=index.shock_inpatient_window_days),
        )
