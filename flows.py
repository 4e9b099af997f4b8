"""The Prefect flows of lipmon, for Prefect's own tools (`prefect deploy flows.py:nightly`):
the nightly run of one snapshot date and the backfill over a range of dates. They are
defined, with the wiring of their steps, in pipelines.run.flows."""

from pipelines.run.flows import backfill, deployments, nightly, nightly_scheduled

__all__ = ["backfill", "deployments", "nightly", "nightly_scheduled"]
