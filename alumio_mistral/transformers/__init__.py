"""Transformer pipelines: declarative steps that reshape entities between a source and a target.

Public surface: :func:`compile_pipeline`, :class:`Pipeline`, :class:`Library` (named
definitions), :class:`TransformContext`, and the two errors.
"""

from alumio_mistral.transformers.context import StorageAccess, TransformContext
from alumio_mistral.transformers.errors import TransformConfigError, TransformError
from alumio_mistral.transformers.library import Library
from alumio_mistral.transformers.pipeline import Pipeline, StepTrace, compile_pipeline

__all__ = [
    "Library",
    "Pipeline",
    "StepTrace",
    "StorageAccess",
    "TransformConfigError",
    "TransformContext",
    "TransformError",
    "compile_pipeline",
]
