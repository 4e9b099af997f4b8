"""spark-submit entry point of one lipmon step, shipped with the package:

    spark-submit --py-files lipmon-<version>.zip .../pipelines/jobs/lipmon_step.py STEP --date D --lake K

STEP is ingest, snapshot, relink, push, or night (the whole nightly flow in one application).
"""

import sys

from pipelines.run.job import job_main

if __name__ == "__main__":
    sys.exit(job_main(None, sys.argv[1:]))
