"""The run report, `runs/D/report.html`: one self-contained page for the bureau's morning.

The night at a glance (households scored, alerts by status, pushes, failures), the charts
(pipelines.report.charts; plotly.js embedded once, so the file opens with no network),
the targeting-quality tables from the statistics, the quality gate per source and a link
to the night's Data Docs. Written after every night's manifest and rebuilt by
`lipmon report --date D` from the published tables and the run's records. Counts and
codes only: nothing in it names a person or a household."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from pipelines.lake import SUCCESS_MARKER, Lake, read_json
from pipelines.policy import Policy
from pipelines.published import NotPublished, published_dates, read_published_table
from pipelines.report import charts
from pipelines.storage import Location, write_atomically
from pipelines.tables import HOUSEHOLD_PROFILE, STATISTICS, TREND

log = logging.getLogger(__name__)

REPORT = "report.html"
DATA_DOCS = "quality/data_docs/index.html"
INDEX_BINS = np.linspace(0.0, 100.0, 101)
STATISTICS_COLUMNS = [
    "level",
    "county_code",
    "township_code",
    "region_name",
    "measure",
    "value",
    "households",
    "persons",
]
STATISTICS_COLUMNS += ["share"]
TREND_COLUMNS = [
    "level",
    "county_code",
    "alerts_new",
    "alerts_ongoing",
    "alerts_escalated",
    "resolved",
    "top_index_cut",
]
RATIO_BINS = np.arange(0.0, charts.INCOME_RATIO_TOP + charts.INCOME_RATIO_BIN / 2, charts.INCOME_RATIO_BIN)


@dataclass
class NightRecords:
    """What the report is made of: the run's records and small frames of the published tables."""

    day: date
    manifest: dict[str, Any]
    ingest: dict[str, Any]
    published: bool
    statistics: pd.DataFrame = field(default_factory=pd.DataFrame)
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)
    index_counts: np.ndarray | None = None
    ratio_counts: dict[str, np.ndarray] = field(default_factory=dict)


# ---- reading ---------------------------------------------------------------------------


def _published_columns(lake: Lake, table: str, day: date, columns: list[str]) -> pd.DataFrame:
    """Only `columns` of the published partition (the profile has sixty; the report needs three)."""
    return read_published_table(lake.root, table, day, columns).to_pandas()


def _binned_profile(lake: Lake, day: date) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Households by hardship index, and by income ratio for each residence type."""
    profile = _published_columns(lake, HOUSEHOLD_PROFILE.id, day, ["hardship_index", "income_ratio", "residence_type"])
    index_counts, _ = np.histogram(profile["hardship_index"].dropna(), bins=INDEX_BINS)
    ratios = profile["income_ratio"].clip(upper=RATIO_BINS[-1] - charts.INCOME_RATIO_BIN / 2)
    ratio_counts = {
        str(residence): np.histogram(part.dropna(), bins=RATIO_BINS)[0]
        for residence, part in ratios.groupby(profile["residence_type"].fillna("unknown"), sort=True)
    }
    return index_counts, ratio_counts


def _trend(lake: Lake, day: date) -> pd.DataFrame:
    """Every published night's trend rows up to `day`."""
    frames = []
    for night in published_dates(lake.root, TREND.id):
        if night <= day:
            frame = _published_columns(lake, TREND.id, night, TREND_COLUMNS)
            frames.append(frame.assign(snapshot_date=night))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def gather(lake: Lake, day: date) -> NightRecords:
    """The night's records; the published tables where the night succeeded."""
    run_dir = lake.run_dir(day)
    manifest = read_json(run_dir / "manifest.json")
    if manifest is None:
        raise FileNotFoundError(f"no run of {day} in {lake.root}: runs/{day}/manifest.json is missing")
    records = NightRecords(
        day=day,
        manifest=manifest,
        ingest=read_json(run_dir / "ingest.json") or {},
        published=(run_dir / SUCCESS_MARKER).exists(),
    )
    if records.published:
        try:
            records.statistics = _published_columns(lake, STATISTICS.id, day, STATISTICS_COLUMNS)
            records.trend = _trend(lake, day)
            records.index_counts, records.ratio_counts = _binned_profile(lake, day)
        except NotPublished as exc:  # replaced while we read: report what the records say
            log.warning("report of %s: %s", day, exc)
            records.published = False
    return records


# ---- the page --------------------------------------------------------------------------


def _table(frame: pd.DataFrame, caption: str, table_id: str) -> str:
    if frame.empty:
        return f'<p class="empty" id="{table_id}">{html.escape(caption)}: nothing to show.</p>'
    body = frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:,.3f}", border=0, classes="figures")
    return f'<h3 id="{table_id}">{html.escape(caption)}</h3>\n{body}'


