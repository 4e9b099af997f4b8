"""Hostile deliveries, fuzzed (Hypothesis). Valid deliveries of every source are corrupted,
each in one to three ways at once, and landed for real; every time, for every source:

- a source stops only for a whole-file failure (bytes that do not decode in the
  contract's encoding, a header cut or missing), with a message naming the file, and then
  nothing of it is landed;
- otherwise rows in = rows kept + rows quarantined, where rows in is the file's lines
  counted here by hand, and the lake holds exactly those kept and quarantined rows;
- every kept row satisfies its contract: required values present, codes in their sets,
  resident IDs with a valid check character, and every cross-field rule (written out
  here in Python, independently of the contract's Spark expressions);
- every quarantined row has at least one reason and its raw text.

The fast suite tries FAST_EXAMPLES examples (three sources each) with a fixed seed;
the system run tries SYSTEM_EXAMPLES more with another seed. The kinds tried are printed
at the end of the session."""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from pipelines.contracts import load_contracts
from pipelines.ingest.run import ingest
from pipelines.lake import Lake
from pipelines.settings import PROJECT_ROOT
from tests.deliveries import check_char, payments_csv, resident_id, residents_csv, settlements_csv, write_delivery

CONTRACTS = load_contracts(PROJECT_ROOT / "schemas" / "sources")
FAST_EXAMPLES = int(os.environ.get("LIPMON_FUZZ_EXAMPLES", "4"))
SYSTEM_EXAMPLES = 6
D = date(2026, 11, 28)
DAYS = {
    "residents": date(2026, 11, 27),
    "medical_settlements": date(2026, 11, 28),
    "social_security": date(2026, 11, 10),
}
IDS = [
    resident_id("371402", "19800101", 11),
    resident_id("371402", "19820202", 22),
    resident_id("371403", "20100303", 31),
    resident_id("371403", "19450707", 42),
    resident_id("371481", "19700808", 51),
]
A, B, C, E, F = IDS
FILES = {
    "residents": "residents_1.csv",
    "medical_settlements": "settlements_1.csv",
    "social_security": "payments_1.csv",
}
VALID = {
    "residents": residents_csv(
        [
            f"{A},张三,1,19800101,H1,01,371402001001,1,1,",
            f'{B},"李,四",2,19820202,H1,02,371402001001,1,1,',
            f"{C},王小五,1,20100303,H2,01,371403002001,2,1,",
            f"{E},赵六,2,19450707,H2,04,371403002001,2,2,20261101",
            f"{F},钱七,1,19700808,H3,01,371481003001,1,3,20260615",
        ]
    ),
    "medical_settlements": settlements_csv(
        [
            f"S1,{A},inpatient,2026-11-01,2026-11-05,I10,1000.50,600.25,400.25,2026-11-06",
            f"S2,{B},outpatient,,,J06,120,80,40,2026-11-20",
            f"S3,{C},chronic_outpatient,,,E11,300,200,100,2026-11-21",
            f'S4,{E},inpatient,2026-10-01,2026-10-20,"I63,9",9000.00,5000.00,4000.00,2026-10-20',
            f"S5,{F},outpatient,,,,55.5,0,55.5,2026-11-27",
        ]
    ),
    "social_security": payments_csv(
        [
            f"P1,{A},202610,wage_contribution,4200",
            f"P2,{B},202610,unemployment_benefit,1500.5",
            f"P3,{C},202610,pension,800",
            f"P4,{E},202609,pension,1200.25",
            f"P5,{F},202610,wage_contribution,0",
        ]
    ),
}
KINDS = [
    "flip_byte",
    "cut_file",
    "cut_header",
    "truncate_line",
    "join_lines",
    "extra_delimiter",
    "missing_delimiter",
    "stray_quote",
    "embedded_newline",
    "nul_byte",
    "crlf",
    "bom_in_the_middle",
    "wrong_encoding",
    "empty_file",
    "header_only",
    "duplicate_line",
]
# What a source may legitimately stop for: the whole file cannot be read as its contract says.
WHOLE_FILE_FAILURES = ("cannot decode", "no header line", "header does not match")
TRIED: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()


@dataclass(frozen=True)
class Corruption:
    kind: str
    at: float  # where in the file's data part, 0..1
    byte: int  # the XOR mask of a flipped byte


