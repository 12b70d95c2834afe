"""Fixtures every test folder may use: a PostgreSQL server and a fresh database per module,
and secrets registered by a test forgotten after it.

The server is the one ``ALUMIO_PG_URL`` names (``.ci/run`` starts one and exports it), or a
throw-away cluster started here when PostgreSQL's server programs are installed. Only when
neither is possible are the PostgreSQL tests skipped, with the reason; in CI (``CI=true``)
a missing ``ALUMIO_PG_URL`` fails them instead, so they are never skipped silently there.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from postgres_cluster import NoPostgres, start, stop

from alumio_mistral import secrets


@pytest.fixture(autouse=True)
def _secrets_of_this_test_only() -> Iterator[None]:
    """The secrets a test registers are forgotten after it. A process keeps every secret it
    ever saw, by design; in one test process, a fuzzed project that puts a common word where a
    key goes ("mistral", "csv") made that word masked in every later test's output."""
    with secrets._lock:
        saved = (set(secrets._secrets), set(secrets._tokens), set(secrets._exact), secrets._registered)
    yield
    with secrets._lock:
        for kept, now in zip(saved[:3], (secrets._secrets, secrets._tokens, secrets._exact)):
            now.clear()
            now.update(kept)
        secrets._registered = saved[3]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A superuser URL of a running PostgreSQL server."""
    url = os.environ.get("ALUMIO_PG_URL")
    if url:
        yield url
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but ALUMIO_PG_URL is not set: .ci/run starts PostgreSQL and exports its URL")
    folder = Path(tempfile.mkdtemp(prefix="alumio-pg-"))
    try:
        url = start(folder)
    except NoPostgres as error:
        stop(folder)
        pytest.skip(f"PostgreSQL tests need a server: {error}")
    try:
        yield url
    finally:
        stop(folder)


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def postgres_url(postgres_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this test module's own, dropped after it."""
    import psycopg

    module = re.sub(r"\W", "_", request.module.__name__.rpartition(".")[2])[:30]
    name = f"alumio_{module}_{uuid.uuid4().hex[:8]}".lower()
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(postgres_server, name)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
