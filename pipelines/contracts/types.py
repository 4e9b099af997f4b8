"""Column types of the contracts as Spark expressions: how a raw text field becomes a typed
value, and which problems make it a bad row. Every function returns Columns; nothing runs here.

A problem is a pair (condition, reason); the reason reads `<column>:<problem>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.contracts.model import Column

# GB 11643-1999: province codes of the resident ID's first two digits, and the
# ISO 7064 MOD 11-2 check character.
PROVINCE_CODES = (
    [str(c) for c in range(11, 16)]
    + ["21", "22", "23"]
    + [str(c) for c in range(31, 38)]
    + [str(c) for c in range(41, 47)]
    + [str(c) for c in range(50, 55)]
    + [str(c) for c in range(61, 66)]
    + ["71", "81", "82"]
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"

# GB 32100-2015: the unified social credit code's 31 characters (no I, O, S, V, Z), each
# standing for its position, and the weights of the first 17 for its MOD 31 check character.
CREDIT_CODE_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

Problem = tuple[SparkColumn, str]

# The row checks' reasons for a key delivered more than once within a delivery.
KEY_CONFLICT_REASON = "key:conflicting_duplicate"  # its lines differ: every one is bad
DUPLICATE_LINE_REASON = "key:duplicate_line"  # identical lines: all but the first are bad

# Types whose typed value tells apart any two fields that differ as delivered: the text
# itself, or a date read from a strict shape (a decimal does not: 1.5 and 1.50 are one).
DISTINCT_AS_DELIVERED = frozenset({"string", "code", "resident_id", "credit_code", "date", "month"})
# Of those, the types whose text is free: only these can hold any character.
FREE_TEXT = frozenset({"string"})


def spark_type(column: Column) -> T.DataType:
    """The canonical (bronze) Spark type of a contract column."""
    if column.type == "date":
        return T.DateType()
    if column.type == "decimal":
        assert column.precision is not None and column.scale is not None  # the model requires both
        return T.DecimalType(column.precision, column.scale)
    return T.StringType()  # string, code, resident_id, credit_code, month (canonical YYYY-MM)


def is_empty(raw: SparkColumn) -> SparkColumn:
    return raw.isNull() | (raw == "")


def _format_regex(fmt: str) -> str:
    """A strict shape for a date pattern such as yyyyMMdd: one digit per letter."""
    return "^" + "".join("[0-9]" if ch in "yMd" else re.escape(ch) for ch in fmt) + "$"


def _div(value: SparkColumn, divisor: int) -> SparkColumn:
    """Integer division of a bigint (exact, unlike `/`, which goes through double)."""
    return F.call_function("div", value, F.lit(divisor))


def _days_in_month(year: SparkColumn, month: SparkColumn) -> SparkColumn:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return F.when(month == 2, F.when(leap, 29).otherwise(28)).when(month.isin(4, 6, 9, 11), 30).otherwise(31)


def resident_id_problems(raw: SparkColumn, name: str) -> tuple[dict[str, SparkColumn], list[Problem]]:
    """The resident-ID check of GB 11643-1999 (公民身份号码): shape, province, birth date,
    check character. A region code that no longer exists is not a problem.

    Returns one helper column and the problems, which refer to it by name: once the shape
    holds, the first 17 characters are read once as a bigint and taken apart with integer
    arithmetic, a fraction of the cost of parsing 17 substrings and a date on every row."""
    helper = f"_{name}_digits"
    well_formed = raw.rlike(r"^[0-9]{17}[0-9X]$")
    number = F.col(helper)  # null unless well formed
    digits = [_div(number, 10 ** (16 - i)) % 10 for i in range(17)]
    weighted = cast(SparkColumn, sum(d * w for d, w in zip(digits, ID_WEIGHTS)))
    expected = F.element_at(F.array(*[F.lit(c) for c in ID_CHECK_CHARACTERS]), (weighted % 11 + 1).cast("int"))
    birth = _div(number, 1000) % 100_000_000  # yyyyMMdd
    year, month, day = _div(birth, 10_000), _div(birth, 100) % 100, birth % 100
    valid_birth = (year >= 1) & month.between(1, 12) & (day >= 1) & (day <= _days_in_month(year, month))
    present = number.isNotNull()
    return {helper: F.when(well_formed, F.substring(raw, 1, 17).cast("bigint"))}, [
        (~present, f"{name}:bad_format"),
        (present & ~_div(number, 10**15).isin([int(c) for c in PROVINCE_CODES]), f"{name}:bad_province"),
        (present & ~valid_birth, f"{name}:bad_birth_date"),
        (present & (F.substring(raw, 18, 1) != expected), f"{name}:bad_check_character"),
    ]


def credit_code_problems(raw: SparkColumn, name: str) -> list[Problem]:
    """The unified social credit code check of GB 32100-2015 (统一社会信用代码): 18
    characters of its alphabet, the 3rd to 8th an administrative division (digits), and
    the 18th the check character of the first 17 (MOD 31)."""
    alphabet = f"[{CREDIT_CODE_CHARACTERS}]"
    well_formed = raw.rlike(f"^{alphabet}{{2}}[0-9]{{6}}{alphabet}{{10}}$")
    values = [F.instr(F.lit(CREDIT_CODE_CHARACTERS), F.substring(raw, i + 1, 1)) - 1 for i in range(17)]
    weighted = cast(SparkColumn, sum(v * w for v, w in zip(values, CREDIT_CODE_WEIGHTS)))
    expected = F.substring(F.lit(CREDIT_CODE_CHARACTERS), (31 - weighted % 31) % 31 + 1, 1)
    return [
        (~well_formed, f"{name}:bad_format"),
        (well_formed & (F.substring(raw, 18, 1) != expected), f"{name}:bad_check_character"),
    ]


def key_unique_as_delivered(columns: list[Column]) -> bool:
    """Whether keys unique as delivered are unique as typed. The row checks find a key's
    repeats by its fields' delivered text joined with a separator, which tells keys apart
    when at most one field is free text (only such a field can hold the separator), and
    typing keeps them apart when every field's type is DISTINCT_AS_DELIVERED."""
    return all(c.type in DISTINCT_AS_DELIVERED for c in columns) and sum(c.type in FREE_TEXT for c in columns) <= 1


