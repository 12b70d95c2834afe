"""pytest plugin (entry point ``pytest11``): the ``mistral_sandbox`` fixture.

Projects that depend on alumio-mistral get a fresh, stateful Mistral sandbox per test by
naming the fixture; the sandbox is imported only when a test asks for it, so the plugin
costs nothing in test sessions that do not use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

SPEC_ENV = "ALUMIO_MISTRAL_SPEC"


def shared_spec_path(start: Path) -> Path | None:
    """The Mistral spec beside the checkout (``../shared/mistral/openapi.yaml``), when there is one."""
    for folder in (start, *start.parents):
        candidate = folder.parent / "shared" / "mistral" / "openapi.yaml"
        if (folder / "setup.cfg").exists():
            return candidate if candidate.exists() else None
    return None


@pytest.fixture
def mistral_sandbox(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A running :class:`~alumio_mistral.sandbox.Sandbox` (validating requests when a spec is found).

    The spec comes from the ``ALUMIO_MISTRAL_SPEC`` environment variable, else from
    ``../shared/mistral/openapi.yaml`` next to the project that runs the tests.
    """
    import os

    from alumio_mistral.sandbox import Sandbox

    configured = os.environ.get(SPEC_ENV)
    spec = Path(configured) if configured else shared_spec_path(Path(str(request.config.rootpath)).resolve())
    with Sandbox(spec_path=spec) as sandbox:
        yield sandbox
