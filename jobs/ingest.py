"""spark-submit entry point for ingestion: land every ready delivery dated on or before --date:

    spark-submit --py-files dist/lipmon-0.1.0.zip jobs/ingest.py --date D --landing L --lake K

The same step as `lipmon run` runs; the master and resources come from spark-submit.
`lipmon package` builds the zip; see docs/operations.md.
"""

import sys

from pipelines.run.job import job_main

if __name__ == "__main__":
    sys.exit(job_main("ingest", sys.argv[1:]))
