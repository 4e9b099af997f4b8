"""The night's headline counts (`runs/D/snapshot.json`, the manifest, the console): the
city's rows of the night's statistics, and a few columns of its published partitions.

In pandas after publishing, not in Spark: the tables are one row per household at most,
and a Spark job per count cost more than all the counting (seconds on a small night)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd

from pipelines.lake import Lake
from pipelines.report.partitions import read_partition
from pipelines.report.statistics import ALL
from pipelines.tables import ALERT_RESOLUTIONS, ALERTS, HOUSEHOLD_PROFILE, ROLL_EXCEPTIONS


def _by_value(values: pd.Series, counts: pd.Series) -> dict[str, int]:
    """{value: count}, in the order of the values as text."""
    return {str(v): int(n) for v, n in sorted(zip(values, counts), key=lambda pair: str(pair[0]))}


def alert_counts(statistics: pd.DataFrame) -> dict[str, Any]:
    """Households and persons alerted, by rule, category, status, urgency, exit reason and
    programme, and newly found: the city's rows of `statistics`."""
    city = statistics[statistics["level"] == "city"]

    def measure(name: str, what: str = "households") -> dict[str, int]:
        rows = city[city["measure"] == name]
        return _by_value(rows["value"], rows[what])

    alerts, found = measure("alerts"), measure("newly_found")
    found_persons = measure("newly_found", "persons")
    return {
        "alerts": alerts.get(ALL, 0),
        "alerts_by_rule": measure("rule"),
        "alerts_by_category": measure("category"),
        "alerts_by_status": measure("status"),
        "alerts_by_urgency": measure("urgency"),
        "alerts_by_exit_reason": {k: v for k, v in measure("exit_review").items() if k != ALL},
        "alerts_by_programme": measure("programme"),
        "persons": measure("alerts", "persons").get(ALL, 0),
        "persons_by_rule": measure("rule", "persons"),
        "persons_by_category": measure("category", "persons"),
        "newly_found": {"households": found.get("newly_found", 0), "persons": found_persons.get("newly_found", 0)},
    }


def resolution_counts(lake: Lake, day: date) -> dict[str, Any]:
    """The date's resolved alerts, and by reason."""
    resolutions = read_partition(lake, ALERT_RESOLUTIONS, day, ["resolution_reason"])
    reasons = resolutions["resolution_reason"].value_counts()
    return {"resolved": len(resolutions), "resolved_by_reason": _by_value(reasons.index, reasons)}


def night_counts(lake: Lake, day: date, statistics: pd.DataFrame) -> dict[str, Any]:
    """Every count the night records of its published snapshot."""
    profile = read_partition(lake, HOUSEHOLD_PROFILE, day, ["programme", "size"])
    suppressed = read_partition(lake, ALERTS, day, ["suppressed_until"])["suppressed_until"].notna().sum()
    exceptions = read_partition(lake, ROLL_EXCEPTIONS, day, ["household_id", "person_id", "monthly_benefit"])
    on_roll = profile[profile["programme"].notna()]
    programmes = on_roll["programme"].value_counts()
    cents = float(exceptions["monthly_benefit"].sum()) * 100
    return {
        "households": len(profile),
        **alert_counts(statistics),
        "suppressed": int(suppressed),
        "roll": {
            "households": len(on_roll),
            **{f"households_{k}": v for k, v in _by_value(programmes.index, programmes).items()},
            "persons": int(on_roll["size"].sum()),
        },
        "roll_exceptions": {
            "households": int(exceptions["household_id"].nunique()),
            "persons": int(exceptions["person_id"].nunique()),
            "rows": len(exceptions),
            "monthly_benefit": math.floor(cents + 0.5) / 100,  # to the fen, half up
        },
        **resolution_counts(lake, day),
    }
