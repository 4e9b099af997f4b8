"""The household profile (一户一档) as of snapshot date D: the registered members and
their ages, the household's region, residence type and representative, the dibao standard
in force, and every declared indicator (`indicators.py`, one YAML file each under
`schemas/indicators/`): income by component, medical cost, the counts behind every index
component, farm income, disability, asset flags. Pure transforms.

Money is summed in whole fen (cents) as 64-bit integers, which is exact, and only the
sums become yuan in floating point. Summing doubles would make the last bits depend on the
order Spark adds rows in (the partitioning, the cluster, adaptive execution) and, through
ties in the rounded index, even ranks: the same inputs must give the same outputs under
any configuration. (Decimal sums would be exact too, but their wide results are summed as
Java BigDecimals, several times slower; they serve the small sources, such as land.)"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.columns import labels_where
from pipelines.frames import CACHE_LEVEL, local_frame
from pipelines.policy import Policy
from pipelines.profile.indicators import (
    HOUSEHOLD_COLUMNS,
    LOOKUPS,
    MEMBERS,
    REGISTERED_HOUSEHOLD,
    Indicator,
    IndicatorError,
    render,
    window_length,
)
from pipelines.profile.window import months_before

HEAD = "01"
REGISTERED, DECEASED = "1", "2"


def age_at(birth_date: Column, as_of: date) -> Column:
    """Completed years at as_of."""
    before_birthday = (F.month(birth_date) > as_of.month) | (
        (F.month(birth_date) == as_of.month) & (F.dayofmonth(birth_date) > as_of.day)
    )
    return F.lit(as_of.year) - F.year(birth_date) - F.when(before_birthday, 1).otherwise(0)


def fen(df: DataFrame, column: str) -> Column:
    """A delivered yuan amount as whole fen, exactly. The amount must be a decimal of at
    most 2 places: a third place would be cut off silently by the cast."""
    dtype = df.schema[column].dataType
    if not isinstance(dtype, T.DecimalType) or dtype.scale > 2:
        raise ValueError(
            f"{column}: money is summed in whole fen, so it must be a decimal with at most "
            f"2 places; it is {dtype.simpleString()} (see the column's contract)"
        )
    return (F.col(column) * 100).cast("long")


def standards_table(spark: SparkSession, policy: Policy, as_of: date) -> DataFrame:
    """The dibao standard in force on as_of for every configured county and residence type,
    plus the '*' fallback rows for counties the configuration does not list."""
    rows = [(county, code, amount) for county, code, amount in policy.standards_on(as_of)]
    for code, rtype in (("1", "urban"), ("2", "rural")):
        amount = policy.standard("*", rtype, as_of)
        if amount is not None:
            rows.append(("*", code, amount))
    return local_frame(spark, rows, "county string, residence_type string, dibao_standard double")


def lookup_tables(
    spark: SparkSession, policy: Policy, codes: Mapping[str, Sequence[str]], as_of: date
) -> dict[str, DataFrame]:
    """The lookup tables in force on as_of, by name (`indicators.LOOKUPS`): a value for every
    configured county and code, plus the '*' fallback rows. `codes`: each lookup's codes
    (from the contract of the column it matches); a lookup without codes is left out."""
    tables = {}
    if "farm_net_returns" in codes:
        items = list(codes["farm_net_returns"])
        rows = [(county, item, value) for county, item, value in policy.farm_returns_on(as_of, items)]
        rows += [("*", item, v) for item in items if (v := policy.farm_return("*", item, as_of)) is not None]
        _, match, column = LOOKUPS["farm_net_returns"]
        tables["farm_net_returns"] = local_frame(
            spark,
            [(c, m, Decimal(str(v)).quantize(Decimal("0.01"))) for c, m, v in rows],
            f"county string, {match} string, {column} decimal(12,2)",
        )
    return tables


def registered_members(residents: DataFrame, as_of: date) -> DataFrame:
    """Residents with status 1 (registered) on D, with their age at D."""
    return residents.where(F.col("status") == REGISTERED).select(
        "household_id",
        "person_id",
        "name",
        "relation_to_head",
        "region_code",
        "residence_type",
        age_at(F.col("birth_date"), as_of).alias("age"),
    )


def representatives(registered: DataFrame) -> DataFrame:
    """(household_id, rep): the member who represents each household, its head, or without a
    registered head the smallest person_id; `rep` holds what the profile takes from them."""
    order = F.struct(F.when(F.col("relation_to_head") == HEAD, 0).otherwise(1), F.col("person_id"))
    chosen = F.struct(
        "region_code", "residence_type", "person_id", "name", (F.col("relation_to_head") == HEAD).alias("is_head")
    )
    return registered.groupBy("household_id").agg(F.min_by(chosen, order).alias("rep"))


class _Evaluation:
    """The declared indicators evaluated over one snapshot's inputs."""

    def __init__(
        self,
        indicators: Sequence[Indicator],
        inputs: Mapping[str, DataFrame],
        lookups: Mapping[str, DataFrame],
        policy: Policy,
        as_of: date,
        found: Mapping[str, DataFrame] | None = None,
    ) -> None:
        self.indicators, self.inputs, self.lookups = indicators, inputs, lookups
        self.policy, self.as_of = policy, as_of
        self.found = found or {}

    def _sql(self, indicator: Indicator, text: str) -> Column:
        try:
            return F.expr(render(text, self.policy, self.as_of))
        except IndicatorError as exc:
            raise IndicatorError(f"indicator {indicator.name}: {exc}") from exc
        except Exception as exc:  # Spark's parse errors: name the declaration
            raise IndicatorError(f"indicator {indicator.name}: cannot read {text!r}: {exc}") from exc

    def _window(self, indicator: Indicator) -> Column | None:
        window = indicator.window
        if window is None:
            return None
        length = window_length(window, self.policy)
        if window.months is not None:
            return F.col(window.column).isin(months_before(self.as_of, length))
        after = self.as_of - timedelta(days=length)
        return (F.col(window.column) > F.lit(after)) & (F.col(window.column) <= F.lit(self.as_of))

    def _condition(self, indicator: Indicator) -> Column | None:
        parts = [c for c in (self._window(indicator),) if c is not None]
        if indicator.filter:
            parts.append(self._sql(indicator, indicator.filter))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else parts[0] & parts[1]

    def _aggregate(self, indicator: Indicator, rows: DataFrame) -> Column:
        condition = self._condition(indicator)
        if indicator.aggregate == "count":
            return F.count(F.lit(1) if condition is None else F.when(condition, 1))
        if indicator.money is not None:
            value = fen(rows, indicator.money)
        elif indicator.value is not None:
            value = self._sql(indicator, indicator.value)
        else:
            value = F.lit(True)
        if indicator.aggregate in ("first", "last"):
            order = self._sql(indicator, str(indicator.order))
            kept_order = order if condition is None else F.when(condition, order)  # rows without an order are ignored
            pick = F.min_by if indicator.aggregate == "first" else F.max_by
            return pick(value, kept_order)
        if indicator.aggregate == "count_distinct":
            return F.count_distinct(value if condition is None else F.when(condition, value))
        if indicator.aggregate == "any":
            met = value if condition is None else condition & value
            return F.max(F.coalesce(met, F.lit(False)))
        kept = value if condition is None else F.when(condition, value)
        return {"sum": F.sum, "max": F.max, "min": F.min}[str(indicator.aggregate)](kept)

    def _prefilter(self, indicators: Sequence[Indicator]) -> Column | None:
        """Rows any of the indicators can use: the union of their windows when each has one
        (the windows are few and cheap to test), else of their conditions when each has one."""
        if all(i.window is not None for i in indicators):
            windows = {(i.window.column, i.window.months, i.window.days): i for i in indicators if i.window}
            conditions = [self._window(i) for i in windows.values()]
        elif all(i.filter is not None for i in indicators):
            conditions = [self._condition(i) for i in indicators]
        else:
            return None
        kept = [c for c in conditions if c is not None]
        result = kept[0]
        for c in kept[1:]:
            result = result | c
        return result

    def _default(self, indicator: Indicator) -> Column:
        default = F.lit(indicator.default)
        return default if indicator.type is None else default.cast(indicator.type)

    def _valued(self, indicator: Indicator) -> Column:
        """The indicator's column, its default where nothing was found."""
        found = F.col(indicator.name)
        return (found if indicator.default is None else F.coalesce(found, self._default(indicator))).alias(
            indicator.name
        )

    def _with_defaults(self, frame: DataFrame, found: DataFrame, key: str, group: Sequence[Indicator]) -> DataFrame:
        return frame.join(found, on=key, how="left").select(*frame.columns, *[self._valued(i) for i in group])

    def _absent(self, frame: DataFrame, group: Sequence[Indicator]) -> DataFrame:
        """A source never delivered: each indicator takes its default."""
        return frame.select("*", *[self._default(i).alias(i.name) for i in group])

    def _by_source(self, level: str) -> dict[str, list[Indicator]]:
        grouped: dict[str, list[Indicator]] = {}
        for i in self.indicators:
            if i.level == level and i.source is not None and i.source != MEMBERS:
                grouped.setdefault(i.source, []).append(i)
        return grouped

    def _expressions(self, frame: DataFrame, level: str) -> DataFrame:
        for i in self.indicators:
            if i.level == level and i.expression is not None:
                frame = frame.select("*", self._sql(i, i.expression).alias(i.name))
        return frame

    def _usable(self, rows: DataFrame, group: Sequence[Indicator]) -> DataFrame:
        prefilter = self._prefilter(group)
        return rows if prefilter is None else rows.where(prefilter)

    def _aggregated(self, rows: DataFrame, key: str, group: Sequence[Indicator]) -> DataFrame:
        return rows.groupBy(key).agg(*[self._aggregate(i, rows).alias(i.name) for i in group])

    def person_aggregates(self, source: str) -> DataFrame:
        """The source's person indicators of everyone its rows name (before defaults)."""
        group = self._by_source("person")[source]
        return self._aggregated(self._usable(self.inputs[source], group), "person_id", group)

    def person_definition(self, source: str) -> str:
        """What `person_aggregates(source)` computes on this date, as text: over the same
        rows, the same text gives the same result. Every SQL text is rendered with its
        settings (and the snapshot date where it names it); a window is its months, or its
        first and last day."""
        described = []
        for i in self._by_source("person")[source]:
            window = None
            if i.window is not None:
                length = window_length(i.window, self.policy)
                if i.window.months is not None:
                    window = months_before(self.as_of, length)
                else:
                    window = [(self.as_of - timedelta(days=length - 1)).isoformat(), self.as_of.isoformat()]
            sql = {k: v for k in ("filter", "value", "order") if (v := getattr(i, k))}
            texts = {k: render(v, self.policy, self.as_of) for k, v in sql.items()}
            described.append(
                {
                    **i.model_dump(include={"name", "aggregate", "money"}),
                    **texts,
                    "window": [i.window.column, window] if i.window else None,
                }
            )
        return json.dumps(described, sort_keys=True, ensure_ascii=False)

    def members(self, members: DataFrame) -> DataFrame:
        """The registered members with every person indicator."""
        for source, group in self._by_source("person").items():
            if source not in self.inputs:
                members = self._absent(members, group)
                continue
            found = self.found[source] if source in self.found else self.person_aggregates(source)
            members = self._with_defaults(members, found, "person_id", group)
        return self._expressions(members, "person")

    def member_aggregates(self, members: DataFrame) -> list[Column]:
        """The household indicators aggregated over the members (one groupBy with the core)."""
        group = [i for i in self.indicators if i.level == "household" and i.source == MEMBERS]
        return [self._aggregate(i, members).alias(i.name) for i in group]

    def households(self, households: DataFrame, members: DataFrame) -> DataFrame:
        """The households with the indicators from household-keyed sources and the
        household expressions. A source's rows of a household with no registered member
        are ignored (the join to the households). `members`: the registered members'
        person_id and household_id."""
        context = households.select(*[c for c in HOUSEHOLD_COLUMNS if c in households.columns])
        # Every source that matches persons to households joins this one frame, in one
        # form (its filters explicit, so that no join infers others): Spark then shuffles
        # the registry by person once for all of them, not once per source.
        registered = members.select("person_id", F.col("household_id").alias(REGISTERED_HOUSEHOLD)).where(
            F.col("person_id").isNotNull() & F.col(REGISTERED_HOUSEHOLD).isNotNull()
        )
        for source, group in self._by_source("household").items():
            if source not in self.inputs:
                households = self._absent(households, group)
                continue
            rows = self.inputs[source]
            if "household_id" not in rows.columns:  # a person's rows reach the household through its members
                rows = (
                    self._usable(rows, group)
                    .join(registered, on="person_id", how="inner")
                    .withColumnRenamed(REGISTERED_HOUSEHOLD, "household_id")
                )
            elif "person_id" in rows.columns and _uses(group, REGISTERED_HOUSEHOLD):
                rows = self._usable(rows.join(registered, on="person_id", how="left"), group)
            else:
                rows = self._usable(rows, group)
            rows = rows.join(context, on="household_id", how="inner")
            for name in sorted({i.lookup for i in group if i.lookup}):
                rows = _with_lookup(rows, self.lookups, name)
            found = self._aggregated(rows, "household_id", group)
            households = self._with_defaults(households, found, "household_id", group)
        households = self._expressions(households, "household")
        return households.select(
            "*", *[_flag_set(self.indicators, name).alias(name) for name in _flag_sets(self.indicators)]
        )


