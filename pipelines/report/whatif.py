"""What-if (`lipmon whatif`): the night's index, rules and categories recomputed from a
date's published household profile with policy settings changed, and what that changes:
households and persons added to and dropped from the alerts, by county, rule and category,
and the monthly cost of the dibao gap before and after.

A simulation, beside the statistics in the report layer: it reads the published profile
with pyarrow (no Spark: seconds at city scale) and writes only counts, under
`<lake>/whatif/<D>/<digest of the settings>/`, never into a published table. The formulas
below are the night's Spark transforms, vectorised, each naming its twin; with the night's
own settings they give the published columns for every household (tests/test_whatif.py)."""

from __future__ import annotations

import hashlib
import io
import json
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import ValidationError

from pipelines.alerts.rules import (
    DIBAO,
    SPOT_CHECK,
)
from pipelines.lake import Lake, read_json, write_json
from pipelines.policy import ConfigError, Policy
from pipelines.policy.config import COMPONENTS, RESIDENCE_CODES
from pipelines.published import MANIFEST, read_published_table
from pipelines.report.recompute import CATEGORIES, EXIT_REASONS, INPUTS, RULES, recompute
from pipelines.storage import Location, lake_location, write_atomically
from pipelines.tables import HOUSEHOLD_PROFILE

SIMULATION = "SIMULATION: nothing published is changed"

# ---- the settings: --set KEY=VALUE ---------------------------------------------------

# What the what-if recomputes: everything the published profile's inputs feed.
SIMULATED = (
    "index.weights.<component>",
    "index.income_zero_at_ratio",
    "alerts.top_share",
    "alerts.top_scope",
    "alerts.low_income_multiple",
    "categories.dibao_ratio_below",
    "categories.marginal_ratio_below",
    "categories.rigid_expenditure_share",
    "exit_review.income_ratio_from.<programme>",
    "exit_review.understated_share",
    "exit_review.understated_min_yuan",
    "relapse_risk.income_ratio_below",
    "relapse_risk.medical_component_from",
    "dibao_standards.<county|*>.<urban|rural|*>",
    "dibao_standards.scale",
)
_PROFILE = (
    "is built into the published profile (its columns were computed with it): set it in --config "
    "and run the night again (lipmon run or lipmon backfill)"
)
_NO_EFFECT = "changes neither the index nor the rules nor the categories, which are what the what-if recomputes"
# Settings that cannot be simulated, by path (the longest matching prefix wins), and why.
NOT_SIMULATED = {
    "spot_check": "SPOT_CHECK is drawn with the pseudonym key from the household number, which the published "
    "profile does not hold: the what-if keeps the night's SPOT_CHECK households",
    "index": _PROFILE,  # the windows and age limits
    "index.top_reasons": _NO_EFFECT,
    "farm_net_returns": _PROFILE,
    "assets": _PROFILE,
    "disability": _PROFILE,
    "roll": _PROFILE,
    "relapse_risk.statuses": "is a list of codes; the what-if changes numbers and the scope",
    "counties": "names the regions; change a county's standard with dibao_standards.<county>.<urban|rural>",
    **dict.fromkeys(("city", "townships", "urgency", "suppression", "statistics", "pseudonym", "push"), _NO_EFFECT),
}


@dataclass(frozen=True)
class Setting:
    key: str
    text: str  # the value as given
    was: str  # the value it replaces, for the report


def apply_settings(policy: Policy, assignments: Sequence[str], day: date) -> tuple[Policy, list[Setting]]:
    """The policy with each `KEY=VALUE` applied in order (values read as YAML scalars) and
    validated as a configuration file is; raises ConfigError naming the setting."""
    raw = policy.model_dump()
    applied = []
    for assignment in assignments:
        key, sep, text = (part.strip() for part in assignment.partition("="))
        if not sep or not key or not text:
            raise ConfigError(f"--set {assignment}: expected KEY=VALUE, for example alerts.top_share=0.07")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = None
        if value is None or isinstance(value, dict | list):
            raise ConfigError(f"--set {key}={text}: the value must be one number or word")
        if key.startswith("dibao_standards."):
            was = _set_standard(raw, policy, key, value, day)
        else:
            was = _set_setting(raw, policy, key, value)
        applied.append(Setting(key, text, was))
    try:
        changed = Policy.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_invalid(exc, applied)) from None
    changed.standards_on(day)
    return changed, applied


