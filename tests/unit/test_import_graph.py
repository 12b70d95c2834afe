"""The shape of the package: no import circles, and a transport layer that knows no sandbox.

The graph is read by ``grimp`` from the source, so it sees every ``import`` statement:

- imports inside functions count. A function-level import is still a dependency (it runs the
  first time the function does), and hiding a circle inside a function only moves the failure
  from load time to a rarer moment; so no exception is made for them.
- imports under ``if TYPE_CHECKING:`` do not count for run-time circles (they never run); a
  separate test keeps them free of circles too, the lower module naming a
  :class:`typing.Protocol` of its own rather than a type of the module above it.
- importing ``a.b.c`` runs ``a/b/__init__.py`` first, so it is also an edge to every package
  above the imported module (but not to the importer's own packages, which are already loading
  when it runs, nor to the root package): a circle through a package ``__init__`` is a circle.
- ``importlib.import_module`` of a computed name (the transformer families the registry loads
  on first use) is invisible to any static reading, and is left out on purpose: the families
  depend on the registry, never the reverse at import time.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "alumio_mistral"


def read_graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True, cache_dir=None)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return read_graph()


def with_package_edges(graph: grimp.ImportGraph) -> grimp.ImportGraph:
    """``graph`` plus an edge from each importer to the packages its imports load first."""
    for importer in list(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            parts = imported.split(".")
            for end in range(2, len(parts)):
                package = ".".join(parts[:end])
                if package != importer and not importer.startswith(package + "."):
                    graph.add_import(importer=importer, imported=package)
    return graph


def test_no_import_cycle_between_modules() -> None:
    full = with_package_edges(read_graph())
    circles: dict[frozenset[str], tuple[str, ...]] = {}
    for importer in sorted(full.modules):
        for imported in sorted(full.find_modules_directly_imported_by(importer)):
            back = full.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                circle = (importer, *back)
                circles.setdefault(frozenset(circle), circle)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles.values())


def test_no_circle_even_through_type_hints() -> None:
    """Type-only imports never run, but a circle of them still says two modules know each
    other; a :class:`typing.Protocol` on the lower side (``registry.CompiledSteps``,
    ``pipeline.Definitions``) keeps the drawing of the package free of circles."""
    full = grimp.build_graph(PACKAGE, exclude_type_checking_imports=False, cache_dir=None)
    circles = {frozenset((importer, *back))
               for importer in full.modules for imported in full.find_modules_directly_imported_by(importer)
               if (back := full.find_shortest_chain(importer=imported, imported=importer)) is not None}
    assert not circles, "type-hint circles: " + "; ".join(" <-> ".join(sorted(c)) for c in circles)


def test_http_imports_nothing_from_the_sandbox(graph: grimp.ImportGraph) -> None:
    chains = graph.find_shortest_chains(
        importer=f"{PACKAGE}.http", imported=f"{PACKAGE}.sandbox", as_packages=True
    )
    assert not chains, "http/ reaches sandbox/: " + "; ".join(" -> ".join(c) for c in chains)


def test_the_graph_sees_function_level_imports_and_not_type_checking_ones(graph: grimp.ImportGraph) -> None:
    """Guards the rules above on two imports that exist today."""
    # catalog/__init__.py imports the generator inside Catalog.load
    assert graph.direct_import_exists(importer=f"{PACKAGE}.catalog", imported=f"{PACKAGE}.catalog.generate")
    # registry.py names Pipeline only for type checkers
    assert not graph.direct_import_exists(
        importer=f"{PACKAGE}.transformers.registry", imported=f"{PACKAGE}.transformers.pipeline"
    )
