"""Test helpers that write deliveries by hand, following interfaces.md to the letter,
independently of lipmon's own generator."""

from __future__ import annotations

from pathlib import Path

RESIDENT_HEADER = "公民身份号码,姓名,性别,出生日期,户号,与户主关系,行政区划代码,城乡属性,人员状态,状态变更日期"
SETTLEMENT_HEADER = ("settlement_id,person_id,visit_type,admission_date,discharge_date,diagnosis_code,"
                     "total_cost,fund_paid,out_of_pocket,settlement_date")
PAYMENT_HEADER = "record_id,person_id,period,item,amount"


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2, written out independently of the code under test."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(first17, weights))
    return "10X98765432"[total % 11]


def resident_id(region: str, birth: str, seq: int) -> str:
    body = f"{region}{birth}{seq:03d}"
    return body + check_char(body)


def write_delivery(landing: Path, source: str, day: str, files: dict[str, str | bytes], *,
                   encoding: str = "utf-8", ready: bool = True) -> Path:
    folder = landing / source / day
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode(encoding)
        (folder / name).write_bytes(data)
    if ready:
        (folder / "_READY").write_bytes(b"")
    return folder


def residents_csv(rows: list[str]) -> bytes:
    return ("\n".join([RESIDENT_HEADER, *rows]) + "\n").encode("gb18030")


def settlements_csv(rows: list[str]) -> bytes:
    return ("\n".join([SETTLEMENT_HEADER, *rows]) + "\n").encode("utf-8")


def payments_csv(rows: list[str]) -> bytes:
    return b"\xef\xbb\xbf" + ("\n".join([PAYMENT_HEADER, *rows]) + "\n").encode("utf-8")


def small_city(landing: Path) -> dict[str, str]:
    """A few households delivered over two weeks, with a settlement re-delivered and a
    delivery after the last snapshot date. Returns the person IDs by role."""
    ids = {
        "head": resident_id("371402", "19800101", 11), "wife": resident_id("371402", "19820202", 22),
        "child": resident_id("371402", "20150303", 31), "widow": resident_id("371481", "19500505", 42),
        "worker": resident_id("371403", "19900606", 51), "old": resident_id("371403", "19400707", 61),
    }
    registry = [
        f"{ids['head']},张三,1,19800101,H1,01,371402001001,1,1,",
        f"{ids['wife']},李四,2,19820202,H1,02,371402001001,1,1,",
        f"{ids['child']},张小,1,20150303,H1,03,371402001001,1,1,",
        f"{ids['widow']},王芳,2,19500505,H2,01,371481101002,2,1,",
        f"{ids['worker']},赵六,1,19900606,H3,01,371403002003,2,1,",
        f"{ids['old']},赵老,1,19400707,H3,04,371403002003,2,1,",
    ]
    write_delivery(landing, "residents", "2026-11-20", {"residents_1.csv": residents_csv(registry)})
    registry[-1] = f"{ids['old']},赵老,1,19400707,H3,04,371403002003,2,2,20261125"
    write_delivery(landing, "residents", "2026-11-27", {"residents_1.csv": residents_csv(registry)})
    write_delivery(landing, "medical_settlements", "2026-11-19", {"settlements.csv": settlements_csv([
        f"S1,{ids['widow']},inpatient,2026-11-01,2026-11-10,I63.9,9000.00,5000.00,4000.00,2026-11-10",
        f"S2,{ids['child']},outpatient,,,,200,100,100,2026-11-12",
    ])})
    write_delivery(landing, "medical_settlements", "2026-11-26", {"settlements.csv": settlements_csv([
        f"S1,{ids['widow']},inpatient,2026-11-01,2026-11-10,I63.9,9000.00,3000.00,6000.00,2026-11-10",
        f"S3,{ids['worker']},chronic_outpatient,,,E11.9,500,300,200,2026-11-25",
    ])})
    write_delivery(landing, "medical_settlements", "2026-11-30", {"settlements.csv": settlements_csv([
        f"S4,{ids['head']},inpatient,2026-11-28,2026-11-29,K35.8,20000,1000,19000,2026-11-29",
    ])})
    for day, period in (("2026-10-10", "202609"), ("2026-11-10", "202610")):
        write_delivery(landing, "social_security", day, {"payments.csv": payments_csv([
            f"P{period}1,{ids['head']},{period},wage_contribution,4500",
            f"P{period}2,{ids['widow']},{period},pension,300",
            f"P{period}3,{ids['worker']},{period},wage_contribution,3200",
            f"P{period}4,{ids['old']},{period},pension,180",
        ])})
    return ids
