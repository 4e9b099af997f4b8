"""Policy configuration: defaults from domain.md, and a bad configuration fails before
any work, naming the problem."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from pipelines.policy import ConfigError, load_policy


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
