"""Loading and validating the policy configuration (`defaults.yaml` merged with the
deployment's `--config` file). A bad configuration fails before any work, naming the
problem: weights not summing to 1, overlapping standard periods, a county with no
standard in force on the snapshot date."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ResidenceType = Literal["urban", "rural"]
RESIDENCE_CODES: dict[str, ResidenceType] = {"1": "urban", "2": "rural"}
COMPONENTS = ("income", "medical", "dependency", "unemployment", "illness", "shock")
# Settings that name a department's codes, and the source contract and column whose codes
# they must be (the contracts are the one place the codes are written).
CODED_SETTINGS: dict[str, tuple[str, str]] = {
    "farm_net_returns.item": ("agriculture", "item"),
    "assets.vehicle_classes": ("vehicles", "vehicle_class"),
    "assets.business_roles": ("businesses", "role"),
    "disability.severe_grades": ("disability", "grade"),
    "roll.programme_order": ("assistance_roll", "programme"),
    "roll.credit_modes": ("assistance_roll", "approval_mode"),
    "exit_review.income_ratio_from": ("assistance_roll", "programme"),
    "urgency.safety_net_programmes": ("assistance_roll", "programme"),
    "relapse_risk.statuses": ("relapse_monitoring", "status"),
    "suppression.outcomes": ("visit_outcomes", "outcome"),
}


class ConfigError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CountyPeriod(_Strict):
    """A policy number for a county ("*": every county without its own) in force from
    `effective_from` up to, not including, `effective_to` (open-ended when absent)."""

    county: str = Field(pattern=r"^(\*|[0-9]{6})$")
    effective_from: date
    effective_to: date | None = None

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on < self.effective_to)

    @property
    def scope(self) -> tuple[str, str]:
        """The county and what the number is for (a residence type, an item)."""
        raise NotImplementedError

    @property
    def value(self) -> float:
        raise NotImplementedError


class DibaoStandard(_CountyPeriod):
    residence_type: ResidenceType
    monthly_amount: float = Field(gt=0)

    @property
    def scope(self) -> tuple[str, str]:
        return self.county, self.residence_type

    @property
    def value(self) -> float:
        return self.monthly_amount


class FarmNetReturn(_CountyPeriod):
    item: str
    annual_net_return: float = Field(ge=0, description="yuan per mu or per head per year")

    @property
    def scope(self) -> tuple[str, str]:
        return self.county, self.item

    @property
    def value(self) -> float:
        return self.annual_net_return


class AssetPolicy(_Strict):
    vehicle_classes: list[str] = Field(min_length=1)
    business_roles: list[str] = Field(min_length=1)
    individual_business_min_capital: float = Field(ge=0)


class DisabilityPolicy(_Strict):
    severe_grades: list[str] = Field(min_length=1)


class RollPolicy(_Strict):
    programme_order: list[str] = Field(min_length=1)  # a household on several: the first
    credit_modes: list[str] = Field(min_length=1)  # approval modes on the applicant's declaration


class ExitReviewPolicy(_Strict):
    income_ratio_from: dict[str, float]  # income_above_line by programme; a programme not named has no line
    understated_share: float = Field(ge=0)
    understated_min_yuan: float = Field(ge=0)


class SpotCheckPolicy(_Strict):
    share: float = Field(ge=0, le=1)


class RelapseRiskPolicy(_Strict):
    statuses: list[str] = Field(min_length=1)
    income_ratio_below: float = Field(gt=0)
    medical_component_from: float = Field(ge=0, le=1)


class SuppressionPolicy(_Strict):
    outcomes: list[str]
    days: int = Field(ge=0)


class StatisticsPolicy(_Strict):
    precision_window_days: int = Field(ge=0)


class UrgencyPolicy(_Strict):
    safety_net_programmes: list[str] = Field(min_length=1)


class IndexPolicy(_Strict):
    weights: dict[str, float]
    income_window_months: int = Field(ge=1)
    income_zero_at_ratio: float = Field(gt=0)
    child_age_below: int = Field(ge=0)
    elderly_age_from: int = Field(ge=1)
    unemployment_window_months: int = Field(ge=1)
    medical_window_days: int = Field(ge=1)
    illness_visit_types: list[str]
    shock_death_window_days: int = Field(ge=1)
    shock_inpatient_window_days: int = Field(ge=1)
    shock_out_of_pocket_multiple: float = Field(gt=0)
    top_reasons: int = Field(ge=1, le=len(COMPONENTS))

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        if set(weights) != set(COMPONENTS):
            raise ValueError(f"weights must name exactly {', '.join(COMPONENTS)}; got {', '.join(sorted(weights))}")
        if any(w < 0 for w in weights.values()):
            raise ValueError("weights must not be negative")
        total = sum(weights.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must sum to 1, they sum to {total:g}")
        return weights


class AlertPolicy(_Strict):
    top_share: float = Field(gt=0, lt=1)
    top_scope: Literal["city", "county"]
    low_income_multiple: float = Field(gt=0)


class CategoryPolicy(_Strict):
    dibao_ratio_below: float = Field(gt=0)
    marginal_ratio_below: float = Field(gt=0)
    rigid_expenditure_share: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> CategoryPolicy:
        if self.marginal_ratio_below <= self.dibao_ratio_below:
            raise ValueError("marginal_ratio_below must be above dibao_ratio_below")
        return self


class PseudonymPolicy(_Strict):
    key_file: str


class OutboxPolicy(_Strict):
    folder: str  # relative paths are under the lake


class WebhookPolicy(_Strict):
    url: str | None  # required when the sink is webhook
    token_env: str
    timeout_seconds: float = Field(gt=0)
    max_attempts: int = Field(ge=1)
    backoff_seconds: float = Field(ge=0)
    backoff_max_seconds: float = Field(ge=0)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url


class DatabasePolicy(_Strict):
    url: str | None  # SQLAlchemy URL; None: the SQLite file in the lake
    url_env: str
    sqlite_file: str
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PushPolicy(_Strict):
    sink: Literal["outbox", "webhook", "database"]
    batch_size: int = Field(ge=1)
    outbox: OutboxPolicy
    webhook: WebhookPolicy
    database: DatabasePolicy

    @model_validator(mode="after")
    def _webhook_has_url(self) -> PushPolicy:
        if self.sink == "webhook" and not self.webhook.url:
            raise ValueError("push.webhook.url is required when push.sink is webhook")
        return self


class Policy(_Strict):
    dibao_standards: list[DibaoStandard] = Field(min_length=1)
    city: str = "city"
    counties: dict[str, str]
    townships: dict[str, str] = Field(default_factory=dict)
    index: IndexPolicy
    alerts: AlertPolicy
    categories: CategoryPolicy
    farm_net_returns: list[FarmNetReturn] = Field(min_length=1)
    assets: AssetPolicy
    disability: DisabilityPolicy
    roll: RollPolicy
    exit_review: ExitReviewPolicy
    spot_check: SpotCheckPolicy
    relapse_risk: RelapseRiskPolicy
    suppression: SuppressionPolicy
    urgency: UrgencyPolicy
    statistics: StatisticsPolicy
    pseudonym: PseudonymPolicy
    push: PushPolicy

    @model_validator(mode="after")
    def _no_overlaps(self) -> Policy:
        _no_overlapping_periods("dibao standard", self.dibao_standards)
        _no_overlapping_periods("farm net return", self.farm_net_returns)
        return self

    def digest(self) -> str:
        """A hash of the whole configuration, for manifests."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def standards_on(self, on: date) -> list[tuple[str, str, float]]:
        """(county, residence code, monthly amount) in force on a date, for every configured
        county and both residence types; fails naming the first gap."""
        return self._table_on("dibao standard", self.dibao_standards, RESIDENCE_CODES, on)

    def farm_returns_on(self, on: date, items: Collection[str]) -> list[tuple[str, str, float]]:
        """(county, item, annual net return) in force on a date, for every configured
        county and every item (the agriculture contract's codes); fails naming the first gap."""
        return self._table_on("farm net return", self.farm_net_returns, {i: i for i in items}, on)

    def check_codes(self, codes: Mapping[str, Collection[str]]) -> None:
        """Every code a setting names is one its department delivers. `codes`: the codes of
        each setting in CODED_SETTINGS, from its source contract (a setting whose source has
        no contract is not checked). Raises ConfigError naming the setting and the code."""
        named = {
            "farm_net_returns.item": [r.item for r in self.farm_net_returns],
            "assets.vehicle_classes": self.assets.vehicle_classes,
            "assets.business_roles": self.assets.business_roles,
            "disability.severe_grades": self.disability.severe_grades,
            "roll.programme_order": self.roll.programme_order,
            "roll.credit_modes": self.roll.credit_modes,
            "exit_review.income_ratio_from": list(self.exit_review.income_ratio_from),
            "urgency.safety_net_programmes": self.urgency.safety_net_programmes,
            "relapse_risk.statuses": self.relapse_risk.statuses,
            "suppression.outcomes": self.suppression.outcomes,
        }
        for setting, allowed in codes.items():
            unknown = sorted(set(named[setting]) - set(allowed))
            if unknown:
                source, column = CODED_SETTINGS[setting]
                raise ConfigError(
                    f"{setting}: {', '.join(map(repr, unknown))} is not a code of {source}.{column} "
                    f"({', '.join(sorted(allowed))})"
                )

    def standard(self, county: str, rtype: str, on: date) -> float | None:
        return _in_force(self.dibao_standards, county, rtype, on)

    def farm_return(self, county: str, item: str, on: date) -> float | None:
        return _in_force(self.farm_net_returns, county, item, on)

    def _table_on(
        self, what: str, entries: Sequence[_CountyPeriod], kinds: Mapping[str, str], on: date
    ) -> list[tuple[str, str, float]]:
        """(county, label, value) for every configured county and every kind (by its label
        in the table), from the entries in force on `on`; fails naming the first gap."""
        table = []
        for county in sorted(self.counties):
            for label, kind in kinds.items():
                found = _in_force(entries, county, kind, on)
                if found is None:
                    name = self.counties[county]
                    raise ConfigError(f"no {what} in force on {on} for county {county} ({name}), {kind}")
                table.append((county, label, found))
        return table


