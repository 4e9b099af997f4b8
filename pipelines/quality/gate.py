"""The night's quality gate, after ingest: a delivery that did not land stops the night,
and so does a source whose newest delivery is older than its contract allows. Returns
each source's freshness for the manifest and the profiles' `data_as_of`."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from pipelines.contracts import Contract
from pipelines.lake import Lake
from pipelines.quality import QualityGateFailed
from pipelines.tables import bronze_table

log = logging.getLogger(__name__)


def check_landed(failed: list[str]) -> None:
    """Every delivery of the night landed (none failed its contract checks or suite)."""
    if failed:
        raise QualityGateFailed(f"{len(failed)} delivery(ies) not landed; first: {failed[0]}")


def freshness(lake: Lake, contracts: dict[str, Contract], as_of: date) -> dict[str, dict[str, Any]]:
    """Each source's last delivery on or before `as_of` and its age in days; a source that
    is not required and was never delivered is recorded as absent (no last delivery).
    Raises QualityGateFailed for a required source with none, or a source staler than its
    contract allows."""
    found: dict[str, dict[str, Any]] = {}
    for name, contract in contracts.items():
        landed = [d for d in lake.dates(bronze_table(name)) if d <= as_of]
        limit = contract.delivery.max_staleness_days
        if not landed and not contract.delivery.required:
            found[name] = {"last_delivery": None, "staleness_days": None, "limit_days": limit, "absent": True}
            log.info("%s: never delivered: absent from this night", name)
            continue
        if not landed:
            raise QualityGateFailed(f"{name}: no delivery landed on or before {as_of}")
        age = (as_of - landed[-1]).days
        if age > limit:
            raise QualityGateFailed(
                f"{name}: last delivery {landed[-1]} is {age} days old on {as_of}, "
                f"more than the {limit} days its contract allows"
            )
        found[name] = {"last_delivery": landed[-1].isoformat(), "staleness_days": age, "limit_days": limit}
        if age:
            log.info("%s: last delivery %s, %d day(s) old (limit %d)", name, landed[-1], age, limit)
    return found
