"""The package's floors: every import between convprof's folders points down (or sideways within a floor).

Read with `ast` from the source of every module, so an import inside a function (a lazy import) or
under `TYPE_CHECKING` is an arrow like any other. A module is named by its unit: a top-level folder
(`spec`, `kinds`, ...) or a top-level module (`errors`, `cli`, ...); `convprof` is the package itself.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import convprof

PACKAGE = Path(convprof.__file__).parent

#: Each folder's floor, lowest first. An import may point to a lower floor or to the same floor,
#: never to a higher one; between units of one floor the imports must not form a cycle.
FLOORS: dict[str, int] = {
    # 0: the base modules (any other top-level module counts as base too, see `floor`)
    "errors": 0,
    "units": 0,
    "quantity": 0,
    "safetext": 0,
    "signals": 0,
    "inputs": 0,
    "torchdep": 0,
    "output": 0,
    # 1: the spec format: YAML reading, argument parsing, names
    "spec": 1,
    # 2: layer kinds, their records and readers, and the torch modules they build
    "kinds": 2,
    # 3: building a network from a spec, analysis, variants, the training model
    "graph": 3,
    # 4: the report
    "report": 4,
    # 5: siblings above the report
    "measure": 5,
    "ci": 5,
    "sweep": 5,
    "importing": 5,
    # 6: formats
    "render": 6,
    # 7 and up: the commands, the command line, the entry point and the public API
    "commands": 7,
    "cli": 8,
    "__main__": 9,
    "convprof": 9,
}
#: Top-level modules that are not base modules (they sit on the floors named above).
_TOP = {"cli", "__main__"}


@dataclass(frozen=True)
class Arrow:
    """One import of one unit by a module of another."""

    #: The importing file, relative to the package's parent (`convprof/spec/parse.py`).
    file: str
    #: The line of the import statement.
    line: int
    #: The importing unit.
    source: str
    #: The imported unit.
    target: str
    #: The imported module as written, resolved to an absolute name.
    module: str

    def describe(self) -> str:
        return (
            f"{self.file}:{self.line} imports {self.module}: floor {floor(self.source)} ({self.source}) "
            f"-> floor {floor(self.target)} ({self.target})"
        )


def floor(unit: str) -> int:
    """The floor of `unit`; a top-level module not named in FLOORS is a base module."""
    if unit in FLOORS:
        return FLOORS[unit]
    return 0 if unit not in _TOP and (_ROOT / f"{unit}.py").exists() else -1


_ROOT = PACKAGE


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str, root: Path) -> str | None:
    """The unit a dotted module name belongs to, or None outside the package."""
    parts = module.split(".")
    if parts[0] != root.name:
        return None
    return parts[1] if len(parts) > 1 else root.name


def _is_module(dotted: str, root: Path) -> bool:
    """Whether `dotted` (`convprof.signals`) names a module or a package of the tree under `root`."""
    relative = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    base = root / relative
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def arrows(root: Path) -> list[Arrow]:
    """Every import between units in the package at `root`, lazy ones included."""
    found: list[Arrow] = []
    for path in sorted(root.rglob("*.py")):
        name = _module_name(path, root)
        source = _unit(name, root)
        assert source is not None
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        relative_file = path.relative_to(root.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # `from convprof import signals` imports a module; `from convprof import x` an attribute
                targets = [
                    f"{module}.{alias.name}" if _is_module(f"{module}.{alias.name}", root) else module
                    for alias in node.names
                ]
            for target in targets:
                unit = _unit(target, root)
                if unit is not None and unit != source:
                    found.append(Arrow(relative_file, node.lineno, source, unit, target))
    return found


def upward(found: list[Arrow]) -> list[Arrow]:
    """The arrows that point to a higher floor."""
    return [arrow for arrow in found if floor(arrow.target) > floor(arrow.source)]


def same_floor_cycles(found: list[Arrow]) -> list[list[str]]:
    """Cycles among units of one floor (each as the units in order, the first repeated at the end)."""
    edges: dict[str, set[str]] = {}
    for arrow in found:
        if floor(arrow.target) == floor(arrow.source):
            edges.setdefault(arrow.source, set()).add(arrow.target)
    cycles: list[list[str]] = []
    seen: set[str] = set()

    def visit(unit: str, stack: list[str]) -> None:
        if unit in stack:
            cycles.append([*stack[stack.index(unit) :], unit])
            return
        if unit in seen:
            return
        seen.add(unit)
        for target in sorted(edges.get(unit, ())):
            visit(target, [*stack, unit])

    for unit in sorted(edges):
        visit(unit, [])
    return cycles


def _units(root: Path) -> set[str]:
    units = {root.name}
    for path in root.iterdir():
        if path.is_dir() and (path / "__init__.py").is_file():
            units.add(path.name)
        elif path.suffix == ".py" and path.name != "__init__.py":
            units.add(path.stem)
    return units


def test_every_unit_has_a_floor() -> None:
    """A new folder is placed on a floor here before anything can import it."""
    unplaced = sorted(unit for unit in _units(PACKAGE) if floor(unit) < 0)
    assert not unplaced, f"units with no floor in tests/test_layers.py FLOORS: {unplaced}"


def test_no_import_points_up() -> None:
    """Every import between units points down or sideways (lazy imports too), with no exception."""
    bad = sorted({a.describe() for a in upward(arrows(PACKAGE))})
    assert not bad, "imports that point up a floor:\n" + "\n".join(bad)


def test_no_cycle_within_a_floor() -> None:
    """Units on one floor (the base modules; measure, ci, sweep and importing) never import each other
    in a circle."""
    cycles = same_floor_cycles(arrows(PACKAGE))
    assert not cycles, "cycles within a floor: " + "; ".join(" -> ".join(c) for c in cycles)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "convprof"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_lazy_upward_import_is_found_with_its_file_line_and_floors(tmp_path: Path) -> None:
    """The checker itself: an import inside a function, from spec/ to graph/, is one upward arrow."""
    root = _tree(
        tmp_path,
        {
            "spec/__init__.py": "",
            "spec/parse.py": "import os\n\n\ndef f():\n    from convprof.graph.build import x\n\n"
            "    return x\n",
            "graph/__init__.py": "",
            "graph/build.py": "from convprof.spec import parse\nx = parse\n",
        },
    )
    found = arrows(root)
    assert {(a.file, a.line, a.source, a.target) for a in found} == {
        ("convprof/spec/parse.py", 5, "spec", "graph"),
        ("convprof/graph/build.py", 1, "graph", "spec"),
    }
    (bad,) = upward(found)
    assert bad.describe() == (
        "convprof/spec/parse.py:5 imports convprof.graph.build: floor 1 (spec) -> floor 3 (graph)"
    )


def test_relative_and_package_imports_resolve(tmp_path: Path) -> None:
    """`from .. import x`, `from convprof import signals` (a module) and `from convprof import
    __version__` (the package's own attribute, the top floor) resolve to the unit they name."""
    root = _tree(
        tmp_path,
        {
            "__init__.py": "__version__ = '1'\n",
            "signals.py": "",
            "kinds/__init__.py": "",
            "kinds/conv.py": "from .. import signals\nfrom ..spec import args\n",
            "spec/__init__.py": "",
            "spec/args.py": "from convprof import __version__\n",
        },
    )
    found = arrows(root)
    assert {(a.source, a.target, a.module) for a in found} == {
        ("kinds", "signals", "convprof.signals"),
        ("kinds", "spec", "convprof.spec.args"),
        ("spec", "convprof", "convprof"),
    }
    assert [(a.source, a.target) for a in upward(found)] == [("spec", "convprof")]


def test_a_cycle_on_one_floor_is_found(tmp_path: Path) -> None:
    """measure -> ci -> measure is a cycle between siblings of floor 5, though neither points up."""
    root = _tree(
        tmp_path,
        {
            "measure/__init__.py": "from convprof.ci import x\n",
            "ci/__init__.py": "def f():\n    import convprof.measure\n",
        },
    )
    found = arrows(root)
    assert not upward(found)
    assert same_floor_cycles(found) == [["ci", "measure", "ci"]]


@pytest.mark.parametrize("unit", sorted(FLOORS))
def test_each_floor_names_a_real_unit(unit: str) -> None:
    """FLOORS names no folder or module that is gone."""
    assert unit in _units(PACKAGE)
