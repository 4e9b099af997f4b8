"""Ingestion: land department deliveries as typed bronze Parquet plus a quarantine that
loses nothing (rows read = rows kept + rows quarantined)."""
