"""Indicators by declaration: one YAML file per indicator under `schemas/indicators/`, from
which the household profile is built. Adding a department's data item is a file, not a
change to the profile code (docs: "Adding an indicator" in the README).

An indicator is either an aggregate over a source's rows (or, for a household, over its
registered members) or an expression over other indicators of its level:

- `level: person` lands on each registered member (by person_id), `level: household` on
  the household (by household_id; the rows of a source keyed by person reach the
  household through its registered members, and a person indicator through a
  `source: members` aggregate);
- `filter` and `value` are Spark SQL expressions over the source's columns (for
  `members`: the member columns and the person indicators); `money: <column>` takes a
  yuan column as whole fen, exactly;
- `window` keeps the rows dated relative to the snapshot date D: `months: N` (a YYYY-MM
  column in the N whole months before D's month) or `days: N` (a date in (D - N days, D]);
- `aggregate` is sum, count, count_distinct (of `value`), max, min, any, or first or last
  (the `value` of the row first or last by the SQL expression `order`: a programme by its
  precedence, the latest visit); `default` is the value where nothing was found (also when
  the source was never delivered); a `default: null` names its `type`;
- the rows of a household-keyed source that also names a person have the column
  `registered_household_id`: the household the person is a registered member of on D, or
  null (a roll row whose person died, moved out or moved to another household);
- `lookup` joins a table the policy configures by county (farm net returns);
- `flag: {set, label}` puts the label in the household's list column `set` (asset_flags,
  groups) where the indicator is true.

`${path}` in an expression or window is a policy setting (`${index.child_age_below}`),
written into the SQL as a literal; `${snapshot_date}` is D, as a DATE literal. This module
validates declarations against the contracts and the policy before any work;
`household.py` evaluates them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipelines.contracts import Contract
from pipelines.contracts.model import read_declaration
from pipelines.policy import Policy

MEMBERS = "members"
# Columns every member has before any indicator: what an expression over members may use.
MEMBER_COLUMNS = ("household_id", "person_id", "relation_to_head", "region_code", "residence_type", "age")
# Columns every household has before its own indicators (and its source rows, after the
# join to it): what a household expression or lookup may use.
HOUSEHOLD_COLUMNS = ("household_id", "size", "county_code", "residence_type", "dibao_standard")
# Lookup tables by name: the source and column whose codes they price besides the county,
# and the column they add (a decimal, so that sums stay exact).
LOOKUPS: dict[str, tuple[str, str, str]] = {"farm_net_returns": ("agriculture", "item", "net_return")}
# On the rows of a household-keyed source that names persons: each person's household on D.
REGISTERED_HOUSEHOLD = "registered_household_id"
SNAPSHOT_DATE = "snapshot_date"
# The types a `default: null` may name.
TYPES = ("string", "long", "double", "boolean", "date")
ORDERED = ("first", "last")

_NAME = r"^[a-z][a-z0-9_]*$"
_SETTING = re.compile(r"\$\{([a-z_][a-z0-9_.]*)\}")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class IndicatorError(ValueError):
    """A declaration that cannot be evaluated; the message names the file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    column: str
    months: int | str | None = None
    days: int | str | None = None

    @model_validator(mode="after")
    def _one_length(self) -> Window:
        if (self.months is None) == (self.days is None):
            raise ValueError("a window has either months or days")
        return self


class Flag(_Strict):
    set: str = Field(pattern=_NAME)
    label: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")


