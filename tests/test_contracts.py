"""Contracts are the single source of truth: contract -> Spark schema -> row checks ->
Great Expectations suite, and a malformed contract fails naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pyspark.sql import types as T

from pipelines.contracts import ContractError, load_contract, load_contracts
from pipelines.contracts.derive import bronze_schema
from pipelines.quality.expectations import answered_by_row_checks, expectation_suite
from pipelines.settings import PROJECT_ROOT

SOURCES = PROJECT_ROOT / "schemas" / "sources"


def test_contracts_load_with_the_registry_first_then_snapshot_sources():
    contracts = load_contracts(SOURCES)
    # The registry first (the others' orphan checks refer to it), then the other snapshot
    # sources, then the incremental ones, each group by name.
    assert list(contracts) == [
        "residents",
        "agriculture",
        "assistance_roll",
        "businesses",
        "disability",
        "property",
        "relapse_monitoring",
        "vehicles",
        "medical_settlements",
        "social_security",
        "visit_outcomes",
    ]
    # Only the core three are required before a night can run; the second wave may be absent.
    assert [n for n, c in contracts.items() if c.delivery.required] == [
        "residents",
        "medical_settlements",
        "social_security",
    ]
    assert contracts["residents"].personal_columns == ["person_id", "name"]
    assert contracts["businesses"].personal_columns == ["credit_code", "person_id"]
    assert contracts["agriculture"].delivery.encoding == "GB18030"
    assert contracts["residents"].delivery.encoding == "GB18030"
    assert contracts["social_security"].delivery.encoding == "UTF-8-SIG"


def test_contract_round_trip_to_spark_schema_and_expectation_suite(tmp_path: Path):
    contract_file = tmp_path / "vehicles.yaml"
    contract_file.write_text(
        yaml.safe_dump(
            {
                "name": "vehicles",
                "title": "Vehicles",
                "department": "traffic police",
                "delivery": {
                    "mode": "snapshot",
                    "files": "vehicles*.csv",
                    "encoding": "UTF-8",
                    "max_staleness_days": 7,
                },
                "key": ["plate"],
                "columns": [
                    {"header": "号牌", "name": "plate", "type": "string", "description": "plate number"},
                    {"header": "owner", "name": "owner_id", "type": "resident_id", "personal": True},
                    {"header": "kind", "name": "kind", "type": "code", "codes": {"K1": "car", "H1": "truck"}},
                    {"header": "registered", "name": "registered_on", "type": "date", "format": "yyyy-MM-dd"},
                    {
                        "header": "value",
                        "name": "value",
                        "type": "decimal",
                        "precision": 12,
                        "scale": 2,
                        "required": False,
                        "max_null_rate": 0.3,
                    },
                ],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    contract = load_contract(contract_file)

    schema = bronze_schema(contract)
    assert [(f.name, f.dataType, f.nullable) for f in schema.fields] == [
        ("plate", T.StringType(), False),
        ("owner_id", T.StringType(), False),
        ("kind", T.StringType(), False),
        ("registered_on", T.DateType(), False),
        ("value", T.DecimalType(12, 2), True),
        ("source_file", T.StringType(), False),
        ("line_number", T.LongType(), False),
    ]
    assert schema["plate"].metadata["comment"] == "plate number"
    assert schema["owner_id"].metadata["personal"] is True

    suite = {(s.kind, s.column): s for s in expectation_suite(contract, orphans_checked=False, row_count_checked=False)}
    assert suite[("compound_unique", None)].params == {"column_list": ["extract_date", "plate"]}
    assert suite[("compound_unique", None)].critical
    assert suite[("in_set", "kind")].params == {"value_set": ["H1", "K1"]}
    assert suite[("not_null", "value")].params == {"mostly": 0.7} and not suite[("not_null", "value")].critical
    assert {col for kind, col in suite if kind == "not_null" and suite[(kind, col)].critical} == {
        "plate",
        "owner_id",
        "kind",
        "registered_on",
    }
    # What the row checks answer (reported from their counts, not scanned by GX).
    answered = {key: answered_by_row_checks(spec, contract) for key, spec in suite.items()}
    assert {key: reasons for key, reasons in answered.items() if reasons} == {
        ("compound_unique", None): ("key:conflicting_duplicate", "key:duplicate_line"),
        ("not_null", "plate"): ("plate:missing",),
        ("not_null", "owner_id"): ("owner_id:missing",),
        ("not_null", "kind"): ("kind:missing",),
        ("not_null", "registered_on"): ("registered_on:missing",),
        ("in_set", "kind"): ("kind:not_in_codes",),
    }
    assert answered[("not_null", "value")] is None


@pytest.mark.parametrize(
    "key,answered",
    [
        (["plate"], True),  # one free-text field
        (["plate", "owner_id", "kind", "registered_on"], True),  # the others have a strict shape
        (["plate", "note"], False),  # two free-text fields: "a<sep>b" + "c" and "a" + "b<sep>c" join alike
        (["value"], False),  # 1.5 and 1.50 are one value
        (["plate", "value"], False),
    ],
)
def test_the_key_is_answered_by_the_row_checks_only_where_delivered_and_typed_keys_agree(tmp_path, key, answered):
    columns = [
        {"header": "plate", "name": "plate", "type": "string"},
        {"header": "note", "name": "note", "type": "string"},
        {"header": "owner", "name": "owner_id", "type": "resident_id"},
        {"header": "kind", "name": "kind", "type": "code", "codes": {"K1": "car"}},
        {"header": "registered", "name": "registered_on", "type": "date", "format": "yyyy-MM-dd"},
        {"header": "value", "name": "value", "type": "decimal", "precision": 12, "scale": 2},
    ]
    contract_file = tmp_path / "keyed.yaml"
    contract_file.write_text(
        yaml.safe_dump(
            {
                "name": "keyed",
                "title": "keyed",
                "department": "test",
                "delivery": {"mode": "snapshot", "files": "k*.csv", "encoding": "UTF-8", "max_staleness_days": 7},
                "key": key,
                "columns": columns,
            }
        ),
        encoding="utf-8",
    )
    contract = load_contract(contract_file)
    [unique] = [
        s
        for s in expectation_suite(contract, orphans_checked=False, row_count_checked=False)
        if s.kind == "compound_unique"
    ]
    reasons = answered_by_row_checks(unique, contract)
    assert reasons == (("key:conflicting_duplicate", "key:duplicate_line") if answered else None)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"key": ["nope"]}, "key column nope is not a column"),
        ({"columns": [{"header": "a", "name": "a", "type": "code"}]}, "type code needs 'codes'"),
        ({"columns": [{"header": "a", "name": "a", "type": "date"}]}, "type date needs 'format'"),
        ({"columns": [{"header": "a", "name": "a", "type": "float"}]}, "columns.0.type"),
        (
            {"delivery": {"mode": "weekly", "files": "x*.csv", "encoding": "UTF-8", "max_staleness_days": 1}},
            "delivery.mode",
        ),
        (
            {"delivery": {"mode": "snapshot", "files": "x*.csv", "encoding": "klingon", "max_staleness_days": 1}},
            "unknown encoding",
        ),
        (
            {"rules": [{"name": "r", "description": "d", "uses": ["zz"], "check": "true"}]},
            "rule r uses unknown columns: zz",
        ),
        (
            {"quality": {"same_within": {"column": "a", "group": "family_id", "max": 0.0}}},
            "same_within group family_id is not a column",
        ),
    ],
)
def test_malformed_contract_names_file_and_problem(tmp_path: Path, change: dict, message: str):
    base = {
        "name": "x",
        "title": "X",
        "department": "d",
        "delivery": {"mode": "snapshot", "files": "x*.csv", "encoding": "UTF-8", "max_staleness_days": 1},
        "key": ["a"],
        "columns": [{"header": "a", "name": "a", "type": "string"}],
    }
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump({**base, **change}), encoding="utf-8")
    with pytest.raises(ContractError) as err:
        load_contract(path)
    assert str(path) in str(err.value) and message in str(err.value)