def _with_lookup(rows: DataFrame, lookups: Mapping[str, DataFrame], name: str) -> DataFrame:
    """The lookup's value for each row's county and code, else its '*' value."""
    if name not in lookups:
        raise IndicatorError(f"lookup {name} has no table for this snapshot")
    _, match, column = LOOKUPS[name]
    table = lookups[name]
    specific = table.where(F.col("county") != "*").select(
        F.col("county").alias("_lk_county"), F.col(match).alias("_lk_code"), F.col(column).alias("_lk_value")
    )
    fallback = table.where(F.col("county") == "*").select(
        F.col(match).alias("_lk_code_any"), F.col(column).alias("_lk_value_any")
    )
    return (
        rows.join(
            F.broadcast(specific),
            on=(F.col("county_code") == F.col("_lk_county")) & (F.col(match) == F.col("_lk_code")),
            how="left",
        )
        .join(F.broadcast(fallback), on=F.col(match) == F.col("_lk_code_any"), how="left")
        .withColumn(column, F.coalesce(F.col("_lk_value"), F.col("_lk_value_any")))
        .drop("_lk_county", "_lk_code", "_lk_value", "_lk_code_any", "_lk_value_any")
    )


def _uses(group: Sequence[Indicator], column: str) -> bool:
    return any(re.search(rf"\b{column}\b", text) for i in group for text in i.sql)


