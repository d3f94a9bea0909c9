"""The import graph of the repository's packages, read with ``ast`` (nothing is imported).

:func:`import_graph` maps each module (``sync_server.records.cli``) to the modules it imports:
every ``import`` and ``from ... import`` in the file, those inside functions, methods and
``if TYPE_CHECKING:`` blocks included, relative ones resolved. ``from package import name``
counts as importing ``package``, and ``package.name`` too when that is a module of the graph.
Layer rules (``tests/test_layers.py``) and cycle checks are built on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: What ships and runs in production; none of it may import the dev tooling, tests or bench.
PRODUCT_PACKAGES = ("contract", "device", "hardware", "sync_server", "provisioning")
#: Directories that hold no module of ours (the watchdog simulator's npm packages, caches).
SKIPPED_DIRECTORIES = {"node_modules", "__pycache__"}


def module_files(packages: Iterable[str], root: Path = REPO) -> dict[str, Path]:
    """Every module of ``packages`` (directories under ``root``) by its dotted name."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if SKIPPED_DIRECTORIES.intersection(parts) or any(p.startswith(".") for p in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _base_of_relative(module: str, is_package: bool, level: int) -> str:
    """The package a ``from`` import with ``level`` dots starts from, inside ``module``."""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]  # a plain module's dot is its package
    return ".".join(parts[: len(parts) - (level - 1)])


def _import_time_nodes(tree: ast.Module) -> list[ast.AST]:
    """The nodes Python runs when the module is imported: not function bodies, nor the
    ``if TYPE_CHECKING:`` blocks only type checkers read."""
    nodes: list[ast.AST] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def imports_of(
    module: str,
    path: Path,
    known: set[str] | frozenset[str] = frozenset(),
    *,
    import_time_only: bool = False,
    precise: bool = False,
) -> set[str]:
    """The modules ``module`` (the file ``path``) imports; ``known`` names the modules that
    ``from package import name`` may mean. ``import_time_only`` leaves out the imports that
    run later (inside functions) or never (``TYPE_CHECKING``); with it or ``precise``, a
    ``from package import submodule`` counts the submodule only, not the package."""
    is_package = path.name == "__init__.py"
    imported: set[str] = set()
    tree = ast.parse(path.read_bytes(), filename=str(path))
    for node in _import_time_nodes(tree) if import_time_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                start = _base_of_relative(module, is_package, node.level)
                base = ".".join(part for part in (start, base) if part)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            imported.update(submodules)
            # ``from package import submodule`` inside the package's own import is how Python
            # packages load their parts, not a cycle: at import time only the submodule counts.
            if not ((import_time_only or precise) and len(submodules) == len(node.names)):
                imported.add(base)
    return imported


def import_graph(
    packages: Iterable[str] = PRODUCT_PACKAGES,
    root: Path = REPO,
    *,
    import_time_only: bool = False,
    precise: bool = False,
) -> dict[str, set[str]]:
    """Each module of ``packages`` → the modules it imports (see :func:`imports_of`)."""
    modules = module_files(packages, root)
    known = frozenset(modules)
    return {
        module: imports_of(module, path, known, import_time_only=import_time_only, precise=precise)
        for module, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: its strongly connected components of two or more
    modules (and modules importing themselves), each sorted, found with Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue  # outside the graph: cannot close a cycle within it
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def within(module: str, packages: Iterable[str]) -> bool:
    """True if ``module`` is one of ``packages`` or inside one."""
    return any(module == package or module.startswith(f"{package}.") for package in packages)
