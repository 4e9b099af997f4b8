"""Reading and writing the report tables' partitions during the night, in pandas: a
partition as it lies (before the night's manifest lists its files) and a small frame
swapped into place as one Parquet file, typed by the table's output contract."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql.pandas.types import to_arrow_schema

from pipelines.contracts.outputs import output_contract
from pipelines.lake import Lake
from pipelines.published import data_files
from pipelines.storage import is_remote, rmtree
from pipelines.tables import Table

SPARK_ROW_METADATA = "org.apache.spark.sql.parquet.row.metadata"


def read_partition(lake: Lake, table: Table, day: date, columns: list[str]) -> pd.DataFrame:
    """The Parquet files of a table's partition, only `columns`; an absent partition is
    empty. (The night computes its reports before its manifest lists the files.)"""
    folder = lake.path(table, day)
    parts = []
    for entry in data_files(folder) if folder.is_dir() else []:
        path = folder / entry.name
        source = pa.BufferReader(path.read_bytes()) if is_remote(path) else str(path)
        parts.append(pq.read_table(source, columns=columns))
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pa.concat_tables(parts).to_pandas()


def contract_columns(table: Table) -> list[str]:
    return [c.name for c in output_contract(table.contract or "").columns]


def publish_frame(lake: Lake, table: Table, day: date, frame: pd.DataFrame) -> None:
    """Write `frame` (the contract's columns) as the table's partition of `day`, typed and
    described by its output contract, and swap it into place."""
    staging = lake.staging()
    try:
        staged = staging / table.name
        staged.mkdir()
        buffer = io.BytesIO()
        spark_schema = output_contract(table.contract or "").schema()
        rows = pa.Table.from_pandas(
            frame[contract_columns(table)], schema=to_arrow_schema(spark_schema), preserve_index=False
        )
        # The column descriptions travel as Spark writes them, for Spark and other readers alike.
        pq.write_table(rows.replace_schema_metadata({SPARK_ROW_METADATA: spark_schema.json()}), buffer)
        (staged / "part-00000.parquet").write_bytes(buffer.getvalue())
        lake.publish(staged, table, day)
    finally:
        rmtree(staging)