def _in_force(entries: Sequence[_CountyPeriod], county: str, kind: str, on: date) -> float | None:
    """The county's own entry for `kind` in force on `on`, else the "*" entry's value."""
    for scope in ((county, kind), ("*", kind)):
        for entry in entries:
            if entry.scope == scope and entry.in_force(on):
                return entry.value
    return None


def _no_overlapping_periods(what: str, entries: Sequence[_CountyPeriod]) -> None:
    """The periods [from, to) of one scope (a county and residence type, or a county and
    item) must not overlap; `to` must be after `from`."""
    by_scope: dict[tuple[str, str], list[_CountyPeriod]] = {}
    for e in entries:
        if e.effective_to is not None and e.effective_to <= e.effective_from:
            raise ValueError(f"{what} {e.scope[0]}/{e.scope[1]} from {e.effective_from}: effective_to must be later")
        by_scope.setdefault(e.scope, []).append(e)
    for (county, kind), periods in by_scope.items():
        periods.sort(key=lambda e: e.effective_from)
        for a, b in itertools.pairwise(periods):
            if a.effective_to is None or a.effective_to > b.effective_from:
                raise ValueError(
                    f"{what}s for county {county}, {kind} overlap: the period from "
                    f"{a.effective_from} {'has no end' if a.effective_to is None else f'to {a.effective_to}'} "
                    f"and the period from {b.effective_from}"
                )


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def load_policy(path: Path | None = None) -> Policy:
    """The defaults, overridden by the file at `path` if given."""
    raw = yaml.safe_load(resources.files("pipelines.policy").joinpath("defaults.yaml").read_text(encoding="utf-8"))
    where = "the default configuration"
    if path is not None:
        where = str(path)
        try:
            override = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
        if not isinstance(override, dict):
            raise ConfigError(f"{path}: a configuration is a YAML mapping")
        raw = _merge(raw, override)
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'configuration'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from exc
