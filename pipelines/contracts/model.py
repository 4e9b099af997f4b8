"""The contract model: parse and validate a source contract (YAML) into typed objects.

A contract error names the file and the field, so a data engineer adding a source gets a
clear message before any data is read.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ColumnType = Literal["string", "code", "date", "month", "decimal", "resident_id", "credit_code"]
DeliveryMode = Literal["snapshot", "incremental"]
M = TypeVar("M", bound=BaseModel)


class ContractError(ValueError):
    """A contract file is malformed or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    header: str = Field(description="The column header exactly as the department delivers it")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Canonical column name")
    type: ColumnType
    required: bool = True
    personal: bool = Field(False, description="Personal data: never in analyst-facing tables or logs")
    description: str = ""
    codes: dict[str, str] | None = None
    pattern: str | None = None
    format: str | None = None
    precision: int | None = Field(None, ge=1, le=38)
    scale: int | None = Field(None, ge=0, le=18)
    min: float | None = None
    max_null_rate: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _type_parameters(self) -> Column:
        if self.type == "code" and not self.codes:
            raise ValueError(f"column {self.name}: type code needs 'codes'")
        if self.type in ("date", "month") and not self.format:
            raise ValueError(f"column {self.name}: type {self.type} needs 'format'")
        if self.type == "decimal" and (self.precision is None or self.scale is None):
            raise ValueError(f"column {self.name}: type decimal needs 'precision' and 'scale'")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self


# What a rule may use besides the contract's columns: the date of the delivery the row came
# in, so that a rule can refuse a row dated after its own delivery.
DELIVERY_FIELDS = ("extract_date",)


class Rule(_Strict):
    """A cross-field rule: a Spark SQL boolean expression over typed columns (and the
    delivery's `extract_date`). A row breaks it where the expression is false; a null
    result (a value it compares is empty) passes."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    uses: list[str] = Field(min_length=1)
    check: str


class Delivery(_Strict):
    mode: DeliveryMode
    files: str = Field(description="Glob of the data files inside a delivery folder")
    encoding: str
    max_staleness_days: int = Field(ge=0)
    required: bool = Field(
        False,
        description="A night cannot run before the source's first delivery (the core three). "
        "A source that is not required and was never delivered is absent: the night runs "
        "without it; once delivered, its staleness limit applies like any other's.",
    )


class OrphanRate(_Strict):
    column: str
    reference: str
    max: float = Field(ge=0.0, le=1.0)
    critical: bool = False


class RowCountChange(_Strict):
    max_ratio: float = Field(gt=0.0)
    critical: bool = False


class SameWithin(_Strict):
    """A value the department promises is the same on every row of a group (the roll's
    declared income on every row of a household): at most `max` of a delivery's kept rows
    may belong to a group whose rows disagree."""

    column: str
    group: str
    max: float = Field(ge=0.0, le=1.0)
    critical: bool = False


class Quality(_Strict):
    orphan_rate: OrphanRate | None = None
    row_count_change: RowCountChange | None = None
    same_within: SameWithin | None = None


class Contract(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    department: str
    delivery: Delivery
    key: list[str] = Field(min_length=1)
    columns: list[Column] = Field(min_length=1)
    rules: list[Rule] = []
    quality: Quality = Quality()

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        names = [c.name for c in self.columns]
        headers = [c.header for c in self.columns]
        for label, values in (("column name", names), ("header", headers)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"duplicate {label}: {', '.join(dupes)}")
        for k in self.key:
            if k not in names:
                raise ValueError(f"key column {k} is not a column")
            if not self.column(k).required:
                raise ValueError(f"key column {k} must be required")
        for rule in self.rules:
            unknown = [u for u in rule.uses if u not in names and u not in DELIVERY_FIELDS]
            if unknown:
                raise ValueError(f"rule {rule.name} uses unknown columns: {', '.join(unknown)}")
        if self.quality.orphan_rate and self.quality.orphan_rate.column not in names:
            raise ValueError(f"orphan_rate column {self.quality.orphan_rate.column} is not a column")
        same = self.quality.same_within
        if same is not None:
            for role, name in (("column", same.column), ("group", same.group)):
                if name not in names:
                    raise ValueError(f"same_within {role} {name} is not a column")
        try:
            codecs.lookup(self.delivery.encoding)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {self.delivery.encoding}") from exc
        return self

    def column(self, name: str) -> Column:
        found = self.find_column(name)
        if found is None:
            raise KeyError(f"{self.name} has no column {name}")
        return found

    def find_column(self, name: str | None) -> Column | None:
        """The delivered column of that name, or None (a derived or no column)."""
        return next((c for c in self.columns if c.name == name), None)

    @property
    def personal_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.personal]


def read_declaration(path: Path, model: type[M], what: str, error: type[ValueError]) -> M:
    """One YAML declaration file (a contract, an indicator) as its model, validated; any
    problem raises `error` naming the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from exc
    if not isinstance(raw, dict):
        raise error(f"{path}: a {what} is a YAML mapping")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or what}: {err['msg']}" for err in exc.errors())
        raise error(f"{path}: {problems}") from exc


def load_contract(path: Path) -> Contract:
    """Read one contract file; any problem raises ContractError naming the file."""
    contract = read_declaration(path, Contract, "contract", ContractError)
    if contract.name != path.stem:
        raise ContractError(f"{path}: contract name {contract.name!r} differs from its file name")
    return contract


def load_contracts(directory: Path) -> dict[str, Contract]:
    """All source contracts in a folder, by name, in a stable order: the sources others
    refer to first (so that the orphan check sees the registry of the same night), then
    snapshot sources, then incremental ones."""
    contracts = [load_contract(p) for p in sorted(directory.glob("*.yaml"))]
    if not contracts:
        raise ContractError(f"{directory}: no contracts (*.yaml) found")
    referenced = {c.quality.orphan_rate.reference for c in contracts if c.quality.orphan_rate}
    contracts.sort(key=lambda c: (c.name not in referenced, c.delivery.mode != "snapshot", c.name))
    for c in contracts:
        ref = c.quality.orphan_rate.reference if c.quality.orphan_rate else None
        if ref is not None and ref not in {x.name for x in contracts}:
            raise ContractError(f"{c.name}: orphan_rate references unknown source {ref}")
    return {c.name: c for c in contracts}
