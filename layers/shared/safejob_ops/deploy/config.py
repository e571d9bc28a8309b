"""config/deploy.yaml as one validated model: `canary:` (the canary analysis), `freeze:` (change freezes),
`smoke:` (the smoke tests) and `timings:` (how long each part of a deploy may take)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from safejob_ops.deploy.canary import CanaryConfig, CanaryConfigError, validation_problems
from safejob_ops.deploy.preflight import FreezeConfig
from safejob_ops.deploy.smoke import SmokeConfig
from safejob_ops.deploy.workflow import DeployTimings


class DeployConfigError(CanaryConfigError):
    """An invalid deploy config file; `problems` holds (field path, message) pairs, e.g. `freeze.windows[0].end`."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "deploy config") -> None:
        super().__init__(problems, source)


class DeployConfig(BaseModel):
    """The whole of config/deploy.yaml; a missing or empty section gets its defaults.

    >>> DeployConfig.model_validate({"freeze": {"windows": []}}).freeze.windows
    ()
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    canary: CanaryConfig = CanaryConfig()
    freeze: FreezeConfig = FreezeConfig()
    smoke: SmokeConfig = SmokeConfig()
    timings: DeployTimings = DeployTimings()

    @field_validator("canary", "freeze", "smoke", "timings", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return {} if value is None else value


def parse_deploy_config(data: Any, *, source: str = "deploy config") -> DeployConfig:
    """Validate a parsed deploy config; raises DeployConfigError listing every problem with its path."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise DeployConfigError([("", f"expected a mapping at the top level, got {type(data).__name__}")], source)
    try:
        return DeployConfig.model_validate(data)
    except ValidationError as exc:
        raise DeployConfigError(validation_problems(exc), source) from None


def load_deploy_config(path: Path | str) -> DeployConfig:
    """Read and validate a deploy config file (YAML). Raises DeployConfigError (`freeze.windows[0].timezone: ...`)."""
    try:
        data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeployConfigError([("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    except yaml.YAMLError as exc:
        raise DeployConfigError([("", f"not valid YAML: {exc}")], str(path)) from None
    return parse_deploy_config(data, source=str(path))
