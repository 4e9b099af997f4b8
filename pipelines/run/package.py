"""The zips spark-submit ships to a cluster: the code for `--py-files` (the `pipelines`
package with its data files) and the contracts for `--archives` (schemas/), both
reproducible byte for byte."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pipelines
from pipelines.contracts.files import schemas_dir

# A fixed timestamp for every zip entry: the same code gives the same package, byte for byte.
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
_CODE_SUFFIXES = (".py", ".yaml", ".properties")


def zip_tree(out: Path, entries: list[tuple[Path, str]]) -> Path:
    """A zip of (file, name in the zip) entries in name order, with fixed times and modes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, name in sorted(entries, key=lambda e: e[1]):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)
    return out


def package(out_dir: Path) -> dict[str, Path]:
    """The code zip for `--py-files` and the contracts zip for `--archives`."""
    source = Path(pipelines.__file__).parent
    code = [
        (p, f"pipelines/{p.relative_to(source).as_posix()}")
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in _CODE_SUFFIXES
    ]
    schemas = schemas_dir()
    contracts = [(p, p.relative_to(schemas).as_posix()) for p in schemas.rglob("*.yaml")]
    version = pipelines.__version__
    return {
        "py_files": zip_tree(out_dir / f"lipmon-{version}.zip", code),
        "schemas": zip_tree(out_dir / f"lipmon-schemas-{version}.zip", contracts),
    }
