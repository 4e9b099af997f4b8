"""An independent, deliberately plain implementation of domain.md's profile, index v2 and
alert rules v2 in pandas (farm income at the default net returns, severe disability, asset
flags, the roll's exit review and spot checks), used only to check lipmon's Spark
implementation. It reads the landed bronze tables and shares no code with the pipeline."""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

W = {"income": 0.40, "medical": 0.20, "dependency": 0.15, "unemployment": 0.10, "illness": 0.10, "shock": 0.05}
STANDARD = {"1": 814.0, "2": 666.0}
# Yuan per mu or head per year (domain.md's defaults, every county).
NET_RETURN = {"grain_land": 500, "cash_crop_land": 1200, "orchard": 1500, "greenhouse": 6000}
NET_RETURN |= {"cattle": 1500, "pig": 200, "sheep": 150, "poultry": 8}
PROGRAMME_ORDER = ["dibao", "tekun", "marginal", "rigid_expenditure"]
EXIT_RATIO = {"dibao": 1.0, "tekun": 1.0, "marginal": 1.5}


def _partitions(lake: Path, source: str, as_of: date) -> list[Path]:
    out = []
    for p in sorted((lake / "bronze" / source).glob("extract_date=*")):
        if date.fromisoformat(p.name.split("=")[1]) <= as_of:
            out.append(p)
    return out


def _incremental(lake: Path, source: str, key: str, as_of: date) -> pd.DataFrame:
    frames = []
    for p in _partitions(lake, source, as_of):
        df = pd.read_parquet(p)
        df["extract_date"] = p.name.split("=")[1]
        frames.append(df)
    df = pd.concat(frames, ignore_index=True).sort_values("extract_date")
    return df.drop_duplicates(key, keep="last")


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _months(on: date, n: int) -> list[str]:
    out, y, m = [], on.year, on.month
    for _ in range(n):
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        out.append(f"{y:04d}-{m:02d}")
    return out


def _latest(lake: Path, source: str, as_of: date) -> pd.DataFrame | None:
    found = _partitions(lake, source, as_of)
    return pd.read_parquet(found[-1]) if found else None


