"""spark-submit entry point for the whole nightly flow of one date (all steps in this one application):

    spark-submit --py-files dist/lipmon-0.1.0.zip jobs/night.py --date D --landing L --lake K

The same step as `lipmon run` runs; the master and resources come from spark-submit.
`lipmon package` builds the zip; see docs/operations.md.
"""

import sys

from pipelines.run.job import job_main

if __name__ == "__main__":
    sys.exit(job_main("night", sys.argv[1:]))