def corrupt(source: str, data: bytes, c: Corruption) -> bytes:
    """`data` corrupted as `c` says (the header line is left alone unless the kind is about it)."""
    if b"\n" not in data:
        start = len(data)
    else:
        start = data.index(b"\n") + 1
    body = data[start:]
    lines = body.split(b"\n")
    i = min(int(c.at * max(len(lines) - 1, 1)), max(len(lines) - 1, 0))
    match c.kind:
        case "flip_byte":
            if not body:
                return data + bytes([c.byte])
            pos = start + int(c.at * (len(body) - 1))
            return data[:pos] + bytes([data[pos] ^ c.byte]) + data[pos + 1 :]
        case "cut_file":
            return data[: start + int(c.at * len(body))]
        case "cut_header":
            return data[: int(c.at * max(start - 1, 0))]
        case "truncate_line":
            lines[i] = lines[i][: len(lines[i]) // 2]
        case "join_lines":
            if i + 1 < len(lines):
                lines[i : i + 2] = [lines[i] + lines[i + 1]]
            else:
                lines[i] = lines[i] + lines[0]
        case "extra_delimiter":
            lines[i] = lines[i] + b","
        case "missing_delimiter":
            lines[i] = lines[i].replace(b",", b"", 1) if b"," in lines[i] else lines[i] + b"x"
        case "stray_quote":
            lines[i] = lines[i][:3] + b'"' + lines[i][3:]
        case "embedded_newline":
            lines[i] = lines[i][:5] + b"\n" + lines[i][5:]
        case "nul_byte":
            lines[i] = lines[i][:4] + b"\x00" + lines[i][4:]
        case "crlf":
            return data.replace(b"\n", b"\r\n")
        case "bom_in_the_middle":
            lines[i] = lines[i][:6] + b"\xef\xbb\xbf" + lines[i][6:]
        case "wrong_encoding":
            # residents are GB18030: delivered as UTF-8 instead; the others as UTF-16.
            if source == "residents":
                return data.decode("gb18030", errors="replace").encode("utf-8")
            return data.decode("utf-8-sig", errors="replace").encode("utf-16")
        case "empty_file":
            return b""
        case "header_only":
            return data[:start]
        case "duplicate_line":
            lines.insert(i, lines[i])
    return data[:start] + b"\n".join(lines)


def data_lines(data: bytes) -> int:
    """Lines after the header, counted by hand: a line ends at \\n, \\r\\n or a lone \\r."""
    if not data:
        return 0
    pieces = re.split(rb"\r\n|\r|\n", data)
    if pieces[-1] == b"":
        pieces.pop()
    return max(len(pieces) - 1, 0)


# Every kept row satisfies its contract. The rules are written out here by hand.
def _valid_id(value: str) -> bool:
    return len(value) == 18 and value[:17].isdigit() and check_char(value[:17]) == value[17]


def _resident_ok(r: dict, day: date) -> bool:
    pid, birth, status_date = r["person_id"], r["birth_date"], r["status_date"]
    return (
        _valid_id(pid)
        and birth == date(int(pid[6:10]), int(pid[10:12]), int(pid[12:14]))
        and r["gender"] == ("1" if int(pid[16]) % 2 == 1 else "2")
        and (r["status"] == "1") == (status_date is None)
        and (status_date is None or birth <= status_date <= day)
        and birth <= day
        and re.fullmatch(r"[0-9]{12}", r["region_code"]) is not None
    )


def _settlement_ok(r: dict, day: date) -> bool:
    adm, dis, settled = r["admission_date"], r["discharge_date"], r["settlement_date"]
    total, fund, oop = (Decimal(str(r[k])) for k in ("total_cost", "fund_paid", "out_of_pocket"))
    return (
        _valid_id(r["person_id"])
        and min(total, fund, oop) >= 0
        and abs(oop - (total - fund)) <= Decimal("0.01")
        and (r["visit_type"] != "inpatient" or (adm is not None and dis is not None))
        and (adm is None or dis is None or adm <= dis)
        and (adm is None or adm <= settled)
        and settled <= day
        and all(x is None or x <= day for x in (adm, dis))
    )


def _payment_ok(r: dict, day: date) -> bool:
    return (
        _valid_id(r["person_id"])
        and Decimal(str(r["amount"])) >= 0
        and re.fullmatch(r"[0-9]{4}-[0-9]{2}", r["period"]) is not None
        and r["period"] <= f"{day.year:04d}-{day.month:02d}"
    )


ROW_OK = {"residents": _resident_ok, "medical_settlements": _settlement_ok, "social_security": _payment_ok}


def _kept_rows_satisfy_their_contract(kept: pd.DataFrame, source: str) -> None:
    contract = CONTRACTS[source]
    records = kept.astype(object).where(kept.notna(), None).to_dict("records")
    for column in contract.columns:
        values = [r[column.name] for r in records]
        if column.required:
            assert all(v is not None for v in values), (source, column.name)
        if column.codes:
            assert all(v is None or v in column.codes for v in values), (source, column.name)
    for r in records:
        assert ROW_OK[source](r, DAYS[source]), (source, r)


def land(spark, root: Path, plan: dict[str, list[Corruption]]) -> None:
    landing, lake = root / "landing", root / "lake"
    delivered = {}
    for source, corruptions in plan.items():
        data = VALID[source]
        for c in corruptions:
            data = corrupt(source, data, c)
            TRIED[c.kind] += 1
        delivered[source] = data
        write_delivery(landing, source, DAYS[source].isoformat(), {FILES[source]: data})
    report = ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D)
    results = {r.source: r for r in report.results}
    assert set(results) == set(plan)
    for source, r in results.items():
        kinds = [c.kind for c in plan[source]]
        part = f"extract_date={DAYS[source].isoformat()}"
        if r.status != "landed":
            OUTCOMES[f"{source} stopped (whole file)"] += 1
            assert FILES[source] in (r.error or ""), (kinds, r.error)
            assert any(m in r.error for m in WHOLE_FILE_FAILURES), (kinds, r.error)
            assert not (lake / "bronze" / source).exists() and not (lake / "quarantine" / source).exists()
            continue
        OUTCOMES[f"{source} landed"] += 1
        assert r.rows_read == data_lines(delivered[source]), (kinds, r)
        assert r.rows_read == r.rows_kept + r.rows_quarantined, (kinds, r)
        kept = pd.read_parquet(lake / "bronze" / source / part)
        bad_dir = lake / "quarantine" / source / part
        bad = pd.read_parquet(bad_dir) if bad_dir.exists() else pd.DataFrame({"reasons": [], "raw_text": []})
        assert (len(kept), len(bad)) == (r.rows_kept, r.rows_quarantined), (kinds, r)
        assert all(len(reasons) > 0 for reasons in bad["reasons"]), kinds
        assert bad["raw_text"].notna().all(), kinds
        _kept_rows_satisfy_their_contract(kept, source)
        OUTCOMES["rows quarantined"] += r.rows_quarantined


