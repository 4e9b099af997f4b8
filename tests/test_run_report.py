"""The run report and the Data Docs, opened in a real headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright) with the network off: every chart drawn, every
figure equal to counts made here from the published Parquet, nothing fetched from outside;
the trend table by hand; `lipmon report` rebuilding the page."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.quality.data_docs import make_offline, offline_page
from pipelines.report.trend import compute_trend
from tests.conftest import SAMPLE_DATE

CHROMIUM = Path("/usr/bin/chromium")
CHARTS = ["alerts-over-time", "alerts-by-county", "index-distribution", "income-ratio", "quarantine", "freshness"]
A, B = "371402", "371403"


def _partition(lake: Path, table: str, day: date = SAMPLE_DATE) -> pd.DataFrame:
    return pq.read_table(lake / "gold" / table / f"snapshot_date={day}").to_pandas()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, as root needs it and with its background connections off."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


def _drawn(page, chart: str, bars_only: bool = False, axis: str = "y") -> list:
    """Each trace of a chart as Plotly drew it (its full data, decoded): [name, values on `axis`]."""
    script = "([id, bars, axis]) => document.getElementById(id)._fullData"
    script += ".filter(t => !bars || t.type === 'bar').map(t => [t.name, Array.from(t[axis])])"
    return page.evaluate(script, [chart, bars_only, axis])


def _open_offline(browser, page_file: Path):
    """The page loaded from disk with the network off; the addresses it asked for."""
    context = browser.new_context(offline=True)
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(page_file.resolve().as_uri(), wait_until="load")
    return page, [url for url in asked if not url.startswith(("file:", "data:", "blob:"))]


# ---- the report of the sample's night ---------------------------------------------------


def test_the_run_report_opens_offline_with_every_chart_drawn_from_the_published_tables(sample_night, browser):
    lake, _ = sample_night
    report = lake / "runs" / str(SAMPLE_DATE) / "report.html"
    page, outside = _open_offline(browser, report)
    assert outside == []
    for chart in CHARTS:
        assert page.locator(f"#{chart} .main-svg").count() >= 1, f"{chart}: not drawn"
        assert page.locator(f"#{chart} .trace").count() >= 1, f"{chart}: no trace drawn"
        assert page.locator(f"#{chart} .trace .point, #{chart} .trace .js-line").count() >= 1, f"{chart}: no mark"

    profile, alerts = _partition(lake, "household_profile"), _partition(lake, "alerts")
    [(_, index)] = _drawn(page, "index-distribution")
    assert sum(index) == len(profile)  # every household in one bin of the histogram
    by_residence = profile.dropna(subset=["income_ratio"])["residence_type"].value_counts()
    ratio = {name: sum(y) for name, y in _drawn(page, "income-ratio")}
    assert ratio == {{"1": "urban", "2": "rural"}[r]: n for r, n in by_residence.items()}
    categories = {name: sum(y) for name, y in _drawn(page, "alerts-by-county")}
    assert categories == alerts["categories"].explode().value_counts().to_dict()
    statuses = {name: sum(y) for name, y in _drawn(page, "alerts-over-time", bars_only=True)}
    assert {name: n for name, n in statuses.items() if n} == alerts["status"].value_counts().to_dict()

    tiles = dict(
        zip(
            page.locator("#glance .label").all_inner_texts(),
            page.locator("#glance .value").all_inner_texts(),
            strict=True,
        )
    )
    assert tiles["households scored"] == f"{len(profile):,}"
    assert tiles["alerts (households)"] == f"{len(alerts):,}"
    assert tiles["alerts (persons)"] == f"{alerts['size'].sum():,}"
    assert tiles["outcome"] == "succeeded"
    # the targeting tables: the city's newly found, as counted here
    found = page.locator("#newly-found + table tbody tr").first.locator("td").all_inner_texts()
    assert found[1:] == [str(alerts["newly_found"].sum()), str((~alerts["newly_found"]).sum())]
    page.context.close()


def test_the_data_docs_list_every_validation_offline_and_fetch_nothing(sample_night, browser):
    lake, _ = sample_night
    docs = lake / "runs" / str(SAMPLE_DATE) / "quality" / "data_docs"
    sources = json.loads((lake / "runs" / str(SAMPLE_DATE) / "ingest.json").read_text())["quality"]
    page, outside = _open_offline(browser, docs / "index.html")
    assert outside == []
    rows = page.locator("#validation-results-table tbody tr")
    assert rows.count() == len(sources) == 11
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    listed = {row[0]: row[1] for row in cells}
    assert listed == {name: "passed" if suite["success"] else "failed" for name, suite in sources.items()}
    link = rows.first.locator("a").get_attribute("href")
    page.context.close()
    result, outside = _open_offline(browser, docs / link)
    assert outside == []
    shown = result.locator("body").inner_text()  # the result is on the page itself, no script needed
    assert "Evaluated Expectations" in shown and f"Expectation Suite: {cells[0][0]}" in shown
    result.context.close()
    for html_page in docs.rglob("*.html"):
        text = html_page.read_text(encoding="utf-8")
        assert "<script" not in text and not re.search(r"(src=|url\()[\"']?(https?:)?//", text), html_page


def test_lipmon_report_rebuilds_the_page_and_names_a_date_without_a_run(sample_night, tmp_path, capsys):
    lake, _ = sample_night
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    report = copy / "runs" / str(SAMPLE_DATE) / "report.html"
    report.unlink()
    assert main(["report", "--date", str(SAMPLE_DATE), "--lake", str(copy)]) == 0
    assert report.stat().st_size > 1_000_000  # plotly.js travels inside
    assert "德州市" in report.read_text(encoding="utf-8")
    assert main(["report", "--date", "2026-11-20", "--lake", str(copy)]) == 2
    assert "no run of 2026-11-20" in capsys.readouterr().err


# ---- a night that failed ----------------------------------------------------------------


def test_a_failed_night_gets_a_report_that_says_where_it_failed(tmp_path, browser):
    run = tmp_path / "lake" / "runs" / "2026-11-28"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(
        json.dumps(
            {
                "outcome": "failed",
                "failed_step": "quality_gate",
                "error": "residents: critical expectations failed: person_id unique",
                "freshness": {"residents": {"staleness_days": 9, "limit_days": 7}},
            }
        )
    )
    (run / "ingest.json").write_text(
        json.dumps(
            {
                "deliveries": [
                    {"source": "residents", "extract_date": "2026-11-28", "status": "failed", "error": "bad header"},
                    {  # landed tonight: its quarantine counts
                        "source": "medical_settlements",
                        "extract_date": "2026-11-28",
                        "status": "landed",
                        "rows_quarantined": 3,
                        "quarantined_by_reason": {"row:wrong_field_count": 3},
                    },
                    {  # landed on an earlier night: not tonight's quarantine
                        "source": "medical_settlements",
                        "extract_date": "2026-11-27",
                        "status": "skipped",
                        "rows_quarantined": 5,
                        "quarantined_by_reason": {"total_cost:bad_number": 5},
                    },
                ]
            }
        )
    )
    assert main(["report", "--date", "2026-11-28", "--lake", str(tmp_path / "lake")]) == 0
    page, outside = _open_offline(browser, run / "report.html")
    assert outside == []
    failures = page.locator(".failures li").all_inner_texts()
    assert failures == [
        "The run failed at step quality_gate: residents: critical expectations failed: person_id unique",
        "residents delivery of 2026-11-28 failed: bad header",
    ]
    assert page.locator("#quarantine .trace").count() == 1  # one reason, tonight's
    assert _drawn(page, "quarantine", axis="x") == [["row:wrong_field_count", [3]]]
    tiles = dict(
        zip(page.locator("#glance .label").all_inner_texts(), page.locator("#glance .value").all_inner_texts())
    )
    assert (tiles["rows quarantined"], tiles["deliveries landed"], tiles["deliveries failed"]) == ("3", "1", "1")
    assert page.locator("#freshness .trace").count() >= 1
    assert page.locator("#index-distribution").count() == 0  # nothing published to chart
    page.context.close()


# ---- the Data Docs' offline rewrite -------------------------------------------------------


def test_offline_page_drops_scripts_and_remote_styles_and_takes_the_logo_from_disk():
    page = (
        '<html><head><link href="https://cdn.example/b.css" rel="stylesheet">'
        '<link href="./static/styles/data_docs_default_styles.css" rel="stylesheet">'
        '<script src="https://code.example/jquery.js"></script>'
        "<script>\n$(function(){ load(); });\n</script>"
        "<style>.logo { background: url('https://assets.example/dark.png') 0 0 no-repeat; }</style></head>"
        '<body><img src="https://assets.example/logo.png?dataContextId=abc" alt="logo">'
        '<a href="https://vendor.example">vendor</a></body></html>'
    )
    assert offline_page(page, "../static/images/logo-long.png") == (
        '<html><head><link href="./static/styles/data_docs_default_styles.css" rel="stylesheet">'
        "<style>.logo { background: url('../static/images/logo-long.png') 0 0 no-repeat; }</style>"
        '</head><body><img src="../static/images/logo-long.png" alt="logo">'
        '<a href="https://vendor.example">vendor</a></body></html>'
    )


def test_the_offline_index_lists_each_result_with_its_outcome_from_the_store(tmp_path):
    docs, store = tmp_path / "docs", tmp_path / "docs" / "_gx_store"
    for suite, success in (("residents", True), ("vehicles", False)):
        page = docs / "validations" / suite / "gate" / "20261128T020000Z" / f"spark-{suite}.html"
        page.parent.mkdir(parents=True)
        page.write_text('<html><script src="https://cdn.example/x.js"></script><p>result</p></html>')
        stored = store / page.relative_to(docs).with_suffix(".json")
        stored.parent.mkdir(parents=True)
        stored.write_text(json.dumps({"success": success}))
    (docs / "expectations").mkdir()
    (docs / "expectations" / "residents.html").write_text("<p>suite</p>")
    index = make_offline(docs, store).read_text()
    assert index.count("<tr class=") == 2
    assert '<tr class="passed"><td><a href="validations/residents/gate/20261128T020000Z/spark-residents.html">' in index
    assert '<tr class="failed"><td><a href="validations/vehicles/gate/20261128T020000Z/spark-vehicles.html">' in index
    assert '<a href="expectations/residents.html">residents</a>' in index
    page = docs / "validations" / "residents" / "gate" / "20261128T020000Z" / "spark-residents.html"
    assert page.read_text() == "<html><p>result</p></html>"


# ---- the trend ----------------------------------------------------------------------------


def _stat(level, county, measure, value, households, persons=0, share=None, name=None):
    return {
        "level": level,
        "county_code": county,
        "region_name": name,
        "measure": measure,
        "value": value,
        "households": households,
        "persons": persons,
        "share": share,
    }


def test_the_trend_row_of_each_region_is_taken_from_its_statistics_by_hand():
    statistics = pd.DataFrame(
        [
            _stat("city", None, "scored", "all", 10, 30, name="德州市"),
            _stat("county", A, "scored", "all", 6, 20, name="德城区"),
            _stat("county", B, "scored", "all", 4, 10),
            _stat("city", None, "alerts", "all", 5, 14),
            _stat("county", A, "alerts", "all", 2, 6),
            _stat("county", B, "alerts", "all", 3, 8),
            _stat("city", None, "status", "NEW", 3, 9),
            _stat("city", None, "status", "ESCALATED", 2, 5),
            _stat("county", A, "status", "NEW", 2, 6),
            _stat("county", B, "status", "NEW", 1, 3),
            _stat("county", B, "status", "ESCALATED", 2, 5),
            _stat("city", None, "newly_found", "newly_found", 4, 11),
            _stat("city", None, "newly_found", "on_programme", 1, 3),
            _stat("city", None, "coverage", "DIBAO_TEKUN", 4, 12, share=0.25),
            _stat("city", None, "alert_rate", "all", 5, 14, share=1.0),
            _stat("county", A, "alert_rate", "all", 2, 6, share=(2 / 6) / (5 / 10)),
            # township rows are not in the trend
            _stat("township", A, "alerts", "all", 2, 6),
        ]
    )
    resolutions = pd.DataFrame({"county_code": [A, A, B]})
    trend = compute_trend(statistics, resolutions, 61.5).set_index("county_code", drop=False)
    assert list(trend["level"]) == ["city", "county", "county"]
    city, a, b = (trend.iloc[i] for i in range(3))
    assert (city["households_scored"], city["persons_scored"], city["alerts"], city["alert_persons"]) == (10, 30, 5, 14)
    assert (city["alerts_new"], city["alerts_ongoing"], city["alerts_escalated"], city["resolved"]) == (3, 0, 2, 3)
    assert (city["newly_found"], city["on_programme"], city["coverage_candidates"]) == (4, 1, 4)
    assert city["coverage_share"] == 0.25 and city["top_index_cut"] == 61.5 and city["region_name"] == "德州市"
    assert (a["alerts"], a["alerts_new"], a["alerts_escalated"], a["resolved"]) == (2, 2, 0, 2)
    assert a["alert_rate_relative"] == pytest.approx(2 / 3) and pd.isna(a["top_index_cut"])
    assert (b["alerts"], b["alerts_new"], b["alerts_escalated"], b["resolved"], b["newly_found"]) == (3, 1, 2, 1, 0)
    assert pd.isna(b["coverage_share"]) and pd.isna(b["region_name"])


def test_the_sample_trend_equals_counts_of_its_published_alerts(sample_night):
    lake, _ = sample_night
    trend = _partition(lake, "trend").set_index("county_code", drop=False)
    alerts, resolutions = _partition(lake, "alerts"), _partition(lake, "alert_resolutions")
    profile = _partition(lake, "household_profile")
    city = trend[trend["level"] == "city"].iloc[0]
    assert city["households_scored"] == len(profile)
    assert city["alerts"] == len(alerts) and city["alert_persons"] == alerts["size"].sum()
    assert city["alerts_new"] == (alerts["status"] == "NEW").sum() and city["resolved"] == len(resolutions)
    assert city["newly_found"] == alerts["newly_found"].sum()
    top = alerts[alerts["rules"].map(lambda r: "TOP_INDEX" in r)]
    assert city["top_index_cut"] == top["hardship_index"].min()
    counties = trend[trend["level"] == "county"]
    assert sorted(counties["county_code"]) == sorted(profile["county_code"].unique())
    per_county = alerts.groupby("county_code").size()
    assert counties.set_index("county_code")["alerts"].to_dict() == {
        c: per_county.get(c, 0) for c in counties["county_code"]
    }


# ---- the night's counts (snapshot.json), from the statistics --------------------------------


def test_the_nights_counts_equal_counts_of_its_published_tables(sample_night):
    lake, _ = sample_night
    record = json.loads((lake / "runs" / str(SAMPLE_DATE) / "snapshot.json").read_text())
    profile, alerts = _partition(lake, "household_profile"), _partition(lake, "alerts")

    def by(values: pd.Series, weights: pd.Series | None = None) -> dict:
        frame = pd.DataFrame({"v": values.astype(str), "w": 1 if weights is None else weights}).dropna()
        return dict(sorted(frame.groupby("v")["w"].sum().astype(int).items()))

    rules, categories = alerts.explode("rules"), alerts.explode("categories").dropna(subset=["categories"])
    assert record["households"] == len(profile)
    assert (record["alerts"], record["persons"]) == (len(alerts), alerts["size"].sum())
    assert record["alerts_by_rule"] == by(rules["rules"])
    assert record["persons_by_rule"] == by(rules["rules"], rules["size"])
    assert record["alerts_by_category"] == by(categories["categories"])
    assert record["persons_by_category"] == by(categories["categories"], categories["size"])
    assert record["alerts_by_status"] == by(alerts["status"]) == {"NEW": len(alerts)}
    assert record["alerts_by_urgency"] == by(alerts["urgency"])
    assert record["alerts_by_exit_reason"] == by(alerts["exit_reasons"].explode().dropna())
    assert record["alerts_by_programme"] == by(alerts["programme"].fillna("none"))
    found = alerts[alerts["newly_found"]]
    assert record["newly_found"] == {"households": len(found), "persons": found["size"].sum()}
    assert record["suppressed"] == alerts["suppressed_until"].notna().sum()
    on_roll = profile[profile["programme"].notna()]
    assert record["roll"] == {
        "households": len(on_roll),
        **{f"households_{k}": v for k, v in by(on_roll["programme"]).items()},
        "persons": on_roll["size"].sum(),
    }
    assert (record["resolved"], record["resolved_by_reason"]) == (0, {})  # the first night
