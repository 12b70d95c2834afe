"""HTTP for every part of the connector: one client, retry policy, typed errors, SSE."""

from alumio_mistral.http.client import Client, ParameterError
from alumio_mistral.http.errors import (
    ApiError,
    AuthError,
    GoneError,
    NotFoundError,
    RateLimitedError,
    RequestValidationError,
    ServerError,
    TransportError,
)
from alumio_mistral.http.prototypes import ClientConfig, ClientConfigError

__all__ = [
    "ApiError",
    "AuthError",
    "Client",
    "ClientConfig",
    "ClientConfigError",
    "GoneError",
    "NotFoundError",
    "ParameterError",
    "RateLimitedError",
    "RequestValidationError",
    "ServerError",
    "TransportError",
]
