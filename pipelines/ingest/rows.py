"""Row checks derived from a contract: split a line into fields, type every field, and
collect every reason the row is bad. Pure transforms over DataFrames.

Reasons read `<column>:<problem>`, `row:<problem>`, `key:<problem>` or `rule:<name>`.
"""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.contracts import DELIVERY_FIELDS, Contract
from pipelines.contracts.types import (
    DUPLICATE_LINE_REASON,
    KEY_CONFLICT_REASON,
    is_empty,
    missing_reason,
    parse_column,
)

# RFC 4180 fields: double quotes around a field, a doubled quote inside it; nothing trimmed.
CSV_OPTIONS = {
    "sep": ",",
    "quote": '"',
    "escape": '"',
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "mode": "PERMISSIVE",
}
QUOTED_FIELD = r'"([^"]|"")*"'

REASON_FIELD_COUNT = "row:wrong_field_count"
REASON_UNBALANCED_QUOTES = "row:unbalanced_quotes"
LINES_PER_FILE = 1 << 40  # a line's position in a delivery: file ordinal * this + line number
REASON_SEPARATOR = "|"  # never part of a reason: reasons are column, rule and problem names


def _commas_plus_one(text: SparkColumn) -> SparkColumn:
    return F.length(text) - F.length(F.replace(text, F.lit(","), F.lit(""))) + 1


def _has_quote(raw_text: SparkColumn) -> SparkColumn:
    return F.instr(raw_text, '"') > 0


def _field_count(raw_text: SparkColumn) -> SparkColumn:
    # Most lines carry no quotes: count commas; only quoted lines pay for the regex.
    return F.when(_has_quote(raw_text), _commas_plus_one(F.regexp_replace(raw_text, QUOTED_FIELD, ""))).otherwise(
        _commas_plus_one(raw_text)
    )


def _fields(raw_text: SparkColumn, n_fields: int) -> SparkColumn:
    """The line's fields as an array: a plain split, or the CSV parser for quoted lines."""
    ddl = ", ".join(f"f{i} string" for i in range(n_fields))
    parsed = F.from_csv(raw_text, ddl, CSV_OPTIONS)
    return F.when(_has_quote(raw_text), F.array(*[parsed[f"f{i}"] for i in range(n_fields)])).otherwise(
        F.split(raw_text, ",", -1)
    )


def _reason_text(problems: list[tuple[SparkColumn, str]]) -> SparkColumn:
    """The reasons that hold, joined by REASON_SEPARATOR ('' when none hold).

    Reasons stay text until the end: concat_ws skips nulls and is compiled, whereas the
    array functions that drop nulls are higher-order functions, which Spark evaluates
    row by row in interpreted mode together with everything beneath them."""
    if not problems:
        return F.lit("")
    return F.concat_ws(REASON_SEPARATOR, *[F.when(cond, F.lit(reason)) for cond, reason in problems])


def _join_reasons(*texts: SparkColumn) -> SparkColumn:
    return F.concat_ws(REASON_SEPARATOR, *[F.when(text != "", text) for text in texts])


def reason_array(text: SparkColumn) -> SparkColumn:
    """Joined reasons as the array the quarantine stores."""
    return F.when(text == "", F.array().cast("array<string>")).otherwise(F.split(text, "\\" + REASON_SEPARATOR))


def _any(conditions: list[SparkColumn]) -> SparkColumn:
    result = F.lit(False)
    for cond in conditions:
        result = result | F.coalesce(cond, F.lit(False))
    return result


