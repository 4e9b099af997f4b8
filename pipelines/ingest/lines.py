"""Numbered lines: every physical line of a delivery's files with its file name and line
number, computed in Spark without collecting the data.

Spark reads a file in splits (blocks); within a split lines keep their order, and
monotonically_increasing_id counts them consecutively. A small per-split aggregate (one
row per split) gives each split's first line number; it is broadcast back, together with
whatever is derived from the file's path, so that nothing per file is computed per line.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F


def number_lines(raw_lines: DataFrame, per_file: dict[str, Column] | None = None) -> DataFrame:
    """(file_path, block_start, row_id, raw_text) -> (file_path, line_number, raw_text, *per_file).

    `row_id` must be consecutive within a block, as monotonically_increasing_id is for a
    file scan; line 1 is the header. `per_file` holds columns computed from `file_path`.
    """
    per_file = per_file or {}
    blocks = raw_lines.groupBy("file_path", "block_start").agg(
        F.count(F.lit(1)).alias("block_lines"), F.min("row_id").alias("block_first_row_id")
    )
    # One row per split: tiny, so a window per file is cheap.
    preceding = Window.partitionBy("file_path").orderBy("block_start").rowsBetween(Window.unboundedPreceding, -1)
    offsets = blocks.select(
        "file_path",
        "block_start",
        "block_first_row_id",
        F.coalesce(F.sum("block_lines").over(preceding), F.lit(0)).alias("lines_before"),
        *[column.alias(name) for name, column in per_file.items()],
    )
    return raw_lines.join(F.broadcast(offsets), on=["file_path", "block_start"], how="inner").select(
        "file_path",
        (F.col("lines_before") + F.col("row_id") - F.col("block_first_row_id") + 1).alias("line_number"),
        "raw_text",
        *per_file,
    )


def read_numbered_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Read UTF-8 text files line by line (Spark's text source keeps empty lines), each
    with the extract date of its delivery folder, its file name and the file's ordinal in
    path order. (The window for the ordinal runs over the per-split table: one row per
    split of the files read, never per line.)"""
    raw = spark.read.text(paths).select(
        F.col("_metadata.file_path").alias("file_path"),
        F.col("_metadata.file_block_start").alias("block_start"),
        F.monotonically_increasing_id().alias("row_id"),
        F.col("value").alias("raw_text"),
    )
    folder_date = F.regexp_extract(F.col("file_path"), r"([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]+$", 1)
    per_file = {
        "extract_date": F.to_date(folder_date),
        "source_file": F.regexp_extract(F.col("file_path"), r"([^/]+)$", 1),
        # Files in path order as a number: "first by file, then line" without comparing strings.
        # Evaluated on the per-split table, so one partition is right; naming it explicitly
        # keeps Spark from warning, once per delivery, about an unpartitioned window.
        "file_ordinal": F.dense_rank().over(Window.partitionBy(F.lit(0)).orderBy("file_path")),
    }
    return number_lines(raw, per_file).select("extract_date", "source_file", "file_ordinal", "line_number", "raw_text")
