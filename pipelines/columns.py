"""Column expressions the transforms share, written so that Spark compiles them.

Spark evaluates a higher-order function (filter, transform, array_sort with its
comparator, and array_compact, which it rewrites as a filter) row by row in interpreted
mode, and with it every expression beneath it: the rules' conditions, a household's HMAC.
The expressions here build the same arrays from compiled parts."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T


def no_labels() -> Column:
    """An empty array of strings."""
    return F.array().cast(T.ArrayType(T.StringType()))


def labels_where(conditions: Sequence[tuple[Column, Column | str]]) -> Column:
    """The labels whose condition holds (neither false nor null), in the order given."""
    if not conditions:
        return no_labels()
    return F.concat(*[F.when(cond, F.array(F.lit(label))).otherwise(no_labels()) for cond, label in conditions])
