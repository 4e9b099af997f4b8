import json
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession

from pipelines.quality.gx_runner import ExpectationSpec, SuiteOutcome, build_data_docs, validate_dataframe


@pytest.fixture(scope="session")
def spark():
    session = (
        SparkSession.builder.master("local[1]")
        .appName("test_gx_runner")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def people(spark):
    # Awkward on purpose: person_id 3 twice, one null household, one null age,
    # an out-of-set district code, decimal incomes with a null.
    rows = [
        (1, "H001", "D01", 34, Decimal("1200.50")),
        (2, "H001", "D02", 7, None),
        (3, "H002", "D01", None, Decimal("800.00")),
        (3, "H003", "X99", 61, Decimal("950.25")),
        (4, None, "D02", 45, Decimal("0.00")),
    ]
    schema = "person_id int, household_id string, district_code string, age int, income decimal(10,2)"
    return spark.createDataFrame(rows, schema)


E = ExpectationSpec
SPECS = [
    E("unique", "person_id", {}, critical=True, name="person_id is unique"),
    E("not_null", "household_id", {"mostly": 0.8}, critical=True, name="household 80%"),
    E("not_null", "household_id", {"mostly": 0.81}, name="household 81%"),
    E("in_set", "district_code", {"value_set": ["D01", "D02"]}, name="district known"),
    E("in_set", "district_code", {"value_set": ["D01", "D02"], "mostly": 0.8}, name="district 80%"),
    E("not_null", "age", {}, critical=True, name="age never null"),
    E("row_count_between", None, {"min_value": 5, "max_value": 5}, critical=True, name="rows == 5"),
    E("row_count_between", None, {"min_value": 6, "max_value": None}, name="rows >= 6"),
    E("row_count_between", None, {"min_value": None, "max_value": 4}, name="rows <= 4"),
    E("mean_between", "age", {"min_value": 30, "max_value": 40}, name="mean age"),
    E("mean_between", "income", {"min_value": 0, "max_value": 500}, name="mean income"),
    E("regex", "household_id", {"regex": r"^H\d{3}$"}, name="household id format"),
    E("not_null", "no_such_column", {}, name="missing column"),
    E("compound_unique", None, {"column_list": ["person_id", "household_id"]}, critical=True, name="pair unique"),
]


@pytest.fixture(scope="module")
def outcome(people) -> SuiteOutcome:
    return validate_dataframe(people, "people_raw", SPECS)


def by_name(outcome: SuiteOutcome) -> dict:
    return {o.name: o for o in outcome.outcomes}


def test_outcomes_follow_spec_order(outcome):
    assert [o.name for o in outcome.outcomes] == [s.name for s in SPECS]
    assert outcome.suite_name == "people_raw"
    assert outcome.success is False


def test_compound_key_is_unique_only_where_no_combination_repeats(spark, outcome):
    # person 3 twice, but with households H002 and H003: every pair is distinct.
    assert by_name(outcome)["pair unique"].success is True
    deliveries = spark.createDataFrame(
        [("d1", "K1"), ("d1", "K1"), ("d2", "K1"), ("d1", "K2")], "day string, key string"
    )
    spec = E("compound_unique", None, {"column_list": ["day", "key"]}, critical=True, name="key within a day")
    [repeated] = validate_dataframe(deliveries, "keys", [spec]).outcomes
    assert repeated.success is False and repeated.details["unexpected_count"] == 2  # (d1, K1) twice


def test_duplicate_key_fails_unique(outcome):
    unique = by_name(outcome)["person_id is unique"]
    assert unique.success is False
    assert unique.details["unexpected_count"] == 2
    assert unique.details["partial_unexpected_list"] == [3, 3]
    assert unique.observed == pytest.approx(40.0)


def test_mostly_threshold_boundary(outcome):
    results = by_name(outcome)
    # 1 of 5 household ids is null: 80% present.
    assert results["household 80%"].success is True
    assert results["household 81%"].success is False
    assert results["household 80%"].details["unexpected_count"] == 1
    # 1 of 5 district codes is out of the set.
    assert results["district 80%"].success is True


def test_in_set_detects_bad_code(outcome):
    district = by_name(outcome)["district known"]
    assert district.success is False
    assert district.details["partial_unexpected_list"] == ["X99"]
    assert district.observed == pytest.approx(20.0)


def test_row_count_between(outcome):
    results = by_name(outcome)
    assert results["rows == 5"].success is True
    assert results["rows == 5"].observed == 5
    assert results["rows >= 6"].success is False
    assert results["rows <= 4"].success is False


def test_mean_and_regex(outcome):
    results = by_name(outcome)
    assert results["mean age"].success is True
    assert results["mean age"].observed == pytest.approx(36.75)
    assert results["mean income"].success is False
    assert results["mean income"].observed == pytest.approx(737.6875)  # decimal mean, as a float
    assert results["household id format"].success is True  # the null is not a mismatch


def test_missing_column_is_a_failure_not_a_crash(outcome):
    missing = by_name(outcome)["missing column"]
    assert missing.success is False
    assert "no_such_column" in missing.details["error"]


def test_critical_failures_are_exactly_the_failing_critical_specs(outcome):
    assert [o.name for o in outcome.critical_failures] == ["person_id is unique", "age never null"]
    assert all(o.critical and not o.success for o in outcome.critical_failures)


def test_to_dict_is_json_serialisable(outcome):
    data = json.loads(json.dumps(outcome.to_dict(), allow_nan=False))
    assert data["suite_name"] == "people_raw"
    assert len(data["outcomes"]) == len(SPECS)
    assert [o["name"] for o in data["critical_failures"]] == [
        "person_id is unique",
        "age never null",
    ]


def test_dataframe_is_left_uncached(people, outcome):
    assert not people.storageLevel.useMemory and not people.storageLevel.useDisk


def test_caller_cache_is_kept(people):
    cached = people.where("age > 10").cache()
    try:
        result = validate_dataframe(cached, "adults", [E("not_null", "age", {})])
        assert result.success is True
        assert cached.storageLevel.useMemory
    finally:
        cached.unpersist()


def test_unknown_kind_and_bad_params_raise():
    with pytest.raises(ValueError, match="not_a_kind"):
        ExpectationSpec("not_a_kind", "x", {})
    with pytest.raises(ValueError, match="value_set"):
        ExpectationSpec("in_set", "x", {})
    with pytest.raises(ValueError, match="needs a column"):
        ExpectationSpec("unique", None, {})


def test_data_docs_and_repeated_suite_names(people, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "docs"
    specs = [
        ExpectationSpec("row_count_between", None, {"min_value": 1, "max_value": None}),
        ExpectationSpec("regex", "household_id", {"regex": r"^H\d{3}$"}),
    ]
    first = validate_dataframe(people, "households_clean", specs, docs_dir=docs)
    second = validate_dataframe(people, "households_clean", specs, docs_dir=docs)
    other = validate_dataframe(people, "people_keys", SPECS[:1], docs_dir=docs)

    assert first.success and second.success
    assert first.critical_failures == []
    assert other.success is False and len(other.critical_failures) == 1

    assert build_data_docs(tmp_path / "nothing-kept") is None
    assert not (docs / "index.html").exists()  # rendered once, for all three
    assert build_data_docs(docs) == docs.resolve() / "index.html"
    index = (docs / "index.html").read_text()
    assert "households_clean" in index and "people_keys" in index
    pages = sorted(docs.glob("validations/households_clean/**/*.html"))
    assert len(pages) == 2  # each call added its own validation page
    assert all(str(p.relative_to(docs)) in index for p in pages)
    # Nothing was written outside docs_dir (in particular no gx/ project folder).
    assert [p.name for p in tmp_path.iterdir()] == ["docs"]


def test_counts_without_example_values(people, monkeypatch):
    # The ingestion gate's mode: counts and rates only, no values of the column, and no cache.
    persisted = []
    real_persist = type(people).persist
    monkeypatch.setattr(type(people), "persist", lambda df, *a: persisted.append(df) or real_persist(df, *a))
    validate_dataframe(people, "people_cached", SPECS[:1])
    assert len(persisted) == 1  # by default GX persists the DataFrame it validates
    persisted.clear()
    result = validate_dataframe(people, "people_counts", SPECS[:4], examples=0, cache=False)
    assert persisted == []
    unique, household_80, _, district = result.outcomes
    assert unique.success is False and unique.details["unexpected_count"] == 2  # person 3 twice
    assert unique.observed == pytest.approx(40.0)
    assert household_80.success is True and household_80.details["unexpected_count"] == 1
    assert district.success is False and district.details["unexpected_count"] == 1  # X99
    assert all("partial_unexpected_list" not in o.details for o in result.outcomes)
    assert "X99" not in json.dumps(result.to_dict())
