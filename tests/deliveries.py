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
