"""A local, stateful emulator of the Mistral API with request validation and fault injection.

Flows and tests run against it without tokens or network: ``Sandbox`` (a context manager
serving on a free loopback port), ``embedded_base_uri()`` (the process-wide instance behind
``base_uri: sandbox``), the ``mistral_sandbox`` pytest fixture and ``alumio-mistral sandbox``.
"""

from alumio_mistral.sandbox.clock import Clock, ManualClock
from alumio_mistral.sandbox.faults import Faults, FaultSpecError
from alumio_mistral.sandbox.server import Sandbox, embedded_base_uri

__all__ = ["Clock", "FaultSpecError", "Faults", "ManualClock", "Sandbox", "embedded_base_uri"]
