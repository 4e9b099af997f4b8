"""The analysts' cookbook (docs/analysts.md) runs as written: every DuckDB SQL, pandas and
Polars block in it is extracted and run against the sample's lake as an analyst holds it
(a copy of `gold/` and `runs/` only, so a block reading anything else fails), and several
answers are computed again here, by hand with pyarrow and pandas from the Parquet files
the manifest lists, and compared. The fast part reads the session's night of the sample;
the system part two nights of it (2026-11-27 and 2026-11-28), for the questions across
nights (a household's history, persisted alerts, churn, rates that moved)."""

from __future__ import annotations

import ast
import json
import re
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.settings import PROJECT_ROOT
from tests.conftest import SAMPLE_DATE, run_sample

DOC = PROJECT_ROOT / "docs" / "analysts.md"
D = SAMPLE_DATE.isoformat()
D0 = (SAMPLE_DATE - timedelta(days=1)).isoformat()
RUNNABLE = ("python", "sql")
SHOWN_ONLY = ("json",)  # examples of files, not code
SETTINGS = ("LAKE", "COUNTY", "TOWNSHIP", "HOUSEHOLD_KEY", "MIN_DAYS", "RATE_MOVE", "TOP")
# Where nothing is to be found on the sample, whatever the query: checked to be empty.
EMPTY_ON_ONE_NIGHT = {
    "precision_by_rule": "no alert of the sample is visited after it was first seen",
    "index_risers": "D0 is D on a lake of one night",
    "resolutions_by_reason": "the first night of a lake has no previous run to leave",
}
EMPTY_ON_TWO_NIGHTS = {"precision_by_rule": EMPTY_ON_ONE_NIGHT["precision_by_rule"]}
# Anything an analyst must not read, or cannot (the analyst's copy holds gold/ and runs/).
FORBIDDEN = ("restricted", "_staging", "bronze/", "quarantine/", "_lease")


@dataclass(frozen=True)
class Block:
    language: str
    name: str
    code: str
    section: str  # the "## " heading it is under


def cookbook_blocks() -> list[Block]:
    """Every fenced block of the cookbook that runs (```python NAME, ```sql NAME), in order;
    a fence of any other kind than those and the examples shown fails here."""
    blocks: list[Block] = []
    section, fence, body = "", None, []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if fence is None and line.startswith("## "):
            section = line[3:].strip()
        elif fence is None and stripped.startswith("```"):
            fence, body = stripped[3:].split(), []
        elif fence is not None and stripped == "```":
            if fence and fence[0] in RUNNABLE:
                assert len(fence) == 2, f"a runnable block needs a name: ```{' '.join(fence)}"
                blocks.append(Block(fence[0], fence[1], "\n".join(body) + "\n", section))
            else:
                assert fence and fence[0] in SHOWN_ONLY, f"unexpected fence ```{' '.join(fence)}"
            fence = None
        elif fence is not None:
            body.append(line)
    assert fence is None, "an unclosed fence"
    return blocks


BLOCKS = cookbook_blocks()
BY_NAME = {b.name: b for b in BLOCKS}
SETUP = [b for b in BLOCKS if b.section != "Questions" and b.name != "settings"]
QUESTIONS = [b.name for b in BLOCKS if b.section == "Questions"]


def as_frame(result: Any) -> pd.DataFrame:
    """A block's answer as a pandas frame: DuckDB relations, Polars frames and pandas results alike."""
    import duckdb
    import polars as pl

    if isinstance(result, duckdb.DuckDBPyRelation):
        return result.df()
    if isinstance(result, pl.DataFrame):
        return result.to_pandas()
    if isinstance(result, pd.Series):
        return result.to_frame()
    if isinstance(result, pd.DataFrame):
        return result
    return pd.DataFrame({"value": list(result)})


def run_block(block: Block, namespace: dict) -> pd.DataFrame | None:
    """A SQL block in the cookbook's DuckDB connection `con`; a Python block as a notebook
    cell: its statements, then its last expression, the answer (None if it has none)."""
    if block.language == "sql":
        return as_frame(namespace["con"].sql(block.code))
    tree = ast.parse(block.code, filename=block.name)
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    statements = ast.Module(body=tree.body[:-1] if last else tree.body, type_ignores=[])
    exec(compile(statements, block.name, "exec"), namespace)
    if last is None:
        return None
    return as_frame(eval(compile(ast.Expression(body=last.value), block.name, "eval"), namespace))


def ask(namespace: dict, name: str) -> pd.DataFrame:
    """A question's block, in its own copy of the set-up namespace (blocks do not see each other's names)."""
    answer = run_block(BY_NAME[name], dict(namespace))
    assert answer is not None, f"{name} ends with no expression: it shows no answer"
    return answer


