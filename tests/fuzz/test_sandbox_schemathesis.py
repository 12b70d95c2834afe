"""Schemathesis against a default sandbox, over every operation of the Mistral spec.

Three checks: no server error; every answer valid against its documented schema; every invalid
body, query or path parameter refused with a 422. The spec is read with the sandbox's documented
relaxations (``alumio_mistral/sandbox/relaxations.py``), which say where the live API departs
from it. A few examples per operation by default; ``ALUMIO_FUZZ_EXAMPLES=20`` asks for more
(and ``ALUMIO_FUZZ_SEED`` for another draw). One worker: the sandbox is stateful, and two
workers interleave its state differently from run to run, so a seed would not repeat a run.
Run with ``python -m pytest -m fuzz tests/fuzz``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alumio_mistral.catalog.spec import load_spec
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.sandbox.relaxations import relax

SPEC = Path(__file__).parents[2].parent / "shared" / "mistral" / "openapi.yaml"
pytestmark = [pytest.mark.fuzz, pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.skipif(not SPEC.exists(), reason="the Mistral spec is not beside the repo")]
CHECKS = "not_a_server_error,response_schema_conformance,negative_data_rejection"
#: what the fuzzer reports that no server could do better, by (failure code, operation), with why
FALSE_ALARMS = {
    ("ST201", "GET /v1/files"):
        "mimetypes is a list of strings in the query: a 'false' meant as a boolean is the string 'false' on the wire",
    ("ST201", "POST /v1/conversations/{conversation_id}"):
        "the fuzzer says inputs '' is shorter than a minLength that neither ConversationInputs nor its parts declare",
}


def _diagnosis(stdout: str, stderr: str) -> str:
    """What to show when the run fails: its ERRORS section (a long run pushes it out of any tail),
    then the end of the output, where the failures and the summary are."""
    errors = stdout.find(" ERRORS ")
    section = stdout[errors:errors + 8000] + "\n[...]\n" if errors >= 0 else ""
    return section + stdout[-16000:] + stderr[-2000:]


def test_the_default_sandbox_survives_the_fuzzer(tmp_path: Path) -> None:
    pytest.importorskip("schemathesis", reason="the fuzz extra is not installed: pip install -e '.[fuzz]'")
    config = tmp_path / "schemathesis.toml"
    config.write_text('[checks]\nnegative_data_rejection.expected-statuses = ["422"]\n', encoding="utf-8")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(relax(load_spec(SPEC))), encoding="utf-8")
    report = tmp_path / "report.json"
    examples = os.environ.get("ALUMIO_FUZZ_EXAMPLES", "3")
    seed = os.environ.get("ALUMIO_FUZZ_SEED", "1")
    with Sandbox() as sandbox:
        command = [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
                   "--config-file", str(config), "--no-color", "run", str(spec), "--url", sandbox.base_uri,
                   "--header", "Authorization: Bearer sandbox-key", "--header", "x-api-key: sandbox-key",
                   "--checks", CHECKS, "--max-examples", examples, "--seed", seed,
                   "--phases", "examples,coverage,fuzzing", "--workers", "1", "--generation-database", "none",
                   "--warnings", "off", "--report", "json", "--report-json-path", str(report)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False)
        counts = sandbox.requests()
    output = _diagnosis(done.stdout, done.stderr)
    assert counts.get("status 500", 0) == 0, output
    assert report.exists(), output
    found = json.loads(report.read_text(encoding="utf-8"))
    assert found["errors"] == [], output
    unexpected = [(failure["code"], operation, failure["title"]) for failure in found["failures"]
                  for operation in failure["operations"] if (failure["code"], operation) not in FALSE_ALARMS]
    assert unexpected == [], output
    assert found["operations"]["tested"] == found["operations"]["selected"] == 288
