"""What the code derives from a contract besides row checks: the bronze Spark schema and
the dataset-level Great Expectations suite of the ingestion quality gate."""

from __future__ import annotations

from pyspark.sql import types as T

from pipelines.contracts.model import Contract
from pipelines.contracts.types import spark_type
from pipelines.quality.gx_runner import ExpectationSpec

# Lineage columns every bronze table carries after the contract's own columns.
LINEAGE_FIELDS = [
    T.StructField("source_file", T.StringType(), False, {"comment": "Delivered file the row came from"}),
    T.StructField("line_number", T.LongType(), False, {"comment": "Line in that file (the header is line 1)"}),
]

ORPHAN_FLAG = "_is_orphan"
DELIVERY_ROWS_CHANGE = "_delivery_rows_vs_previous"


def bronze_schema(contract: Contract) -> T.StructType:
    """The typed table of kept rows: canonical names, contract types, descriptions as comments."""
    fields = [
        T.StructField(
            c.name, spark_type(c), not c.required,
            {"comment": c.description, "personal": c.personal, "delivered_header": c.header},
        )
        for c in contract.columns
    ]
    return T.StructType(fields + LINEAGE_FIELDS)


def quarantine_schema() -> T.StructType:
    return T.StructType([
        T.StructField("source_file", T.StringType(), False),
        T.StructField("line_number", T.LongType(), False),
        T.StructField("raw_text", T.StringType(), True),
        T.StructField("reasons", T.ArrayType(T.StringType(), False), False),
    ])


def expectation_suite(contract: Contract, *, orphans_checked: bool,
                      row_count_checked: bool) -> list[ExpectationSpec]:
    """Dataset-level checks of one delivery's kept rows. The row checks already reject
    bad values row by row, so these guard the delivery as a whole; the critical ones stop
    the source. The suite runs over all deliveries landed together, so per-delivery facts
    (the key, the row count change) are checked per extract_date."""
    specs: list[ExpectationSpec] = []
    key = ["extract_date", *contract.key]
    specs.append(ExpectationSpec("compound_unique", None, {"column_list": key}, critical=True,
                                 name=f"{', '.join(contract.key)} unique within a delivery"))
    for c in contract.columns:
        if c.required:
            specs.append(ExpectationSpec("not_null", c.name, {}, critical=True, name=f"{c.name} is never empty"))
        elif c.max_null_rate < 1.0:
            specs.append(ExpectationSpec(
                "not_null", c.name, {"mostly": round(1.0 - c.max_null_rate, 6)},
                name=f"{c.name} is empty in at most {c.max_null_rate:.0%} of rows",
            ))
        if c.codes:
            specs.append(ExpectationSpec(
                "in_set", c.name, {"value_set": sorted(c.codes)}, critical=True, name=f"{c.name} uses its codes",
            ))
    orphan = contract.quality.orphan_rate
    if orphan is not None and orphans_checked:
        specs.append(ExpectationSpec(
            "mean_between", ORPHAN_FLAG, {"min_value": None, "max_value": orphan.max}, critical=orphan.critical,
            name=f"at most {orphan.max:.1%} of {orphan.column}s are not in {orphan.reference}",
        ))
    change = contract.quality.row_count_change
    if change is not None and row_count_checked:
        specs.append(ExpectationSpec(
            "between", DELIVERY_ROWS_CHANGE,
            {"min_value": round(1 - change.max_ratio, 6), "max_value": round(1 + change.max_ratio, 6)},
            critical=change.critical,
            name=f"each delivery's row count within {change.max_ratio:.0%} of the delivery before it",
        ))
    return specs
