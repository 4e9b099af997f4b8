"""Column expressions built from compiled parts (`pipelines.columns`): the labels whose
condition holds, in order, and no higher-order function in the plan (Spark would evaluate
it, and everything beneath it, row by row)."""

from __future__ import annotations

from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.columns import labels_where, no_labels
from pipelines.index.hardship import top_reasons


def _conditions():
    return [
        (F.col("a") > 1, "A"),
        (F.col("b"), "B"),
        (F.col("a") > 5, "C"),
        (F.col("b").isNull(), "D"),
    ]


def test_the_labels_whose_condition_holds_in_order(spark):
    rows = spark.createDataFrame(
        [(1, 2, True), (2, 7, False), (3, 0, None), (4, None, True)], "id int, a int, b boolean"
    )
    got = {r["id"]: r["labels"] for r in rows.select("id", labels_where(_conditions()).alias("labels")).collect()}
    # 1: a=2 > 1 (A), b (B); 2: a=7 > 1 and > 5 (A, C); 3: a=0, b null (D only);
    # 4: a null: its conditions are null, neither true nor false; b (B).
    assert got == {1: ["A", "B"], 2: ["A", "C"], 3: ["D"], 4: ["B"]}


def test_no_condition_gives_an_empty_array_of_strings(spark):
    row = spark.range(1).select(labels_where([]).alias("l"), no_labels().alias("n")).first()
    assert row["l"] == [] and row["n"] == []
    assert spark.range(1).select(labels_where([]).alias("l")).schema["l"].dataType == T.ArrayType(T.StringType())


def test_labels_and_top_reasons_compile_without_a_lambda(spark):
    rows = spark.createDataFrame([(1, True)], "a int, b boolean")
    weighted = {"income": F.lit(0.2), "medical": F.lit(0.0), "shock": F.lit(0.5)}
    plan = (
        rows.select(labels_where(_conditions()).alias("labels"), top_reasons(weighted, 2).alias("reasons"))
        ._jdf.queryExecution()
        .executedPlan()
        .toString()
    )
    assert "lambda" not in plan.lower()
    assert rows.select(top_reasons(weighted, 2).alias("r")).first()["r"] == ["shock", "income"]
