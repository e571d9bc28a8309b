"""One botocore client configuration for the adapters, built on first use (botocore's import is cold-start cost)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config


@cache
def client_config(read_timeout: int = 10, signature_version: str | None = None, max_attempts: int = 3) -> Config:
    """Standard retries (`max_attempts`), 3 s to connect, `read_timeout` to read."""
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": max_attempts}, connect_timeout=3,
                    read_timeout=read_timeout)
    return config.merge(Config(signature_version=signature_version)) if signature_version else config


def new_client(service: str, session: boto3.Session | None = None, **config: Any) -> Any:
    """A boto3 client of `session` (or the default one) with `client_config(**config)`, for an adapter's first use.
    boto3 is imported here, not at module level: its import is most of a handler's cold start."""
    import boto3

    return (session or boto3.Session()).client(service, config=client_config(**config))  # type: ignore[call-overload]
