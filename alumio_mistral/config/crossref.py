"""Checks between the parts of a project, run after the schemas checked each part's shape.

Routes must name existing incoming and outgoing configurations, subscribers and publishers
existing clients, entities must exist in the catalog with parameters they accept, and the local
files that enabled incomings read must exist. The
checks read what did validate and compare it with every name *written* in the file, so an
object that is broken itself is not reported a second time as "unknown" where it is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from alumio_mistral.batch.limits import BATCH_ENDPOINTS
from alumio_mistral.catalog import Catalog
from alumio_mistral.catalog.entity import Entity
from alumio_mistral.config.clients import DEFAULT_CLIENT
from alumio_mistral.schema import did_you_mean
from alumio_mistral.config.problems import Finding, join_path
from alumio_mistral.errors import AlumioError


def cross_check(raw: Mapping[str, Any], valid: Mapping[str, Any], catalog: Catalog) -> list[Finding]:
    """Every broken reference in the project; ``raw`` is the file's data, ``valid`` what validated."""
    checker = _Checker(
        catalog,
        clients=_names(raw, "clients") | {DEFAULT_CLIENT},
        incoming=_names(raw, "incoming"),
        outgoing=_names(raw, "outgoing"),
    )
    for name, incoming in valid.get("incoming", {}).items():
        subscriber = incoming.get("subscriber")
        if isinstance(subscriber, dict):
            checker.target(subscriber, f"incoming.{name}.subscriber", reads=True)
    for name, outgoing in valid.get("outgoing", {}).items():
        for key in ("publisher", "then"):
            if isinstance(outgoing.get(key), dict):
                checker.target(outgoing[key], f"outgoing.{name}.{key}", reads=False)
        if outgoing.get("mode") == "batch":
            checker.findings += _batchable(name, outgoing.get("publisher"), catalog)
    checker.routes(valid.get("routes", []))
    checker.findings += _webhook_paths(valid)
    return checker.findings


def _webhook_paths(valid: Mapping[str, Any]) -> list[Finding]:
    """Each webhook path is one incoming's: ``serve`` routes a post by its path alone."""
    findings: list[Finding] = []
    owners: dict[str, str] = {}
    for name, incoming in valid.get("incoming", {}).items():
        subscriber = incoming.get("subscriber")
        if not isinstance(subscriber, dict) or subscriber.get("type") != "webhook" or "path" not in subscriber:
            continue
        owner = owners.setdefault(subscriber["path"], name)
        if owner != name:
            findings.append((f"incoming.{name}.subscriber.path",
                             f"{subscriber['path']} is already the path of incoming {owner!r}"))
    return findings


def _batchable(name: str, publisher: Any, catalog: Catalog) -> list[Finding]:
    """``mode: batch`` needs a Mistral operation the Batch API runs (matched by its path)."""
    path = f"outgoing.{name}.mode"
    if not isinstance(publisher, dict) or publisher.get("type", "mistral") != "mistral" or "entity" not in publisher:
        return [(path, f"outgoing {name!r}: batch mode needs a Mistral publisher (an entity)")]
    try:
        entity = catalog.get(publisher["entity"])
    except AlumioError:
        return []  # the publisher's own check names the unknown entity
    if entity.method == "POST" and entity.path in BATCH_ENDPOINTS:
        return []
    return [(path, f"outgoing {name!r}: {entity.name} ({entity.method} {entity.path}) is not an operation the"
                   f" Batch API runs; batchable: {', '.join(sorted(BATCH_ENDPOINTS))}")]


def missing_files(valid: Mapping[str, Any], root: Path) -> list[Finding]:
    """The source files of enabled incomings that are not there (relative to the project folder)."""
    findings: list[Finding] = []
    for name, incoming in valid.get("incoming", {}).items():
        subscriber = incoming.get("subscriber")
        if incoming.get("disabled") or not isinstance(subscriber, dict) or "path" not in subscriber:
            continue
        if subscriber.get("type") == "webhook":  # its path is where serve listens, not a file
            continue
        path = f"incoming.{name}.subscriber.path"
        try:
            file = root / subscriber["path"]
            if not file.exists():
                findings.append((path, f"no such file: {file}"))
            elif not file.is_file():
                findings.append((path, f"not a file: {file}"))
        except (OSError, ValueError) as error:
            findings.append((path, f"cannot be read: {error}"))
    return findings


