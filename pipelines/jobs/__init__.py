"""The spark-submit entry point shipped inside the installed package (lipmon_step.py)."""
