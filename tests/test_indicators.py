"""Indicators by declaration: what a declaration may say, what is refused before any work
(each message naming the file or the indicator), and a new indicator evaluated from its
declaration alone over hand-written rows."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import pytest

from pipelines.contracts import load_contracts
from pipelines.contracts.files import schemas_dir
from pipelines.policy import load_policy
from pipelines.profile.household import household_profiles, standards_table
from pipelines.profile.indicators import (
    Indicator,
    IndicatorError,
    check_indicators,
    load_indicators,
    ordered,
    render,
)
from tests.deliveries import PAYMENT_COLUMNS, RESIDENT_COLUMNS, SETTLEMENT_COLUMNS

POLICY = load_policy()
CONTRACTS = load_contracts(schemas_dir() / "sources")
SHIPPED = schemas_dir() / "indicators"
D = date(2026, 11, 28)


def declared(**fields) -> Indicator:
    return Indicator.model_validate({"description": "a test indicator", **fields})


def test_the_shipped_declarations_check_against_the_contracts_and_the_policy():
    indicators = load_indicators(SHIPPED)
    check_indicators(indicators, CONTRACTS, POLICY)
    names = [i.name for i in indicators]
    # Dependency order: an indicator comes after every indicator its expressions name.
    assert names.index("is_child") < names.index("is_working_age") < names.index("working_age_without_wage")
    assert names.index("income") < names.index("per_capita_income")


def test_settings_become_sql_literals():
    assert render("age < ${index.child_age_below}", POLICY) == "age < 16"
    assert render("x IN ${index.illness_visit_types}", POLICY) == "x IN ('inpatient', 'chronic_outpatient')"
    assert render("${index.shock_out_of_pocket_multiple} * s", POLICY) == "3.0D * s"
    assert render("c >= ${assets.individual_business_min_capital}", POLICY) == "c >= 100000.0D"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "a", "level": "person", "source": "residents"}, "needs `aggregate`"),
        ({"name": "a", "level": "person", "source": "residents", "expression": "1", "aggregate": "count"}, "either"),
        ({"name": "a", "level": "person", "expression": "1", "filter": "x"}, "takes no filter"),
        ({"name": "a", "level": "person", "source": "residents", "aggregate": "sum"}, "needs `value` or `money`"),
        ({"name": "a", "level": "person", "source": "members", "aggregate": "count"}, "household indicator"),
        ({"name": "a", "level": "person", "expression": "1", "flag": {"set": "s", "label": "A"}}, "household"),
        ({"name": "a", "level": "household", "source": "x", "aggregate": "count", "value": "1"}, "no `value`"),
        ({"name": "A", "level": "person", "expression": "1"}, "name"),
        ({"name": "a", "level": "person", "source": "r", "aggregate": "count", "window": {"column": "d"}}, "months or"),
    ],
)
def test_a_malformed_declaration_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        declared(**fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "a", "level": "person", "source": "property_tax", "aggregate": "count"}, "no source contract"),
        ({"name": "a", "level": "person", "source": "agriculture", "aggregate": "count", "default": 0}, "person_id"),
        (
            {
                "name": "a",
                "level": "person",
                "source": "social_security",
                "aggregate": "count",
                "window": {"column": "month", "months": 3},
            },
            "window column month",
        ),
        (
            {"name": "a", "level": "person", "source": "social_security", "aggregate": "sum", "money": "item"},
            "not a decimal",
        ),
        (
            {"name": "a", "level": "person", "source": "disability", "aggregate": "any"},
            "may never be delivered",
        ),
        (
            {
                "name": "a",
                "level": "household",
                "source": "residents",
                "aggregate": "sum",
                "money": "x",
                "lookup": "farm_net_returns",
            },
            "money column x",
        ),
        ({"name": "a", "level": "household", "expression": "${index.no_such_setting} > 1"}, "no policy setting"),
        (
            {
                "name": "a",
                "level": "person",
                "source": "social_security",
                "aggregate": "count",
                "window": {"column": "period", "months": "${index.weights}"},
            },
            "positive whole number",
        ),
        ({"name": "size", "level": "household", "expression": "1"}, "has already"),
    ],
)
def test_a_declaration_that_does_not_fit_the_contracts_or_policy_is_refused_naming_it(fields, message):
    with pytest.raises(IndicatorError, match=rf"indicator a?.*{message}|{message}"):
        check_indicators([declared(**fields)], CONTRACTS, POLICY)


def test_levels_are_kept_apart():
    household = declared(name="h", level="household", expression="1")
    person_uses_household = declared(name="p", level="person", expression="h > 0")
    with pytest.raises(IndicatorError, match="indicator p: a person indicator cannot use household indicator h"):
        check_indicators([household, person_uses_household], CONTRACTS, POLICY)
    person = declared(name="p", level="person", expression="age > 1")
    household_uses_person = declared(name="h", level="household", expression="p")
    with pytest.raises(IndicatorError, match="through a `source: members` aggregate"):
        check_indicators([person, household_uses_person], CONTRACTS, POLICY)


def test_a_cycle_and_a_name_given_twice_are_refused():
    a = declared(name="a", level="household", expression="b + 1")
    b = declared(name="b", level="household", expression="a + 1")
    with pytest.raises(IndicatorError, match="a, b refer to each other in a cycle"):
        ordered([a, b])
    with pytest.raises(IndicatorError, match="a is declared twice"):
        ordered([a, a])


def test_a_file_is_named_in_its_error(tmp_path):
    (tmp_path / "wrong.yaml").write_text("name: other\ndescription: d\nlevel: person\nexpression: '1'\n")
    with pytest.raises(IndicatorError, match=r"wrong\.yaml: indicator name 'other' differs from its file name"):
        load_indicators(tmp_path)
    (tmp_path / "wrong.yaml").write_text("name: wrong\nlevel: person\nexpression: '1'\n")
    with pytest.raises(IndicatorError, match=r"wrong\.yaml: description: Field required"):
        load_indicators(tmp_path)


def test_a_new_indicator_is_a_file(spark, tmp_path):
    """A data item added by declaration only: months with a pension paid in the last 6 months,
    per household, from the social security deliveries."""
    folder = tmp_path / "indicators"
    shutil.copytree(SHIPPED, folder)
    (folder / "pension_months.yaml").write_text(
        "name: pension_months\n"
        "description: Pension payments of the person in the 6 months before D's month\n"
        "level: person\nsource: social_security\nfilter: \"item = 'pension'\"\n"
        "window: {column: period, months: 6}\naggregate: count\ndefault: 0\n",
        encoding="utf-8",
    )
    (folder / "pension_months_total.yaml").write_text(
        "name: pension_months_total\ndescription: Members' pension months\n"
        "level: household\nsource: members\nvalue: pension_months\naggregate: sum\n",
        encoding="utf-8",
    )
    indicators = load_indicators(folder)
    check_indicators(indicators, CONTRACTS, POLICY)
    born = date(1950, 1, 1)
    residents = spark.createDataFrame(
        [
            ("a", "n", "1", born, "H1", "01", "371402001001", "1", "1", None),
            ("b", "n", "2", born, "H1", "02", "371402001001", "1", "1", None),
            ("c", "n", "1", born, "H2", "01", "371402001001", "1", "1", None),
        ],
        RESIDENT_COLUMNS,
    )
    # D = 2026-11-28: the 6 months are 2026-05..2026-10. a: 4 of them (2026-04 and 2026-11 are
    # outside); b: 2 plus one wage; c: none.
    pension = [("a", m) for m in ("2026-04", "2026-05", "2026-06", "2026-09", "2026-10", "2026-11")]
    pension += [("b", "2026-07"), ("b", "2026-08")]
    payments = spark.createDataFrame(
        [(f"r{i}", p, m, "pension", Decimal("100.00")) for i, (p, m) in enumerate(pension)]
        + [("w", "b", "2026-07", "wage_contribution", Decimal("3000.00"))],
        PAYMENT_COLUMNS,
    )
    inputs = {
        "residents": residents,
        "social_security": payments,
        "medical_settlements": spark.createDataFrame([], SETTLEMENT_COLUMNS),
    }
    rows = household_profiles(inputs, standards_table(spark, POLICY, D), {}, indicators, POLICY, D).collect()
    found = {r["household_id"]: r["pension_months_total"] for r in rows}
    assert found == {"H1": 4 + 2, "H2": 0}