def _flag_sets(indicators: Sequence[Indicator]) -> list[str]:
    return sorted({i.flag.set for i in indicators if i.flag})


def _flag_set(indicators: Sequence[Indicator], name: str) -> Column:
    """The labels of the set's flags that hold, in label order."""
    flags = sorted((i.flag.label, i.name) for i in indicators if i.flag and i.flag.set == name)
    return labels_where([(F.col(indicator), label) for label, indicator in flags])


def person_sources(indicators: Sequence[Indicator], inputs: Mapping[str, DataFrame]) -> list[str]:
    """The delivered sources that person indicators aggregate by person."""
    return sorted(
        {i.source for i in indicators if i.level == "person" and i.source is not None and i.source in inputs}
        - {MEMBERS}
    )


def person_aggregates(
    inputs: Mapping[str, DataFrame], indicators: Sequence[Indicator], policy: Policy, as_of: date, source: str
) -> DataFrame:
    """A source's person indicators by person_id (what `household_profiles` takes as `found`)."""
    return _Evaluation(indicators, inputs, {}, policy, as_of).person_aggregates(source)


def person_definition(indicators: Sequence[Indicator], policy: Policy, as_of: date, source: str) -> str:
    """The text of what a source's person indicators compute on `as_of`: over the same rows,
    the same text gives the same result (`_Evaluation.person_definition`)."""
    return _Evaluation(indicators, {}, {}, policy, as_of).person_definition(source)


