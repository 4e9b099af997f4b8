"""The nightly job on the bundled sample, run as a user runs it (the `lipmon` command in
its own process) for one night: every row accounted for against an independent count, the
index and alerts equal to an independent implementation of domain.md, a readable log, and
no personal data in analyst tables or in anything the run printed. (The lifecycle between
nights is checked by hand-computed nights in test_monitoring_nights.)"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from pipelines.settings import PROJECT_ROOT
from tests.conftest import PYTHON_WORKERS_LOG, SAMPLE_DATE
from tests.conftest import SAMPLE_KEY as KEY
from tests.reference import reference_snapshot

SAMPLE = PROJECT_ROOT / "data" / "sample" / "landing"


def _independent_line_counts(source: str, encoding: str, up_to: date) -> dict[str, int]:
    counts = {}
    for folder in sorted((SAMPLE / source).iterdir()):
        if date.fromisoformat(folder.name) <= up_to and (folder / "_READY").exists():
            counts[folder.name] = sum(
                len(f.read_text(encoding=encoding).splitlines()) - 1 for f in folder.glob("*.csv")
            )
    return counts


def test_every_delivered_row_is_kept_or_quarantined(sample_night):
    lake, output = sample_night
    assert "landed now" in output and "households scored" in output
    encodings = {"residents": "gb18030", "medical_settlements": "utf-8", "social_security": "utf-8-sig"}
    landed = {}
    for day in [SAMPLE_DATE]:
        report = json.loads((lake / f"runs/{day}/ingest.json").read_text(encoding="utf-8"))
        assert report["outcome"] == "succeeded"
        landed.update({(d["source"], d["extract_date"]): d for d in report["deliveries"] if d["status"] == "landed"})
    for source, encoding in encodings.items():
        expected = _independent_line_counts(source, encoding, SAMPLE_DATE)
        assert {day: d["rows_read"] for (s, day), d in landed.items() if s == source} == expected
        for (s, day), d in landed.items():
            if s != source:
                continue
            assert d["rows_read"] == d["rows_kept"] + d["rows_quarantined"]
            kept = pd.read_parquet(lake / f"bronze/{source}/extract_date={day}")
            bad_dir = lake / f"quarantine/{source}/extract_date={day}"
            bad = pd.read_parquet(bad_dir) if bad_dir.exists() else pd.DataFrame({"reasons": []})
            assert (len(kept), len(bad)) == (d["rows_kept"], d["rows_quarantined"])
            assert all(len(r) > 0 for r in bad["reasons"])
        assert sum(d["rows_quarantined"] for (s, _), d in landed.items() if s == source) > 0
    assert (lake / f"runs/{SAMPLE_DATE}/quality/data_docs/index.html").exists()


def test_the_departments_not_delivered_are_absent_not_an_error(sample_night):
    lake, output = sample_night
    manifest = json.loads((lake / f"runs/{SAMPLE_DATE}/manifest.json").read_text(encoding="utf-8"))
    absent = sorted(s for s, f in manifest["freshness"].items() if f.get("absent"))
    delivered = {p.name for p in SAMPLE.iterdir() if p.is_dir()}
    contracts = {p.stem for p in (PROJECT_ROOT / "schemas" / "sources").glob("*.yaml")}
    assert absent == sorted(contracts - delivered)
    if absent:
        assert f"never delivered: {', '.join(absent)}" in output


def test_index_and_alerts_match_an_independent_implementation(sample_night):
    _index_and_alerts_match(sample_night[0], SAMPLE_DATE)


def _index_and_alerts_match(lake, day):
    expected = reference_snapshot(lake, day, KEY.encode()).set_index("household_key")
    profiles = pd.read_parquet(lake / f"gold/household_profile/snapshot_date={day}").set_index("household_key")
    assert sorted(profiles.index) == sorted(expected.index)
    joined = profiles[["hardship_index"]].join(expected[["index"]], how="inner")
    mismatched = joined[(joined["hardship_index"] - joined["index"]).abs() > 1e-9]
    assert mismatched.empty, mismatched[["hardship_index", "index"]].head()
    alerts = pd.read_parquet(lake / f"gold/alerts/snapshot_date={day}").set_index("household_key")
    got = {k: sorted(r) for k, r in alerts["rules"].items()}
    want = {k: r for k, r in expected["rules"].items() if r}
    assert got == want
    got_reasons = {k: sorted(r) for k, r in alerts["exit_reasons"].items() if len(r)}
    assert got_reasons == {k: sorted(r) for k, r in expected["exit_reasons"].items() if r}
    programmes = profiles["programme"].where(profiles["programme"].notna(), None)
    assert programmes.to_dict() == expected["programme"].where(expected["programme"].notna(), None).to_dict()
    # A plausible minority, not half the city.
    assert 0.02 < len(alerts) / len(profiles) < 0.30


def test_no_id_number_or_name_reaches_analyst_tables_or_the_run_output(sample_night):
    lake, output = sample_night
    residents = pd.concat(pd.read_parquet(p) for p in (lake / "bronze/residents").glob("extract_date=*"))
    household_ids = set(residents["household_id"])
    secrets = set(residents["person_id"]) | set(residents["name"]) | household_ids
    tables = sorted(p.name for p in (lake / "gold").iterdir())
    assert {"household_profile", "alerts", "statistics", "trend"} <= set(tables)
    for table in tables:
        for part in (lake / "gold" / table).glob("snapshot_date=*"):
            df = pd.read_parquet(part)
            values = set()
            for column in df.columns:
                for v in df[column]:
                    if isinstance(v, str):
                        values.add(v)
                    elif hasattr(v, "__iter__") and not isinstance(v, (bytes, dict)):
                        values.update(str(x) for x in v)
            assert not values & secrets, f"{table}: personal data in {sorted(values & secrets)[:3]}"
    text = output
    leaked = [s for s in set(residents["person_id"]) | set(residents["name"]) if s and s in text]
    assert not leaked, f"run output shows {leaked[:3]}"


def test_column_descriptions_travel_into_the_parquet_metadata(sample_night):
    import pyarrow.parquet as pq

    lake, _ = sample_night
    part = next((lake / f"gold/alerts/snapshot_date={SAMPLE_DATE}").glob("*.parquet"))
    spark_schema = json.loads(pq.read_schema(part).metadata[b"org.apache.spark.sql.parquet.row.metadata"])
    comments = {f["name"]: f["metadata"].get("comment") for f in spark_schema["fields"]}
    assert comments["household_key"].startswith("Pseudonymous household key")
    assert "verification" in comments["categories"]
    for table, column in (("statistics", "measure"), ("trend", "top_index_cut")):  # written by pandas
        part = next((lake / f"gold/{table}/snapshot_date={SAMPLE_DATE}").glob("*.parquet"))
        spark_schema = json.loads(pq.read_schema(part).metadata[b"org.apache.spark.sql.parquet.row.metadata"])
        assert {f["name"]: f["metadata"].get("comment") for f in spark_schema["fields"]}[column]


def test_the_log_tells_the_story_of_the_night_without_noise(sample_night):
    """A person reading the console sees each step and its counts, where the outputs are,
    and none of the warnings that Spark or Prefect print about their own workings."""
    _, output = sample_night
    for step in ("configuration", "ingest", "quality_gate", "snapshot", "relink", "push"):
        assert f"{step}: finished in" in output, step
    assert "residents: landing" in output and "households scored: 995" in output
    assert "manifest: " in output and "runs/2026-11-28/manifest.json" in output
    for noise in (
        "No Partition Defined",
        "Broadcasting large task binary",
        "Truncated the string representation",
        "Finished in state Completed()",
        "prefect.io/docs",
        "trivially true equals predicate",
    ):
        assert noise not in output, noise


def test_the_restricted_zone_and_the_key_file_are_the_owners_alone(sample_night):
    lake, _ = sample_night
    for folder in (lake / "restricted", lake / "_staging"):
        assert folder.stat().st_mode & 0o077 == 0, folder  # nothing below it reachable by others
    assert (lake / "gold").stat().st_mode & 0o005 == 0o005  # analysts' tables stay readable
    assert not (lake / "restricted" / "pseudonym.key").exists()  # the key came from the environment


def test_no_id_number_or_name_in_the_run_records(sample_night):
    """The manifest, the ingest and snapshot reports and the quality report (Data Docs) of
    the night are read by everyone: none holds an ID number or a name."""
    lake, _ = sample_night
    residents = pd.concat(pd.read_parquet(p) for p in (lake / "bronze/residents").glob("extract_date=*"))
    quarantined = pd.concat(pd.read_parquet(p) for p in (lake / "quarantine/residents").glob("extract_date=*"))
    secrets = {s for s in set(residents["person_id"]) | set(residents["name"]) if s and len(s) >= 2}
    secrets |= {field for line in quarantined["raw_text"] for field in line.split(",")[:2] if len(field) >= 15}
    records = [p for p in (lake / "runs").rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in records) and any(p.suffix == ".html" for p in records)
    for path in records:
        text = path.read_text(encoding="utf-8", errors="replace")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path.relative_to(lake)} shows personal data ({len(leaked)} values)"


def test_the_night_starts_no_python_worker(sample_night):
    """Every step runs in the JVM: Spark never starts its Python worker processes (three
    of about 60 MB each on the sample's night). tests/test_frames.py shows that the
    script that logs them does log a worker when one is started."""
    lake, _ = sample_night
    log = lake.parent / PYTHON_WORKERS_LOG
    assert not log.exists(), f"Spark started Python workers: {log.read_text()[:500]}"
