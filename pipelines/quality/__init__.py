"""Data-quality checks for the lipmon ingestion pipelines."""
