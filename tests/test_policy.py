"""Policy configuration: defaults from domain.md, and a bad configuration fails before
any work, naming the problem."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from pipelines.contracts import load_contracts
from pipelines.policy import ConfigError, load_policy
from pipelines.settings import PROJECT_ROOT

# The codes the departments deliver, as their contracts state them (interfaces.md).
_CONTRACTS = load_contracts(PROJECT_ROOT / "schemas" / "sources")
CONTRACT_CODES = {
    "farm_net_returns.item": list(_CONTRACTS["agriculture"].column("item").codes or {}),
    "assets.vehicle_classes": list(_CONTRACTS["vehicles"].column("vehicle_class").codes or {}),
    "assets.business_roles": list(_CONTRACTS["businesses"].column("role").codes or {}),
    "disability.severe_grades": list(_CONTRACTS["disability"].column("grade").codes or {}),
}


def _config(tmp_path: Path, payload: dict) -> Path:
    path = tmp_path / "lipmon.yaml"
    path.write_text(yaml.safe_dump(payload), encoding="utf-8")
    return path


def test_defaults_follow_the_domain():
    policy = load_policy()
    assert policy.index.weights == {
        "income": 0.40,
        "medical": 0.20,
        "dependency": 0.15,
        "unemployment": 0.10,
        "illness": 0.10,
        "shock": 0.05,
    }
    assert (policy.alerts.top_share, policy.alerts.top_scope, policy.alerts.low_income_multiple) == (0.05, "city", 2)
    assert policy.standard("371402", "urban", date(2026, 11, 28)) == 814
    assert policy.standard("371482", "rural", date(2026, 11, 28)) == 666


def test_weights_not_summing_to_one_fail(tmp_path):
    path = _config(
        tmp_path,
        {
            "index": {
                "weights": {
                    "income": 0.5,
                    "medical": 0.2,
                    "dependency": 0.15,
                    "unemployment": 0.1,
                    "illness": 0.1,
                    "shock": 0.05,
                }
            }
        },
    )
    with pytest.raises(ConfigError, match="weights must sum to 1, they sum to 1.1"):
        load_policy(path)


def test_overlapping_standard_periods_fail(tmp_path):
    path = _config(
        tmp_path,
        {
            "dibao_standards": [
                {"county": "371402", "residence_type": "urban", "effective_from": "2025-01-01", "monthly_amount": 800},
                {"county": "371402", "residence_type": "urban", "effective_from": "2026-01-01", "monthly_amount": 850},
            ]
        },
    )
    with pytest.raises(ConfigError, match="county 371402, urban overlap"):
        load_policy(path)


def test_county_without_a_standard_in_force_fails_naming_it(tmp_path):
    path = _config(
        tmp_path,
        {
            "dibao_standards": [
                {"county": "*", "residence_type": "urban", "effective_from": "2026-01-01", "monthly_amount": 800},
                {"county": "*", "residence_type": "rural", "effective_from": "2026-01-01", "monthly_amount": 700},
                {"county": "371402", "residence_type": "rural", "effective_from": "2027-01-01", "monthly_amount": 700},
            ]
        },
    )
    policy = load_policy(path)
    with pytest.raises(ConfigError, match="no dibao standard in force on 2025-12-31 for county 371402"):
        policy.standards_on(date(2025, 12, 31))


def test_a_change_of_standard_applies_from_its_effective_date(tmp_path):
    path = _config(
        tmp_path,
        {
            "dibao_standards": [
                {
                    "county": "*",
                    "residence_type": "urban",
                    "effective_from": "2020-01-01",
                    "effective_to": "2026-07-01",
                    "monthly_amount": 814,
                },
                {"county": "*", "residence_type": "urban", "effective_from": "2026-07-01", "monthly_amount": 900},
                {"county": "*", "residence_type": "rural", "effective_from": "2020-01-01", "monthly_amount": 666},
            ]
        },
    )
    policy = load_policy(path)
    assert policy.standard("371402", "urban", date(2026, 6, 30)) == 814
    assert policy.standard("371402", "urban", date(2026, 7, 1)) == 900


def test_unknown_setting_is_named(tmp_path):
    with pytest.raises(ConfigError, match="alerts.top_shar"):
        load_policy(_config(tmp_path, {"alerts": {"top_shar": 0.1}}))


def test_second_wave_defaults_follow_the_domain():
    policy = load_policy()
    on = date(2026, 11, 28)
    # Yuyang's annual net returns, yuan per mu or head.
    expected = {
        "grain_land": 500,
        "cash_crop_land": 1200,
        "orchard": 1500,
        "greenhouse": 6000,
        "cattle": 1500,
        "pig": 200,
        "sheep": 150,
        "poultry": 8,
    }
    assert {item: policy.farm_return("371402", item, on) for item in expected} == expected
    table = policy.farm_returns_on(on, list(expected))
    assert len(table) == len(policy.counties) * 8 and ("371482", "poultry", 8) in table
    policy.check_codes(CONTRACT_CODES)  # the defaults name only codes the departments deliver
    assert (policy.assets.vehicle_classes, policy.assets.business_roles) == (
        ["passenger_car", "truck"],
        ["legal_rep", "investor"],
    )
    assert policy.assets.individual_business_min_capital == 100_000
    assert policy.disability.severe_grades == ["1", "2"]


def test_a_county_sets_its_own_farm_return_from_a_date(tmp_path):
    defaults = load_policy().model_dump(mode="json")["farm_net_returns"]
    own = [
        {"county": "371423", "item": "cattle", "effective_from": "2026-07-01", "annual_net_return": 1800},
    ]
    policy = load_policy(_config(tmp_path, {"farm_net_returns": defaults + own}))
    assert policy.farm_return("371423", "cattle", date(2026, 6, 30)) == 1500  # the default before
    assert policy.farm_return("371423", "cattle", date(2026, 7, 1)) == 1800
    assert policy.farm_return("371423", "pig", date(2026, 7, 1)) == 200  # other items keep the default
    assert policy.farm_return("371402", "cattle", date(2026, 7, 1)) == 1500  # other counties too


@pytest.mark.parametrize(
    "override,message",
    [
        (
            {
                "farm_net_returns": [
                    {"county": "*", "item": "pig", "effective_from": "2020-01-01", "annual_net_return": -5}
                ]
            },
            "farm_net_returns.0.annual_net_return",
        ),
        (
            {
                "farm_net_returns": [
                    {"county": "371402", "item": "pig", "effective_from": "2020-01-01", "annual_net_return": 200},
                    {"county": "371402", "item": "pig", "effective_from": "2025-01-01", "annual_net_return": 250},
                ]
            },
            "farm net returns for county 371402, pig overlap: the period from 2020-01-01 has no end",
        ),
        ({"assets": {"individual_business_min_capital": -1}}, "assets.individual_business_min_capital"),
        ({"disability": {"severe_grades": []}}, "disability.severe_grades"),
    ],
)
def test_bad_second_wave_settings_fail_naming_the_setting(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        load_policy(_config(tmp_path, override))


@pytest.mark.parametrize(
    "override,message",
    [
        (
            {
                "farm_net_returns": [
                    {"county": "*", "item": "rice", "effective_from": "2020-01-01", "annual_net_return": 1}
                ]
            },
            "farm_net_returns.item: 'rice' is not a code of agriculture.item",
        ),
        ({"assets": {"vehicle_classes": ["truck", "bicycle"]}}, "assets.vehicle_classes: 'bicycle' is not a code"),
        ({"assets": {"business_roles": ["owner"]}}, "assets.business_roles: 'owner' is not a code of businesses.role"),
        ({"disability": {"severe_grades": ["1", "5"]}}, "disability.severe_grades: '5' is not a code of disability"),
    ],
)
def test_a_setting_naming_a_code_its_department_does_not_deliver_fails(tmp_path, override, message):
    policy = load_policy(_config(tmp_path, override))
    with pytest.raises(ConfigError, match=message):
        policy.check_codes(CONTRACT_CODES)


def test_a_county_without_a_farm_return_in_force_fails_naming_it(tmp_path):
    defaults = [r for r in load_policy().model_dump(mode="json")["farm_net_returns"] if r["item"] != "sheep"]
    late = [{"county": "*", "item": "sheep", "effective_from": "2027-01-01", "annual_net_return": 150}]
    policy = load_policy(_config(tmp_path, {"farm_net_returns": defaults + late}))
    gap = r"no farm net return in force on 2026-11-28 for county 371402 \(德城区\), sheep"
    with pytest.raises(ConfigError, match=gap):
        policy.farm_returns_on(date(2026, 11, 28), CONTRACT_CODES["farm_net_returns.item"])


def test_a_configuration_merges_mappings_and_replaces_lists_whole(tmp_path):
    """A list in the file is the whole list (the defaults' two standards are gone); a
    mapping is merged key by key (the top share keeps its default)."""
    standards = [
        {"county": "*", "residence_type": "urban", "effective_from": "2020-01-01", "monthly_amount": 900},
        {"county": "*", "residence_type": "rural", "effective_from": "2020-01-01", "monthly_amount": 700},
    ]
    policy = load_policy(_config(tmp_path, {"dibao_standards": standards, "alerts": {"top_scope": "county"}}))
    assert [(s.residence_type, s.monthly_amount) for s in policy.dibao_standards] == [("urban", 900), ("rural", 700)]
    assert policy.alerts.top_scope == "county" and policy.alerts.top_share == 0.05