def analyst_copy(lake: Path, copy: Path) -> Path:
    """What an analyst holds: the lake's gold/ and runs/ zones only (the quality reports left out)."""
    shutil.copytree(lake / "gold", copy / "gold")
    shutil.copytree(lake / "runs", copy / "runs", ignore=shutil.ignore_patterns("quality"))
    return copy


def set_up(settings: dict) -> dict:
    """The settings, then the cookbook's set-up blocks run in order into one namespace, as an
    analyst runs them; each must show something. On a lake of one night there is no night
    before D: D0 is then D (questions across two nights compare a night with itself)."""
    namespace: dict = {"__name__": "cookbook", **settings}
    for block in SETUP:
        shown = run_block(block, namespace)
        assert shown is not None and len(shown) > 0, f"set-up block {block.name} shows nothing"
        if block.name == "reader" and namespace["D0"] is None:
            namespace["D0"] = namespace["D"]
    return namespace


# Independent readings: the manifest's files by hand with pyarrow, nothing of the cookbook's or lipmon's.


def gold(lake: Path, table: str, night: str) -> pd.DataFrame:
    manifest = json.loads((lake / "runs" / night / "manifest.json").read_text(encoding="utf-8"))
    [entry] = [o for o in manifest["outputs"] if o["table"] == table]
    parts = [pq.read_table(lake / entry["partition"] / f["name"], partitioning=None) for f in entry["files"]]
    return pa.concat_tables(parts).to_pandas()


def nights_of(lake: Path) -> list[str]:
    return sorted(p.parent.name for p in (lake / "runs").glob("*/_SUCCESS"))


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Rows as tuples of plain values (ints for counts, whatever engine made them), in order."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if hasattr(value, "item"):
            return plain(value.item())
        if isinstance(value, pd.Timestamp):
            return value.date()
        return value

    return [tuple(plain(v) for v in row) for row in frame[columns].itertuples(index=False)]


def _choose(lake: Path, night: str) -> dict:
    """A county with the most alerts, its township with the most alerts, codes breaking ties."""
    alerts = gold(lake, "gold/alerts", night)
    by_county = alerts.groupby("county_code").size().reset_index(name="n").sort_values(["n", "county_code"])
    county = by_county.sort_values("n", ascending=False, kind="stable").iloc[0]["county_code"]
    in_county = alerts[alerts.county_code == county]
    by_township = in_county.groupby("township_code").size().reset_index(name="n").sort_values("township_code")
    township = by_township.sort_values("n", ascending=False, kind="stable").iloc[0]["township_code"]
    return {"COUNTY": county, "TOWNSHIP": township}


# The fast part: the session's night of the sample.


@pytest.fixture(scope="module")
def one_night(sample_night, tmp_path_factory):
    lake = analyst_copy(sample_night[0], tmp_path_factory.mktemp("analyst-one-night") / "lake")
    alerts = gold(lake, "gold/alerts", D)
    top = alerts.sort_values(["hardship_index", "household_key"], ascending=[False, True]).iloc[0]
    settings = {
        "LAKE": str(lake),
        **_choose(lake, D),
        "HOUSEHOLD_KEY": top["household_key"],
        "MIN_DAYS": 1,  # every alert of a first night has been on the list 1 day
        "RATE_MOVE": 0.0,
        "TOP": 20,
    }
    namespace = set_up(settings)
    yield lake, namespace
    namespace["con"].close()


def test_the_cookbook_has_its_settings_set_up_and_a_dozen_questions():
    assert [b.name for b in BLOCKS[:5]] == ["settings", "reader", "duckdb", "pandas", "polars"]
    statements = ast.parse(BY_NAME["settings"].code).body
    assert all(isinstance(s, ast.Assign) for s in statements)  # settings, nothing else
    assigned = [t.id for s in statements if isinstance(s, ast.Assign) for t in s.targets if isinstance(t, ast.Name)]
    assert tuple(assigned) == SETTINGS
    assert len(QUESTIONS) >= 12 and len({b.name for b in BLOCKS}) == len(BLOCKS)
    languages = {b.language if b.language == "sql" else ("polars" if "pl." in b.code else "pandas") for b in BLOCKS}
    assert languages == {"sql", "pandas", "polars"}


def test_no_block_reads_the_restricted_zone_or_anything_but_gold_and_runs():
    for block in BLOCKS:
        for word in FORBIDDEN:
            assert word not in block.code, f"{block.name} mentions {word}"
        for table in re.findall(r"[\"'](\w+/\w+)[\"']", block.code):
            assert table.startswith("gold/"), f"{block.name} reads {table}"


