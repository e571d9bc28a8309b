"""One botocore client configuration for the adapters, built on first use (botocore's import is cold-start cost)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.config import Config


@cache
def client_config(read_timeout: int = 10, signature_version: str | None = None, max_attempts: int = 3) -> Config:
    """Standard retries (`max_attempts`), 3 s to connect, `read_timeout` to read."""
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": max_attempts}, connect_timeout=3,
                    read_timeout=read_timeout)
    return config.merge(Config(signature_version=signature_version)) if signature_version else config
