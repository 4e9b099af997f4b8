"""Ingestion end to end on deliveries written by hand to interfaces.md: both encodings,
_READY and date filtering, counts that add up, idempotent re-landing, clear failures."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.contracts import load_contracts
from pipelines.ingest.land import columns_read_by
from pipelines.ingest.run import ingest
from pipelines.lake import Lake
from pipelines.quality.gx_runner import ExpectationSpec
from pipelines.settings import PROJECT_ROOT
from tests.deliveries import (
    payments_csv,
    resident_id,
    residents_csv,
    settlements_csv,
    write_delivery,
)

CONTRACTS = load_contracts(PROJECT_ROOT / "schemas" / "sources")
HEAD = resident_id("371402", "19800101", 11)
WIFE = resident_id("371402", "19820202", 22)
CHILD = resident_id("371402", "20100303", 31)
GRANDPA = resident_id("372401", "19450505", 15)
D = date(2026, 11, 28)


def _residents(extra: list[str] = ()) -> bytes:
    return residents_csv(
        [
            f"{HEAD},张三,1,19800101,H1,01,371402001001,1,1,",
            f"{WIFE},李四,2,19820202,H1,02,371402001001,1,1,",
            f"{CHILD},张小明,1,20100303,H1,03,371402001001,1,1,",
            f"{GRANDPA},张老汉,1,19450505,H1,04,371402001001,1,2,20260901",
            *extra,
        ]
    )


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


@pytest.fixture
def delivered(landing: Path) -> Path:
    write_delivery(
        landing,
        "residents",
        "2026-11-20",
        {
            "residents_1.csv": _residents(
                [
                    f"{HEAD[:-1]}0,错号,1,19800101,H2,01,371402001001,1,1,",  # bad check character (HEAD ends in 9)
                    f"{WIFE},李四,2,19820202,H1,02,371402001001,1,1,",  # exact duplicate line
                ]
            )
        },
    )
    write_delivery(landing, "residents", "2026-11-27", {"residents_1.csv": _residents()})
    write_delivery(landing, "residents", "2026-11-29", {"residents_1.csv": _residents()})  # after D
    write_delivery(landing, "residents", "2026-11-28", {"residents_1.csv": _residents()}, ready=False)
    write_delivery(
        landing,
        "medical_settlements",
        "2026-11-01",
        {
            "settlements_a.csv": settlements_csv(
                [
                    f"S1,{HEAD},inpatient,2026-10-01,2026-10-05,I10,1000.00,600.00,400.00,2026-10-05",
                    f"S2,{WIFE},outpatient,,,,100,50,49,2026-10-06",  # oop does not add up
                ]
            ),
            "settlements_b.csv": settlements_csv(
                [
                    f"S3,{CHILD},chronic_outpatient,,,E11.9,300.5,200.5,100,2026-10-20",
                    # an orphan: valid, kept
                    f"S4,{resident_id('110105', '19700101', 21)},outpatient,,,,10,5,5,2026-10-21",
                ]
            ),
        },
    )
    write_delivery(
        landing,
        "medical_settlements",
        "2026-11-27",
        {
            "settlements.csv": settlements_csv(
                [
                    f"S1,{HEAD},inpatient,2026-10-01,2026-10-05,I10,1200.00,700.00,500.00,2026-10-05",  # re-delivered
                    f"S5,{HEAD},outpatient,,,,80,40,40,2026-11-26",
                    f"S5,{HEAD},outpatient,,,,80,40,40,2026-11-25",  # conflicting key
                ]
            )
        },
    )
    write_delivery(
        landing,
        "social_security",
        "2026-11-10",
        {
            "payments_2026-10.csv": payments_csv(
                [
                    f"P1,{HEAD},202610,wage_contribution,4500",
                    f"P2,{GRANDPA},202610,pension,180.5",
                    f"P3,{WIFE},202613,pension,100",
                ]
            )
        },
    )
    return landing


def test_ingest_lands_ready_deliveries_up_to_the_date_and_accounts_for_every_row(spark, delivered, lake):
    report = ingest(spark, Lake(lake), delivered, CONTRACTS, as_of=D)
    landed = {(r.source, r.extract_date.isoformat()): r for r in report.results}
    # Neither the delivery after D nor the one without _READY is read.
    assert sorted(landed) == [
        ("medical_settlements", "2026-11-01"),
        ("medical_settlements", "2026-11-27"),
        ("residents", "2026-11-20"),
        ("residents", "2026-11-27"),
        ("social_security", "2026-11-10"),
    ]
    assert all(r.status == "landed" for r in report.results), [r.error for r in report.results]
    counts = {k: (r.rows_read, r.rows_kept, r.rows_quarantined) for k, r in landed.items()}
    assert counts == {
        ("residents", "2026-11-20"): (6, 4, 2),
        ("residents", "2026-11-27"): (4, 4, 0),
        ("medical_settlements", "2026-11-01"): (4, 3, 1),
        ("medical_settlements", "2026-11-27"): (3, 1, 2),
        ("social_security", "2026-11-10"): (3, 2, 1),
    }
    assert landed[("medical_settlements", "2026-11-27")].quarantined_by_reason == {"key:conflicting_duplicate": 2}
    assert sorted((lake / "bronze" / "residents").iterdir()) == [
        lake / "bronze/residents/extract_date=2026-11-20",
        lake / "bronze/residents/extract_date=2026-11-27",
    ]

    # Both encodings decoded: names from GB18030, amounts from the BOM-prefixed file.
    residents = read_table(lake / "bronze/residents/extract_date=2026-11-27")
    assert sorted(residents["name"]) == sorted(["张三", "李四", "张小明", "张老汉"])
    assert residents.set_index("person_id").loc[GRANDPA, "status_date"] == date(2026, 9, 1)
    payments = read_table(lake / "bronze/social_security/extract_date=2026-11-10")
    assert sorted(payments["record_id"]) == ["P1", "P2"]
    assert str(payments.set_index("record_id").loc["P2", "amount"]) == "180.50"
    assert payments.set_index("record_id").loc["P1", "period"] == "2026-10"

    quarantine = read_table(lake / "quarantine/residents/extract_date=2026-11-20")
    by_line = {int(r.line_number): (r.source_file, list(r.reasons)) for r in quarantine.itertuples()}
    assert by_line == {
        6: ("residents_1.csv", ["person_id:bad_check_character"]),
        7: ("residents_1.csv", ["key:duplicate_line"]),
    }
    raw = quarantine.set_index("line_number").loc[6, "raw_text"]
    assert raw.endswith(",错号,1,19800101,H2,01,371402001001,1,1,")

    settlements_q = read_table(lake / "quarantine/medical_settlements/extract_date=2026-11-01")
    assert [(r.source_file, int(r.line_number)) for r in settlements_q.itertuples()] == [("settlements_a.csv", 3)]

    ingest_report = json.loads((lake / "runs/2026-11-28/ingest.json").read_text(encoding="utf-8"))
    assert ingest_report["outcome"] == "succeeded"
    quality = ingest_report["quality"]["medical_settlements"]
    orphan = [o for o in quality["outcomes"] if o["column"] == "_is_orphan"]
    assert len(orphan) == 1 and orphan[0]["observed"] == pytest.approx(1 / 4)
    assert orphan[0]["success"] is False and not orphan[0]["critical"]  # reported, does not stop the source
    # Counts and rates only: no example values (a listed orphan would be a person's ID number).
    assert all(
        "partial_unexpected_list" not in o["details"] for q in ingest_report["quality"].values() for o in q["outcomes"]
    )
    registry = quality_by_name(ingest_report["quality"]["residents"])
    assert registry["person_id is never empty"]["details"]["unexpected_count"] == 0
    # The key as delivered is the key as typed: its uniqueness is answered by the row
    # checks, with the one line quarantined as a repeat (line 7 of 2026-11-20).
    assert registry["person_id unique within a delivery"]["details"] == {
        "answered_by": "row checks",
        "element_count": 8,
        "unexpected_count": 0,
        "unexpected_percent": 0.0,
        "quarantined_count": 1,
    }
    settled = quality_by_name(quality)["settlement_id unique within a delivery"]
    assert settled["success"] and settled["details"]["quarantined_count"] == 2  # the conflicting pair
    # Scanned by Great Expectations: that the staged rows are the 4 + 4 kept.
    assert registry["the kept rows are those the row checks counted"]["observed"] == 8
    assert (lake / "runs/2026-11-28/quality/data_docs/index.html").exists()


def test_the_validated_rows_carry_only_what_the_scanned_expectations_read():
    """The rows joined with the registry for the orphan rate are narrowed to the columns
    the scanned expectations read and the delivery date."""
    settlements = CONTRACTS["medical_settlements"]
    columns = [c.name for c in settlements.columns] + ["source_file", "line_number", "extract_date"]
    scanned = [
        ExpectationSpec("not_null", "diagnosis_code", {"mostly": 0.5}),
        ExpectationSpec("mean_between", "_is_orphan", {"min_value": None, "max_value": 0.02}),
        ExpectationSpec("row_count_between", None, {"min_value": 3, "max_value": 3}),
    ]
    assert columns_read_by(scanned, columns) == ["diagnosis_code", "extract_date"]
    # A key Great Expectations scans brings its columns.
    keyed = [ExpectationSpec("compound_unique", None, {"column_list": ["extract_date", "settlement_id"]})]
    assert columns_read_by(keyed, columns) == ["settlement_id", "extract_date"]


def test_relanding_is_idempotent_and_force_replaces_partitions(spark, delivered, lake):
    first = ingest(spark, Lake(lake), delivered, CONTRACTS, as_of=D)
    before = read_table(lake / "bronze/medical_settlements").sort_values(["extract_date", "settlement_id"])
    again = ingest(spark, Lake(lake), delivered, CONTRACTS, as_of=D)
    assert {r.status for r in again.results} == {"skipped"}
    assert [(r.rows_read, r.rows_kept) for r in again.results] == [(r.rows_read, r.rows_kept) for r in first.results]
    forced = ingest(spark, Lake(lake), delivered, CONTRACTS, as_of=D, force=True)
    assert {r.status for r in forced.results} == {"landed"}
    after = read_table(lake / "bronze/medical_settlements").sort_values(["extract_date", "settlement_id"])
    assert len(after) == len(before) == 4
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))


def test_a_changed_delivery_folder_is_landed_again(spark, delivered, lake):
    ingest(spark, Lake(lake), delivered, CONTRACTS, as_of=D)
    write_delivery(
        delivered,
        "social_security",
        "2026-11-10",
        {
            "payments_2026-10.csv": payments_csv(
                [
                    f"P1,{HEAD},202610,wage_contribution,4600",
                ]
            )
        },
    )
    report = ingest(spark, Lake(lake), delivered, CONTRACTS, as_of=D)
    changed = [r for r in report.results if r.source == "social_security"]
    assert [(r.status, r.rows_read, r.rows_kept, r.rows_quarantined) for r in changed] == [("landed", 1, 1, 0)]
    assert not (lake / "quarantine/social_security/extract_date=2026-11-10").exists()


def test_renamed_header_fails_that_source_with_a_clear_message_and_lands_nothing(spark, landing, lake):
    write_delivery(landing, "residents", "2026-11-27", {"residents_1.csv": _residents()})
    bad = settlements_csv([f"S1,{HEAD},outpatient,,,,10,5,5,2026-10-21"]).replace(b"out_of_pocket", b"self_paid")
    write_delivery(landing, "medical_settlements", "2026-11-27", {"settlements.csv": bad})
    report = ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D)
    failed = [r for r in report.results if r.status == "failed"]
    assert [(r.source, r.extract_date.isoformat()) for r in failed] == [("medical_settlements", "2026-11-27")]
    message = failed[0].error
    assert "settlements.csv" in message and "missing out_of_pocket" in message and "unexpected self_paid" in message
    assert not (lake / "bronze/medical_settlements").exists()
    assert not (lake / "quarantine/medical_settlements").exists()
    assert (lake / "bronze/residents/extract_date=2026-11-27").exists()  # other sources still land


def test_undecodable_file_names_the_file_and_line(spark, landing, lake):
    content = _residents()
    lines = content.split(b"\n")
    lines[3] = lines[3] + b"\xff\xfe"  # not GB18030
    write_delivery(landing, "residents", "2026-11-27", {"residents_x.csv": b"\n".join(lines)})
    report = ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D)
    assert [r.status for r in report.results] == ["failed"]
    assert "residents_x.csv" in report.results[0].error and "GB18030" in report.results[0].error
    assert "line 4" in report.results[0].error
    assert not (lake / "bronze/residents").exists()


def test_utf8_residents_file_is_rejected_as_wrong_encoding(spark, landing, lake):
    text = _residents().decode("gb18030").encode("utf-8")
    write_delivery(landing, "residents", "2026-11-27", {"residents_1.csv": text})
    report = ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D)
    assert report.results[0].status == "failed"
    assert "residents_1.csv" in report.results[0].error


def quality_by_name(suite: dict) -> dict:
    return {o["name"]: o for o in suite["outcomes"]}


def test_ingest_first_puts_right_what_an_interrupted_run_left(spark, landing, lake):
    """Whoever lands deliveries (`lipmon ingest` or a night) holds the lease: a partition
    left aside mid-swap is put back and staging left behind is removed, before any work."""
    aside = lake / "gold" / "alerts" / ".retired-snapshot_date=2026-11-27-abcd1234"
    aside.mkdir(parents=True)
    (aside / "part-0.parquet").write_bytes(b"old")
    left = lake / "_staging" / "0123456789abcdef"
    (left / "bronze").mkdir(parents=True)
    (left / "bronze" / "part-0.parquet").write_bytes(b"half")

    report = ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D)  # nothing delivered

    assert report.results == []
    assert (lake / "gold" / "alerts" / "snapshot_date=2026-11-27" / "part-0.parquet").read_bytes() == b"old"
    assert not aside.exists()
    assert list((lake / "_staging").iterdir()) == []


def _landed_tables(lake: Path) -> dict[str, pd.DataFrame]:
    """Every bronze and quarantine table, in a stable row order."""
    tables = {}
    for table in sorted([*(lake / "bronze").iterdir(), *(lake / "quarantine").iterdir()]):
        frame = read_table(table)
        frame["reasons"] = frame["reasons"].map(list) if "reasons" in frame else None
        tables[f"{table.parent.name}/{table.name}"] = frame.sort_values(["extract_date", "source_file", "line_number"])
    return tables


def test_sources_staged_at_once_land_exactly_as_one_at_a_time(spark, delivered, tmp_path, monkeypatch):
    """A small night stages sources in threads ahead of the gates; the lake and the counts
    must be those of landing one source after another."""
    import pipelines.ingest.run as ingest_run

    concurrent = ingest(spark, Lake(tmp_path / "concurrent"), delivered, CONTRACTS, as_of=D)
    monkeypatch.setattr(ingest_run, "CONCURRENT_BELOW_BYTES", 0)
    sequential = ingest(spark, Lake(tmp_path / "sequential"), delivered, CONTRACTS, as_of=D)

    assert [r.to_dict() for r in concurrent.results] == [r.to_dict() for r in sequential.results]
    assert [r.source for r in concurrent.results] == [
        "residents",
        "residents",
        "medical_settlements",
        "medical_settlements",
        "social_security",
    ]  # the contracts' order, whichever thread finished first
    assert concurrent.quality == sequential.quality
    ours, theirs = _landed_tables(tmp_path / "concurrent"), _landed_tables(tmp_path / "sequential")
    assert list(ours) == [
        "bronze/medical_settlements",
        "bronze/residents",
        "bronze/social_security",
        "quarantine/medical_settlements",
        "quarantine/residents",
        "quarantine/social_security",
    ]
    for name, frame in ours.items():
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), theirs[name].reset_index(drop=True), obj=name)
    assert sum(len(f) for f in ours.values()) == 6 + 4 + 4 + 3 + 3  # every delivered data line, once


def test_an_error_while_staging_one_source_publishes_nothing_and_leaves_no_staging(spark, delivered, lake, monkeypatch):
    """An error that is not a bad delivery (a full disk, a lost executor) stops the night:
    the sources staged beside it are neither gated nor published, and staging is emptied."""
    from pipelines.ingest.land import SourceLanding

    stage = SourceLanding.stage

    def failing(self, deliveries):
        if self.contract.name == "medical_settlements":
            raise OSError(28, "No space left on device")
        return stage(self, deliveries)

    monkeypatch.setattr(SourceLanding, "stage", failing)
    with pytest.raises(OSError, match="No space left"):
        ingest(spark, Lake(lake), delivered, CONTRACTS, as_of=D)
    # The registry, first in order, was gated and published before the failure surfaced.
    assert sorted(p.name for p in (lake / "bronze").iterdir()) == ["residents"]
    assert list((lake / "_staging").iterdir()) == []


def test_what_the_row_checks_guarantee_is_reported_from_their_counts_not_scanned_again(spark, landing, lake):
    """Required columns never empty and codes within their set hold in the kept rows by
    construction: the gate reports them with the rows quarantined for them, and Great
    Expectations scans only what the row checks cannot answer."""
    write_delivery(
        landing,
        "residents",
        "2026-11-27",
        {
            "residents_1.csv": _residents(
                [
                    f"{resident_id('371402', '19900101', 41)},,1,19900101,H3,01,371402001001,1,1,",  # no name
                    f"{resident_id('371402', '19910101', 51)},王五,1,19910101,H4,07,371402001001,1,1,",  # no code 07
                    f"{resident_id('371402', '19920101', 61)},,1,19920101,H5,08,371402001001,1,1,",  # both
                ]
            )
        },
    )
    report = ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D)
    [result] = report.results
    assert (result.rows_read, result.rows_kept, result.rows_quarantined) == (7, 4, 3)
    gate = quality_by_name(report.quality["residents"])
    assert gate["name is never empty"]["details"] == {
        "answered_by": "row checks",
        "element_count": 4,
        "unexpected_count": 0,
        "unexpected_percent": 0.0,
        "quarantined_count": 2,
    }
    assert gate["relation_to_head uses its codes"]["details"]["quarantined_count"] == 2
    assert gate["gender uses its codes"]["details"]["quarantined_count"] == 0
    assert all(o["success"] for o in gate.values())
    answered = {n for n, o in gate.items() if o["details"].get("answered_by") == "row checks"}
    required = [c for c in CONTRACTS["residents"].columns if c.required]
    coded = [c for c in CONTRACTS["residents"].columns if c.codes]
    # And the key: person_id is a resident ID, the same as delivered and as typed.
    assert len(answered) == len(required) + len(coded) + 1 == 9 + 4 + 1  # gender, relation, residence, status
    # The Data Docs page of the validation lists only what was scanned.
    [page] = (lake / "runs/2026-11-28/quality/data_docs/validations/residents").rglob("*.html")
    html = page.read_text(encoding="utf-8")
    assert "less than or equal to" in html  # the kept rows' count, the one expectation scanned
    assert "unique" not in html and "name is never empty" not in html


def test_roll_households_whose_rows_declare_different_incomes_are_reported_not_stopped(spark, landing, tmp_path):
    """The roll promises one declared income per household (interfaces.md). H1's two rows
    agree (700.00 and 700.0 are one amount), H2's do not (500.00 and 650.00), H3 has one:
    2 of the 5 kept rows belong to a household that disagrees. Reported, not enforced."""
    write_delivery(landing, "residents", "2026-11-20", {"residents_1.csv": _residents()})
    people = [resident_id("371402", "19700101", n) for n in (41, 42, 43, 44, 45)]
    rows = [
        f"H1,{people[0]},dibao,2025-03-01,investigated,700.00,114.00",
        f"H1,{people[1]},dibao,2025-03-01,investigated,700.0,114.00",
        f"H2,{people[2]},dibao,2025-03-01,credit,500.00,314.00",
        f"H2,{people[3]},dibao,2025-03-01,credit,650.00,164.00",
        f"H3,{people[4]},tekun,2024-06-01,investigated,0.00,1058.20",
    ]
    header = "户号,公民身份号码,救助类别,审批日期,审批方式,申报月收入,月救助金"
    write_delivery(landing, "assistance_roll", "2026-11-27", {"roll.csv": "\n".join([header, *rows]) + "\n"})
    lake = tmp_path / "lake"
    report = ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D)
    assert report.failures == []
    [check] = [o for o in report.quality["assistance_roll"]["outcomes"] if o["column"] == "_group_disagrees"]
    assert check["name"] == "declared_income is one value within each household_id"
    assert check["observed"] == pytest.approx(2 / 5) and check["success"] is False and not check["critical"]
    assert len(read_table(lake / "bronze/assistance_roll/extract_date=2026-11-27")) == 5  # all kept, published
