"""The import rule of docs/ARCHITECTURE.md, read from the source with ``ast`` (nothing is imported).

Floors, from the top down: cli -> definitions -> resources -> layers -> engines -> sql -> lib ->
settings. A module imports only from its own floor or lower ones; inside layers/, a layer imports
only layers/common and the layers before it; lib/ imports no Dagster, and nothing of the package
but lib/ and the settings leaf; no two modules reach each other through their imports (imports
inside functions count too).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
from pathlib import Path

PACKAGE = "platform_assets"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# Lowest first. The package's own __init__ only points Dagster at the definitions.
FLOORS = ("settings", "lib", "sql", "engines", "serving", "layers", "resources", "definitions", "cli")
LAYER_ORDER = (
    "common",
    "raw",
    "lake",
    "warehouse",
    "features",
    "models",
    "predictions",
    "monitoring",
    "experiments",
)
ASSEMBLY = {"__init__.py", "definitions.py", "settings.py", "resources.py"}

# Violations being fixed as this is written (issue 14); empty it as they go. Anything not listed
# fails. Entries are (importer, imported) pairs, or ("cycle", *modules) for an import cycle.
KNOWN_VIOLATIONS: set[tuple[str, ...]] = set()  # none: any entry here is a debt to pay


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


@cache
def imported_names(name: str) -> set[str]:
    """Every module ``name`` imports, anywhere in the file (``from pkg import submodule`` counts as
    the submodule, relative imports resolved)."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in modules() else source)
    return found


def internal_imports(name: str) -> set[str]:
    return {other for other in imported_names(name) if other in modules() and other != name}


def floor(name: str) -> int:
    """The module's floor in FLOORS, -1 for a module on none (a loose file at the top)."""
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else "definitions"
    return FLOORS.index(top) if top in FLOORS else -1


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "layers" else None


def breaks_the_rule(name: str, other: str) -> bool:
    """Whether ``name`` importing ``other`` goes up a floor or forward a layer (so lib/ reads only
    lib/ and settings.py, and settings.py reads nothing of the package)."""
    if floor(other) > floor(name):
        return True
    if layer(name) in LAYER_ORDER and layer(other) in LAYER_ORDER:
        return LAYER_ORDER.index(layer(other)) > LAYER_ORDER.index(layer(name))
    return False


def rule_violations(imports: Callable[[str], set[str]] = internal_imports) -> set[tuple[str, ...]]:
    return {(name, other) for name in modules() for other in imports(name) if breaks_the_rule(name, other)}


def cycles(imports: Callable[[str], set[str]] = internal_imports) -> set[tuple[str, ...]]:
    """Each cycle once, as ("cycle", *its modules sorted), found by a depth-first search."""
    found: set[tuple[str, ...]] = set()
    state: dict[str, str] = {}  # "open" while on the current path, then "done"
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for other in sorted(imports(name)):
            if state.get(other) == "open":
                found.add(("cycle", *sorted(path[path.index(other) :])))
            elif other not in state:
                visit(other)
        path.pop()
        state[name] = "done"

    for name in modules():
        if name not in state:
            visit(name)
    return found


def new(violations: set[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return sorted(violations - KNOWN_VIOLATIONS)


def test_every_module_is_on_a_floor():
    for name in modules():
        assert floor(name) >= 0, name
        if name.startswith(f"{PACKAGE}.layers."):
            assert layer(name) in LAYER_ORDER, f"{name}: a layer folder missing from LAYER_ORDER"


def test_no_import_goes_up_a_floor_or_forward_a_layer():
    assert new(rule_violations()) == []


def test_lib_imports_no_dagster():
    dagster_users = [
        name
        for name in modules()
        if floor(name) == FLOORS.index("lib")
        and any(other.split(".")[0] == "dagster" for other in imported_names(name))
    ]
    assert dagster_users == []


def test_no_import_cycle():
    assert new(cycles()) == []


def test_the_top_of_the_package_holds_folders_and_the_assembly():
    loose = {path.name for path in ROOT.iterdir() if path.is_file() and path.name not in ASSEMBLY}
    assert loose == set()


def test_the_checker_sees_a_violation_and_a_cycle():
    """The rules above are only worth something if they can fail: plant an upward import and a
    two-module cycle and see both reported."""
    lib, layers = f"{PACKAGE}.lib.layout", f"{PACKAGE}.layers.common.metadata"
    planted = {lib: {layers}, layers: {lib}}

    def imports(name: str) -> set[str]:
        return internal_imports(name) | planted.get(name, set())

    assert (lib, layers) in new(rule_violations(imports))
    assert any(lib in cycle and layers in cycle for cycle in new(cycles(imports)))