class Indicator(_Strict):
    name: str = Field(pattern=_NAME)
    description: str = Field(min_length=1)
    level: Literal["person", "household"]
    source: str | None = None
    filter: str | None = None
    window: Window | None = None
    value: str | None = None
    money: str | None = None
    aggregate: Literal["sum", "count", "count_distinct", "max", "min", "any", "first", "last"] | None = None
    order: str | None = None
    lookup: str | None = None
    expression: str | None = None
    default: Any = None
    type: Literal["string", "long", "double", "boolean", "date"] | None = None
    flag: Flag | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Indicator:
        if (self.source is None) == (self.expression is None):
            raise ValueError("an indicator has either a source (an aggregate) or an expression")
        if self.flag is not None and self.level != "household":
            raise ValueError("a flag belongs to the household: household indicators only")
        if self.type is not None and not (self.has_default and self.default is None):
            raise ValueError("`type` is for a `default: null` (a value nothing was found for)")
        if self.expression is not None:
            extra = [
                k for k in ("filter", "window", "value", "money", "aggregate", "order", "lookup") if getattr(self, k)
            ]
            if extra:
                raise ValueError(f"an expression indicator takes no {', '.join(extra)}")
            return self
        if self.aggregate is None:
            raise ValueError("an aggregate indicator needs `aggregate`")
        if self.value is not None and self.money is not None:
            raise ValueError("`value` and `money` exclude each other")
        if (self.aggregate in ORDERED) != (self.order is not None):
            raise ValueError("`order` goes with aggregate first or last, and they need it")
        if (
            self.aggregate in ("sum", "count_distinct", "max", "min", *ORDERED)
            and self.value is None
            and self.money is None
        ):
            raise ValueError(f"aggregate {self.aggregate} needs `value` or `money`")
        if self.aggregate == "count" and (self.value is not None or self.money is not None):
            raise ValueError("aggregate count counts the rows its filter keeps: no `value`")
        if self.source == MEMBERS and (self.level != "household" or self.window or self.lookup):
            raise ValueError("a `members` aggregate is a household indicator, without window or lookup")
        if self.lookup is not None and self.level != "household":
            raise ValueError("a lookup is by county: household indicators only")
        return self

    @property
    def has_default(self) -> bool:
        """Whether the declaration gives a default (`default: null` included)."""
        return "default" in self.model_fields_set

    @property
    def sql(self) -> list[str]:
        """The SQL texts of the declaration (for references and settings)."""
        return [t for t in (self.filter, self.value, self.order, self.expression) if t]

    def references(self, names: set[str]) -> set[str]:
        """The other indicators its expressions name."""
        return {w for text in self.sql for w in _WORD.findall(_SETTING.sub("", text)) if w in names} - {self.name}


def _literal(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value!r}D"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)) and value:
        return "(" + ", ".join(_literal(v, path) for v in value) + ")"
    raise IndicatorError(f"policy setting {path} ({value!r}) cannot be written into an expression")


def setting(policy: Policy, path: str) -> Any:
    """A policy setting by its dotted path, e.g. `index.child_age_below`."""
    value: Any = policy
    for part in path.split("."):
        if not hasattr(value, part):
            raise IndicatorError(f"no policy setting {path}")
        value = getattr(value, part)
    return value


def render(text: str, policy: Policy, as_of: date | None = None) -> str:
    """The expression with each `${path}` replaced by the setting's SQL literal, and
    `${snapshot_date}` by D's (a placeholder date when only checking)."""

    def literal(found: re.Match) -> str:
        path = found.group(1)
        if path == SNAPSHOT_DATE:
            return f"DATE'{(as_of or date(2000, 1, 1)).isoformat()}'"
        return _literal(setting(policy, path), path)

    return _SETTING.sub(literal, text)


def window_length(window: Window, policy: Policy) -> int:
    raw = window.months if window.months is not None else window.days
    if isinstance(raw, str):
        found = _SETTING.fullmatch(raw.strip())
        raw = setting(policy, found.group(1)) if found else None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise IndicatorError(f"window length {window.months or window.days!r} is not a positive whole number")
    return raw


def load_indicator(path: Path) -> Indicator:
    indicator = read_declaration(path, Indicator, "indicator", IndicatorError)
    if indicator.name != path.stem:
        raise IndicatorError(f"{path}: indicator name {indicator.name!r} differs from its file name")
    return indicator


def load_indicators(directory: Path) -> list[Indicator]:
    """Every declaration in a folder, in dependency order (an indicator after those its
    expressions name), ties by name."""
    found = [load_indicator(p) for p in sorted(directory.glob("*.yaml"))]
    if not found:
        raise IndicatorError(f"{directory}: no indicators (*.yaml) found")
    return ordered(found, where=str(directory))