def check_rows(lines: DataFrame, contract: Contract, positions: list[int]) -> DataFrame:
    """(extract_date, source_file, file_ordinal, line_number, raw_text) -> the same plus typed
    contract columns,
    `_key_raw` (the key as delivered, for duplicate checks) and `reasons` (joined text:
    `flag_duplicates` adds the key reasons and makes it the array the quarantine stores).

    `positions[i]` is where the contract's i-th column stands in the delivered header.
    """
    n_fields = len(contract.columns)
    quotes = F.length(F.col("raw_text")) - F.length(F.replace(F.col("raw_text"), F.lit('"'), F.lit("")))
    split = lines.select(
        "extract_date",
        "source_file",
        "file_ordinal",
        "line_number",
        "raw_text",
        _fields(F.col("raw_text"), n_fields).alias("_fields"),
        (quotes % 2 == 1).alias("_unbalanced"),
        (_field_count(F.col("raw_text")) != n_fields).alias("_miscounted"),
    )
    base = ["extract_date", "source_file", "file_ordinal", "line_number", "raw_text"]
    # Each raw field once as a column of its own, then the parsers' shared helper columns.
    fields = split.select(
        *base,
        "_fields",
        "_unbalanced",
        "_miscounted",
        *[
            F.coalesce(F.get(F.col("_fields"), pos), F.lit("")).alias(f"_raw_{c.name}")
            for c, pos in zip(contract.columns, positions)
        ],
    )
    parsed = {c.name: parse_column(F.col(f"_raw_{c.name}"), c) for c in contract.columns}
    prepared = fields.select("*", *[h.alias(n) for p in parsed.values() for n, h in p.helpers.items()])
    shape_ok = ~F.col("_unbalanced") & ~F.col("_miscounted")

    typed_columns, column_problems, column_bad = [], [], {}
    for column in contract.columns:
        raw, field = F.col(f"_raw_{column.name}"), parsed[column.name]
        missing = is_empty(raw)
        checks = [(shape_ok & missing, missing_reason(column.name))] if column.required else []
        checks += [(shape_ok & ~missing & cond, reason) for cond, reason in field.problems]
        typed_columns.append(F.when(shape_ok & ~missing, field.typed).alias(column.name))
        column_problems += checks
        column_bad[column.name] = _any([cond for cond, _ in checks])

    key_raw = F.when(shape_ok, F.concat_ws("\u001f", *[F.col(f"_raw_{k}") for k in contract.key]))
    typed = prepared.select(
        *base,
        *typed_columns,
        F.when(key_raw != "", key_raw).alias("_key_raw"),
        _reason_text(
            [
                (F.col("_unbalanced"), REASON_UNBALANCED_QUOTES),
                (~F.col("_unbalanced") & F.col("_miscounted"), REASON_FIELD_COUNT),
                *column_problems,
            ]
        ).alias("_field_reasons"),
        *[bad.alias(f"_bad_{name}") for name, bad in column_bad.items()],
        shape_ok.alias("_shape_ok"),
    )
    # Cross-field rules run on typed values, and only where the fields they use are sound.
    rule_problems = []
    for rule in contract.rules:
        usable = F.col("_shape_ok")
        for name in rule.uses:
            if name not in DELIVERY_FIELDS:
                usable = usable & ~F.col(f"_bad_{name}")
        rule_problems.append((usable & ~F.coalesce(F.expr(rule.check), F.lit(True)), f"rule:{rule.name}"))
    return typed.select(
        *base,
        *[c.name for c in contract.columns],
        "_key_raw",
        # A contract without rules adds no text (comparing a constant '' with '' makes Spark warn).
        _join_reasons(F.col("_field_reasons"), *([_reason_text(rule_problems)] if rule_problems else [])).alias(
            "reasons"
        ),
    )


def duplicate_keys(checked: DataFrame) -> DataFrame:
    """One row per key delivered more than once within a delivery (one extract_date):
    whether its lines differ (`_conflict`), and the first line (by file and line number),
    which is the one kept when they are all identical. Rows without a usable key take no
    part: they fall into one group per delivery, which matches no row when joined back
    (null never equals null), so no filter on the key is needed (Spark would push such a
    filter below the checks and compute them twice). Lines are compared by a 96-bit hash of
    their text (xxhash64 and murmur3), so the shuffle carries a few bytes per line rather
    than the line itself, and every aggregate is a fixed-width number (Spark's hash aggregation needs that; a string or
    struct minimum would make it sort every row instead)."""
    h64, h32 = F.xxhash64("raw_text"), F.hash("raw_text")
    position = F.col("file_ordinal").cast("long") * LINES_PER_FILE + F.col("line_number")
    return (
        checked.groupBy("extract_date", "_key_raw")
        .agg(
            F.count(F.lit(1)).alias("_lines"),
            F.min(h64).alias("_h64_min"),
            F.max(h64).alias("_h64_max"),
            F.min(h32).alias("_h32_min"),
            F.max(h32).alias("_h32_max"),
            F.min(position).alias("_first"),
        )
        .where(F.col("_lines") > 1)
        .select(
            "extract_date",
            "_key_raw",
            ((F.col("_h64_min") != F.col("_h64_max")) | (F.col("_h32_min") != F.col("_h32_max"))).alias("_conflict"),
            F.col("_first").alias("_first_position"),
        )
    )


def flag_duplicates(checked: DataFrame, duplicates: DataFrame | None = None) -> DataFrame:
    """Duplicate keys within one delivery. A key whose lines differ: every such row is bad.
    Lines identical to the letter: the first (by file and line) is kept, the others are
    quarantined as duplicates. `duplicates` is `duplicate_keys(checked)`, computed here
    unless the caller has it already. The result carries `reasons` as an array."""
    if duplicates is None:
        duplicates = duplicate_keys(checked)
    joined = checked.join(duplicates, on=["extract_date", "_key_raw"], how="left")
    conflict = F.coalesce(F.col("_conflict"), F.lit(False))
    position = F.col("file_ordinal").cast("long") * LINES_PER_FILE + F.col("line_number")
    repeated_line = ~conflict & F.col("_first_position").isNotNull() & (position != F.col("_first_position"))
    return joined.select(
        *[c for c in checked.columns if c not in ("_key_raw", "reasons", "file_ordinal")],
        reason_array(
            _join_reasons(
                F.col("reasons"),
                _reason_text(
                    [
                        (conflict, KEY_CONFLICT_REASON),
                        (repeated_line, DUPLICATE_LINE_REASON),
                    ]
                ),
            )
        ).alias("reasons"),
    )
