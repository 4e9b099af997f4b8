"""lipmon: low-income population dynamic monitoring (低收入人口动态监测).

Nightly batch pipeline: department extracts -> validated Parquet -> household profiles,
hardship index and alerts for caseworkers.
"""

__version__ = "0.1.0"
