"""What the bureau sees: the statistics and trend published with every night
(pipelines.report.statistics, .trend), the run report (.run_report, .charts) and the
what-if (.whatif over .recompute)."""
