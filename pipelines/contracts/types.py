"""Column types of the contracts as Spark expressions: how a raw text field becomes a typed
value, and which problems make it a bad row. Every function returns Columns; nothing runs here.

A problem is a pair (condition, reason); the reason reads `<column>:<problem>`.
"""

from __future__ import annotations

import re

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.contracts.model import Column

# GB 11643-1999: province codes of the resident ID's first two digits, and the
# ISO 7064 MOD 11-2 check character.
PROVINCE_CODES = (
    [str(c) for c in range(11, 16)] + ["21", "22", "23"] + [str(c) for c in range(31, 38)]
    + [str(c) for c in range(41, 47)] + [str(c) for c in range(50, 55)]
    + [str(c) for c in range(61, 66)] + ["71", "81", "82"]
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"

Problem = tuple[SparkColumn, str]


def spark_type(column: Column) -> T.DataType:
    """The canonical (bronze) Spark type of a contract column."""
    if column.type == "date":
        return T.DateType()
    if column.type == "decimal":
        return T.DecimalType(column.precision, column.scale)
    return T.StringType()  # string, code, resident_id, month (canonical YYYY-MM)


def is_empty(raw: SparkColumn) -> SparkColumn:
    return raw.isNull() | (raw == "")


def _format_regex(fmt: str) -> str:
    """A strict shape for a date pattern such as yyyyMMdd: one digit per letter."""
    return "^" + "".join("[0-9]" if ch in "yMd" else re.escape(ch) for ch in fmt) + "$"


def resident_id_problems(raw: SparkColumn, name: str) -> list[Problem]:
    """The resident-ID check of GB 11643-1999 (公民身份号码): shape, province, birth date,
    check character. A region code that no longer exists is not a problem."""
    well_formed = raw.rlike(r"^[0-9]{17}[0-9X]$")
    digits = [F.substring(raw, i + 1, 1).try_cast("int") for i in range(17)]
    weighted = sum(d * w for d, w in zip(digits, ID_WEIGHTS))
    expected = F.element_at(
        F.array(*[F.lit(c) for c in ID_CHECK_CHARACTERS]), (weighted % 11 + 1).cast("int")
    )
    birth = F.try_to_date(F.substring(raw, 7, 8), "yyyyMMdd")
    return [
        (~well_formed, f"{name}:bad_format"),
        (well_formed & ~F.substring(raw, 1, 2).isin(PROVINCE_CODES), f"{name}:bad_province"),
        (well_formed & birth.isNull(), f"{name}:bad_birth_date"),
        (well_formed & (F.substring(raw, 18, 1) != expected), f"{name}:bad_check_character"),
    ]


def parse_column(raw: SparkColumn, column: Column) -> tuple[SparkColumn, list[Problem]]:
    """Typed value and problems of one non-empty raw field (emptiness is handled by the caller)."""
    name = column.name
    problems: list[Problem] = []
    typed: SparkColumn = raw
    if column.type == "resident_id":
        problems += resident_id_problems(raw, name)
    elif column.type == "code":
        problems.append((~raw.isin(list(column.codes)), f"{name}:not_in_codes"))
    elif column.type in ("date", "month"):
        parsed = F.try_to_date(raw, column.format)
        problems.append((~raw.rlike(_format_regex(column.format)) | parsed.isNull(), f"{name}:bad_date"))
        typed = parsed if column.type == "date" else F.date_format(parsed, "yyyy-MM")
    elif column.type == "decimal":
        whole = column.precision - column.scale
        shape = rf"^-?[0-9]{{1,{whole}}}(\.[0-9]{{1,{column.scale}}})?$" if column.scale else rf"^-?[0-9]{{1,{whole}}}$"
        well_formed = raw.rlike(shape)
        typed = F.when(well_formed, raw.try_cast(spark_type(column)))
        problems.append((~well_formed, f"{name}:bad_number"))
        if column.min is not None:
            problems.append((well_formed & (typed < F.lit(column.min)), f"{name}:below_minimum"))
    if column.pattern is not None:
        problems.append((~raw.rlike(column.pattern), f"{name}:bad_pattern"))
    return typed.cast(spark_type(column)), problems
