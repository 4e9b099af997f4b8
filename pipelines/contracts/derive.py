"""What the code derives from a contract besides row checks: the bronze and quarantine
Spark schemas. (The Great Expectations suite is derived in pipelines.quality.expectations.)"""

from __future__ import annotations

from pyspark.sql import types as T

from pipelines.contracts.model import Contract
from pipelines.contracts.types import spark_type

# Lineage columns every bronze table carries after the contract's own columns.
LINEAGE_FIELDS = [
    T.StructField("source_file", T.StringType(), False, {"comment": "Delivered file the row came from"}),
    T.StructField("line_number", T.LongType(), False, {"comment": "Line in that file (the header is line 1)"}),
]


def bronze_schema(contract: Contract) -> T.StructType:
    """The typed table of kept rows: canonical names, contract types, descriptions as comments."""
    fields = [
        T.StructField(
            c.name,
            spark_type(c),
            not c.required,
            {"comment": c.description, "personal": c.personal, "delivered_header": c.header},
        )
        for c in contract.columns
    ]
    return T.StructType(fields + LINEAGE_FIELDS)


def quarantine_schema() -> T.StructType:
    return T.StructType(
        [
            T.StructField("source_file", T.StringType(), False),
            T.StructField("line_number", T.LongType(), False),
            T.StructField("raw_text", T.StringType(), True),
            T.StructField("reasons", T.ArrayType(T.StringType(), False), False),
        ]
    )


def partitioned_schema(schema: T.StructType, partition: str) -> T.StructType:
    """`schema` with its date partition column last, as Spark reads a partitioned folder."""
    return T.StructType([*schema.fields, T.StructField(partition, T.DateType(), False)])
