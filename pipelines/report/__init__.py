"""What the bureau sees: the statistics published with every night (pipelines.report.statistics)."""
