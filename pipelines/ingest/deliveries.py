"""Finding deliveries in the landing folder: `landing/<source>/<YYYY-MM-DD>/`, complete
once the department has written `_READY`, read only if dated on or before the run date."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipelines.contracts import Contract

log = logging.getLogger(__name__)

READY_MARKER = "_READY"


@dataclass(frozen=True)
class Delivery:
    source: str
    extract_date: date
    folder: Path
    files: tuple[Path, ...]

    def fingerprint(self) -> list[dict]:
        """What identifies this delivery's content cheaply: file names, sizes, times."""
        out = []
        for f in self.files:
            st = f.stat()
            out.append({"file": f.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
        return out

    @property
    def label(self) -> str:
        return f"{self.source}/{self.extract_date.isoformat()}"


def _folder_date(folder: Path) -> date | None:
    try:
        return date.fromisoformat(folder.name)
    except ValueError:
        return None


def find_deliveries(landing: Path, contract: Contract, *, up_to: date) -> list[Delivery]:
    """Ready deliveries of one source dated on or before `up_to`, oldest first.

    A folder without `_READY` is still being written; a folder whose name is not a date
    is not a delivery. Both are logged and left alone.
    """
    root = landing / contract.name
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        extract_date = _folder_date(folder)
        if extract_date is None:
            log.warning("%s/%s: not a delivery folder (name is not YYYY-MM-DD), skipped", contract.name, folder.name)
            continue
        if extract_date > up_to:
            continue
        if not (folder / READY_MARKER).exists():
            log.info("%s/%s: no %s yet (still being written), skipped", contract.name, folder.name, READY_MARKER)
            continue
        files = tuple(sorted(p for p in folder.glob(contract.delivery.files) if p.is_file()))
        found.append(Delivery(contract.name, extract_date, folder, files))
    return found
