"""Test helpers that write deliveries by hand, following interfaces.md to the letter,
independently of lipmon's own generator."""

from __future__ import annotations

from pathlib import Path

RESIDENT_HEADER = "公民身份号码,姓名,性别,出生日期,户号,与户主关系,行政区划代码,城乡属性,人员状态,状态变更日期"
SETTLEMENT_HEADER = (
    "settlement_id,person_id,visit_type,admission_date,discharge_date,diagnosis_code,"
    "total_cost,fund_paid,out_of_pocket,settlement_date"
)
PAYMENT_HEADER = "record_id,person_id,period,item,amount"
# The core sources as typed rows (bronze without extract_date), for transforms on hand-built frames.
RESIDENT_COLUMNS = (
    "person_id string, name string, gender string, birth_date date, household_id string, "
    "relation_to_head string, region_code string, residence_type string, status string, status_date date"
)
PAYMENT_COLUMNS = "record_id string, person_id string, period string, item string, amount decimal(14,2)"
SETTLEMENT_COLUMNS = (
    "settlement_id string, person_id string, visit_type string, admission_date date, "
    "discharge_date date, diagnosis_code string, total_cost decimal(14,2), fund_paid decimal(14,2), "
    "out_of_pocket decimal(14,2), settlement_date date"
)


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2, written out independently of the code under test."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(first17, weights))
    return "10X98765432"[total % 11]


def resident_id(region: str, birth: str, seq: int) -> str:
    body = f"{region}{birth}{seq:03d}"
    return body + check_char(body)


def write_delivery(
    landing: Path, source: str, day: str, files: dict[str, str | bytes], *, encoding: str = "utf-8", ready: bool = True
) -> Path:
    folder = landing / source / day
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode(encoding)
        (folder / name).write_bytes(data)
    if ready:
        (folder / "_READY").write_bytes(b"")
    return folder


def registry_line(person_id: str, name: str, household: str, relation: str, status: str = "1", since: str = "") -> str:
    """A residents row in village 371402001001, urban, born on the date in the ID number."""
    gender = "1" if int(person_id[16]) % 2 else "2"
    return f"{person_id},{name},{gender},{person_id[6:14]},{household},{relation},371402001001,1,{status},{since}"


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
        "head": resident_id("371402", "19800101", 11),
        "wife": resident_id("371402", "19820202", 22),
        "child": resident_id("371402", "20150303", 31),
        "widow": resident_id("371481", "19500505", 42),
        "worker": resident_id("371403", "19900606", 51),
        "old": resident_id("371403", "19400707", 61),
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
    write_delivery(
        landing,
        "medical_settlements",
        "2026-11-19",
        {
            "settlements.csv": settlements_csv(
                [
                    f"S1,{ids['widow']},inpatient,2026-11-01,2026-11-10,I63.9,9000.00,5000.00,4000.00,2026-11-10",
                    f"S2,{ids['child']},outpatient,,,,200,100,100,2026-11-12",
                ]
            )
        },
    )
    write_delivery(
        landing,
        "medical_settlements",
        "2026-11-26",
        {
            "settlements.csv": settlements_csv(
                [
                    f"S1,{ids['widow']},inpatient,2026-11-01,2026-11-10,I63.9,9000.00,3000.00,6000.00,2026-11-10",
                    f"S3,{ids['worker']},chronic_outpatient,,,E11.9,500,300,200,2026-11-25",
                ]
            )
        },
    )
    write_delivery(
        landing,
        "medical_settlements",
        "2026-11-30",
        {
            "settlements.csv": settlements_csv(
                [
                    f"S4,{ids['head']},inpatient,2026-11-28,2026-11-29,K35.8,20000,1000,19000,2026-11-29",
                ]
            )
        },
    )
    for day, period in (("2026-10-10", "202609"), ("2026-11-10", "202610")):
        write_delivery(
            landing,
            "social_security",
            day,
            {
                "payments.csv": payments_csv(
                    [
                        f"P{period}1,{ids['head']},{period},wage_contribution,4500",
                        f"P{period}2,{ids['widow']},{period},pension,300",
                        f"P{period}3,{ids['worker']},{period},wage_contribution,3200",
                        f"P{period}4,{ids['old']},{period},pension,180",
                    ]
                )
            },
        )
    return ids


INCOME_PERIODS = [f"2025{m:02d}" for m in (11, 12)] + [f"2026{m:02d}" for m in range(1, 11)]


def _monthly(person_id: str, item: str, amount: int) -> list[str]:
    """Twelve monthly payments over the income window of a November snapshot; the record_id
    is person and period, so a later delivery with other amounts replaces them."""
    return [f"{person_id}-{period},{person_id},{period},{item},{amount}" for period in INCOME_PERIODS]


