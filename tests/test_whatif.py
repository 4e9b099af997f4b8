"""`lipmon whatif` (pipelines.report.whatif) on the sample's published night: with the
night's own settings the pandas formulas give every published column of every household
(the guard against drift from the Spark transforms); a changed top share, income multiple
or standard changes exactly the households worked out here from the published profile;
bad settings fail naming themselves; and the what-if writes only counts, only into its
own folder, leaving every published table as it was."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.policy import ConfigError, load_policy
from pipelines.published import read_published
from pipelines.report.recompute import CATEGORIES, EXIT_REASONS, RULES, recompute
from pipelines.report.whatif import apply_settings, dibao_gap, read_profile, run_whatif
from tests.conftest import SAMPLE_DATE

D = SAMPLE_DATE
COMPONENTS = ("income", "medical", "dependency", "unemployment", "illness", "shock")
PUBLISHED_ZONES = ("gold", "restricted", "runs", "bronze", "quarantine")


@pytest.fixture(scope="module")
def published(sample_night) -> pd.DataFrame:
    """The sample's published profile, read as an analyst reads it (not by the what-if)."""
    return read_published(sample_night[0], "gold/household_profile", D)


@pytest.fixture(scope="module")
def inputs(sample_night):
    return read_profile(sample_night[0], D)


@pytest.fixture
def lake_copy(sample_night, tmp_path) -> Path:
    """A copy of the sample's lake: the what-if writes its report into the lake it reads."""
    copy = tmp_path / "lake"
    shutil.copytree(sample_night[0], copy)
    return copy


def _city(result, measure: str, value: str) -> pd.Series:
    table = result.changes
    return table[(table["level"] == "city") & (table["measure"] == measure) & (table["value"] == value)].iloc[0]


def _current_values() -> list[str]:
    """Every setting the what-if can change, at its value in the default configuration."""
    p = load_policy()
    settings = [f"index.weights.{c}={w!r}" for c, w in p.index.weights.items()]
    settings += [f"exit_review.income_ratio_from.{k}={v!r}" for k, v in p.exit_review.income_ratio_from.items()]
    for section, names in (
        ("index", ["income_zero_at_ratio"]),
        ("alerts", ["top_share", "top_scope", "low_income_multiple"]),
        ("categories", ["dibao_ratio_below", "marginal_ratio_below", "rigid_expenditure_share"]),
        ("exit_review", ["understated_share", "understated_min_yuan"]),
        ("relapse_risk", ["income_ratio_below", "medical_component_from"]),
    ):
        settings += [f"{section}.{n}={getattr(getattr(p, section), n)}" for n in names]
    return [*settings, "dibao_standards.*.urban=814", "dibao_standards.*.rural=666", "dibao_standards.scale=1"]


def test_the_nights_own_settings_give_every_published_column(inputs, published):
    profile, _ = inputs
    got = recompute(profile, load_policy(), D)
    columns = ["dibao_standard", "income_ratio", "hardship_index", "rank", "scope_size"]
    columns += [f"{c}_{kind}" for c in COMPONENTS for kind in ("component", "weighted")]
    for column in columns:  # exactly: the same operations in the same order as Spark's
        mismatched = int((got[column].to_numpy() != published[column].to_numpy()).sum())
        assert mismatched == 0, f"{column}: {mismatched} households differ from the published"
    for column, labels in (("rules", RULES), ("categories", CATEGORIES), ("exit_reasons", EXIT_REASONS)):
        recomputed = [[x for x in labels if row[x]] for row in got[list(labels)].to_dict("records")]
        assert recomputed == [list(v) for v in published[column]], column
    assert set(published["rules"].explode().dropna()) == set(RULES)  # the sample meets every rule


def test_every_setting_at_its_current_value_changes_nothing(lake_copy):
    settings = _current_values()
    result = run_whatif(lake_copy, D, load_policy(), settings)
    assert len(settings) == 23
    moved = ["households_added", "households_dropped", "persons_added", "persons_dropped"]
    assert (result.changes[moved] == 0).all().all()
    assert (result.changes["households_before"] == result.changes["households_after"]).all()
    gap = result.dibao_gap
    assert (gap["gap_yuan_before"] == gap["gap_yuan_after"]).all()
    assert _city(result, "alerts", "all")["households_before"] == 267  # the README's figures
    assert _city(result, "alerts", "all")["persons_before"] == 878
    assert "No change" in result.lines[-2]
    assert "of 995 of 995 households" in "\n".join(result.lines)


