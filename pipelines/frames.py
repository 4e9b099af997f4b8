"""DataFrames of a few rows that the driver holds (lookup tables, offsets, empty tables),
and how frames read more than once are cached.

A module of its own, below the transforms, so that they can build such a table without
the Spark session's module.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import DataType, StructType

# Frames read more than once within a night are cached in memory, then on disk, as
# serialized blocks: PySpark's MEMORY_AND_DISK. Spark's own default for a Dataset
# (deserialized, MEMORY_AND_DISK_DESER) made the 2,000,000-household snapshot's profiles
# slower to compute (267 s against 213 s, one run each; the same counts).
CACHE_LEVEL = StorageLevel.MEMORY_AND_DISK


def local_frame(spark: SparkSession, rows: Sequence[Sequence[object]], schema: str | StructType) -> DataFrame:
    """A DataFrame of a few rows held by the driver (`schema` a DDL string or a StructType).

    They reach the JVM as an Arrow stream. `createDataFrame` of a list of tuples would pass
    them through Spark's Python worker processes, which the night otherwise never needs:
    three of them, about 60 MB each, started for a table of a dozen rows."""
    struct = schema if isinstance(schema, StructType) else DataType.fromDDL(schema)
    if not isinstance(struct, StructType):
        raise TypeError(f"local_frame: schema {schema!r} is not a struct of columns")
    arrow = to_arrow_schema(struct)
    columns = [pa.array([row[i] for row in rows], type=field.type) for i, field in enumerate(arrow)]
    return spark.createDataFrame(pa.Table.from_arrays(columns, schema=arrow), schema=struct)
