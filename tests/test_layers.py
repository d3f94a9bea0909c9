"""Layers: the product packages never import the dev tooling, the tests or the bench, nor
each other in a circle; provisioning reaches the server only through its API."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.import_graph import PRODUCT_PACKAGES, cycles, import_graph, within

#: Development only: what a product module imports must ship and run without them.
DEV_ONLY = ("devtools", "tests", "bench")


def test_product_packages_never_import_dev_tooling():
    graph = import_graph(PRODUCT_PACKAGES)
    offending = sorted(
        f"{module} imports {name}"
        for module, names in graph.items()
        for name in names
        if within(name, DEV_ONLY)
    )
    assert not offending, "product code depends on dev-only code:\n" + "\n".join(offending)


def test_the_graph_covers_the_product_packages():
    graph = import_graph(PRODUCT_PACKAGES)
    assert {module.partition(".")[0] for module in graph} == set(PRODUCT_PACKAGES)
    assert "sync_server.records.residents_file" in graph["sync_server.records.residents_import"]
    assert "contract.identifiers" in graph["sync_server.records.residents_file"]


def test_no_module_of_the_product_imports_itself_in_a_circle():
    """What runs at import time never forms a cycle: no half-initialised module is ever read."""
    graph = import_graph(PRODUCT_PACKAGES, import_time_only=True)
    assert cycles(graph) == []


def test_the_server_has_no_import_cycle_even_through_deferred_imports():
    """Counting the imports inside functions too (create_app's blueprints, CLI commands), no
    server module needs, however indirectly, a module that needs it."""
    assert cycles(import_graph(["sync_server"], precise=True)) == []


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"os"}}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_the_graph_sees_every_kind_of_import(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": """
                import os
                from typing import TYPE_CHECKING

                from pkg import b
                from . import c
                from .b import thing

                if TYPE_CHECKING:
                    from bench.common import Row

                def run():
                    import devtools.seed

                class Tool:
                    def method(self):
                        from tests import helpers
            """,
            "pkg/b.py": "thing = 1\n",
            "pkg/c.py": "",
            "pkg/sub/__init__.py": "from .. import a\n",
            "pkg/sub/d.py": "from ..b import thing\n",
            "pkg/node_modules/ignored.py": "import devtools\n",
        },
    )
    graph = import_graph(["pkg"], root=tmp_path)
    assert set(graph) == {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.sub", "pkg.sub.d"}
    assert graph["pkg.a"] == {
        "os",
        "typing",
        "pkg",
        "pkg.b",
        "pkg.c",
        "bench.common",
        "devtools.seed",
        "tests",
    }
    assert graph["pkg.sub"] == {"pkg", "pkg.a"}
    assert graph["pkg.sub.d"] == {"pkg.b"}
    dev_only = {name for name in graph["pkg.a"] if within(name, DEV_ONLY)}
    assert dev_only == {"bench.common", "devtools.seed", "tests"}
