"""Row checks derived from a contract: split a line into fields, type every field, and
collect every reason the row is bad. Pure transforms over DataFrames.

Reasons read `<column>:<problem>`, `row:<problem>`, `key:<problem>` or `rule:<name>`.
"""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pipelines.contracts import Contract
from pipelines.contracts.types import is_empty, parse_column

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
REASON_KEY_CONFLICT = "key:conflicting_duplicate"
REASON_DUPLICATE_LINE = "key:duplicate_line"


def _commas_plus_one(text: SparkColumn) -> SparkColumn:
    return F.length(text) - F.length(F.replace(text, F.lit(","), F.lit(""))) + 1


def _has_quote(raw_text: SparkColumn) -> SparkColumn:
    return F.instr(raw_text, '"') > 0


def _field_count(raw_text: SparkColumn) -> SparkColumn:
    # Most lines carry no quotes: count commas; only quoted lines pay for the regex.
    return F.when(_has_quote(raw_text), _commas_plus_one(F.regexp_replace(raw_text, QUOTED_FIELD, ""))).otherwise(
        _commas_plus_one(raw_text))


def _fields(raw_text: SparkColumn, n_fields: int) -> SparkColumn:
    """The line's fields as an array: a plain split, or the CSV parser for quoted lines."""
    ddl = ", ".join(f"f{i} string" for i in range(n_fields))
    parsed = F.from_csv(raw_text, ddl, CSV_OPTIONS)
    return F.when(_has_quote(raw_text), F.array(*[parsed[f"f{i}"] for i in range(n_fields)])).otherwise(
        F.split(raw_text, ",", -1))


def _reason_array(problems: list[tuple[SparkColumn, str]]) -> SparkColumn:
    if not problems:
        return F.array().cast("array<string>")
    return F.array_compact(F.array(*[F.when(cond, F.lit(reason)) for cond, reason in problems]))


def _any(conditions: list[SparkColumn]) -> SparkColumn:
    result = F.lit(False)
    for cond in conditions:
        result = result | F.coalesce(cond, F.lit(False))
    return result


def check_rows(lines: DataFrame, contract: Contract, positions: list[int]) -> DataFrame:
    """(extract_date, source_file, line_number, raw_text) -> the same plus typed contract columns,
    `_key_raw` (the key as delivered, for duplicate checks) and `reasons`.

    `positions[i]` is where the contract's i-th column stands in the delivered header.
    """
    n_fields = len(contract.columns)
    quotes = F.length(F.col("raw_text")) - F.length(F.replace(F.col("raw_text"), F.lit('"'), F.lit("")))
    split = lines.select(
        "extract_date",
        "source_file",
        "line_number",
        "raw_text",
        _fields(F.col("raw_text"), n_fields).alias("_fields"),
        (quotes % 2 == 1).alias("_unbalanced"),
        (_field_count(F.col("raw_text")) != n_fields).alias("_miscounted"),
    )
    shape_ok = ~F.col("_unbalanced") & ~F.col("_miscounted")

    typed_columns, column_problems, column_bad = [], [], {}
    for column, pos in zip(contract.columns, positions):
        raw = F.coalesce(F.get(F.col("_fields"), pos), F.lit(""))
        typed, problems = parse_column(raw, column)
        missing = is_empty(raw)
        checks = [(shape_ok & missing, f"{column.name}:missing")] if column.required else []
        checks += [(shape_ok & ~missing & cond, reason) for cond, reason in problems]
        typed_columns.append(F.when(shape_ok & ~missing, typed).alias(column.name))
        column_problems += checks
        column_bad[column.name] = _any([cond for cond, _ in checks])

    position_of = {c.name: pos for c, pos in zip(contract.columns, positions)}
    key_raw = F.when(shape_ok, F.concat_ws(
        "\u001f", *[F.coalesce(F.get(F.col("_fields"), position_of[k]), F.lit("")) for k in contract.key]
    ))
    typed = split.select(
        "extract_date",
        "source_file",
        "line_number",
        "raw_text",
        *typed_columns,
        F.when(key_raw != "", key_raw).alias("_key_raw"),
        F.array_compact(F.concat(
            F.array(F.when(F.col("_unbalanced"), F.lit(REASON_UNBALANCED_QUOTES))),
            F.array(F.when(~F.col("_unbalanced") & F.col("_miscounted"), F.lit(REASON_FIELD_COUNT))),
            _reason_array(column_problems),
        )).alias("_field_reasons"),
        *[bad.alias(f"_bad_{name}") for name, bad in column_bad.items()],
        shape_ok.alias("_shape_ok"),
    )
    # Cross-field rules run on typed values, and only where the fields they use are sound.
    rule_problems = []
    for rule in contract.rules:
        usable = F.col("_shape_ok")
        for name in rule.uses:
            usable = usable & ~F.col(f"_bad_{name}")
        rule_problems.append((usable & ~F.coalesce(F.expr(rule.check), F.lit(True)), f"rule:{rule.name}"))
    return typed.select(
        "extract_date",
        "source_file",
        "line_number",
        "raw_text",
        *[c.name for c in contract.columns],
        "_key_raw",
        F.concat(F.col("_field_reasons"), _reason_array(rule_problems)).alias("reasons"),
    )


def flag_duplicates(checked: DataFrame) -> DataFrame:
    """Duplicate keys within one delivery (one extract_date). A key whose lines differ: every such row is bad.
    Lines identical to the letter: the first (by file and line) is kept, the others are
    quarantined as duplicates. Rows without a usable key take no part."""
    same_key = Window.partitionBy("extract_date", "_key_raw")
    in_order = Window.partitionBy("extract_date", "_key_raw").orderBy("raw_text", "source_file", "line_number")
    has_key = F.col("_key_raw").isNotNull()
    conflict = has_key & (F.min("raw_text").over(same_key) != F.max("raw_text").over(same_key))
    repeated_line = has_key & ~conflict & (F.lag("raw_text").over(in_order) == F.col("raw_text"))
    return checked.select(
        *[c for c in checked.columns if c not in ("_key_raw", "reasons")],
        F.array_compact(F.concat(
            F.col("reasons"),
            F.array(F.when(conflict, F.lit(REASON_KEY_CONFLICT))),
            F.array(F.when(F.coalesce(repeated_line, F.lit(False)), F.lit(REASON_DUPLICATE_LINE))),
        )).alias("reasons"),
    )