def test_a_higher_top_share_adds_exactly_the_next_households_by_rank(lake_copy, inputs, published):
    """N = 995: ceil(0.05 N) = 50 households were in TOP_INDEX, ceil(0.08 N) = 80 are. The
    index does not change, so the ranks are the published ones: the households ranked 51
    to 80 join TOP_INDEX; of them, those the night already alerted for another rule stay
    alerted (their rules grow), the others are added to the alerts."""
    n = len(published)
    k_old, k_new = math.ceil(0.05 * n), math.ceil(0.08 * n)
    assert (n, k_old, k_new) == (995, 50, 80)
    joining = published[(published["rank"] > k_old) & (published["rank"] <= k_new)]
    newly_alerted = joining[joining["rules"].map(len) == 0]

    changed, _ = apply_settings(load_policy(), ["alerts.top_share=0.08"], D)
    after = recompute(inputs[0], changed, D)
    was_top = published["rules"].map(lambda r: "TOP_INDEX" in r).to_numpy()
    added_to_rule = np.flatnonzero(after["TOP_INDEX"].to_numpy() & ~was_top)
    assert sorted(published["rank"].iloc[added_to_rule]) == list(range(k_old + 1, k_new + 1))

    result = run_whatif(lake_copy, D, load_policy(), ["alerts.top_share=0.08"])
    rule = _city(result, "rule", "TOP_INDEX")
    assert (rule.households_before, rule.households_after, rule.households_added) == (50, 80, 30)
    assert (rule.persons_added, rule.households_dropped) == (joining["size"].sum(), 0)
    alerts = _city(result, "alerts", "all")
    assert 0 < len(newly_alerted) < 30  # some of them the night alerted already (LOW_INCOME)
    assert alerts.households_added == len(newly_alerted)
    assert alerts.persons_added == newly_alerted["size"].sum()
    assert alerts.households_dropped == 0
    by_county = result.changes[(result.changes["level"] == "county") & (result.changes["measure"] == "alerts")]
    assert by_county.set_index("county_code")["households_added"][lambda s: s > 0].to_dict() == (
        newly_alerted.groupby("county_code").size().to_dict()
    )


def test_a_lower_income_multiple_drops_exactly_the_households_between_the_lines(lake_copy, published):
    p = published
    between = p[
        (p["per_capita_income"] >= 1.8 * p["dibao_standard"]) & (p["per_capita_income"] < 2 * p["dibao_standard"])
    ]
    only_low_income = between[between["rules"].map(lambda r: list(r) == ["LOW_INCOME"])]
    assert len(between) > len(only_low_income) > 0

    result = run_whatif(lake_copy, D, load_policy(), ["alerts.low_income_multiple=1.8"])
    rule = _city(result, "rule", "LOW_INCOME")
    assert (rule.households_dropped, rule.households_added) == (len(between), 0)
    assert rule.persons_dropped == between["size"].sum()
    alerts = _city(result, "alerts", "all")
    assert (alerts.households_dropped, alerts.households_added) == (len(only_low_income), 0)
    assert alerts.persons_dropped == only_low_income["size"].sum()
    for category in CATEGORIES:
        dropped = only_low_income[only_low_income["categories"].map(lambda c, x=category: x in c)]
        assert _city(result, "category", category).households_dropped == len(dropped), category
    for other in ("TOP_INDEX", "EXIT_REVIEW", "SPOT_CHECK"):
        row = _city(result, "rule", other)
        assert row.households_before == row.households_after and row.households_dropped == 0, other


def test_the_dibao_gap_by_hand():
    """Three households of one county: two DIBAO candidates before (814 - 314 = 500 yuan
    short for each of 2 persons; 666 - 166 = 500 short for each of 3), and after a raise
    to 900 and 700 the second (700 - 166 = 534 short, 3 persons), a new one at 700 - 650 = 50
    for 4 persons, and one above its standard, which counts no gap."""
    profile = pd.DataFrame(
        {"county_code": ["371402"] * 4, "size": [2, 3, 1, 4], "per_capita_income": [314.0, 166.0, 2000.0, 650.0]}
    )
    before = pd.DataFrame({"DIBAO": [True, True, False, False], "dibao_standard": [814.0, 666.0, 814.0, 666.0]})
    after = pd.DataFrame({"DIBAO": [False, True, True, True], "dibao_standard": [900.0, 700.0, 900.0, 700.0]})
    gap = dibao_gap(profile, before, after, load_policy()).set_index("level")
    assert gap.loc["city", "gap_yuan_before"] == 2 * 500 + 3 * 500
    assert gap.loc["city", "gap_yuan_after"] == 3 * (700 - 166) + 0 + 4 * 50
    assert (gap.loc["city", "dibao_households_after"], gap.loc["city", "dibao_persons_after"]) == (3, 8)
    assert gap.loc["county", "region_name"] == "德城区"


