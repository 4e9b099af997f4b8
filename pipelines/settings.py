"""Where things are: the command-line options and their environment fallbacks, with the
defaults that run the bundled sample into ./lake."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.contracts.files import schemas_dir
from pipelines.storage import Location, lake_location

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def contracts_dir() -> Path:
    """The source contracts' folder: LIPMON_CONTRACTS, else the schemas' `sources/`."""
    return Path(os.environ.get("LIPMON_CONTRACTS", schemas_dir() / "sources")).absolute()


def _sample_landing() -> Path:
    local = Path("data/sample/landing")
    return local if local.is_dir() else PROJECT_ROOT / "data" / "sample" / "landing"


@dataclass(frozen=True)
class Settings:
    landing: Path
    lake: Location  # a local folder or a Hadoop-compatible URI (hdfs://, s3a://, ...)
    config: Path | None
    master: str | None
    contracts_dir: Path
    indicators_dir: Path

    @classmethod
    def resolve(
        cls,
        *,
        landing: str | None = None,
        lake: str | None = None,
        config: str | None = None,
        master: str | None = None,
    ) -> Settings:
        """Command-line values win over the environment, which wins over the defaults.
        Folders are made absolute: Spark executors do not share the caller's working folder."""
        landing = landing or os.environ.get("LIPMON_LANDING")
        lake = lake or os.environ.get("LIPMON_LAKE")
        config = config or os.environ.get("LIPMON_CONFIG")
        return cls(
            landing=(Path(landing) if landing else _sample_landing()).absolute(),
            lake=lake_location(lake or "lake"),
            config=Path(config).absolute() if config else None,
            master=master or os.environ.get("LIPMON_SPARK_MASTER") or None,
            contracts_dir=contracts_dir(),
            indicators_dir=Path(os.environ.get("LIPMON_INDICATORS", schemas_dir() / "indicators")).absolute(),
        )