def changing_city(landing: Path) -> dict[str, str]:
    """Six urban households (standard 814, LOW_INCOME below 1628 per person, TOP_INDEX the
    single top household: ceil(5% of 5 or 6) = 1) whose alerts change from night to night.
    Hand-computed indexes (domain.md):

    - R1, R2: two earners of 8000 each: index 0, never alerted.
    - T: two pensioners aged 70 with 1700 each (ratio 2.088: not LOW_INCOME), both with a
      chronic illness, out of pocket 9768 = half of 12 x 814 x 2: 15 + 10 + 10 = 35.0,
      the top index until 11-23.
    - L1: one earner with 1200 (ratio 1.474): 40 x (1 - 1200/1628) = 10.516, LOW_INCOME. An
      inpatient stay settled 2026-11-22 costs 15000 out of pocket (delivered 11-23):
      + 20 (medical) + 10 (illness) + 5 (shock) = 45.516, the top index from 11-23.
    - L2: one earner with 1500: 3.145, LOW_INCOME until a correction delivered 11-23 makes
      it 2000 a month (not LOW_INCOME, index 0).
    - N: registered from the 11-22 delivery, one earner with 1000: 15.43, LOW_INCOME until a
      correction delivered 11-24 makes it 3000 a month.

    Returns the head's person_id by household number."""
    ids = {
        "R1": resident_id("371402", "19810101", 11),
        "R1b": resident_id("371402", "19830101", 22),
        "R2": resident_id("371402", "19790202", 31),
        "R2b": resident_id("371402", "19800202", 42),
        "T": resident_id("371402", "19560301", 51),
        "Tb": resident_id("371402", "19560401", 62),
        "L1": resident_id("371402", "19860505", 71),
        "L2": resident_id("371402", "19910707", 81),
        "N": resident_id("371402", "19960808", 91),
    }

    def row(pid: str, name: str, household: str, relation: str, status: str = "1", since: str = "") -> str:
        return registry_line(ids[pid], name, household, relation, status, since)

    registry = [
        row("R1", "钱一", "R1", "01"),
        row("R1b", "孙一", "R1", "02"),
        row("R2", "周二", "R2", "01"),
        row("R2b", "吴二", "R2", "02"),
        row("T", "郑老", "T", "01"),
        row("Tb", "王老", "T", "02"),
        row("L1", "冯甲", "L1", "01"),
        row("L2", "陈乙", "L2", "01"),
    ]
    write_delivery(landing, "residents", "2026-11-21", {"residents_1.csv": residents_csv(registry)})
    write_delivery(
        landing, "residents", "2026-11-22", {"residents_1.csv": residents_csv([*registry, row("N", "褚丙", "N", "01")])}
    )
    write_delivery(
        landing,
        "medical_settlements",
        "2026-11-21",
        {
            "settlements.csv": settlements_csv(
                [
                    f"ST1,{ids['T']},chronic_outpatient,,,E11.9,6000,1116,4884,2026-10-01",
                    f"ST2,{ids['Tb']},chronic_outpatient,,,I10,6000,1116,4884,2026-10-01",
                ]
            )
        },
    )
    write_delivery(
        landing,
        "medical_settlements",
        "2026-11-23",
        {
            "settlements.csv": settlements_csv(
                [
                    f"SL1,{ids['L1']},inpatient,2026-11-15,2026-11-22,K35.8,30000,15000,15000,2026-11-22",
                ]
            )
        },
    )
    write_delivery(
        landing,
        "social_security",
        "2026-11-15",
        {
            "payments.csv": payments_csv(
                [
                    *_monthly(ids["R1"], "wage_contribution", 8000),
                    *_monthly(ids["R1b"], "wage_contribution", 8000),
                    *_monthly(ids["R2"], "wage_contribution", 8000),
                    *_monthly(ids["R2b"], "wage_contribution", 8000),
                    *_monthly(ids["T"], "pension", 1700),
                    *_monthly(ids["Tb"], "pension", 1700),
                    *_monthly(ids["L1"], "wage_contribution", 1200),
                    *_monthly(ids["L2"], "wage_contribution", 1500),
                    *_monthly(ids["N"], "wage_contribution", 1000),
                ]
            )
        },
    )
    write_delivery(
        landing,
        "social_security",
        "2026-11-23",
        {"payments.csv": payments_csv(_monthly(ids["L2"], "wage_contribution", 2000))},
    )
    write_delivery(
        landing,
        "social_security",
        "2026-11-24",
        {"payments.csv": payments_csv(_monthly(ids["N"], "wage_contribution", 3000))},
    )
    return {household: ids[household] for household in ("R1", "R2", "T", "L1", "L2", "N")}


ROLL_HEADER = "户号,公民身份号码,救助类别,审批日期,审批方式,申报月收入,月救助金"
VISIT_HEADER = "visit_id,household_id,visit_date,outcome,decided_programme"


