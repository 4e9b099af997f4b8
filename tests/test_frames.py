"""Tables of a few rows built on the driver (`pipelines.frames.local_frame`): the values
and types they hold, and that building and reading them starts no Python worker."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from decimal import Decimal

import pytest
from pyspark.sql import types as T

from pipelines.frames import local_frame
from pipelines.settings import PROJECT_ROOT
from tests.conftest import logging_python


def test_rows_keep_their_values_and_types(spark):
    df = local_frame(
        spark,
        [("A01", date(2026, 11, 28), 12, Decimal("1234.50"), 0.25, None)],
        "county string, day date, n long, amount decimal(12,2), share double, note string",
    )
    assert [(f.name, f.dataType) for f in df.schema.fields] == [
        ("county", T.StringType()),
        ("day", T.DateType()),
        ("n", T.LongType()),
        ("amount", T.DecimalType(12, 2)),
        ("share", T.DoubleType()),
        ("note", T.StringType()),
    ]
    assert [tuple(r) for r in df.collect()] == [("A01", date(2026, 11, 28), 12, Decimal("1234.50"), 0.25, None)]


def test_an_empty_table_has_the_schema_it_was_given(spark):
    schema = T.StructType([T.StructField("k", T.StringType(), False), T.StructField("v", T.IntegerType())])
    df = local_frame(spark, [], schema)
    assert df.schema == schema
    assert df.count() == 0


def test_a_value_of_the_wrong_type_is_refused(spark):
    with pytest.raises(Exception, match="int"):
        local_frame(spark, [("not a number",)], "n int")


def test_a_schema_that_is_not_a_row_is_refused(spark):
    with pytest.raises(TypeError, match="not a struct"):
        local_frame(spark, [(1,)], "int")


def test_a_local_frame_starts_no_python_worker_where_a_list_would(tmp_path):
    """In a Spark of its own whose Python workers start through a script that logs them:
    reading a local_frame logs nothing; a DataFrame made from a list of tuples does start
    workers, and the script logs them (so the sample night's check is not vacuous)."""
    log = tmp_path / "workers.log"
    worker = logging_python(tmp_path, log)
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from pipelines.frames import local_frame
        from pipelines.spark import build_spark
        spark = build_spark("local[1]", app_name="frames-test")
        log = Path({str(log)!r})
        assert local_frame(spark, [(1, "a"), (2, "b")], "n long, s string").where("n > 1").collect()[0].s == "b"
        print("after local_frame:", log.exists())
        assert spark.createDataFrame([(1, "a")], "n long, s string").collect()[0].s == "a"
        print("after a list:", log.exists())
        spark.stop()
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYSPARK_PYTHON": str(worker)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "after local_frame: False" in done.stdout
    assert "after a list: True" in done.stdout
