"""Smoke tests of a green service through the test listener, before it takes any traffic. Pure, over a port.

Config: `smoke:` in config/deploy.yaml (`SmokeConfig`): per service, a list of checks `{path, expected_status (200),
body_contains (optional), timeout_seconds (5)}`. `/health/` is always run first (with its listed settings when the
list names it, else the defaults). Every check runs and is reported; a check fails on another status, a body without
`body_contains`, or an error (connection refused, timeout...), which is reported by its type and never raised.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from safejob_ops.deploy.models import Service
from safejob_ops.deploy.ports import SmokeHttpPort

HEALTH_PATH = "/health/"


class SmokeCheck(BaseModel):
    """One GET through the test listener and what it must answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(pattern=r"^/[^\s]*$", description="absolute path, e.g. /api/jobs/")
    expected_status: int = Field(default=200, ge=100, le=599)
    body_contains: str | None = Field(default=None, min_length=1)
    timeout_seconds: float = Field(default=5, gt=0, le=60)


class SmokeConfig(BaseModel):
    """Per service, its smoke checks (`/health/` is always added first).

    >>> [c.path for c in SmokeConfig.model_validate({"services": {"backend": [{"path": "/api/"}]}}).checks("backend")]
    ['/health/', '/api/']
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    services: dict[Service, tuple[SmokeCheck, ...]] = Field(default_factory=dict)

    @field_validator("services", mode="before")
    @classmethod
    def _empty_lists(cls, value: object) -> object:
        if isinstance(value, dict):
            return {name: [] if checks is None else checks for name, checks in value.items()}
        return {} if value is None else value

    def checks(self, service: str) -> tuple[SmokeCheck, ...]:
        """The service's checks in order: `/health/` first (as listed, or with the defaults), then the others."""
        listed = self.services.get(service, ())  # type: ignore[call-overload]
        health = next((check for check in listed if check.path == HEALTH_PATH), SmokeCheck(path=HEALTH_PATH))
        return (health, *(check for check in listed if check.path != HEALTH_PATH))


class SmokeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    status: int | None = Field(description="the HTTP status, None when no response was received")
    passed: bool
    detail: str


class SmokeReport(BaseModel):
    """Every check's result, in order; `passed` only when all passed."""

    model_config = ConfigDict(frozen=True)

    service: str
    base_url: str
    results: tuple[SmokeResult, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    def summary(self) -> str:
        failed = [f"{r.path}: {r.detail}" for r in self.results if not r.passed]
        if not failed:
            return f"smoke tests of {self.service} passed: all {len(self.results)} checks"
        return f"smoke tests of {self.service} failed: " + "; ".join(failed)


def run_smoke_tests(base_url: str, service: str, config: SmokeConfig, http: SmokeHttpPort) -> SmokeReport:
    """Run every smoke check of `service` against `base_url` (the test listener); never raises for a failed check.

    >>> class Http:
    ...     def get(self, url, timeout): return (200, "ok") if url.endswith("/health/") else (503, "down")
    >>> report = run_smoke_tests("http://alb:8080", "backend",
    ...     SmokeConfig.model_validate({"services": {"backend": [{"path": "/api/"}]}}), Http())
    >>> report.passed, [r.detail for r in report.results]
    (False, ['200', 'expected status 200, got 503'])
    """
    root = base_url.rstrip("/")
    return SmokeReport(service=service, base_url=base_url,
                       results=tuple(_run(root, check, http) for check in config.checks(service)))


def _run(root: str, check: SmokeCheck, http: SmokeHttpPort) -> SmokeResult:
    try:
        status, body = http.get(root + check.path, check.timeout_seconds)
    except Exception as exc:  # a connection error or a timeout is a failed check, never an exception
        return SmokeResult(path=check.path, status=None, passed=False, detail=f"{type(exc).__name__}: {exc}")
    if status != check.expected_status:
        detail = f"expected status {check.expected_status}, got {status}"
        return SmokeResult(path=check.path, status=status, passed=False, detail=detail)
    if check.body_contains is not None and check.body_contains not in body:
        detail = f"status {status}, but the body does not contain {check.body_contains!r}"
        return SmokeResult(path=check.path, status=status, passed=False, detail=detail)
    return SmokeResult(path=check.path, status=status, passed=True, detail=str(status))