def test_the_dibao_gap_of_the_sample_and_a_raised_standard(lake_copy, published):
    """Before: the published DIBAO candidates, summed row by row. After raising the urban
    standard of 德城区 to 1000: its urban households' standard is 1000, their ratio and
    LOW_INCOME follow it, and the gap grows by what those rows say."""
    dibao = [r for r in published.to_dict("records") if "DIBAO" in r["categories"]]
    expected = sum((r["dibao_standard"] - r["per_capita_income"]) * r["size"] for r in dibao)
    result = run_whatif(lake_copy, D, load_policy(), ["dibao_standards.371402.urban=1000"])
    city = result.dibao_gap.iloc[0]
    assert city["level"] == "city" and city["gap_yuan_before"] == pytest.approx(expected, abs=0.01)
    assert city["dibao_households_before"] == len(dibao) == 92

    changed, applied = apply_settings(load_policy(), ["dibao_standards.371402.urban=1000"], D)
    assert [(s.key, s.was) for s in applied] == [("dibao_standards.371402.urban", "814")]
    profile, _ = read_profile(lake_copy, D)
    after = recompute(profile, changed, D)
    raised = ((published["county_code"] == "371402") & (published["residence_type"] == "1")).to_numpy()
    assert raised.sum() > 0
    assert (after["dibao_standard"][raised] == 1000.0).all()
    assert (after["dibao_standard"][~raised] == published["dibao_standard"][~raised]).all()
    ratio = published["income"] / published["size"] / 1000.0
    assert (after["income_ratio"][raised] == ratio[raised]).all()
    assert (after["LOW_INCOME"] == (published["per_capita_income"] < 2 * after["dibao_standard"])).all()
    new_dibao = [
        (1000.0 - r["per_capita_income"]) * r["size"]
        for r, now in zip(published.to_dict("records"), after["DIBAO"])
        if now and r["county_code"] == "371402" and r["residence_type"] == "1"
    ]
    assert new_dibao  # some urban household of 德城区 is a candidate
    county = result.dibao_gap.set_index("county_code").loc["371402"]
    unchanged = sum(
        (r["dibao_standard"] - r["per_capita_income"]) * r["size"]
        for r, now in zip(published.to_dict("records"), after["DIBAO"])
        if now and r["county_code"] == "371402" and r["residence_type"] != "1"
    )
    assert county.gap_yuan_after == pytest.approx(sum(new_dibao) + unchanged, abs=0.01)
    scaled, _ = apply_settings(load_policy(), ["dibao_standards.scale=1.1"], D)
    assert np.allclose(recompute(profile, scaled, D)["dibao_standard"], published["dibao_standard"] * 1.1)


@pytest.mark.parametrize(
    ("setting", "named", "why"),
    [
        ("spot_check.share=0.1", "spot_check.share", "SPOT_CHECK is drawn with the pseudonym key"),
        ("index.elderly_age_from=65", "index.elderly_age_from", "built into the published profile"),
        ("index.shock_out_of_pocket_multiple=4", "index.shock_out_of_pocket_multiple", "built into"),
        ("farm_net_returns=1", "farm_net_returns", "built into the published profile"),
        ("alerts.top_shar=0.07", "alerts.top_shar", "not a policy setting"),
        ("alerts.top_share=1.5", "alerts.top_share=1.5", "less than 1"),
        ("alerts.top_share=many", "alerts.top_share=many", "valid number"),
        ("alerts.top_scope=province", "alerts.top_scope=province", "'city' or 'county'"),
        ("index.weights.income=0.5", "index.weights.income=0.5", "weights must sum to 1"),
        ("index.weights.luck=0.1", "index.weights.luck", "not a component"),
        ("categories.marginal_ratio_below=0.5", "categories.marginal_ratio_below", "must be above"),
        ("dibao_standards.371402.urban=0", "dibao_standards.371402.urban=0", "greater than 0"),
        ("dibao_standards.999999.urban=900", "dibao_standards.999999.urban", "configured county"),
        ("dibao_standards.scale=-1", "dibao_standards.scale", "above 0"),
        ("alerts.top_share", "alerts.top_share", "KEY=VALUE"),
        ("alerts.top_share=[0.1]", "alerts.top_share", "one number or word"),
    ],
)
def test_a_bad_setting_fails_naming_it(setting, named, why):
    with pytest.raises(ConfigError) as failed:
        apply_settings(load_policy(), [setting], D)
    assert f"--set {named}" in str(failed.value) and why in str(failed.value)
    assert "\n" not in str(failed.value)


