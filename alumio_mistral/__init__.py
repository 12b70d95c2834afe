"""alumio-mistral: a declarative connector for the Mistral AI API.

The public surface is small on purpose::

    from alumio_mistral import load_project, run, Client, Catalog

    project = load_project("examples/quickstart")   # a file, or a folder with alumio.yaml
    stats = run(project)                            # incoming, routes, outgoing
    print(stats.processed, stats.failed)

Everything else lives in well-named modules (``alumio_mistral.transformers``,
``alumio_mistral.sandbox``, ``alumio_mistral.tasks``...) for those who need more. The names
below are imported lazily so that ``import alumio_mistral`` (and the CLI's start-up) costs
nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC = {
    "load_project": "alumio_mistral.config",
    "Project": "alumio_mistral.config",
    "ConfigError": "alumio_mistral.config",
    "Client": "alumio_mistral.http",
    "ClientConfig": "alumio_mistral.http",
    "ApiError": "alumio_mistral.http",
    "Catalog": "alumio_mistral.catalog",
    "Entity": "alumio_mistral.catalog",
    "run": "alumio_mistral.engine",
    "publish": "alumio_mistral.engine",
    "RunStats": "alumio_mistral.engine",
    "AlumioError": "alumio_mistral.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'alumio_mistral' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