def _names(raw: Mapping[str, Any], section: str) -> set[str]:
    names = raw.get(section)
    return {str(name) for name in names} if isinstance(names, dict) else set()


class _Checker:
    def __init__(self, catalog: Catalog, *, clients: set[str], incoming: set[str], outgoing: set[str]) -> None:
        self.catalog = catalog
        self.known = {"client": clients, "incoming": incoming, "outgoing": outgoing}
        self.findings: list[Finding] = []

    def reference(self, kind: str, name: str, path: str) -> None:
        known = self.known[kind]
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            self.findings.append((path, f"unknown {kind} {name!r}{did_you_mean(name, known)}; defined: {listed}"))

    def target(self, settings: Mapping[str, Any], path: str, *, reads: bool) -> None:
        """A subscriber, publisher or ``then`` target: its client, and its entity if it names one."""
        if "client" in settings:
            self.reference("client", settings["client"], join_path(path, "client"))
        if "entity" not in settings:
            return
        entity_path = join_path(path, "entity")
        try:
            entity = self.catalog.get(settings["entity"])
        except AlumioError as error:
            self.findings.append((entity_path, str(error)))
            return
        if entity.retired:
            self.findings.append((entity_path, f"{entity.name} is retired: the API answers 410 Gone"))
        method = settings.get("method")
        if method is not None and method != entity.method:
            self.findings.append((join_path(path, "method"), f"{settings['entity']!r} is {entity.name} "
                                  f"({entity.method} {entity.path}), not a {method}"))
        if reads:
            self.readable(entity, entity_path)
            self.parameters(entity, settings.get("params", {}), join_path(path, "params"), ("path", "query"), True)
        else:
            self.parameters(entity, settings.get("path_params", {}), join_path(path, "path_params"), ("path",))
            self.parameters(entity, settings.get("query", {}), join_path(path, "query"), ("query",))

    def readable(self, entity: Entity, path: str) -> None:
        if entity.method != "GET" and entity.pagination is None:
            self.findings.append(
                (path, f"{entity.name} is a {entity.method} that neither lists nor retrieves; a subscriber reads entities")
            )

    def parameters(
        self, entity: Entity, given: Mapping[str, Any], path: str, locations: tuple[str, ...], complete: bool = False
    ) -> None:
        """Names must be parameters of the entity; ``complete`` ones (a subscriber's) give every required one."""
        accepted = [param for param in entity.params if param.location in locations]
        names = [param.name for param in accepted]
        for name in given:
            if name not in names:
                expected = ", ".join(names) or "none"
                self.findings.append(
                    (join_path(path, name), f"{entity.name} has no such parameter{did_you_mean(name, names)}; its parameters: {expected}")
                )
        if complete:
            self.findings.extend(
                (path, f"{entity.name} needs parameter {param.name!r}")
                for param in accepted
                if param.required and param.name not in given
            )

    def routes(self, routes: list[Any]) -> None:
        seen: dict[tuple[str, str], int] = {}
        for index, route in enumerate(routes):
            if not isinstance(route, dict):
                continue
            path = f"routes.{index}"
            if "incoming" in route:
                self.reference("incoming", route["incoming"], f"{path}.incoming")
            for position, outgoing in enumerate(route.get("outgoing", [])):
                self.reference("outgoing", outgoing, f"{path}.outgoing.{position}")
                pair = (route.get("incoming", ""), outgoing)
                if pair in seen:
                    self.findings.append(
                        (f"{path}.outgoing.{position}", f"{pair[0]} -> {outgoing} is already routed at routes.{seen[pair]}")
                    )
                seen.setdefault(pair, index)
