"""Builders shared by the canary analysis tests (imported as a plain module, like alerting_support)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from safejob_ops.deploy.canary import CanaryPolicy, CanarySample, CanaryVerdict, CheckName, analyze

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "canary"
DEPLOY_CONFIG = ROOT / "config" / "deploy.yaml"
CHECK_ORDER = [
    CheckName.ALARMS,
    CheckName.MIN_REQUESTS,
    CheckName.ERROR_RATE,
    CheckName.ERROR_RATE_VS_BASELINE,
    CheckName.LATENCY_P95,
    CheckName.LATENCY_P95_VS_BASELINE,
]


def sample(requests: int, errors: int = 0, p95: float | None = 200.0) -> CanarySample:
    return CanarySample(request_count=requests, http_5xx_count=errors, p95_latency_ms=p95)


def windows(requests: int, errors: int = 0, p95: float | None = 200.0, count: int = 5) -> list[CanarySample]:
    """`count` windows that add up to `requests` and `errors` (the remainder goes to the first window)."""
    per, extra = divmod(requests, count)
    per_errors, extra_errors = divmod(errors, count)
    return [sample(per + (extra if i == 0 else 0), per_errors + (extra_errors if i == 0 else 0), p95)
            for i in range(count)]


def judge(blue: Sequence[CanarySample], green: Sequence[CanarySample], *, states: Mapping[str, str] | None = None,
          extensions: int = 0, **policy: Any) -> CanaryVerdict:
    """analyze() with a CanaryPolicy built from keyword arguments; `states` are the alarm states."""
    return analyze(blue, green, states or {}, CanaryPolicy(**policy), extensions)


def outcomes(result: CanaryVerdict) -> dict[str, str]:
    return {r.check.value: r.outcome.value for r in result.reasons}
