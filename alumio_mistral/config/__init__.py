"""Project files: one YAML or JSON file of clients, incoming, outgoing, routes and transformers.

``load_project`` returns a validated :class:`Project` or raises :class:`ConfigError` listing every
problem with its file and dotted path; ``check_project`` also compiles the transformer pipelines
and returns the problems instead of raising (the ``validate`` command).
"""

from alumio_mistral.config.loader import check_project, load_project
from alumio_mistral.config.model import IncomingConfig, OutgoingConfig, Project, Route, StoreConfig
from alumio_mistral.config.problems import ConfigError, Problem

__all__ = [
    "ConfigError",
    "IncomingConfig",
    "OutgoingConfig",
    "Problem",
    "Project",
    "Route",
    "StoreConfig",
    "check_project",
    "load_project",
]
