"""spark-submit entry point for profiles, hardship index and alerts of one snapshot date
(after the quality gate's freshness check):

    spark-submit --py-files dist/lipmon-0.1.0.zip jobs/snapshot.py --date D --lake K

The same step as `lipmon run` runs; the master and resources come from spark-submit.
`lipmon package` builds the zip; see docs/operations.md.
"""

import sys

from pipelines.run.job import job_main

if __name__ == "__main__":
    sys.exit(job_main("snapshot", sys.argv[1:]))
