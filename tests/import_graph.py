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


def imports_of(module: str, path: Path, known: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """The modules ``module`` (the file ``path``) imports; ``known`` names the modules that
    ``from package import name`` may mean."""
    is_package = path.name == "__init__.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                start = _base_of_relative(module, is_package, node.level)
                base = ".".join(part for part in (start, base) if part)
            imported.add(base)
            imported.update(
                f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known
            )
    return imported


def import_graph(
    packages: Iterable[str] = PRODUCT_PACKAGES, root: Path = REPO
) -> dict[str, set[str]]:
    """Each module of ``packages`` → the modules it imports (see the module docstring)."""
    modules = module_files(packages, root)
    known = frozenset(modules)
    return {module: imports_of(module, path, known) for module, path in modules.items()}


def within(module: str, packages: Iterable[str]) -> bool:
    """True if ``module`` is one of ``packages`` or inside one."""
    return any(module == package or module.startswith(f"{package}.") for package in packages)
