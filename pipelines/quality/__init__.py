"""The quality gate: what a night checks before it computes anything from the data.

- contract checks of each delivery: every row typed and checked against its source
  contract (pipelines.ingest.rows), bad rows quarantined, rows in = kept + quarantined;
- the Great Expectations suite of each delivery (expectations, gx_runner): critical
  expectations stop the source;
- staleness (staleness): each source's newest delivery within its contract's limit;
- the night's gate (gate): a delivery that did not land, or a stale source, stops the night.
"""


class QualityGateFailed(RuntimeError):
    """A delivery failed a critical check, or a source is staler than its contract allows:
    what it concerns is not published, or the night does not go on."""