def test_every_gold_table_published_is_described(one_night):
    lake, _ = one_night
    manifest = json.loads((lake / "runs" / D / "manifest.json").read_text(encoding="utf-8"))
    text = DOC.read_text(encoding="utf-8")
    for table in (o["table"] for o in manifest["outputs"] if o["table"].startswith("gold/")):
        assert f"| `{table}` |" in text, f"{table} is published but not in the cookbook's tables"


def _answers_or_is_empty_for_its_reason(namespace: dict, name: str, empty: dict[str, str], lake: str) -> None:
    answer = ask(namespace, name)
    if name in empty:
        assert answer.empty, f"{name}: expected no rows ({empty[name]})"
    else:
        assert len(answer) > 0, f"{name} finds nothing on {lake}"


@pytest.mark.parametrize("name", QUESTIONS)
def test_every_question_runs_on_the_samples_night(one_night, name):
    _answers_or_is_empty_for_its_reason(one_night[1], name, EMPTY_ON_ONE_NIGHT, "the sample's night")


def test_alerts_per_township_are_the_alerts_counted_by_hand(one_night):
    lake, namespace = one_night
    alerts = gold(lake, "gold/alerts", D)
    alerts = alerts[alerts.county_code == namespace["COUNTY"]]
    expected = sorted(
        (
            (
                township,
                len(rows),
                int(rows["size"].sum()),
                int(rows.newly_found.sum()),
                int((rows.urgency == "URGENT").sum()),
            )
            for township, rows in alerts.groupby("township_code")
        ),
        key=lambda r: (-r[1], r[0]),
    )
    columns = ["township_code", "households", "persons", "newly_found", "urgent"]
    assert records(ask(namespace, "alerts_by_township"), columns) == expected
    assert sum(r[1] for r in expected) == len(alerts) > 0


def test_households_and_persons_by_category_are_counted_by_hand(one_night):
    lake, namespace = one_night
    counts: dict[str, list[int]] = {}
    for row in gold(lake, "gold/alerts", D).itertuples():
        for category in row.categories:
            counts.setdefault(category, [0, 0])
            counts[category][0] += 1
            counts[category][1] += row.size
    answer = ask(namespace, "by_category").reset_index()
    assert {r[0]: [r[1], r[2]] for r in records(answer, ["categories", "households", "persons"])} == counts
    assert answer.households.is_monotonic_decreasing


def test_newly_found_by_county_is_counted_by_hand(one_night):
    lake, namespace = one_night
    alerts = gold(lake, "gold/alerts", D)
    expected = [
        (
            county,
            len(rows),
            int(rows.newly_found.sum()),
            int((~rows.newly_found).sum()),
            int(rows[rows.newly_found]["size"].sum()),
        )
        for county, rows in sorted(alerts.groupby("county_code"))
    ]
    columns = ["county_code", "alerts", "newly_found", "on_programme", "newly_found_persons"]
    assert records(ask(namespace, "newly_found_by_county"), columns) == expected


def test_coverage_and_exit_reviews_are_counted_by_hand(one_night):
    lake, namespace = one_night
    alerts = gold(lake, "gold/alerts", D)
    candidates = alerts[alerts.categories.map(lambda c: "DIBAO" in c or "TEKUN" in c)]
    coverage = {
        county: (len(rows), int(rows["size"].sum()), int(rows.programme.isin(["dibao", "tekun"]).sum()))
        for county, rows in candidates.groupby("county_code")
    }
    answer = ask(namespace, "coverage")
    assert {r[0]: r[1:] for r in records(answer, ["county_code", "candidates", "persons", "on_dibao_or_tekun"])} == (
        coverage
    )
    assert answer.coverage.is_monotonic_increasing
    reviews: dict[tuple[str, str], list[int]] = {}
    for row in alerts[alerts.rules.map(lambda r: "EXIT_REVIEW" in r)].itertuples():
        for reason in row.exit_reasons:
            reviews.setdefault((row.county_code, reason), [0, 0])
            reviews[(row.county_code, reason)][0] += 1
            reviews[(row.county_code, reason)][1] += row.size
    answer = ask(namespace, "exit_review_load")
    assert {
        (r[0], r[1]): [r[2], r[3]] for r in records(answer, ["county_code", "reason", "households", "persons"])
    } == (reviews)
    assert reviews


