"""The second wave's departments as delivered (interfaces.md): disability, agriculture,
vehicles, businesses and real estate land like the core three, with their bad rows
quarantined; a source never delivered is absent, not an error, until its first delivery;
and the hand-written deliveries give the hand-computed profile."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.contracts import load_contracts
from pipelines.contracts.files import schemas_dir
from pipelines.ingest.run import ingest
from pipelines.lake import Lake
from pipelines.policy import load_policy
from pipelines.profile.indicators import load_indicators
from pipelines.quality import QualityGateFailed
from pipelines.quality.gate import freshness
from pipelines.settings import PROJECT_ROOT
from pipelines.snapshot import build_snapshot
from tests.deliveries import payments_csv, resident_id, residents_csv, settlements_csv, write_delivery

CONTRACTS = load_contracts(PROJECT_ROOT / "schemas" / "sources")
D = date(2026, 11, 28)
HEAD = resident_id("371402", "19800101", 11)
SON = resident_id("371402", "20100303", 31)
STRANGER = resident_id("371481", "19700101", 15)  # in no registry
CREDIT = "91350100M000100Y43"  # GB 32100-2015, valid


def _core(landing: Path) -> None:
    write_delivery(
        landing,
        "residents",
        "2026-11-27",
        {
            "residents_1.csv": residents_csv(
                [
                    f"{HEAD},张三,1,19800101,H1,01,371402001001,2,1,",
                    f"{SON},张小明,1,20100303,H1,03,371402001001,2,1,",
                ]
            )
        },
    )
    write_delivery(
        landing,
        "medical_settlements",
        "2026-11-26",
        {"settlements.csv": settlements_csv([f"S1,{HEAD},outpatient,,,,100,60,40,2026-11-20"])},
    )
    write_delivery(
        landing, "social_security", "2026-11-10", {"payments.csv": payments_csv([f"P1,{HEAD},202610,pension,300"])}
    )


@pytest.fixture(scope="module")
def landed(spark, tmp_path_factory):
    """The core three, disability and businesses delivered (one bad row each), agriculture
    in GB18030 with Chinese headers, real estate (declared without code: two bad rows),
    vehicles never delivered; everything landed on D."""
    base = tmp_path_factory.mktemp("second-wave")
    landing, lake = base / "landing", Lake(base / "lake")
    _core(landing)
    write_delivery(
        landing,
        "disability",
        "2026-11-15",
        {
            "disability_1.csv": "person_id,disability_type,grade,certificate_date\n"
            f"{SON},5,2,2019-06-01\n"
            f"{HEAD},4,9,2021-01-01\n"  # grade 9 does not exist
        },
    )
    write_delivery(
        landing,
        "agriculture",
        "2026-03-01",
        {"holdings.csv": "户号,项目,数量,登记年度\nH1,粮食耕地,6,2026\nH1,grain_land,6.5,2026\nH1,cattle,2,2026\n"},
        encoding="gb18030",
    )
    write_delivery(
        landing,
        "businesses",
        "2026-11-20",
        {
            "businesses.csv": "credit_code,person_id,role,enterprise_type,registered_capital,status\n"
            f"{CREDIT},{HEAD},legal_rep,individual,80000,active\n"
            f"{CREDIT[:-1]}4,{STRANGER},investor,company,1000000,active\n"  # wrong check character
        },
    )
    write_delivery(
        landing,
        "property",
        "2026-11-25",
        {
            "property_1.csv": "property_id,person_id,property_type,floor_area,status\n"
            f"R1,{HEAD},residential,89.50,registered\n"
            f"R2,{HEAD},industrial,300,registered\n"  # not a property type of the registry
            f"R3,{SON},residential,-1,registered\n"  # a negative floor area
        },
    )
    report = ingest(spark, lake, landing, CONTRACTS, as_of=D)
    return lake, report


def test_each_new_source_lands_with_its_bad_rows_quarantined_and_counted(landed):
    lake, report = landed
    by_source = {r.source: r for r in report.results}
    assert "vehicles" not in by_source  # never delivered: nothing to land
    expected = {  # source: (read, kept, quarantined, reasons)
        "disability": (2, 1, 1, {"grade:not_in_codes": 1}),
        "agriculture": (3, 2, 1, {"item:not_in_codes": 1}),  # the Chinese item name is not a code
        "businesses": (2, 1, 1, {"credit_code:bad_check_character": 1}),
        "property": (3, 1, 2, {"property_type:not_in_codes": 1, "floor_area:below_minimum": 1}),
    }
    for source, (read, kept, bad, reasons) in expected.items():
        r = by_source[source]
        assert (r.status, r.rows_read, r.rows_kept, r.rows_quarantined) == ("landed", read, kept, bad), source
        assert r.quarantined_by_reason == reasons, source
    holdings = pd.read_parquet(lake.root / "bronze/agriculture/extract_date=2026-03-01")
    assert sorted(zip(holdings["household_id"], holdings["item"], holdings["quantity"].astype(float))) == [
        ("H1", "cattle", 2.0),
        ("H1", "grain_land", 6.5),
    ]
    quarantined = pd.read_parquet(lake.root / "quarantine/businesses/extract_date=2026-11-20")
    assert list(quarantined["line_number"]) == [3]


def test_a_source_never_delivered_is_absent_and_the_others_are_dated(landed):
    lake, _ = landed
    fresh = freshness(lake, CONTRACTS, D)
    assert fresh["vehicles"] == {"last_delivery": None, "staleness_days": None, "limit_days": 60, "absent": True}
    assert fresh["agriculture"] == {"last_delivery": "2026-03-01", "staleness_days": 272, "limit_days": 400}
    assert fresh["disability"] == {"last_delivery": "2026-11-15", "staleness_days": 13, "limit_days": 60}
    # This city's deliveries stop at the first half of the second wave.
    absent = ["assistance_roll", "relapse_monitoring", "vehicles", "visit_outcomes"]
    assert sorted(s for s, f in fresh.items() if f.get("absent")) == absent
    # The quality report of the night lists every delivered source's suite.
    report = json.loads((lake.run_dir(D) / "ingest.json").read_text())
    assert set(report["quality"]) == {
        "residents",
        "medical_settlements",
        "social_security",
        "disability",
        "agriculture",
        "businesses",
        "property",
    }
    assert (lake.run_dir(D) / "quality/data_docs/index.html").exists()


def test_once_delivered_a_new_source_has_its_staleness_limit(landed):
    lake, _ = landed
    disability = {"disability": CONTRACTS["disability"]}
    assert freshness(lake, disability, date(2027, 1, 14))["disability"]["staleness_days"] == 60
    with pytest.raises(QualityGateFailed, match="disability: last delivery 2026-11-15 is 61 days old"):
        freshness(lake, disability, date(2027, 1, 15))


def test_a_core_source_is_required_before_its_first_delivery(landed):
    lake, _ = landed
    with pytest.raises(QualityGateFailed, match="residents: no delivery landed on or before 2026-11-26"):
        freshness(lake, CONTRACTS, date(2026, 11, 26))
    # A new source is absent on a night before its first delivery, too.
    assert freshness(lake, {"disability": CONTRACTS["disability"]}, date(2026, 11, 14))["disability"]["absent"]


def test_the_staleness_dates_used_are_the_last_deliveries_on_or_before_the_night(landed):
    lake, _ = landed
    day = date(2026, 11, 27)
    fresh = freshness(lake, CONTRACTS, day)
    assert (fresh["businesses"]["last_delivery"], fresh["businesses"]["staleness_days"]) == ("2026-11-20", 7)
    assert (fresh["agriculture"]["last_delivery"], fresh["agriculture"]["staleness_days"]) == ("2026-03-01", 271)


def test_the_hand_written_deliveries_make_the_hand_computed_profile(landed, spark):
    """H1 (rural, standard 666): the head aged 46 with 300 of pension in one month of the
    window, and a son aged 16 with a grade 2 disability. Farm income from the landed rows
    only (the quarantined 粮食耕地 row does not count); the head's individual business of
    80,000 and his one home are no assets."""
    lake, _ = landed
    policy = load_policy()
    build_snapshot(
        spark, lake, CONTRACTS, policy, load_indicators(schemas_dir() / "indicators"), as_of=D, key=b"k" * 32
    )
    [h1] = pd.read_parquet(lake.root / f"restricted/alerts/snapshot_date={D}").to_dict("records")
    [profile] = pd.read_parquet(lake.root / f"gold/household_profile/snapshot_date={D}").to_dict("records")
    farm = (6.5 * 500 + 2 * 1500) / 12  # 520.83 a month
    income = 300 / 12 + farm
    ratio = income / 2 / 666
    assert profile["farm_income"] == pytest.approx(farm)
    assert profile["income"] == pytest.approx(income)
    assert profile["income_ratio"] == pytest.approx(ratio)
    assert (profile["severely_disabled"], profile["dependents"], profile["able_working_age"]) == (1, 1, 1)
    expected = 100 * (0.40 * (1 - ratio / 2) + 0.20 * 40 / (12 * 666 * 2) + 0.15 * 1 / 2 + 0.10 * 1)
    assert profile["hardship_index"] == pytest.approx(round(expected, 4))
    assert list(profile["asset_flags"]) == []
    assert list(h1["groups"]) == ["DISABLED", "MINOR", "SINGLE_PARENT", "UNEMPLOYED_ABLE"]
    assert list(h1["categories"]) == ["DIBAO"]  # the son is not a dependent by age: not TEKUN
    assert h1["farm_income"] == pytest.approx(farm)
    assert list(h1["rules"]) == ["TOP_INDEX", "LOW_INCOME"]  # the only household: k = ceil(0.05) = 1
