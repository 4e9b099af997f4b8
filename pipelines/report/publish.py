"""The report tables published with every night, in order: the statistics, then the trend
row taken from them."""

from __future__ import annotations

from datetime import date
from typing import Any

from pipelines.lake import Lake
from pipelines.policy import Policy
from pipelines.report.counts import night_counts
from pipelines.report.statistics import publish_statistics
from pipelines.report.trend import publish_trend


def publish_reports(lake: Lake, policy: Policy, day: date) -> dict[str, Any]:
    """Compute and publish the date's statistics and trend from its published partitions;
    return the night's counts (pipelines.report.counts)."""
    statistics = publish_statistics(lake, policy, day)
    publish_trend(lake, day, statistics)
    return night_counts(lake, day, statistics)