def test_top_households_of_a_township_are_the_highest_indexes(one_night):
    lake, namespace = one_night
    profile = gold(lake, "gold/household_profile", D)
    township = profile[(profile.county_code == namespace["COUNTY"]) & (profile.township_code == namespace["TOWNSHIP"])]
    expected = township.sort_values(["hardship_index", "rank"], ascending=[False, True]).head(20)
    answer = ask(namespace, "top_households")
    assert list(answer.household_key) == list(expected.household_key)
    assert len(answer) == min(20, len(township)) > 0


def test_the_history_of_a_household_on_one_night(one_night):
    lake, namespace = one_night
    assert _history(ask(namespace, "household_history")) == _history_by_hand(lake, namespace["HOUSEHOLD_KEY"])


def test_every_alert_of_a_first_night_has_persisted_one_day(one_night):
    lake, namespace = one_night
    answer = ask(namespace, "persisted")
    assert sorted(answer.household_key) == sorted(gold(lake, "gold/alerts", D).household_key)
    assert set(answer.days_in_alert) == {1}


def test_no_rule_has_a_precision_when_no_alert_was_visited_after_it_was_first_seen(one_night):
    lake, namespace = one_night
    alerts = gold(lake, "gold/alerts", D)
    # Every visit of a household is on or before its last (of any outcome).
    visited = alerts[alerts.last_visit_date.notna() & (alerts.last_visit_date >= alerts.first_seen_date)]
    assert visited.empty
    assert ask(namespace, "precision_by_rule").empty


def test_freshness_is_the_newest_delivery_of_each_source(one_night):
    lake, namespace = one_night
    newest: dict[str, date] = {}
    for entries in gold(lake, "gold/household_profile", D).data_as_of:
        for source, day in entries:
            newest[source] = max(newest.get(source, day), day)
    answer = ask(namespace, "data_freshness")
    found = {r[0]: (r[1], r[2]) for r in records(answer, ["source", "last_delivery", "days_old"])}
    assert found == {s: (day, (SAMPLE_DATE - day).days) for s, day in newest.items()}


# The reader's contract, on a copy of the analyst's lake of its own.


@pytest.fixture
def reader(one_night, tmp_path):
    source, _ = one_night
    lake = analyst_copy(source, tmp_path / "lake")
    namespace: dict = {"__name__": "cookbook", "LAKE": str(lake)}
    for name in ("reader", "pandas"):
        run_block(BY_NAME[name], namespace)
    return lake, namespace


def test_the_reader_reads_only_the_listed_files_of_a_complete_night(reader):
    lake, namespace = reader
    folder = lake / f"gold/alerts/snapshot_date={D}"
    listed = sorted(folder.glob("*.parquet"))
    shutil.copy(listed[0], folder / "part-99999-left-over.zstd.parquet")  # not the table
    assert len(namespace["read_night"]("gold/alerts", D)) == len(gold(lake, "gold/alerts", D))
    listed[0].write_bytes(listed[0].read_bytes() + b"x")  # being replaced
    with pytest.raises(LookupError, match="changed since it was published"):
        namespace["published_files"]("gold/alerts", D)
    with pytest.raises(ValueError, match="gold/ tables only"):
        namespace["published_files"]("restricted/alerts", D)
    (lake / "runs" / D / "_SUCCESS").unlink()  # being recomputed
    assert namespace["published_nights"]("gold/alerts") == []
    with pytest.raises(LookupError, match="is not published"):
        namespace["published_files"]("gold/household_profile", D)


# Questions across nights, computed by hand.


def _history(answer: pd.DataFrame) -> list[tuple]:
    columns = ["snapshot_date", "hardship_index", "rank", "status", "first_seen_date", "days_in_alert"]
    return [tuple(None if pd.isna(v) else v for v in row) for row in records(answer, columns)]


def _history_by_hand(lake: Path, key: str) -> list[tuple]:
    rows = []
    for night in nights_of(lake):
        profile = gold(lake, "gold/household_profile", night).set_index("household_key")
        alerts = gold(lake, "gold/alerts", night).set_index("household_key")
        if key not in profile.index:
            continue
        alert = alerts.loc[key] if key in alerts.index else None
        rows.append(
            (
                date.fromisoformat(night),
                float(profile.loc[key, "hardship_index"]),
                int(profile.loc[key, "rank"]),
                None if alert is None else alert["status"],
                None if alert is None else alert["first_seen_date"],
                None if alert is None else int(alert["days_in_alert"]),
            )
        )
    return rows


