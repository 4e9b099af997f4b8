"""The `lipmon` command line as a user meets it: help for every command and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.cli import main

LIPMON = [sys.executable, "-m", "pipelines.cli"]


LOCATIONS = ("--landing", "--lake", "--master")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("ingest", LOCATIONS),
        ("run", (*LOCATIONS, "--spark-submit")),
        ("backfill", (*LOCATIONS, "--spark-submit")),
        ("generate", LOCATIONS),
        ("serve", (*LOCATIONS, "--spark-submit")),
        ("compare", ("--date", "--master")),
        ("package", ("--out",)),
        ("bench", ("--households", "--scaling")),
        ("report", ("--date", "--lake", "--config")),
        ("whatif", ("--date", "--set", "--lake", "top_share", "dibao_standards")),
    ],
)
def test_every_command_has_help(command, options):
    out = subprocess.run([*LIPMON, command, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert [o for o in options if o not in out.stdout] == []


def test_bad_date_parameter_is_a_one_line_error():
    out = subprocess.run([*LIPMON, "ingest", "--date", "2026-13-01"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--date" in out.stderr and "2026-13-01" in out.stderr


def test_missing_landing_folder_is_a_one_line_error(tmp_path, capsys):
    code = main(
        ["ingest", "--date", "2026-11-28", "--landing", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake")]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lipmon ingest: --landing") and "no such folder" in err[-1]
