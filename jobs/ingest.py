"""spark-submit entry point for ingestion: `spark-submit jobs/ingest.py --date D [--landing ...]`.

The same code as `lipmon ingest`; the master and resources come from spark-submit.
"""

import sys

from pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