corruptions = st.builds(Corruption, kind=st.sampled_from(KINDS), at=st.floats(0, 1), byte=st.integers(1, 255))
plans = st.fixed_dictionaries({source: st.lists(corruptions, min_size=1, max_size=3) for source in VALID})
SETTINGS = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}


def _land_in_a_fresh_folder(spark, tmp_path_factory, plan) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    try:
        land(spark, root, plan)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@seed(20261128)
@settings(max_examples=FAST_EXAMPLES, **SETTINGS)
@given(plan=plans)
def test_corrupted_deliveries_lose_no_row_and_stop_only_for_a_whole_file_failure(spark, tmp_path_factory, plan):
    _land_in_a_fresh_folder(spark, tmp_path_factory, plan)


@pytest.mark.system
@seed(7)
@settings(max_examples=SYSTEM_EXAMPLES, **SETTINGS)
@given(plan=plans)
def test_more_corrupted_deliveries_of_every_source(spark, tmp_path_factory, plan):
    _land_in_a_fresh_folder(spark, tmp_path_factory, plan)


def test_the_valid_deliveries_land_whole(spark, tmp_path):
    """The baseline the corruptions start from: every row kept (5 a source)."""
    land(spark, tmp_path, {source: [] for source in VALID})
    for source in VALID:
        kept = pd.read_parquet(tmp_path / "lake" / "bronze" / source / f"extract_date={DAYS[source].isoformat()}")
        assert len(kept) == 5, source


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_corruption_changes_every_delivery(kind):
    for source, data in VALID.items():
        assert corrupt(source, data, Corruption(kind, 0.5, 7)) != data, (source, kind)


def test_lines_are_counted_as_a_line_reader_splits_them():
    assert data_lines(b"h\na\r\nb\rc") == 3
    assert data_lines(b"h\n") == 0
    assert data_lines(b"h") == 0
    assert data_lines(b"") == 0
    assert data_lines(b"h\n\n") == 1  # an empty line is a (bad) row
