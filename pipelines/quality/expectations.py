"""The dataset-level Great Expectations suite of a delivery, derived from its source
contract, and the three columns it needs that a row does not carry: whether the row's
person is in the registry, the delivery's row count against the previous delivery, and
whether the rows of the row's group (a household) disagree on a value they must share."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pipelines.contracts import Contract
from pipelines.contracts.types import (
    DUPLICATE_LINE_REASON,
    KEY_CONFLICT_REASON,
    key_unique_as_delivered,
    missing_reason,
    not_in_codes_reason,
)
from pipelines.frames import local_frame
from pipelines.quality.gx_runner import ExpectationOutcome, ExpectationSpec

ORPHAN_FLAG = "_is_orphan"
DELIVERY_ROWS_CHANGE = "_delivery_rows_vs_previous"
GROUP_DISAGREES = "_group_disagrees"


def expectation_suite(contract: Contract, *, orphans_checked: bool, row_count_checked: bool) -> list[ExpectationSpec]:
    """Dataset-level checks of one delivery's kept rows. The row checks already reject
    bad values row by row, so these guard the delivery as a whole; the critical ones stop
    the source. The suite runs over all deliveries landed together, so per-delivery facts
    (the key, the row count change) are checked per extract_date."""
    specs: list[ExpectationSpec] = []
    key = ["extract_date", *contract.key]
    specs.append(
        ExpectationSpec(
            "compound_unique",
            None,
            {"column_list": key},
            critical=True,
            name=f"{', '.join(contract.key)} unique within a delivery",
        )
    )
    for c in contract.columns:
        if c.required:
            specs.append(ExpectationSpec("not_null", c.name, {}, critical=True, name=f"{c.name} is never empty"))
        elif c.max_null_rate < 1.0:
            specs.append(
                ExpectationSpec(
                    "not_null",
                    c.name,
                    {"mostly": round(1.0 - c.max_null_rate, 6)},
                    name=f"{c.name} is empty in at most {c.max_null_rate:.0%} of rows",
                )
            )
        if c.codes:
            specs.append(
                ExpectationSpec(
                    "in_set",
                    c.name,
                    {"value_set": sorted(c.codes)},
                    critical=True,
                    name=f"{c.name} uses its codes",
                )
            )
    orphan = contract.quality.orphan_rate
    if orphan is not None and orphans_checked:
        name = f"at most {orphan.max:.1%} of {orphan.column}s are not in {orphan.reference}"
        specs.append(_flagged_at_most(ORPHAN_FLAG, orphan.max, orphan.critical, name))
    change = contract.quality.row_count_change
    if change is not None and row_count_checked:
        specs.append(
            ExpectationSpec(
                "between",
                DELIVERY_ROWS_CHANGE,
                {"min_value": round(1 - change.max_ratio, 6), "max_value": round(1 + change.max_ratio, 6)},
                critical=change.critical,
                name=f"each delivery's row count within {change.max_ratio:.0%} of the delivery before it",
            )
        )
    same = contract.quality.same_within
    if same is not None:  # always checkable: the flag needs the delivery's rows alone
        name = f"{same.column} is one value within each {same.group}" + (
            f" (at most {same.max:.1%} of rows in one that disagrees)" if same.max else ""
        )
        specs.append(_flagged_at_most(GROUP_DISAGREES, same.max, same.critical, name))
    return specs


def _flagged_at_most(flag: str, share: float, critical: bool, name: str) -> ExpectationSpec:
    """At most `share` of the rows have `flag` (a column of 1.0 and 0.0) set."""
    return ExpectationSpec("mean_between", flag, {"min_value": None, "max_value": share}, critical=critical, name=name)


def answered_by_row_checks(spec: ExpectationSpec, contract: Contract) -> tuple[str, ...] | None:
    """The quarantine reasons of the row checks that answer `spec`, if they do: a required
    column is never empty and a code is always one of its codes in the kept rows, because
    the row checks quarantine every row where it is not. So is the key unique within a
    delivery, where keys delivered differently cannot type to the same value
    (`key_unique_as_delivered`): the row checks keep one line of each key as delivered.
    Great Expectations need not scan the delivery for these."""
    if spec.kind == "compound_unique":
        keyed = key_unique_as_delivered([contract.column(k) for k in contract.key])
        return (KEY_CONFLICT_REASON, DUPLICATE_LINE_REASON) if keyed else None
    column = contract.find_column(spec.column)
    if column is None:
        return None
    if spec.kind == "not_null" and column.required:
        return (missing_reason(column.name),)
    if spec.kind == "in_set" and column.codes:
        return (not_in_codes_reason(column.name),)
    return None


def kept_rows_expectation(kept: int) -> ExpectationSpec:
    """The staged rows are exactly those the row checks kept and counted: scanned, so that
    the answers taken from the row checks are about the rows that will be published."""
    return ExpectationSpec(
        "row_count_between",
        None,
        {"min_value": kept, "max_value": kept},
        critical=True,
        name="the kept rows are those the row checks counted",
    )


def row_check_outcome(spec: ExpectationSpec, kept: int, quarantined: int) -> ExpectationOutcome:
    """The outcome of an expectation the row checks answer: no kept row breaks it, and
    `quarantined` rows were set aside for it."""
    return ExpectationOutcome(
        name=spec.label,
        kind=spec.kind,
        column=spec.column,
        critical=spec.critical,
        success=True,
        observed=None,
        details={
            "answered_by": "row checks",
            "element_count": kept,
            "unexpected_count": 0,
            "unexpected_percent": 0.0,
            "quarantined_count": quarantined,
        },
    )


def with_orphan_flag(bronze: DataFrame, column: str, reference_ids: DataFrame) -> DataFrame:
    """Flag rows whose person is not in the reference registry (valid rows, only counted).

    Only the registry entries of this delivery's persons are kept (a semi join on the
    delivery's distinct ids), so a day of settlements reads one column of the registry
    and broadcasts a few thousand ids instead of shuffling millions of registry rows."""
    wanted = bronze.select(F.col(column).alias("_ref_id")).distinct()
    known = (
        reference_ids.select(F.col(column).alias("_ref_id"))
        .join(wanted, on="_ref_id", how="left_semi")
        .distinct()
        .select("_ref_id", F.lit(0.0).alias(ORPHAN_FLAG))
    )
    # Matched in a hash table of the known ids: a sort-merge join would sort every row by
    # an ID number (the first digits are the region's, shared by most) for a flag.
    return bronze.join(known.hint("shuffle_hash"), on=bronze[column] == known["_ref_id"], how="left").select(
        *bronze.columns, F.coalesce(F.col(ORPHAN_FLAG), F.lit(1.0)).alias(ORPHAN_FLAG)
    )


def with_group_disagreement(bronze: DataFrame, column: str, group: str) -> DataFrame:
    """Flag (1.0) every row of a delivery's group whose rows hold more than one value of
    `column` (a household whose roll rows declare different incomes); 0.0 otherwise."""
    rows_of_group = Window.partitionBy("extract_date", group)
    differs = F.min(column).over(rows_of_group) != F.max(column).over(rows_of_group)
    return bronze.select("*", F.when(differs, 1.0).otherwise(0.0).alias(GROUP_DISAGREES))


def with_row_count_change(bronze: DataFrame, change: dict[date, float]) -> DataFrame:
    """Attach to every row its delivery's row count relative to the previous delivery."""
    table = local_frame(
        bronze.sparkSession,
        [(d, float(r)) for d, r in change.items()],
        f"extract_date date, {DELIVERY_ROWS_CHANGE} double",
    )
    return bronze.join(F.broadcast(table), on="extract_date", how="left")
