"""Point-in-time assembly of the landed sources for snapshot date D: a snapshot source is
its latest delivery dated on or before D; an incremental source is the union of its
deliveries up to D with one row per key, the latest delivery winning. Nothing delivered
after D can influence D. (Choosing a snapshot source's partition is done where it is read.)

Nearly every key is delivered once; only the redelivered ones need a choice. Choosing the
latest row of every key directly (max_by over a struct of the row) makes Spark sort and
shuffle every row of a year: at city scale, most of the snapshot's time. Instead a 64-bit
hash of the key is counted (a fixed-width aggregate, which Spark hashes rather than sorts):
rows whose hash occurs once pass through as they are, and the rest (the redelivered keys,
plus the rare hash collision) get the exact choice by key. Pure transforms: the caller
caches the repeated hashes and decides whether to broadcast them."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.contracts import Contract

_KEY_HASH = "_key_hash"


def _hashed(bronze: DataFrame, contract: Contract, as_of: date) -> DataFrame:
    return bronze.where(F.col("extract_date") <= F.lit(as_of)).select("*", F.xxhash64(*contract.key).alias(_KEY_HASH))


def repeated_key_hashes(bronze: DataFrame, contract: Contract, as_of: date) -> DataFrame:
    """The key hashes occurring more than once in the deliveries up to `as_of`."""
    return (
        _hashed(bronze, contract, as_of)
        .groupBy(_KEY_HASH)
        .agg(F.count(F.lit(1)).alias("_n"))
        .where(F.col("_n") > 1)
        .select(_KEY_HASH)
    )


def incremental_as_of(bronze: DataFrame, contract: Contract, as_of: date, repeated: DataFrame) -> DataFrame:
    """One row per key from deliveries dated on or before `as_of`, the latest delivery
    winning. `repeated` is `repeated_key_hashes` of the same arguments."""
    columns = [c for c in bronze.columns if c not in contract.key]
    hashed = _hashed(bronze, contract, as_of)
    once = hashed.join(repeated, on=_KEY_HASH, how="left_anti").select(*contract.key, *columns)
    latest = F.max_by(F.struct(*columns), F.col("extract_date")).alias("_latest")
    chosen = (
        hashed.join(repeated, on=_KEY_HASH, how="left_semi")
        .groupBy(*contract.key)
        .agg(latest)
        .select(*contract.key, *[F.col(f"_latest.{c}").alias(c) for c in columns])
    )
    return once.unionByName(chosen)
