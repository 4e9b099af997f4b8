"""The trend (`gold/trend`): the night's headline figures in one row per region, for the city
and each county, with fixed columns. Each night publishes its own partition, so the table
read whole (every published `snapshot_date`) is the trend across all published nights:
alerts by status, resolutions, newly found, coverage, the top-5% cut of the index.

Derived from the night's statistics (pipelines.report.statistics), its resolutions and
its profile's index cut; rewritten with the statistics whenever the alerts' lifecycle of
the date is re-derived. Counts only, no household is named or keyed."""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from pipelines.lake import Lake
from pipelines.report.partitions import contract_columns, publish_frame, read_partition
from pipelines.report.statistics import ALL
from pipelines.tables import ALERT_RESOLUTIONS, ALERTS, TREND

log = logging.getLogger(__name__)

LEVELS = ("city", "county")
REGION = ["level", "county_code"]
STATUSES = ("NEW", "ONGOING", "ESCALATED")
# (column, measure, value, households or persons) taken from the statistics as they are
COUNTS = [
    ("households_scored", "scored", ALL, "households"),
    ("persons_scored", "scored", ALL, "persons"),
    ("alerts", "alerts", ALL, "households"),
    ("alert_persons", "alerts", ALL, "persons"),
    *[(f"alerts_{s.lower()}", "status", s, "households") for s in STATUSES],
    ("newly_found", "newly_found", "newly_found", "households"),
    ("on_programme", "newly_found", "on_programme", "households"),
    ("exit_review", "exit_review", ALL, "households"),
    ("roll_exceptions", "roll_exceptions", ALL, "households"),
    ("coverage_candidates", "coverage", "DIBAO_TEKUN", "households"),
]
SHARES = [("coverage_share", "coverage", "DIBAO_TEKUN"), ("alert_rate_relative", "alert_rate", ALL)]


def _pick(statistics: pd.DataFrame, measure: str, value: str, column: str, name: str) -> pd.DataFrame:
    rows = statistics[(statistics["measure"] == measure) & (statistics["value"] == value)]
    return rows[[*REGION, column]].rename(columns={column: name})


def compute_trend(statistics: pd.DataFrame, resolutions: pd.DataFrame, cut: float | None) -> pd.DataFrame:
    """One row for the city and one for each county of the night's `statistics`, with
    `resolutions` (county_code) counted, and `cut` (the lowest index the TOP_INDEX
    rule reached in the city scope, or None) on the city's row."""
    regions = statistics[statistics["level"].isin(LEVELS)]
    trend = regions[[*REGION, "region_name"]].drop_duplicates(REGION)
    for column, measure, value, what in COUNTS:
        trend = trend.merge(_pick(regions, measure, value, what, column), on=REGION, how="left")
    for column, measure, value in SHARES:
        trend = trend.merge(_pick(regions, measure, value, "share", column), on=REGION, how="left")
    resolved = pd.concat(
        [
            pd.DataFrame({"level": ["city"], "county_code": [None], "resolved": [len(resolutions)]}),
            resolutions.groupby("county_code").size().rename("resolved").reset_index().assign(level="county"),
        ],
        ignore_index=True,
    )
    trend = trend.merge(resolved, on=REGION, how="left")
    counts = [c for c, *_ in COUNTS] + ["resolved"]
    trend[counts] = trend[counts].fillna(0).astype("int64")
    trend["top_index_cut"] = [cut if level == "city" else None for level in trend["level"]]
    trend = trend.sort_values(REGION, na_position="first", kind="stable").reset_index(drop=True)
    return trend[contract_columns(TREND)]


def index_cut(alerts: pd.DataFrame) -> float | None:
    """The lowest hardship index among the households the TOP_INDEX rule alerted."""
    top = alerts[alerts["rules"].map(lambda r: r is not None and "TOP_INDEX" in r)]
    return float(top["hardship_index"].min()) if len(top) else None


def publish_trend(lake: Lake, day: date, statistics: pd.DataFrame) -> int:
    """Compute the date's trend rows from its `statistics` (as just published) and its
    partitions, and swap them into place. Returns the number of rows."""
    resolutions = read_partition(lake, ALERT_RESOLUTIONS, day, ["county_code"])
    alerts = read_partition(lake, ALERTS, day, ["rules", "hardship_index"])
    table = compute_trend(statistics, resolutions, index_cut(alerts))
    publish_frame(lake, TREND, day, table)
    log.info("trend of %s: %d rows", day, len(table))
    return len(table)