def _set_setting(raw: dict, policy: Policy, key: str, value: object) -> str:
    parts = key.split(".")
    node: Any = raw
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    exists = isinstance(node, dict) and parts[-1] in node
    patterns = [p.split(".") for p in SIMULATED if not p.startswith("dibao_standards")]
    if any(len(p) == len(parts) and all(a == b or a.startswith("<") for a, b in zip(p, parts)) for p in patterns):
        if parts[:2] == ["index", "weights"] and parts[-1] not in COMPONENTS:
            raise ConfigError(f"--set {key}: {parts[-1]!r} is not a component ({', '.join(COMPONENTS)})")
        if parts[:2] == ["exit_review", "income_ratio_from"] and parts[-1] not in policy.roll.programme_order:
            raise ConfigError(
                f"--set {key}: {parts[-1]!r} is not a programme ({', '.join(policy.roll.programme_order)})"
            )
        if exists or parts[:2] == ["exit_review", "income_ratio_from"]:
            was = node.get(parts[-1])
            node[parts[-1]] = value
            return "none" if was is None else str(was)
    if exists:
        reason = next((NOT_SIMULATED[p] for p in _prefixes(parts) if p in NOT_SIMULATED), None)
        if reason:
            raise ConfigError(f"--set {key}: {reason}")
    raise ConfigError(f"--set {key}: not a policy setting the what-if can change (it changes {', '.join(SIMULATED)})")


def _prefixes(parts: list[str]) -> list[str]:
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _set_standard(raw: dict, policy: Policy, key: str, value: object, day: date) -> str:
    """`dibao_standards.scale=F` multiplies every standard in force on `day`;
    `dibao_standards.<county or *>.<urban, rural or *>=AMOUNT` sets the one in force on
    `day` (a county without its own gets one from `day` on)."""
    parts = key.split(".")
    entries = raw["dibao_standards"]
    if parts == ["dibao_standards", "scale"]:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"--set {key}={value}: the factor must be a number above 0")
        for entry in entries:
            if entry["effective_from"] <= day and (entry["effective_to"] is None or day < entry["effective_to"]):
                entry["monthly_amount"] *= value
        return "1"
    if len(parts) != 3 or (parts[1] != "*" and parts[1] not in policy.counties):
        raise ConfigError(
            f"--set {key}: expected dibao_standards.<county>.<urban|rural|*> with a configured county "
            f"({', '.join(sorted(policy.counties))}) or * (every county without its own), or dibao_standards.scale"
        )
    county, kinds = parts[1], ["urban", "rural"] if parts[2] == "*" else [parts[2]]
    if not set(kinds) <= set(RESIDENCE_CODES.values()):
        raise ConfigError(f"--set {key}: the residence type is urban, rural or *")
    was = []
    for kind in kinds:
        amount = policy.standard(county, kind, day)
        was.append("none" if amount is None else f"{amount:g}")
        scope = [e for e in entries if e["county"] == county and e["residence_type"] == kind]
        current = [
            e for e in scope if e["effective_from"] <= day and (e["effective_to"] is None or day < e["effective_to"])
        ]
        if current:
            current[0]["monthly_amount"] = value
        else:
            later = [e["effective_from"] for e in scope if e["effective_from"] > day]
            entries.append(
                {
                    "county": county,
                    "residence_type": kind,
                    "effective_from": day,
                    "effective_to": min(later, default=None),
                    "monthly_amount": value,
                }
            )
    return "/".join(was)