@pytest.fixture(scope="module")
def two_nights(prefect_server, tmp_path_factory):
    """The sample's nights of 2026-11-27 and 2026-11-28 by `lipmon run`, and the analyst's copy."""
    base = tmp_path_factory.mktemp("analyst-two-nights")
    run_sample(base / "lake", [date.fromisoformat(D0), SAMPLE_DATE])
    lake = analyst_copy(base / "lake", base / "analyst")
    alerts = gold(lake, "gold/alerts", D)
    escalated = alerts[alerts.status == "ESCALATED"].sort_values("household_key")
    settings = {
        "LAKE": str(lake),
        **_choose(lake, D),
        "HOUSEHOLD_KEY": (escalated if len(escalated) else alerts).iloc[0]["household_key"],
        "MIN_DAYS": 2,  # on the list both nights
        "RATE_MOVE": 0.03,
        "TOP": 20,
    }
    namespace = set_up(settings)
    assert (namespace["NIGHTS"], namespace["D"], namespace["D0"]) == ([D0, D], D, D0)
    yield lake, namespace
    namespace["con"].close()


@pytest.mark.system
@pytest.mark.parametrize("name", QUESTIONS)
def test_every_question_runs_on_two_nights(two_nights, name):
    _answers_or_is_empty_for_its_reason(two_nights[1], name, EMPTY_ON_TWO_NIGHTS, "the sample's two nights")


@pytest.mark.system
def test_the_history_of_a_household_across_nights(two_nights):
    lake, namespace = two_nights
    history = _history(ask(namespace, "household_history"))
    assert history == _history_by_hand(lake, namespace["HOUSEHOLD_KEY"])
    assert [row[3] for row in history] == ["NEW", "ESCALATED"]


@pytest.mark.system
def test_alerts_persisted_are_those_alerted_on_both_nights(two_nights):
    lake, namespace = two_nights
    both = set(gold(lake, "gold/alerts", D0).household_key) & set(gold(lake, "gold/alerts", D).household_key)
    answer = ask(namespace, "persisted")
    assert set(answer.household_key) == both and len(answer) == len(both) > 0
    assert set(answer.first_seen_date.astype(str)) == {D0}


@pytest.mark.system
def test_churn_per_night_is_counted_by_hand(two_nights):
    lake, namespace = two_nights
    expected = []
    for night in nights_of(lake):
        statuses = gold(lake, "gold/alerts", night).status.value_counts()
        resolved = len(gold(lake, "gold/alert_resolutions", night))
        expected.append(
            (date.fromisoformat(night), *(int(statuses.get(s, 0)) for s in ("NEW", "ESCALATED", "ONGOING")), resolved)
        )
    answer = ask(namespace, "churn")
    assert records(answer, ["snapshot_date", "new_alerts", "escalated", "ongoing", "resolved"]) == expected
    assert expected[1][4] > 0  # some households left the list on the second night
    trend = ask(namespace, "city_trend")  # the bureau's trend says the same
    assert records(trend, ["snapshot_date", "alerts_new", "alerts_escalated", "resolved"]) == [
        (e[0], e[1], e[2], e[4]) for e in expected
    ]


@pytest.mark.system
def test_county_alert_rates_that_moved_are_computed_from_the_profiles_and_alerts(two_nights):
    lake, namespace = two_nights

    def relative_rates(night: str) -> pd.Series:
        scored = gold(lake, "gold/household_profile", night).groupby("county_code").size()
        alerted = gold(lake, "gold/alerts", night).groupby("county_code").size()
        return (alerted / scored) / (alerted.sum() / scored.sum())

    change = (relative_rates(D) - relative_rates(D0)).dropna()
    expected = change[change.abs() >= 0.03].sort_values(key=abs, ascending=False)
    answer = ask(namespace, "rate_moved")
    assert list(answer.index) == list(expected.index) and len(expected) > 0
    assert answer.change.tolist() == pytest.approx(expected.tolist())


@pytest.mark.system
def test_index_risers_and_resolutions_are_counted_by_hand(two_nights):
    lake, namespace = two_nights
    before = gold(lake, "gold/household_profile", D0).set_index("household_key").hardship_index
    now = gold(lake, "gold/household_profile", D).set_index("household_key").hardship_index
    change = (now - before).dropna()
    rose = change[change > 0].sort_values(ascending=False).head(20)
    answer = ask(namespace, "index_risers")
    assert answer.change.tolist() == pytest.approx(rose.tolist())  # ties at the 20th may be either household
    assert [change[k] for k in answer.household_key] == pytest.approx(answer.change.tolist())
    resolutions = gold(lake, "gold/alert_resolutions", D)
    answer = ask(namespace, "resolutions_by_reason")
    assert records(answer, ["resolution_reason", "households"]) == sorted(
        resolutions.resolution_reason.value_counts().items()
    )
