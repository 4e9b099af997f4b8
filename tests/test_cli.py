"""The `lipmon` command line as a user meets it: help for every command, one-line errors,
and `lipmon run` on the bundled sample with counts that match an independent count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "data" / "sample" / "landing"
LIPMON = [sys.executable, "-m", "pipelines.cli"]


@pytest.mark.parametrize("command", ["ingest", "run", "backfill", "generate", "serve"])
def test_every_command_has_help(command):
    out = subprocess.run([*LIPMON, command, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "--landing" in out.stdout and "--lake" in out.stdout and "--master" in out.stdout


def test_bad_date_parameter_is_a_one_line_error():
    out = subprocess.run([*LIPMON, "ingest", "--date", "2026-13-01"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--date" in out.stderr and "2026-13-01" in out.stderr


def test_missing_landing_folder_is_a_one_line_error(tmp_path, capsys):
    code = main(["ingest", "--date", "2026-11-28", "--landing", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lipmon ingest: --landing") and "no such folder" in err[-1]


def _independent_line_counts(source: str, encoding: str, up_to: str) -> dict[str, int]:
    """Data lines per ready delivery folder, counted with plain Python."""
    counts = {}
    for folder in sorted((SAMPLE / source).iterdir()):
        if folder.name <= up_to and (folder / "_READY").exists():
            counts[folder.name] = sum(
                len(f.read_text(encoding=encoding).splitlines()) - 1 for f in folder.glob("*.csv"))
    return counts


def test_run_on_the_bundled_sample_accounts_for_every_row(spark, tmp_path, capsys):
    lake = tmp_path / "lake"
    assert main(["run", "--date", "2026-11-28", "--lake", str(lake)]) == 0
    out = capsys.readouterr().out
    assert "residents (all)" in out and "social_security (all)" in out

    report = json.loads((lake / "runs/2026-11-28/ingest.json").read_text(encoding="utf-8"))
    assert report["outcome"] == "succeeded"
    encodings = {"residents": "gb18030", "medical_settlements": "utf-8", "social_security": "utf-8-sig"}
    for source, encoding in encodings.items():
        expected = _independent_line_counts(source, encoding, "2026-11-28")
        landed = {d["extract_date"]: d for d in report["deliveries"] if d["source"] == source}
        assert {k: v["rows_read"] for k, v in landed.items()} == expected
        for day, d in landed.items():
            assert d["rows_read"] == d["rows_kept"] + d["rows_quarantined"]
            kept = pd.read_parquet(lake / f"bronze/{source}/extract_date={day}")
            bad_dir = lake / f"quarantine/{source}/extract_date={day}"
            bad = pd.read_parquet(bad_dir) if bad_dir.exists() else pd.DataFrame({"reasons": []})
            assert (len(kept), len(bad)) == (d["rows_kept"], d["rows_quarantined"])
            assert all(len(r) > 0 for r in bad["reasons"])
    # The generator injects bad rows of every kind; each source quarantines some.
    assert all(sum(d["rows_quarantined"] for d in report["deliveries"] if d["source"] == s) > 0 for s in encodings)
    assert (lake / "runs/2026-11-28/quality/data_docs/index.html").exists()

    # A second run lands nothing new.
    assert main(["run", "--date", "2026-11-28", "--lake", str(lake)]) == 0
    again = json.loads((lake / "runs/2026-11-28/ingest.json").read_text(encoding="utf-8"))
    assert {d["status"] for d in again["deliveries"]} == {"skipped"}