def _invalid(exc: ValidationError, applied: list[Setting]) -> str:
    """Each problem, with the settings that touched what it is about."""
    problems = []
    for err in exc.errors():
        loc = err["loc"]
        cut = next((i for i, p in enumerate(loc) if not isinstance(p, str)), len(loc))
        path = [str(p) for p in loc[:cut]]
        named = [s for s in applied if s.key.split(".")[: len(path)] == path[: len(s.key.split("."))]]
        given = ", ".join(f"{s.key}={s.text}" for s in named or applied)
        where = ".".join(str(p) for p in loc) or "configuration"
        problems.append(f"--set {given}: {where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


# ---- the published profile, read with pyarrow -----------------------------------------

LISTS = {"rules": RULES, "categories": CATEGORIES, "exit_reasons": EXIT_REASONS}


def read_profile(lake_root: Location | str, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The date's published profile: the inputs of the index and rules (plus `has_assets`,
    and `spot_check`: the night's SPOT_CHECK), and the published rules, categories and exit
    reasons as one boolean column per label. Only these columns are read."""
    table = read_published_table(lake_root, HOUSEHOLD_PROFILE.id, day, [*INPUTS, "asset_flags", *LISTS])
    if not table.num_rows:
        raise ValueError(f"the published profile of {day} has no households: nothing to simulate")
    profile = table.select(INPUTS).to_pandas()
    for column in ("has_wage_income", "catastrophic_inpatient", "roll_credit"):
        profile[column] = profile[column].fillna(False).astype(bool)
    assets = pc.fill_null(pc.list_value_length(table["asset_flags"]), 0)
    profile["has_assets"] = pc.greater(assets, 0).to_numpy(zero_copy_only=False)
    published = pd.DataFrame(
        {label: _has(table[column], label) for column, labels in LISTS.items() for label in labels}
    )
    profile["spot_check"] = published[SPOT_CHECK].to_numpy()
    return profile, published


def _has(column: pa.ChunkedArray, label: str) -> np.ndarray:
    """Whether each row's list holds `label`."""
    lists = column.combine_chunks()
    found = np.zeros(len(lists), dtype=bool)
    hits = pc.fill_null(pc.equal(pc.list_flatten(lists), label), False).to_numpy(zero_copy_only=False)
    found[pc.list_parent_indices(lists).to_numpy()[hits]] = True
    return found


# ---- what changes ----------------------------------------------------------------------

COUNTS = ["households", "persons"]
CHANGE_COLUMNS = [f"{what}_{when}" for what in COUNTS for when in ("before", "after", "added", "dropped")]
GAP_COLUMNS = [
    f"{what}_{when}" for when in ("before", "after") for what in ("dibao_households", "dibao_persons", "gap_yuan")
]


def changes(profile: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Households and persons before, after, added and dropped, for the city and each
    county: alerted (any rule), by rule, and by category of the alerted households."""
    county_idx, counties = pd.factorize(profile["county_code"], use_na_sentinel=False)
    size = profile["size"].to_numpy()
    alerted = {name: frame[list(RULES)].to_numpy().any(axis=1) for name, frame in (("b", before), ("a", after))}
    measures = [("alerts", "all", alerted["b"], alerted["a"])]
    measures += [("rule", r, before[r].to_numpy(), after[r].to_numpy()) for r in RULES]
    measures += [
        ("category", c, alerted["b"] & before[c].to_numpy(), alerted["a"] & after[c].to_numpy()) for c in CATEGORIES
    ]
    rows = []
    for measure, value, b, a in measures:
        counted = {}
        for when, mask in (("before", b), ("after", a), ("added", a & ~b), ("dropped", b & ~a)):
            counted[f"households_{when}"] = np.bincount(county_idx[mask], minlength=len(counties))
            counted[f"persons_{when}"] = np.bincount(county_idx[mask], weights=size[mask], minlength=len(counties))
        frame = pd.DataFrame(counted).assign(level="county", county_code=counties)
        city = frame[CHANGE_COLUMNS].sum().to_frame().T.assign(level="city", county_code=None)
        rows.append(pd.concat([city, frame.sort_values("county_code")]).assign(measure=measure, value=value))
    table = pd.concat(rows, ignore_index=True)
    table[CHANGE_COLUMNS] = table[CHANGE_COLUMNS].astype("int64")
    table["region_name"] = _names(table, policy)
    return table[["level", "county_code", "region_name", "measure", "value", *CHANGE_COLUMNS]]


def dibao_gap(profile: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """The monthly cost of the dibao gap, for the city and each county: the sum over DIBAO
    candidates of (standard - per-capita income) x size, in yuan, before and after. A
    candidate above its standard (possible with dibao_ratio_below above 1) has no gap."""
    county_idx, counties = pd.factorize(profile["county_code"], use_na_sentinel=False)
    size, income = profile["size"].to_numpy(), profile["per_capita_income"].to_numpy()
    counted = {}
    for when, frame in (("before", before), ("after", after)):
        dibao = frame[DIBAO].to_numpy()
        gap = np.maximum(frame["dibao_standard"].to_numpy() - income, 0.0) * size
        counted[f"dibao_households_{when}"] = np.bincount(county_idx[dibao], minlength=len(counties))
        counted[f"dibao_persons_{when}"] = np.bincount(county_idx[dibao], weights=size[dibao], minlength=len(counties))
        counted[f"gap_yuan_{when}"] = np.bincount(county_idx[dibao], weights=gap[dibao], minlength=len(counties))
    frame = pd.DataFrame(counted).assign(level="county", county_code=counties).sort_values("county_code")
    city = frame[GAP_COLUMNS].sum().to_frame().T.assign(level="city", county_code=None)
    table = pd.concat([city, frame], ignore_index=True)
    for column in GAP_COLUMNS:
        table[column] = table[column].round(2) if column.startswith("gap") else table[column].astype("int64")
    table["region_name"] = _names(table, policy)
    return table[["level", "county_code", "region_name", *GAP_COLUMNS]]


def _pad(text: str, width: int) -> str:
    """`text` padded to `width` terminal columns (a Chinese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 0)


def _names(table: pd.DataFrame, policy: Policy) -> list[str | None]:
    return [policy.city if c is None else policy.counties.get(c) for c in table["county_code"]]


# ---- the command -----------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    lines: list[str]  # the report, as printed
    folder: Location  # where it was written
    changes: pd.DataFrame
    dibao_gap: pd.DataFrame
    seconds: float


def run_whatif(lake_root: Location | str, day: date, policy: Policy, assignments: Sequence[str]) -> WhatIf:
    """Recompute the date's published profile under `policy` with `assignments` applied,
    compare with what was published, and write the report under the lake's whatif/ folder."""
    started = time.monotonic()
    lake = Lake(lake_location(lake_root))
    changed, applied = apply_settings(policy, assignments, day)
    profile, published = read_profile(lake.root, day)
    before = published.assign(dibao_standard=profile["dibao_standard"])
    after = recompute(profile, changed, day)
    baseline = recompute(profile, policy, day) if applied else after
    labels = [*RULES, *CATEGORIES]
    reproduced = int((baseline[labels].to_numpy() == published[labels].to_numpy()).all(axis=1).sum())
    counts, gap = changes(profile, before, after, changed), dibao_gap(profile, before, after, changed)
    seconds = time.monotonic() - started
    night = (read_json(lake.run_dir(day) / MANIFEST) or {}).get("configuration", {}).get("policy_hash")
    lines = report_lines(day, applied, counts, gap, len(profile), reproduced, night == policy.digest(), seconds)
    digest = _digest(assignments, policy)
    folder = lake.root / "whatif" / day.isoformat() / digest
    _write(folder, lines, counts, gap)
    write_json(
        folder / "settings.json",
        {
            "simulation": SIMULATION,
            "snapshot_date": day.isoformat(),
            "settings": [{"key": s.key, "value": s.text, "was": s.was} for s in applied],
            "policy_hash": policy.digest(),
            "night_policy_hash": night,
            "changed_policy_hash": changed.digest(),
            "households": len(profile),
            "seconds": round(seconds, 3),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return WhatIf(lines, folder, counts, gap, seconds)


def _digest(assignments: Sequence[str], policy: Policy) -> str:
    text = json.dumps({"settings": list(assignments), "policy": policy.digest()}, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _write(folder: Location, lines: list[str], counts: pd.DataFrame, gap: pd.DataFrame) -> None:
    write_atomically(folder / "report.txt", ("\n".join(lines) + "\n").encode("utf-8"), durable=False)
    for name, table in (("changes.csv", counts), ("dibao_gap.csv", gap)):
        buffer = io.StringIO()
        table.to_csv(buffer, index=False)
        write_atomically(folder / name, buffer.getvalue().encode("utf-8-sig"), durable=False)


def report_lines(
    day: date,
    applied: list[Setting],
    counts: pd.DataFrame,
    gap: pd.DataFrame,
    households: int,
    reproduced: int,
    same_policy: bool,
    seconds: float,
) -> list[str]:
    """The printed report: a simulation, what was set, what changes, and what is taken as published."""
    lines = [
        f"{SIMULATION}. lipmon whatif on the published household profile of {day} ({households} households):",
        *[f"  {s.key} = {s.text} (was {s.was})" for s in applied],
        *([] if applied else ["  no setting changed"]),
        "Taken as published: SPOT_CHECK (drawn with the pseudonym key), the shock component "
        "(its catastrophic cost, 3 x the standard, needs the settlements); equal indices keep the published order "
        "(the night's order while the index is unchanged).",
    ]
    if not same_policy:
        lines.append("Note: --config is not the night's configuration (its policy hash differs).")
    lines.append(
        f"Baseline: the configuration without the settings reproduces the published rules and categories "
        f"of {reproduced} of {households} households."
    )
    city = counts[counts["level"] == "city"]
    lines.append(
        "Added and dropped: households that start or stop being alerted (alerts), meeting the rule (rule), "
        "or being alerted with the category (category); a household alerted before and after is neither."
    )
    lines.append(f"{'':<28}{'households':^32}{'persons':^32}")
    lines.append(f"{'':<28}" + "".join(f"{w:>8}" for w in ("before", "after", "added", "dropped") * 2))
    for row in city.itertuples():
        label = "alerts" if row.measure == "alerts" else f"{row.measure} {row.value}"
        lines.append(f"{label:<28}" + "".join(f"{getattr(row, c):>8}" for c in CHANGE_COLUMNS))
    total = gap[gap["level"] == "city"].iloc[0]
    lines.append(
        "Dibao gap, monthly (sum over DIBAO candidates of (standard - per-capita income) x size): "
        f"before {total.gap_yuan_before:,.2f} yuan ({total.dibao_households_before} households, "
        f"{total.dibao_persons_before} persons), after {total.gap_yuan_after:,.2f} yuan "
        f"({total.dibao_households_after} households, {total.dibao_persons_after} persons)"
    )
    alerts = counts[(counts["level"] == "county") & (counts["measure"] == "alerts")]
    by_county = alerts.merge(gap[gap["level"] == "county"], on=["county_code", "region_name"], how="left")
    heads = ("before", "after", "added", "dropped")
    lines.append(
        f"{'alerts by county':<18}" + "".join(f"{h:>8}" for h in heads) + f"{'gap before':>14}{'gap after':>14}"
    )
    for r in by_county.itertuples():
        lines.append(
            f"{r.county_code} {_pad(r.region_name or '', 11)}{r.households_before:>8}{r.households_after:>8}"
            f"{r.households_added:>8}{r.households_dropped:>8}{r.gap_yuan_before:>14,.2f}{r.gap_yuan_after:>14,.2f}"
        )
    changed = city[CHANGE_COLUMNS[2:4]].to_numpy().any() or total.gap_yuan_before != total.gap_yuan_after
    lines.append(
        "" if changed else "No change: the settings alert the same households for the same rules and categories."
    )
    lines.append(f"Computed in {seconds:.2f} s.")
    return [line for line in lines if line]