def reference_snapshot(lake: Path, as_of: date, key: bytes) -> pd.DataFrame:
    residents = pd.read_parquet(_partitions(lake, "residents", as_of)[-1])
    holdings, certificates = _latest(lake, "agriculture", as_of), _latest(lake, "disability", as_of)
    farm = {}
    if holdings is not None:
        for hh, item, quantity in zip(holdings["household_id"], holdings["item"], holdings["quantity"]):
            farm[hh] = farm.get(hh, 0.0) + float(quantity) * NET_RETURN[item]
    severe = (
        set() if certificates is None else set(certificates.loc[certificates["grade"].isin(["1", "2"]), "person_id"])
    )
    with_assets = _asset_holders(lake, as_of)
    roll = _latest(lake, "assistance_roll", as_of)
    if roll is not None:
        roll = roll[roll["approval_date"] <= as_of]
    pay = _incremental(lake, "social_security", "record_id", as_of)
    med = _incremental(lake, "medical_settlements", "settlement_id", as_of)
    income_months, recent_months = set(_months(as_of, 12)), set(_months(as_of, 3))
    year_ago, ninety = as_of - timedelta(days=365), as_of - timedelta(days=90)

    pay = pay[pay["period"].isin(income_months)]
    pay_total = pay.groupby("person_id")["amount"].apply(lambda s: float(sum(s))).to_dict()
    wage_people = set(pay.loc[pay["item"] == "wage_contribution", "person_id"])
    recent_wage = set(pay.loc[(pay["item"] == "wage_contribution") & pay["period"].isin(recent_months), "person_id"])
    med_year = med[(med["settlement_date"] > year_ago) & (med["settlement_date"] <= as_of)]
    oop = med_year.groupby("person_id")["out_of_pocket"].apply(lambda s: float(sum(s))).to_dict()
    ill = set(med_year.loc[med_year["visit_type"].isin(["inpatient", "chronic_outpatient"]), "person_id"])
    med_90 = med[
        (med["settlement_date"] > ninety) & (med["settlement_date"] <= as_of) & (med["visit_type"] == "inpatient")
    ]
    dead = residents[
        (residents["status"] == "2") & (residents["status_date"] > year_ago) & (residents["status_date"] <= as_of)
    ]
    households_with_death = set(dead["household_id"])

    rows = []
    for hh, members in residents[residents["status"] == "1"].groupby("household_id"):
        heads = members[members["relation_to_head"] == "01"].sort_values("person_id")
        rep = heads.iloc[0] if len(heads) else members.sort_values("person_id").iloc[0]
        s = STANDARD[rep["residence_type"]]
        size = len(members)
        ids = list(members["person_id"])
        ages = [_age(b, as_of) for b in members["birth_date"]]
        income = sum(pay_total.get(p, 0.0) for p in ids) / 12 + farm.get(hh, 0.0) / 12
        pci = income / size
        ratio = pci / s
        oop_12m = sum(oop.get(p, 0.0) for p in ids)
        working = [p for p, a in zip(ids, ages) if 16 <= a < 60 and p not in severe]
        big_bill = any(float(x) >= 3 * s for x in med_90.loc[med_90["person_id"].isin(ids), "out_of_pocket"])
        comp = {
            "income": min(max(1 - ratio / 2, 0), 1),
            "medical": min(max(oop_12m / (12 * s * size), 0), 1),
            "dependency": sum(1 for p, a in zip(ids, ages) if a < 16 or a >= 60 or p in severe) / size,
            "unemployment": (sum(1 for p in working if p not in recent_wage) / len(working)) if working else 0.0,
            "illness": sum(1 for p in ids if p in ill) / size,
            "shock": 1.0 if (hh in households_with_death or big_bill) else 0.0,
        }
        on_roll = None if roll is None else roll[roll["household_id"] == hh]
        review = _review(on_roll, ids, ratio, income, any(p in with_assets for p in ids), hh, as_of, key)
        rows.append(
            {
                "household_key": hmac.new(key, hh.encode("utf-8"), hashlib.sha256).hexdigest(),
                "household_id": hh,
                "index": round(100 * sum(W[c] * comp[c] for c in W), 4),
                "low_income": pci < 2 * s,
                "ratio": ratio,
                "no_wage": not any(p in wage_people for p in ids),
                "all_dependent": all(a < 16 or a >= 60 for a in ages),
                **review,
            }
        )
    df = pd.DataFrame(rows).sort_values(["index", "household_id"], ascending=[False, True]).reset_index(drop=True)
    k = math.ceil(0.05 * len(df))
    df["top"] = df.index < k
    df["rules"] = [
        sorted(
            (["TOP_INDEX"] if t else [])
            + (["LOW_INCOME"] if li else [])
            + (["EXIT_REVIEW"] if reasons else [])
            + (["SPOT_CHECK"] if spot else [])
        )
        for t, li, reasons, spot in zip(df["top"], df["low_income"], df["exit_reasons"], df["spot_check"])
    ]
    return df


def _asset_holders(lake: Path, as_of: date) -> set[str]:
    """Persons with an active car or truck, or a qualifying role in an active business."""
    holders: set[str] = set()
    vehicles, businesses = _latest(lake, "vehicles", as_of), _latest(lake, "businesses", as_of)
    if vehicles is not None:
        cars = vehicles[(vehicles["status"] == "active") & vehicles["vehicle_class"].isin(["passenger_car", "truck"])]
        holders |= set(cars["person_id"])
    if businesses is not None:
        for _, b in businesses.iterrows():
            big = b["enterprise_type"] == "company" or float(b["registered_capital"]) >= 100_000
            if b["status"] == "active" and b["role"] in ("legal_rep", "investor") and big:
                holders.add(b["person_id"])
    return holders


def _review(
    rows: pd.DataFrame | None,
    members: list[str],
    ratio: float,
    income: float,
    has_asset: bool,
    household_id: str,
    as_of: date,
    key: bytes,
) -> dict:
    """The exit reasons and the spot check of a household with its roll rows in force."""
    if rows is None or rows.empty:
        return {"programme": None, "exit_reasons": [], "spot_check": False}
    programme = next(p for p in PROGRAMME_ORDER if p in set(rows["programme"]))
    credit = bool((rows["approval_mode"] == "credit").any())
    declared = max(float(x) for x in rows["declared_income"])
    reasons = []
    if programme in EXIT_RATIO and ratio >= EXIT_RATIO[programme]:
        reasons.append("income_above_line")
    if has_asset:
        reasons.append("asset")
    if any(p not in members for p in rows["person_id"]):
        reasons.append("member_not_registered")
    if credit and income - declared > max(0.2 * declared, 100):
        reasons.append("declared_income_understated")
    message = f"spot-check|{as_of:%Y-%m}|{household_id}".encode()
    spot = int(hmac.new(key, message, hashlib.sha256).hexdigest()[:8], 16) / 2**32
    return {"programme": programme, "exit_reasons": reasons, "spot_check": credit and spot < 0.05}