def csv_text(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def recipients_city(landing: Path) -> dict[str, str]:
    """Six urban households over five nights (2026-11-21 to 11-25) for current recipients
    and the loop back from the field (standard 814; LOW_INCOME below 1628 per person; the
    single TOP_INDEX place, ceil(5% of 5 or 6) = 1, always T's). Hand-computed:

    - R1, R2: two earners of 8000 each: index 0, never alerted.
    - T: two pensioners aged 70 with no income, each with chronic care costing 9768 out of
      pocket (medical component 19536 / (12 x 814 x 2) = 1): 40 + 20 + 15 + 10 = 85.
      TOP_INDEX and LOW_INCOME every night; DIBAO and TEKUN; on no programme.
    - E: on dibao (investigated), one earner aged 40 with 700 a month (ratio 0.86):
      LOW_INCOME. A correction delivered 11-22 makes it 1700 (ratio 2.09): not LOW_INCOME,
      but above dibao's line: EXIT_REVIEW (income_above_line). The roll of 11-23 no longer
      has E: no rule met, resolved.
    - V: one earner aged 30 with 600 (LOW_INCOME, DIBAO, newly found). A visit on 11-21
      (delivered 11-22) finds it not eligible: suppressed until 2027-05-20. A correction of
      11-23 makes it 3000 (resolved), one of 11-24 600 again: NEW but suppressed. An
      inpatient stay settled 11-24 (delivered 11-25) costs 2442.00 = 3 x 814 out of pocket:
      a shock from 0 to 1, ESCALATED and pushed despite the suppression.
    - G: on dibao, one person aged 50 without income: LOW_INCOME. Dies on 11-22 (the
      registry of 11-23): left the registry; the roll of 11-23 still has G: a roll exception.

    Returns the person IDs by household (G's and T's first member)."""
    ids = {
        "R1": resident_id("371402", "19810101", 11),
        "R1b": resident_id("371402", "19830101", 22),
        "R2": resident_id("371402", "19790202", 31),
        "R2b": resident_id("371402", "19800202", 42),
        "T": resident_id("371402", "19560301", 51),
        "Tb": resident_id("371402", "19560401", 62),
        "E": resident_id("371402", "19860505", 71),
        "V": resident_id("371402", "19960808", 91),
        "G": resident_id("371402", "19760909", 13),
    }

    def row(pid: str, name: str, household: str, relation: str, status: str = "1", since: str = "") -> str:
        return registry_line(ids[pid], name, household, relation, status, since)

    registry = [
        row("R1", "钱一", "R1", "01"),
        row("R1b", "孙一", "R1", "02"),
        row("R2", "周二", "R2", "01"),
        row("R2b", "吴二", "R2", "02"),
        row("T", "郑老", "T", "01"),
        row("Tb", "王老", "T", "02"),
        row("E", "冯甲", "E", "01"),
        row("V", "褚丙", "V", "01"),
    ]
    write_delivery(
        landing, "residents", "2026-11-21", {"residents_1.csv": residents_csv([*registry, row("G", "卫丁", "G", "01")])}
    )
    write_delivery(
        landing,
        "residents",
        "2026-11-23",
        {"residents_1.csv": residents_csv([*registry, row("G", "卫丁", "G", "01", "2", "20261122")])},
    )
    settlements = {
        "2026-11-21": [
            f"ST1,{ids['T']},chronic_outpatient,,,E11.9,12000,2232,9768,2026-10-01",
            f"ST2,{ids['Tb']},chronic_outpatient,,,I10,12000,2232,9768,2026-10-01",
        ],
        "2026-11-23": [f"ST3,{ids['T']},outpatient,,,,100,100,0,2026-11-22"],
        "2026-11-25": [f"SV1,{ids['V']},inpatient,2026-11-20,2026-11-24,K35.8,5000,2558,2442.00,2026-11-24"],
    }
    for day, rows in settlements.items():
        write_delivery(landing, "medical_settlements", day, {"settlements.csv": settlements_csv(rows)})
    payments = {
        "2026-11-15": [
            *_monthly(ids["R1"], "wage_contribution", 8000),
            *_monthly(ids["R1b"], "wage_contribution", 8000),
            *_monthly(ids["R2"], "wage_contribution", 8000),
            *_monthly(ids["R2b"], "wage_contribution", 8000),
            *_monthly(ids["E"], "wage_contribution", 700),
            *_monthly(ids["V"], "wage_contribution", 600),
        ],
        "2026-11-22": _monthly(ids["E"], "wage_contribution", 1700),
        "2026-11-23": _monthly(ids["V"], "wage_contribution", 3000),
        "2026-11-24": _monthly(ids["V"], "wage_contribution", 600),
    }
    for day, rows in payments.items():
        write_delivery(landing, "social_security", day, {"payments.csv": payments_csv(rows)})
    on_roll = {
        "E": f"E,{ids['E']},dibao,2025-03-01,investigated,700.00,114.00",
        "G": f"G,{ids['G']},dibao,2024-06-01,investigated,0.00,814.00",
    }
    write_delivery(
        landing, "assistance_roll", "2026-11-21", {"roll.csv": csv_text(ROLL_HEADER, list(on_roll.values()))}
    )
    write_delivery(landing, "assistance_roll", "2026-11-23", {"roll.csv": csv_text(ROLL_HEADER, [on_roll["G"]])})
    write_delivery(
        landing,
        "visit_outcomes",
        "2026-11-22",
        {"visits.csv": csv_text(VISIT_HEADER, ["VV1,V,2026-11-21,not_eligible,none"])},
    )
    return ids
