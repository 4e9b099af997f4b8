"""The run's record, `runs/D/manifest.json`, then `runs/D/_SUCCESS` if the run succeeded:
both written last. A failed run's manifest says at which step and why."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from typing import Any

import prefect
import pyspark

import pipelines
from pipelines.lake import SUCCESS_MARKER, Lake, checkpoint, write_json
from pipelines.published import describe_outputs
from pipelines.run.params import RunParameters
from pipelines.storage import Location


def write_manifest(params: RunParameters, manifest: dict[str, Any]) -> Location:
    lake = Lake(params.settings().lake)
    run_dir = lake.run_dir(params.snapshot_date)
    marker = run_dir / SUCCESS_MARKER
    marker.unlink(missing_ok=True)
    payload = {
        "snapshot_date": params.snapshot_date.isoformat(),
        "parameters": params.model_dump(mode="json"),
        "versions": versions(),
        **manifest,
    }
    if manifest.get("outcome") == "succeeded":  # what readers may read: see pipelines/published.py
        payload["outputs"] = describe_outputs(lake.root, params.snapshot_date)
    write_json(run_dir / "manifest.json", payload)
    checkpoint("manifest:before-success-marker")
    if manifest.get("outcome") == "succeeded":
        marker.write_text("")
    return run_dir / "manifest.json"


def versions() -> dict[str, Any]:
    return {
        "lipmon": pipelines.__version__,
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "great_expectations": version("great_expectations"),  # its import takes seconds
        "prefect": prefect.__version__,
        "host": platform.node(),
        "pid": os.getpid(),
    }
