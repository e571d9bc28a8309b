"""Environment variables as pydantic models, validated once at cold start (a bad deploy fails loudly, early)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError

CONFIG_DIR = Path(__file__).resolve().parent / "bundled_config"  # config/ at the repo root, shipped in the layer


class SettingsError(RuntimeError):
    pass


class Settings(BaseModel):
    """Fields map to upper-case environment variables (`state_table_name` <- STATE_TABLE_NAME)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors(include_url=False)
            )
            raise SettingsError(
                f"{cls.__name__}: bad environment ({problems}); fix: set it in template.yaml's function Environment"
            ) from None


def config_file(name: str) -> Path:
    """A file of the versioned config/ directory, as shipped in the shared layer."""
    path = CONFIG_DIR / name
    if not path.is_file():
        raise SettingsError(f"config file {name!r} not found in {CONFIG_DIR}; fix: add it to config/ and rebuild")
    return path
