"""Where the contracts are: LIPMON_SCHEMAS where it is set (code run from a zip shipped
with spark-submit), else the copy installed with the package (`pipelines/schemas/`, built
from the checkout's `schemas/`), else the checkout's own `schemas/` folder."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def schemas_dir() -> Path:
    """The folder holding `sources/`, `outputs/` and `indicators/`."""
    given = os.environ.get("LIPMON_SCHEMAS")
    if given:
        return Path(given)
    installed = _PACKAGE / "schemas"
    return installed if (installed / "sources").is_dir() else _PACKAGE.parent / "schemas"
