"""Import hygiene: no cycle among lrlab's modules, and no heavy dependency on the light paths.

The cycle check reads the source (``ast``), so it sees every module-level import whatever order
modules happen to be imported in; imports inside functions are left out, as they run later.
The heavy-dependency check runs commands in a fresh interpreter and lists what got imported:
no timing, so it cannot flake on a loaded machine (the timings live in benchmarks/startup.py).
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import lrlab

SRC = Path(lrlab.__file__).parent


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _module_level_imports(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The lrlab modules that importing ``name`` imports directly."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in known)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                subs = {f"{target}.{a.name}" for a in node.names} & known
                # "from . import x" needs the submodule x; any other name needs the module.
                out.update(subs if len(subs) == len(node.names) else subs | {target})
            # Class bodies, if/else, try/except/finally and with blocks run at import time.
            for child in ("body", "orelse", "finalbody"):
                visit(getattr(node, child, []))
            for handler in getattr(node, "handlers", []):
                visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    return (out & known) - {name}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(u: str) -> list[str] | None:
        state[u] = 1
        path.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return path[path.index(v) :] + [v]
            if not state.get(v) and (cycle := dfs(v)):
                return cycle
        path.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if not state.get(u) and (cycle := dfs(u)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_lrlab_modules():
    modules = _modules()
    graph = {
        name: _module_level_imports(name, path, is_package, set(modules))
        for name, (path, is_package) in modules.items()
    }
    assert "lrlab.objectives" in graph["lrlab.descent"]  # the reader sees real imports
    assert _find_cycle(graph) is None


def _fresh(script: str):
    """What ``script`` prints as JSON, run in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(proc.stdout)


HEAVY = ("sklearn", "scipy", "matplotlib", "fastapi", "uvicorn", "sqlalchemy", "sympy", "ray")


def test_listing_and_the_package_import_no_heavy_dependency():
    script = (
        "import contextlib, io, json, sys\n"
        "from lrlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['objectives', '--json']) == 0\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    assert _fresh(script) == []


def test_the_web_lab_and_the_regime_colours_load_no_matplotlib():
    # The lab draws in the browser; it needs plot.style's colours, not the drawing modules.
    script = (
        "import json, sys\n"
        "from lrlab.plot.style import REGIME_COLORS\n"
        "from lrlab.web import create_app\n"
        "create_app()\n"
        "print(json.dumps('matplotlib' in sys.modules))\n"
    )
    assert _fresh(script) is False
    # The drawing functions still come from lrlab.plot as before, loaded on first use.
    script = (
        "import json, sys\n"
        "from lrlab import plot\n"
        "from lrlab.plot import save, landscape, paths\n"
        "print(json.dumps([save.__module__, landscape.__module__, paths.__name__,\n"
        "                  'matplotlib' in sys.modules, sorted(set(plot.__all__) - set(dir(plot)))]))\n"
    )
    assert _fresh(script) == [
        "lrlab.plot._canvas",
        "lrlab.plot.sweeps",
        "lrlab.plot.paths",
        True,
        [],
    ]