def missing_reason(name: str) -> str:
    """The row checks' reason for an empty required field (the quality gate reports it too)."""
    return f"{name}:missing"


def not_in_codes_reason(name: str) -> str:
    """The row checks' reason for a value that is not one of its column's codes."""
    return f"{name}:not_in_codes"


@dataclass(frozen=True)
class ParsedField:
    """How one raw field becomes a typed value, and what can be wrong with it.

    `helpers` are columns that the value and several problems share: the caller computes
    them once per row in a projection of their own, before `typed` and `problems`, which
    refer to them by name. (Spark does not share an expression between branches that are
    evaluated conditionally, such as the right-hand side of AND, so without this a parsed
    value would be parsed again for every problem that looks at it.)"""

    helpers: dict[str, SparkColumn]
    typed: SparkColumn
    problems: list[Problem]


def parse_column(raw: SparkColumn, column: Column) -> ParsedField:
    """Typed value and problems of one non-empty raw field (emptiness is handled by the caller)."""
    name = column.name
    helpers: dict[str, SparkColumn] = {}
    problems: list[Problem] = []
    typed: SparkColumn = raw
    if column.type == "resident_id":
        helpers, problems = resident_id_problems(raw, name)
    elif column.type == "credit_code":
        problems = credit_code_problems(raw, name)
    elif column.type == "code":
        assert column.codes is not None  # the model requires codes for a code column
        problems.append((~raw.isin(list(column.codes)), not_in_codes_reason(name)))
    elif column.type in ("date", "month"):
        assert column.format is not None  # the model requires a format for a date or month column
        helpers = {f"_{name}_date": F.when(raw.rlike(_format_regex(column.format)), F.try_to_date(raw, column.format))}
        parsed = F.col(f"_{name}_date")
        problems.append((parsed.isNull(), f"{name}:bad_date"))
        typed = parsed if column.type == "date" else F.date_format(parsed, "yyyy-MM")
    elif column.type == "decimal":
        assert column.precision is not None and column.scale is not None
        whole = column.precision - column.scale
        shape = rf"^-?[0-9]{{1,{whole}}}(\.[0-9]{{1,{column.scale}}})?$" if column.scale else rf"^-?[0-9]{{1,{whole}}}$"
        helpers = {f"_{name}_number": F.when(raw.rlike(shape), raw.try_cast(spark_type(column)))}
        typed = F.col(f"_{name}_number")
        problems.append((typed.isNull(), f"{name}:bad_number"))
        if column.min is not None:
            problems.append((typed < F.lit(column.min), f"{name}:below_minimum"))
    if column.pattern is not None:
        problems.append((~raw.rlike(column.pattern), f"{name}:bad_pattern"))
    return ParsedField(helpers, typed.cast(spark_type(column)), problems)
