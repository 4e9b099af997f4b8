"""The synthetic landing folder (`lipmon generate`) matches interfaces.md: layout,
encodings, headers, codes, and bad rows exactly where the summary says they are.

The checks here are written independently of the generator (own MOD 11-2, own row
rules), so they do not just repeat the code under test.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from pipelines.generate import generate_landing
from pipelines.generate.defects import KINDS

AS_OF = date(2026, 11, 28)
RESIDENTS_HEADER = "公民身份号码,姓名,性别,出生日期,户号,与户主关系,行政区划代码,城乡属性,人员状态,状态变更日期"
SETTLEMENTS_HEADER = (
    "settlement_id,person_id,visit_type,admission_date,discharge_date,diagnosis_code,"
    "total_cost,fund_paid,out_of_pocket,settlement_date"
)
PAYMENTS_HEADER = "record_id,person_id,period,item,amount"
PROVINCES = {
    11,
    12,
    13,
    14,
    15,
    21,
    22,
    23,
    31,
    32,
    33,
    34,
    35,
    36,
    37,
    41,
    42,
    43,
    44,
    45,
    46,
    50,
    51,
    52,
    53,
    54,
    61,
    62,
    63,
    64,
    65,
    71,
    81,
    82,
}


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    return root, generate_landing(root, 400, seed=7, as_of=AS_OF)


def mod11_check(first17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # 7, 9, 10, 5, 8, ...
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def id_is_valid(pid: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", pid) or int(pid[:2]) not in PROVINCES:
        return False
    return parse_date(pid[6:14], "%Y%m%d") is not None and pid[17] == mod11_check(pid[:17])


def parse_date(text: str, fmt: str):
    try:
        return datetime.strptime(text, fmt).date() if len(text) == (8 if fmt == "%Y%m%d" else 10) else None
    except ValueError:
        return None


def money(text: str):
    return float(text) if re.fullmatch(r"\d+(\.\d{1,2})?", text) else None


def read_rows(path: Path, encoding: str) -> tuple[str, list[list[str]], list[str]]:
    text = path.read_bytes().decode(encoding)
    header, body = text.split("\n", 1)
    raw = body.split("\n")
    assert raw[-1] == "", "every line ends with \\n"
    return header, list(csv.reader(io.StringIO(body))), raw[:-1]


def folders(root: Path, source: str) -> list[Path]:
    return sorted(p for p in (root / source).iterdir())


# ---- row rules of interfaces.md, one function per source -----------------------------


def resident_ok(f: list[str]) -> bool:
    if len(f) != 10:
        return False
    pid, _, gender, birth, household, relation, region, residence, status, status_date = f
    return (
        id_is_valid(pid)
        and birth == pid[6:14]
        and gender in "12"
        and len(gender) == 1
        and int(pid[16]) % 2 == (gender == "1")
        and household != ""
        and relation in {"01", "02", "03", "04", "05", "06", "99"}
        and re.fullmatch(r"\d{12}", region) is not None
        and residence in {"1", "2"}
        and (
            (status == "1" and status_date == "")
            or (status in {"2", "3"} and parse_date(status_date, "%Y%m%d") is not None)
        )
    )


def settlement_ok(f: list[str]) -> bool:
    if len(f) != 10 or f[0] == "" or not id_is_valid(f[1]):
        return False
    if f[2] not in {"inpatient", "chronic_outpatient", "outpatient"}:
        return False
    if any(d and parse_date(d, "%Y-%m-%d") is None for d in f[3:5]) or parse_date(f[9], "%Y-%m-%d") is None:
        return False
    total, fund, oop = (money(x) for x in f[6:9])
    return None not in (total, fund, oop) and abs(total - fund - oop) <= 0.01


def payment_ok(f: list[str]) -> bool:
    return (
        len(f) == 5
        and f[0] != ""
        and id_is_valid(f[1])
        and re.fullmatch(r"\d{4}(0[1-9]|1[0-2])", f[2]) is not None
        and f[3] in {"wage_contribution", "pension", "unemployment_benefit"}
        and money(f[4]) is not None
    )


def bad_rows(rows: list[list[str]], raw: list[str], row_ok) -> int:
    """Rows a reader must quarantine: rule breakers, every row of a key seen with
    different content, and the extra copies of exact duplicate lines."""
    bad = [not row_ok(f) for f in rows]
    by_key: dict[str, set[str]] = {}
    for f, line, is_bad in zip(rows, raw, bad):
        if not is_bad:
            by_key.setdefault(f[0], set()).add(line)
    seen: set[str] = set()
    for i, (f, line) in enumerate(zip(rows, raw)):
        if (not bad[i] and len(by_key[f[0]]) > 1) or (not bad[i] and line in seen):
            bad[i] = True
        seen.add(line)
    return sum(bad)


SOURCES = {
    "residents": ("residents.csv", "gb18030", RESIDENTS_HEADER, resident_ok),
    "medical_settlements": ("settlements.csv", "utf-8", SETTLEMENTS_HEADER, settlement_ok),
    "social_security": ("payments.csv", "utf-8-sig", PAYMENTS_HEADER, payment_ok),
}


# ---- tests ----------------------------------------------------------------------------


def test_same_seed_writes_byte_identical_files_and_another_seed_does_not(tmp_path):
    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    first, again, other = (tmp_path / "a", tmp_path / "b", tmp_path / "c")
    assert generate_landing(first, 200, seed=3) == generate_landing(again, 200, seed=3)
    generate_landing(other, 200, seed=4)
    assert files(first) == files(again)

    def scheduled(root):  # visits before the last week come only on days that had some
        return {path for path in files(root) if path.parts[0] != "visit_outcomes"}

    assert scheduled(first) == scheduled(other)
    assert files(first) != files(other)


def test_delivery_folders_follow_the_schedule_and_only_the_unfinished_one_lacks_ready(landing):
    root, summary = landing
    names = {source: [p.name for p in folders(root, source)] for source in SOURCES}
    assert names["residents"] == ["2026-11-14", "2026-11-21", "2026-11-28", "2026-11-29"]
    monthly = [f"{y}-{m:02d}-01" for y, m in [(2025, 12)] + [(2026, m) for m in range(1, 12)]]
    daily = [f"2026-11-{d}" for d in range(22, 30)]
    assert names["medical_settlements"] == monthly + daily
    assert names["social_security"] == ["2025-11-10", "2025-12-10"] + [f"2026-{m:02d}-10" for m in range(1, 12)]
    for source, (file_name, *_rest) in SOURCES.items():
        for folder in folders(root, source):
            assert [p.name for p in folder.iterdir() if p.name != "_READY"] == [file_name]
            ready = folder / "_READY"
            expect_ready = not (source == "residents" and folder.name == "2026-11-29")
            assert ready.exists() == expect_ready, folder
            assert not ready.exists() or ready.stat().st_size == 0
    assert summary["not_ready"] == ["residents/2026-11-29"]


def test_files_have_the_agreed_encodings_and_headers(landing):
    root, _ = landing
    for folder in folders(root, "residents"):
        data = (folder / "residents.csv").read_bytes()
        assert data.decode("gb18030").split("\n", 1)[0] == RESIDENTS_HEADER
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # really GB18030, not UTF-8
    for folder in folders(root, "medical_settlements"):
        data = (folder / "settlements.csv").read_bytes()
        assert data.startswith(SETTLEMENTS_HEADER.encode() + b"\n")
        data.decode("utf-8")
    for folder in folders(root, "social_security"):
        data = (folder / "payments.csv").read_bytes()
        assert data.startswith(b"\xef\xbb\xbf" + PAYMENTS_HEADER.encode() + b"\n")
    for path in root.rglob("*.csv"):
        assert b"\r" not in path.read_bytes()


def test_row_counts_and_formats_match_the_summary(landing):
    root, summary = landing
    for source, (file_name, encoding, _header, _) in SOURCES.items():
        for folder in folders(root, source):
            _, rows, raw = read_rows(folder / file_name, encoding)
            assert len(rows) == len(raw) == summary["rows"][source][folder.name]
    _, rows, _ = read_rows(root / "residents/2026-11-28/residents.csv", "gb18030")
    good = [f for f in rows if resident_ok(f)]
    assert {f[5] for f in good} <= {"01", "02", "03", "04", "05", "06", "99"}
    assert {f[8] for f in good} == {"1", "2", "3"}
    assert {f[6][:6] for f in good} <= {
        "371402",
        "371403",
        "371422",
        "371423",
        "371424",
        "371425",
        "371426",
        "371427",
        "371428",
        "371481",
        "371482",
    }
    assert all(re.fullmatch(r"3714\d{8}", f[4]) for f in good)
    for folder in folders(root, "social_security"):
        period = date.fromisoformat(folder.name).replace(day=1).toordinal() - 1
        expected = date.fromordinal(period).strftime("%Y%m")
        _, rows, _ = read_rows(folder / "payments.csv", "utf-8-sig")
        assert Counter(f[2] for f in rows if payment_ok(f)).most_common(1)[0][0] == expected


def test_bad_rows_are_exactly_the_injected_ones_and_every_kind_is_there(landing):
    root, summary = landing
    for source, (file_name, encoding, _, row_ok) in SOURCES.items():
        assert set(summary["bad_rows"][source]) == set(KINDS[source])
        assert all(count >= 1 for count in summary["bad_rows"][source].values())
        found = 0
        for folder in folders(root, source):
            _, rows, raw = read_rows(folder / file_name, encoding)
            found += bad_rows(rows, raw, row_ok)
        assert found == sum(summary["bad_rows"][source].values()), source


def test_every_residents_snapshot_carries_every_defect_kind(landing):
    root, _ = landing
    for folder in folders(root, "residents"):
        _, rows, raw = read_rows(folder / "residents.csv", "gb18030")
        assert any(len(f) == 9 for f in rows) and any(len(f) == 11 for f in rows)
        full = [f for f in rows if len(f) == 10]
        assert any(f[2] == "3" for f in full) and any(f[5] == "07" for f in full)
        assert any(f[0][:2] == "99" for f in full) and any(f[3][4:] == "0230" for f in full)
        assert any(f[8] == "4" for f in full) and any(f[4] == "" for f in full)
        assert len(raw) - len(set(raw)) >= 1


def test_defects_keep_the_file_a_valid_csv_with_quoted_commas(landing):
    root, _ = landing
    gb18030 = ("residents", "agriculture")
    texts = [p.read_text("utf-8-sig") for p in root.glob("*/*/*.csv") if p.parts[-3] not in gb18030]
    assert any('"12,5a"' in t for t in texts)
    for t in texts:
        assert t.count('"') % 2 == 0


def test_settlements_keep_out_of_pocket_equal_to_cost_minus_fund(landing):
    root, summary = landing
    mismatched = 0
    for folder in folders(root, "medical_settlements"):
        _, rows, _ = read_rows(folder / "settlements.csv", "utf-8")
        for f in rows:
            amounts = [money(x) for x in f[6:9]] if len(f) == 10 else [None]
            if None not in amounts and abs(amounts[0] - amounts[1] - amounts[2]) > 0.01:
                mismatched += 1
            if len(f) == 10 and f[2] == "inpatient" and settlement_ok(f):
                assert f[3] <= f[4] == f[9]
    assert mismatched == summary["bad_rows"]["medical_settlements"]["out_of_pocket_mismatch"]


def test_redelivered_keys_come_again_later_with_corrected_amounts(landing):
    root, summary = landing
    for source, amount_columns in (("medical_settlements", slice(6, 9)), ("social_security", slice(4, 5))):
        file_name, encoding, _, row_ok = SOURCES[source]
        first_seen: dict[str, tuple[str, list[str]]] = {}
        redelivered = 0
        for folder in folders(root, source):
            _, rows, _ = read_rows(folder / file_name, encoding)
            keys_here = Counter(f[0] for f in rows)
            for f in rows:
                if not row_ok(f) or keys_here[f[0]] > 1:
                    continue
                if f[0] in first_seen and first_seen[f[0]][0] != folder.name:
                    assert f[amount_columns] != first_seen[f[0]][1][amount_columns]
                    redelivered += 1
                first_seen.setdefault(f[0], (folder.name, f))
        assert redelivered >= 0.9 * summary["redelivered"][source] > 0


def test_snapshots_differ_by_births_and_status_changes_only_slightly(landing):
    root, summary = landing
    counts = summary["rows"]["residents"]
    assert abs(counts["2026-11-28"] - counts["2026-11-14"]) < 0.01 * counts["2026-11-14"]
    status = {}
    for day in ("2026-11-14", "2026-11-28"):
        _, rows, _ = read_rows(root / "residents" / day / "residents.csv", "gb18030")
        status[day] = {f[0]: f[8] for f in rows if resident_ok(f)}
    deceased = sum(1 for v in status["2026-11-28"].values() if v == "2")
    assert deceased > 0


def test_orphans_are_valid_ids_missing_from_residents(landing):
    root, _ = landing
    people = set()
    for folder in folders(root, "residents"):
        _, rows, _ = read_rows(folder / "residents.csv", "gb18030")
        people |= {f[0] for f in rows if f}
    for source, column in (("social_security", 1), ("medical_settlements", 1)):
        file_name, encoding, _, row_ok = SOURCES[source]
        good = [f for folder in folders(root, source) for f in read_rows(folder / file_name, encoding)[1] if row_ok(f)]
        orphans = [f for f in good if f[column] not in people]
        assert 0 < len(orphans) < 0.03 * len(good), source
