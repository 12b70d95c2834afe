"""The ``batch:`` settings of an outgoing: the Batch API's bounds, checked when loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.errors import AlumioError


def load(tmp_path: Path, batch: dict[str, Any], mode: str = "batch") -> Any:
    document = {"outgoing": {"out": {"publisher": {"entity": "chat.complete"}, "mode": mode, "batch": batch}}}
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(tmp_path, environ={})


def test_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, {}).outgoing["out"]
    assert settings.mode == "batch"
    assert settings.batch == {"max_requests": 10_000, "max_bytes": 100 * 1024 * 1024, "max_wait": 3600.0,
                              "poll_interval": 10.0, "timeout_hours": 24, "metadata": {}, "inline_below": 0}


@pytest.mark.parametrize(("batch", "where"), [
    ({"timeout_hours": 169}, "outgoing.out.batch.timeout_hours"),
    ({"inline_below": 10_002}, "outgoing.out.batch.inline_below"),
    ({"max_requests": 1_000_001}, "outgoing.out.batch.max_requests"),
    ({"metadata": {"k" * 33: "v"}}, "outgoing.out.batch.metadata"),
    ({"metadata": {"team": ""}}, "outgoing.out.batch.metadata"),
    ({"max_bytes": 0}, "outgoing.out.batch.max_bytes"),
])
def test_out_of_bounds_settings_name_their_path(tmp_path: Path, batch: dict[str, Any], where: str) -> None:
    with pytest.raises(AlumioError, match=where.replace(".", r"\.")):
        load(tmp_path, batch)


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AlumioError, match=r"outgoing\.out\.mode"):
        load(tmp_path, {}, mode="bulk")
