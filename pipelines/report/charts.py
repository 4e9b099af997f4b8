"""The run report's charts, as Plotly figures made from small frames (pure: no reading).

Distributions arrive already binned (numpy histograms over the profile), so a report of
2,000,000 households weighs what one of 1,000 does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

STATUS_COLOURS = {"NEW": "#d62728", "ESCALATED": "#ff7f0e", "ONGOING": "#1f77b4"}
RESIDENCE = {"1": "urban", "2": "rural"}
INCOME_RATIO_TOP = 5.0  # income ratios above are shown in the last bin
INCOME_RATIO_BIN = 0.1


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def alerts_over_time(trend: pd.DataFrame) -> go.Figure:
    """Alerts by status per night (stacked), and the night's resolutions, for the city.
    `trend`: the city's trend rows with snapshot_date."""
    city = trend[trend["level"] == "city"].sort_values("snapshot_date")
    nights = [str(d) for d in city["snapshot_date"]]
    fig = go.Figure()
    for status, colour in STATUS_COLOURS.items():
        fig.add_bar(x=nights, y=city[f"alerts_{status.lower()}"], name=status, marker_color=colour)
    fig.add_scatter(x=nights, y=city["resolved"], name="RESOLVED", mode="lines+markers", line_color="#2ca02c")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category")
    return _layout(fig, "Alerts over time by status (city)", "night", "households")


def alerts_by_county_and_category(statistics: pd.DataFrame) -> go.Figure:
    """Alerted households per county, by candidate category (grouped)."""
    rows = statistics[(statistics["level"] == "county") & (statistics["measure"] == "category")]
    rows = rows.assign(county=rows["region_name"].fillna(rows["county_code"]))
    fig = go.Figure()
    for category, part in rows.groupby("value", sort=True):
        fig.add_bar(x=part["county"], y=part["households"], name=str(category))
    fig.update_layout(barmode="group")
    return _layout(fig, "Alerts per county by candidate category", "county", "households")


def index_distribution(counts: np.ndarray, edges: np.ndarray, cut: float | None) -> go.Figure:
    """Households by hardship index (binned), with the lowest index TOP_INDEX reached."""
    fig = go.Figure()
    fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), name="households")
    if cut is not None:
        fig.add_vline(x=cut, line_dash="dash", line_color="#d62728", annotation_text=f"top-share cut {cut:.2f}")
    return _layout(fig, "Hardship index distribution", "hardship index (0-100)", "households")


def income_ratio_by_residence(binned: dict[str, np.ndarray], edges: np.ndarray, low_income: float) -> go.Figure:
    """Households by income ratio (per-capita income / dibao standard), urban and rural
    overlaid; lines at the dibao standard (1) and the LOW_INCOME multiple."""
    fig = go.Figure()
    centres = (edges[:-1] + edges[1:]) / 2
    for residence, counts in binned.items():
        fig.add_bar(x=centres, y=counts, width=np.diff(edges), name=RESIDENCE.get(residence, residence), opacity=0.6)
    fig.update_layout(barmode="overlay")
    fig.add_vline(x=1.0, line_dash="dash", annotation_text="dibao standard")
    fig.add_vline(x=low_income, line_dash="dot", annotation_text=f"{low_income:g} x standard")
    return _layout(
        fig, f"Income ratio by urban/rural (above {INCOME_RATIO_TOP:g} in the last bar)", "income ratio", "households"
    )


def quarantine_by_source(quarantined: pd.DataFrame) -> go.Figure:
    """Rows quarantined this night by source (bars) and reason (stacked).
    `quarantined`: source, reason, rows."""
    fig = go.Figure()
    for reason, part in quarantined.groupby("reason", sort=True):
        fig.add_bar(y=part["source"], x=part["rows"], name=str(reason), orientation="h")
    fig.update_layout(barmode="stack", legend={"font": {"size": 9}})
    fig = _layout(fig, "Rows quarantined this night, by source and reason", "rows", "source")
    fig.update_layout(height=max(380, 60 + 40 * quarantined["source"].nunique()))
    return fig


def freshness(sources: pd.DataFrame) -> go.Figure:
    """Days since each source's last delivery, against its staleness limit.
    `sources`: source, staleness_days, limit_days."""
    stale = sources["staleness_days"] > sources["limit_days"]
    fig = go.Figure()
    fig.add_bar(
        x=sources["source"],
        y=sources["staleness_days"],
        name="days since the last delivery",
        marker_color=np.where(stale, "#d62728", "#1f77b4"),
    )
    fig.add_scatter(
        x=sources["source"], y=sources["limit_days"], name="staleness limit", mode="markers", marker_symbol="line-ew"
    )
    fig.update_traces(selector={"mode": "markers"}, marker={"size": 30, "line": {"width": 3, "color": "#333"}})
    return _layout(fig, "Data freshness per source", "source", "days")