def _secrets(lake: Path) -> set[str]:
    residents = pd.concat(pd.read_parquet(p) for p in (lake / "bronze/residents").glob("extract_date=*"))
    found = set(residents["person_id"]) | set(residents["household_id"]) | set(residents["name"])
    return {s for s in found if isinstance(s, str) and len(s) >= 2}


def test_the_whatif_output_holds_no_id_number_name_or_household_key(lake_copy, published, capsys):
    code = main(["whatif", "--lake", str(lake_copy), "--date", str(D), "--set", "alerts.top_share=0.2"])
    printed = capsys.readouterr().out
    assert code == 0
    folder = lake_copy / "whatif" / str(D)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"report.txt", "changes.csv", "dibao_gap.csv", "settings.json"}
    secrets = _secrets(lake_copy) | set(published["household_key"])
    for name, text in [("printed", printed), *((p.name, p.read_text(encoding="utf-8-sig")) for p in files)]:
        assert not re.search(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])", text), name
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{name} shows personal data or household keys ({len(leaked)} values)"


def _published_state(lake: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(lake)): (p.stat().st_size, p.stat().st_mtime_ns)
        for zone in PUBLISHED_ZONES
        for p in (lake / zone).rglob("*")
    }


def test_the_published_tables_are_untouched(lake_copy):
    before = _published_state(lake_copy)
    assert any(k.startswith("gold/household_profile/") for k in before)
    top_level = {p.name for p in lake_copy.iterdir()}
    run_whatif(lake_copy, D, load_policy(), ["alerts.top_share=0.1", "dibao_standards.*.*=900"])
    assert main(["whatif", "--lake", str(lake_copy), "--date", str(D), "--set", "index.weights.income=0.5"]) == 1
    assert _published_state(lake_copy) == before
    assert {p.name for p in lake_copy.iterdir()} == top_level | {"whatif"}


def test_the_command_says_it_is_a_simulation_and_where_it_wrote(lake_copy, capsys):
    argv = ["whatif", "--lake", str(lake_copy), "--date", str(D), "--set", "alerts.low_income_multiple=1.8"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("SIMULATION: nothing published is changed")
    assert "  alerts.low_income_multiple = 1.8 (was 2.0)" in out
    assert any(line.startswith("Taken as published: SPOT_CHECK") for line in out)
    written = Path(out[-1].removeprefix("written to: "))
    assert written.parent == lake_copy / "whatif" / str(D) and (written / "changes.csv").exists()
    changes = pd.read_csv(written / "changes.csv", dtype={"county_code": str}, encoding="utf-8-sig")
    assert (
        changes.query("level == 'city' and measure == 'rule' and value == 'LOW_INCOME'").iloc[0]["households_dropped"]
        > 0
    )

    assert main([*argv[:5], "--set", "spot_check.share=0.2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lipmon whatif: --set spot_check.share: SPOT_CHECK")
    assert main(["whatif", "--lake", str(lake_copy), "--date", "2026-11-27"]) == 1
    assert "not published" in capsys.readouterr().err


def test_the_index_is_rounded_as_spark_rounds_it(spark):
    """Spark rounds a double's shortest decimal form half up: 12.34565 gives 12.3457, where
    rounding the binary value half to even (numpy) gives 12.3456. Values with a fifth
    decimal of 5 everywhere, and a few without."""
    from pyspark.sql import functions as F

    from pipelines.report.recompute import spark_round

    rng = np.random.default_rng(7)
    values = [12.34565, 0.00005, 2.00015, 99.99995, 77.7477, 1 / 3, 0.0, 100.0]
    values += list(rng.integers(0, 10_000_000, 3000) / 100_000) + list(rng.uniform(0, 100, 1000))
    frame = spark.createDataFrame([(float(v),) for v in values], "x double")
    want = [row[0] for row in frame.select(F.round("x", 4)).collect()]
    got = spark_round(np.array(values), 4)
    assert got[0] == 12.3457 and np.round(12.34565, 4) == 12.3456
    assert [i for i, (a, b) in enumerate(zip(got, want)) if a != b] == []
