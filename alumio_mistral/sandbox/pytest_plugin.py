"""pytest plugin (entry point ``pytest11``): the ``mistral_sandbox`` and ``mistral_sandbox_factory`` fixtures.

Projects that depend on alumio-mistral get a fresh, stateful Mistral sandbox per test by
naming a fixture (the factory when a test wants faults or another seed); the sandbox is
imported only when a test asks for it, so the plugin costs nothing in sessions that do not use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

SPEC_ENV = "ALUMIO_MISTRAL_SPEC"


def shared_spec_path(start: Path) -> Path | None:
    """The Mistral spec beside the checkout (``../shared/mistral/openapi.yaml``), when there is one."""
    for folder in (start, *start.parents):
        candidate = folder.parent / "shared" / "mistral" / "openapi.yaml"
        if (folder / "setup.cfg").exists():
            return candidate if candidate.exists() else None
    return None


def _spec(request: pytest.FixtureRequest) -> Path | None:
    """The spec from ``ALUMIO_MISTRAL_SPEC``, else ``../shared/mistral/openapi.yaml`` beside the project."""
    configured = os.environ.get(SPEC_ENV)
    return Path(configured) if configured else shared_spec_path(Path(str(request.config.rootpath)).resolve())


@pytest.fixture
def mistral_sandbox_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``mistral_sandbox_factory(faults=..., seed=..., **options)``: start a sandbox configured for
    this test (``faults`` as for ``alumio-mistral sandbox --faults``; other options as for
    :class:`~alumio_mistral.sandbox.Sandbox`). Every sandbox started is stopped after the test.
    """
    from alumio_mistral.sandbox import Sandbox

    started: list[Any] = []

    def start(*, faults: Any = None, seed: int = 0, **options: Any) -> Any:
        options.setdefault("spec_path", _spec(request))
        sandbox = Sandbox(seed=seed, faults=faults, **options).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def mistral_sandbox(mistral_sandbox_factory: Callable[..., Any]) -> Any:
    """A running :class:`~alumio_mistral.sandbox.Sandbox` with no faults and seed 0 (validating
    requests against the spec found as for :func:`mistral_sandbox_factory`)."""
    return mistral_sandbox_factory()