def ordered(indicators: list[Indicator], where: str = "indicators") -> list[Indicator]:
    by_name: dict[str, Indicator] = {}
    for i in indicators:
        if i.name in by_name:
            raise IndicatorError(f"{where}: indicator {i.name} is declared twice")
        by_name[i.name] = i
    names = set(by_name)
    pending = {n: by_name[n].references(names) for n in sorted(names)}
    result: list[Indicator] = []
    while pending:
        ready = sorted(n for n, refs in pending.items() if not refs & set(pending))
        if not ready:
            raise IndicatorError(f"{where}: indicators {', '.join(sorted(pending))} refer to each other in a cycle")
        for n in ready:
            result.append(by_name[n])
            del pending[n]
    return result


def check_indicators(indicators: list[Indicator], contracts: Mapping[str, Contract], policy: Policy) -> None:
    """What can be checked before any work: sources, levels, columns, windows, lookups,
    settings, and the levels of the indicators an expression names. Raises IndicatorError
    naming the indicator."""
    levels = {i.name: i.level for i in indicators}
    reserved = set(MEMBER_COLUMNS) | set(HOUSEHOLD_COLUMNS)
    for i in indicators:
        where = f"indicator {i.name}"
        if i.name in reserved:
            raise IndicatorError(f"{where}: {i.name} is a column every profile has already")
        try:
            for text in i.sql:
                render(text, policy)
            if i.window is not None:
                window_length(i.window, policy)
        except IndicatorError as exc:
            raise IndicatorError(f"{where}: {exc}") from exc
        for other in i.references(set(levels)):
            if levels[other] == "household" and i.level == "person":
                raise IndicatorError(f"{where}: a person indicator cannot use household indicator {other}")
            if levels[other] == "person" and i.level == "household" and i.source != MEMBERS:
                raise IndicatorError(
                    f"{where}: person indicator {other} reaches a household through a `source: members` aggregate"
                )
        if i.source is None or i.source == MEMBERS:
            continue
        contract = contracts.get(i.source)
        if contract is None:
            raise IndicatorError(f"{where}: no source contract {i.source} ({', '.join(sorted(contracts))})")
        if not i.has_default and not contract.delivery.required:
            raise IndicatorError(f"{where}: {i.source} may never be delivered, so the indicator needs a `default`")
        if i.has_default and i.default is None and i.type is None:
            raise IndicatorError(f"{where}: a `default: null` needs a `type` ({', '.join(TYPES)})")
        own = i.references(set(levels))
        if own:
            raise IndicatorError(
                f"{where}: an aggregate of {i.source} uses its columns, not indicators ({', '.join(sorted(own))})"
            )
        columns = {c.name: c for c in contract.columns}
        keys = ["person_id"] if i.level == "person" else ["household_id", "person_id"]
        if not any(k in columns for k in keys):
            raise IndicatorError(
                f"{where}: a {i.level} indicator needs {' or '.join(keys)} in {i.source}, which has none"
            )
        if any(REGISTERED_HOUSEHOLD in _WORD.findall(text) for text in i.sql) and not (
            i.level == "household" and {"household_id", "person_id"} <= set(columns)
        ):
            raise IndicatorError(
                f"{where}: {REGISTERED_HOUSEHOLD} is on the rows of a household-keyed source that names persons"
            )
        for label, column in (("window", i.window.column if i.window else None), ("money", i.money)):
            if column is not None and column not in columns:
                raise IndicatorError(f"{where}: {label} column {column} is not a column of {i.source}")
        if i.money is not None and (columns[i.money].type != "decimal" or (columns[i.money].scale or 0) > 2):
            raise IndicatorError(f"{where}: money column {i.source}.{i.money} is not a decimal of at most 2 places")
        if i.lookup is not None:
            if i.lookup not in LOOKUPS:
                raise IndicatorError(f"{where}: no lookup {i.lookup} ({', '.join(sorted(LOOKUPS))})")
            if LOOKUPS[i.lookup][1] not in columns:
                raise IndicatorError(f"{where}: lookup {i.lookup} matches {LOOKUPS[i.lookup][1]}, not in {i.source}")