def _figure(fig: go.Figure, chart_id: str) -> str:
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id, config={"displaylogo": False})
    return f'<div class="chart" data-chart="{chart_id}">{div}</div>'


def _glance(records: NightRecords) -> str:
    manifest = records.manifest
    snapshot = manifest.get("snapshot") or {}
    push = manifest.get("push") or {}
    deliveries = records.ingest.get("deliveries") or []
    failed = [d for d in deliveries if d.get("status") == "failed"]
    items = [
        ("outcome", manifest.get("outcome", "unknown")),
        ("households scored", f"{snapshot.get('households', 0):,}"),
        ("alerts (households)", f"{snapshot.get('alerts', 0):,}"),
        ("alerts (persons)", f"{snapshot.get('persons', 0):,}"),
        *[(f"alerts {s}", f"{n:,}") for s, n in sorted((snapshot.get("alerts_by_status") or {}).items())],
        ("resolved", f"{snapshot.get('resolved', 0):,}"),
        ("pushed today", f"{push.get('queued_today', 0):,}" if "queued_today" in push else push.get("skipped", "-")),
        ("push suppressed (recent visit)", f"{push.get('suppressed_today', 0):,}"),
        ("deliveries landed", f"{sum(d.get('status') == 'landed' for d in deliveries):,}"),
        ("deliveries failed", f"{len(failed):,}"),
        ("rows quarantined", f"{sum(d.get('rows_quarantined', 0) for d in _landed(records)):,}"),
    ]
    cells = "".join(
        f'<div class="tile"><div class="value">{html.escape(str(v))}</div>'
        f'<div class="label">{html.escape(k)}</div></div>'
        for k, v in items
    )
    problems = []
    if manifest.get("outcome") == "failed":
        problems.append(f"The run failed at step {manifest.get('failed_step')}: {manifest.get('error')}")
    problems += [f"{d['source']} delivery of {d['extract_date']} failed: {d.get('error')}" for d in failed]
    listed = "".join(f"<li>{html.escape(str(p))}</li>" for p in problems)
    return f'<div class="tiles" id="glance">{cells}</div>' + (f'<ul class="failures">{listed}</ul>' if listed else "")


def _landed(records: NightRecords) -> list[dict]:
    """The deliveries this night landed (the ingest record also lists those landed before)."""
    return [d for d in records.ingest.get("deliveries") or [] if d.get("status") == "landed"]


def _quarantined(records: NightRecords) -> pd.DataFrame:
    rows = [
        {"source": d["source"], "reason": reason, "rows": n}
        for d in _landed(records)
        for reason, n in (d.get("quarantined_by_reason") or {}).items()
    ]
    if not rows:
        return pd.DataFrame(columns=["source", "reason", "rows"])
    return pd.DataFrame(rows).groupby(["source", "reason"], as_index=False)["rows"].sum()


def _freshness(records: NightRecords) -> pd.DataFrame:
    sources = records.manifest.get("freshness") or {}
    return pd.DataFrame(
        [
            {"source": s, "staleness_days": f.get("staleness_days"), "limit_days": f.get("limit_days")}
            for s, f in sources.items()
        ]
    )


def _charts(records: NightRecords, policy: Policy) -> list[str]:
    out = []
    if not records.trend.empty:
        out.append(_figure(charts.alerts_over_time(records.trend), "alerts-over-time"))
    if not records.statistics.empty:
        out.append(_figure(charts.alerts_by_county_and_category(records.statistics), "alerts-by-county"))
    if records.index_counts is not None:
        city = records.trend[(records.trend["level"] == "city") & (records.trend["snapshot_date"] == records.day)]
        cut = city["top_index_cut"].dropna()
        figure = charts.index_distribution(records.index_counts, INDEX_BINS, float(cut.iloc[0]) if len(cut) else None)
        out.append(_figure(figure, "index-distribution"))
        figure = charts.income_ratio_by_residence(records.ratio_counts, RATIO_BINS, policy.alerts.low_income_multiple)
        out.append(_figure(figure, "income-ratio"))
    quarantined = _quarantined(records)
    if not quarantined.empty:
        out.append(_figure(charts.quarantine_by_source(quarantined), "quarantine"))
    fresh = _freshness(records)
    if not fresh.empty:
        out.append(_figure(charts.freshness(fresh), "freshness"))
    return out


def _by_region(statistics: pd.DataFrame, measure: str, cell: str = "households") -> pd.DataFrame:
    """One row per region (the city, then each county), one column per value of `measure`."""
    rows = statistics[(statistics["measure"] == measure) & statistics["level"].isin(["city", "county"])]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(region=rows["region_name"].fillna(rows["county_code"]).fillna(""))
    table = rows.pivot_table(index="region", columns="value", values=cell, aggfunc="first", sort=False)
    table.columns.name = None
    return table.reset_index()