def household_profiles(
    inputs: Mapping[str, DataFrame],
    standards: DataFrame,
    lookups: Mapping[str, DataFrame],
    indicators: Sequence[Indicator],
    policy: Policy,
    as_of: date,
    found: Mapping[str, DataFrame] | None = None,
    *,
    cache: bool = False,
    held: list[DataFrame] | None = None,
) -> DataFrame:
    """One row per household with at least one registered member. `inputs`: each source
    as of D by contract name (residents required; a source never delivered is absent).
    `found`: a source's person indicators computed already (`person_aggregates`), used
    instead of its rows. `cache`: the aggregated households are read twice (joined with
    the household sources, and the context their rows are matched against: county, size,
    standard); cached, a city's members are aggregated once. `held` receives the cached
    households, for the caller to release (else the session's clearCache releases them)."""
    evaluation = _Evaluation(indicators, inputs, lookups, policy, as_of, found)
    registered = registered_members(inputs["residents"], as_of)
    members = evaluation.members(registered)
    # The members' indicators are numbers and flags, which Spark aggregates in a hash table;
    # the representative is chosen by text, which makes an aggregate sort its rows. So the
    # representative is chosen apart, over the registry's few columns, not the members'
    # many, and joined to the households.
    households = members.groupBy("household_id").agg(
        F.count(F.lit(1)).alias("size"), *evaluation.member_aggregates(members)
    )
    households = households.join(representatives(registered), on="household_id", how="inner")
    county = F.substring(F.col("rep.region_code"), 1, 6)
    specific = standards.where(F.col("county") != "*").select(
        F.col("county").alias("_county"), F.col("residence_type").alias("_rtype"), F.col("dibao_standard").alias("_s")
    )
    fallback = standards.where(F.col("county") == "*").select(
        F.col("residence_type").alias("_rtype_any"), F.col("dibao_standard").alias("_s_any")
    )
    declared = [c for c in households.columns if c not in ("household_id", "size", "rep")]
    profiled = (
        households.select("*", county.alias("county_code"))
        .join(
            F.broadcast(specific),
            on=(F.col("county_code") == F.col("_county")) & (F.col("rep.residence_type") == F.col("_rtype")),
            how="left",
        )
        .join(F.broadcast(fallback), on=F.col("rep.residence_type") == F.col("_rtype_any"), how="left")
        .select(
            "household_id",
            F.col("rep.region_code").alias("region_code"),
            "county_code",
            F.substring(F.col("rep.region_code"), 7, 3).alias("township_code"),
            F.substring(F.col("rep.region_code"), 10, 3).alias("village_code"),
            F.col("rep.residence_type").alias("residence_type"),
            F.col("rep.person_id").alias("head_person_id"),
            F.col("rep.name").alias("head_name"),
            F.col("rep.is_head").alias("head_registered"),
            "size",
            F.coalesce(F.col("_s"), F.col("_s_any")).alias("dibao_standard"),
            *declared,
        )
    )
    if cache:
        profiled = profiled.persist(CACHE_LEVEL)
        if held is not None:
            held.append(profiled)
    # A household source's rows reach their household through the registry alone: the
    # members' person indicators would only be joined again (a second pass over them).
    return evaluation.households(profiled, registered.select("person_id", "household_id"))
