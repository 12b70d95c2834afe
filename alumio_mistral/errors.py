"""The root of every error the connector raises on purpose.

Callers catch :class:`AlumioError` to tell "the connector refused or failed, with a message
meant for a person" from a bug. Each area (http, config, transformers, tasks) subclasses it
in its own module.
"""

from __future__ import annotations


class AlumioError(Exception):
    """An expected failure with a message that says what and where."""