def _shares(statistics: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Like _by_region, each cell "share (of households)"."""
    rows = statistics[(statistics["measure"] == measure) & statistics["level"].isin(["city", "county"])]
    cells = [
        "" if pd.isna(s) else f"{s:.1%} of {h:,}" if measure != "alert_rate" else f"{s:.2f} ({h:,} alerts)"
        for s, h in zip(rows["share"], rows["households"], strict=True)
    ]
    return _by_region(rows.assign(cell=cells), measure, "cell")


def _targeting(statistics: pd.DataFrame) -> str:
    """The targeting-quality tables (domain.md, "Targeting quality"), for the city and each
    county (gold/statistics has the townships too)."""
    if statistics.empty:
        return "<p>The statistics of this night are not published.</p>"
    sections = [
        ("Households alerted, newly found vs on a programme", "newly-found", _by_region(statistics, "newly_found")),
        ("Coverage: DIBAO/TEKUN candidates already on dibao or tekun", "coverage", _shares(statistics, "coverage")),
        (
            "Precision by rule: confirmed among visits within the window after first seen",
            "precision",
            _shares(statistics, "precision"),
        ),
        ("Exit-review load (households), by reason", "exit-review", _by_region(statistics, "exit_review")),
        ("Alert rate relative to the city", "alert-rate", _shares(statistics, "alert_rate")),
        (
            "Roll households with no registered member left",
            "roll-exceptions",
            _by_region(statistics, "roll_exceptions"),
        ),
        ("Households alerted by rule", "by-rule", _by_region(statistics, "rule")),
        ("Households alerted by candidate category", "by-category", _by_region(statistics, "category")),
        ("Households alerted by urgency", "by-urgency", _by_region(statistics, "urgency")),
        ("Households alerted by group", "by-group", _by_region(statistics, "group")),
        ("Households alerted by status", "by-status", _by_region(statistics, "status")),
    ]
    return "\n".join(_table(frame, caption, table_id) for caption, table_id, frame in sections)


def _quality(records: NightRecords) -> str:
    rows = []
    for source, suite in sorted((records.ingest.get("quality") or {}).items()):
        outcomes = suite.get("outcomes") or []
        failed = [o["name"] for o in outcomes if not o.get("success")]
        rows.append(
            {
                "source": source,
                "outcome": "passed" if suite.get("success") else "failed",
                "expectations": len(outcomes),
                "failed": "; ".join(failed),
            }
        )
    table = _table(pd.DataFrame(rows), "Quality gate per source (Great Expectations)", "quality-gate")
    link = (
        f'<p><a id="data-docs-link" href="{DATA_DOCS}">The Data Docs of this night</a> '
        "(every validation result and suite; opens offline).</p>"
    )
    return table + link


def render(records: NightRecords, policy: Policy) -> str:
    """The report's HTML, self-contained."""
    title = f"lipmon: the night of {records.day}"
    charts_html = "\n".join(_charts(records, policy))
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body>
<h1>{html.escape(policy.city)}: {html.escape(title)}</h1>
<p class="note">Alerts are leads for verification visits, never eligibility decisions. Counts
only: no person or household is named here.</p>
<h2>The night at a glance</h2>
{_glance(records)}
<h2>Charts</h2>
<div class="charts">{charts_html}</div>
<h2>Targeting quality</h2>
{_targeting(records.statistics)}
<h2>Data quality</h2>
{_quality(records)}
</body></html>
"""


def write_report(lake: Lake, policy: Policy, day: date) -> Location:
    """Gather, render and write `runs/D/report.html`; returns where."""
    records = gather(lake, day)
    target = lake.run_dir(day) / REPORT
    write_atomically(target, render(records, policy).encode("utf-8"), durable=False)
    log.info("report of %s: %s", day, target)
    return target


_STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:1.5em 2em;color:#222}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.note{color:#555}
.tiles{display:flex;flex-wrap:wrap;gap:.6em}
.tile{border:1px solid #ddd;border-radius:6px;padding:.5em .9em;min-width:9em}
.tile .value{font-size:1.4em;font-weight:bold}.tile .label{color:#666;font-size:.85em}
.failures{color:#b00020;font-weight:bold}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1em}
table.figures{border-collapse:collapse;font-size:.9em}
table.figures td,table.figures th{border-bottom:1px solid #eee;padding:.2em .8em;text-align:right}
table.figures td:first-child,table.figures th:first-child{text-align:left}
"""
