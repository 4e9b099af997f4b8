"""The house rules a maintainer relies on, checked by the tools that own them: the import
layers (import-linter, configured in pyproject.toml), no import cycle anywhere in the
package, lint and format (ruff), types (mypy), and a package that sets no environment
variable when imported."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str, *args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    executable = BIN / name
    if not executable.exists():
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return subprocess.run([str(executable), *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def test_import_layers_hold():
    done = _tool("lint-imports")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_an_upward_import_breaks_the_layer_contract(tmp_path):
    """The contract is not vacuous: a copy of the package whose lake imports the run layer
    (an upward import that closes a cycle) is refused, and the report names the import."""
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "pipelines", copy / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    lake = copy / "pipelines" / "lake.py"
    lake.write_text(lake.read_text(encoding="utf-8") + "\nfrom pipelines.run import steps  # noqa\n", encoding="utf-8")
    done = _tool("lint-imports", "--no-cache", cwd=copy, env={"PYTHONPATH": str(copy), "PATH": str(BIN)})
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert "pipelines.lake -> pipelines.run.steps" in done.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(module: str) -> None:
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_through_others():
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph("pipelines", cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_ruff_finds_nothing_to_lint_or_format():
    checked = _tool("ruff", "check", "pipelines", "tests", "jobs", "flows.py")
    assert checked.returncode == 0, checked.stdout[-3000:]
    formatted = _tool("ruff", "format", "--check", "pipelines", "tests", "jobs", "flows.py")
    assert formatted.returncode == 0, formatted.stdout[-3000:]


def test_mypy_finds_no_type_errors():
    done = _tool("mypy")
    assert done.returncode == 0, done.stdout[-3000:]


def test_importing_the_package_sets_no_environment_variable():
    probe = (
        "import os\n"
        "before = dict(os.environ)\n"
        "import pipelines.cli, pipelines.run.flows, pipelines.run.job, pipelines.run.bench\n"
        "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))\n"
        "print(changed)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
