"""Deploy preflight: may this release start? Pure, over ports; the clock is an argument.

The checks, always all of them, in this order (a failure never hides the next one):

1. `image:<service>`: the image exists in ECR by digest;
2. `scan:<service>`: its scan is complete and has no CRITICAL finding, unless `scan_override` names the only ones
   (the override and its reason are recorded in the report, and from there in the ledger);
3. `cost_gate`: the SSM parameter set by cost_guard reads `open` (a missing parameter counts as open);
4. `freeze`: no change-freeze window of config/deploy.yaml (`freeze:`) is in force for this environment;
5. `alarms:<service>`: none of the service's alarms is in ALARM or missing.

A check whose port raises fails (closed), with the error as its detail. The deploy lock is not checked here: the state
machine takes it with `DynamoLocks`, whose conditional write is the only race-free check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import partial
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from safejob_ops.deploy.models import (
    DeployRequest,
    Environment,
    PreflightCheck,
    PreflightReport,
    Service,
    image_parts,
)
from safejob_ops.deploy.ports import AlarmStates, ImageRegistry, Parameters

GATE_OPEN = "open"
GATE_CLOSED = "closed"


# ------------------------------------------------------------------------------------------- freeze windows
class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


_WEEKDAYS = list(Weekday)


class WeeklyWindow(BaseModel):
    """Every listed day from `start` to `end` (local times, HH:MM); an `end` at or before `start` ends the next day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[Weekday, ...] = Field(min_length=1)
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        now = local.replace(tzinfo=None)  # wall-clock time in the window's timezone
        # The window that began today, and one that began yesterday and runs past midnight.
        for began in (now.date(), now.date() - timedelta(days=1)):
            if _WEEKDAYS[began.weekday()] not in self.days:
                continue
            start = datetime.combine(began, self.start)
            end = datetime.combine(began + timedelta(days=1 if self.end <= self.start else 0), self.end)
            if start <= now < end:
                return True
        return False


class FreezeWindow(BaseModel):
    """One change freeze: either one-off (`start`/`end`, ISO 8601) or `weekly`, read in `timezone`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1)
    timezone: str = "UTC"
    start: datetime | None = Field(default=None, description="one-off: ISO 8601; without an offset, in `timezone`")
    end: datetime | None = None
    weekly: WeeklyWindow | None = None
    environments: tuple[Environment, ...] = Field(default=("production",), min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {name!r}; fix: an IANA name such as Europe/Paris or UTC") from None
        return name

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        one_off = self.start is not None or self.end is not None
        if one_off == (self.weekly is not None):
            raise ValueError("give either start and end (a one-off window) or weekly (a recurring one), not both")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            if self._aware(self.end) <= self._aware(self.start):
                raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        return self

    def _aware(self, at: datetime) -> datetime:
        return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(self.timezone))

    def in_force(self, now: datetime, environment: str) -> bool:
        """Whether this window freezes `environment` at `now` (an aware datetime)."""
        if environment not in self.environments:
            return False
        if self.weekly is not None:
            return self.weekly.contains(now.astimezone(ZoneInfo(self.timezone)))
        assert self.start is not None  # the validator guarantees both
        assert self.end is not None
        return self._aware(self.start) <= now < self._aware(self.end)

    def describe(self) -> str:
        if self.weekly is not None:
            days = ",".join(day.value for day in self.weekly.days)
            return f"weekly {days} {self.weekly.start:%H:%M}-{self.weekly.end:%H:%M} {self.timezone}"
        assert self.start is not None
        assert self.end is not None
        return f"{self._aware(self.start).isoformat()} to {self._aware(self.end).isoformat()}"


class FreezeConfig(BaseModel):
    """The `freeze:` section of config/deploy.yaml.

    >>> config = FreezeConfig.model_validate({"windows": [{"reason": "year-end", "timezone": "Europe/Paris",
    ...     "start": "2026-12-20T00:00", "end": "2027-01-04T00:00"}]})
    >>> [w.reason for w in config.active(datetime(2026, 12, 24, tzinfo=UTC), "production")]
    ['year-end']
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: tuple[FreezeWindow, ...] = ()

    def active(self, now: datetime, environment: str) -> list[FreezeWindow]:
        return [window for window in self.windows if window.in_force(now, environment)]


# ------------------------------------------------------------------------------------------- the checks
class PreflightContext(BaseModel):
    """What preflight reads besides the request: the clock, the freeze config, each service's alarm names."""

    model_config = ConfigDict(frozen=True)

    now: AwareDatetime
    cost_gate_parameter: str = Field(min_length=1)
    freeze: FreezeConfig = FreezeConfig()
    alarm_names: dict[Service, tuple[str, ...]] = Field(default_factory=dict)


def run_preflight(request: DeployRequest, context: PreflightContext, *, registry: ImageRegistry,
                  parameters: Parameters, alarms: AlarmStates) -> PreflightReport:
    """Run every check and report each one; `report.passed` is False when any failed.

    >>> from safejob_ops.deploy.ports import ScanResult
    >>> class Registry:
    ...     def image_exists(self, registry, repository, digest): return True
    ...     def scan(self, registry, repository, digest): return ScanResult(status="COMPLETE")
    >>> class Gate:
    ...     def get(self, name): return None
    >>> class Alarms:
    ...     def states(self, names): return {name: "OK" for name in names}
    >>> request = DeployRequest.model_validate({"environment": "staging", "services": ["backend"],
    ...     "images": {"backend": "safejob/backend@sha256:" + "a" * 64}, "git_sha": "abc1234",
    ...     "strategy": {"type": "all_at_once"}, "approval_required": False, "requested_by": "ci"})
    >>> context = PreflightContext(now=datetime(2026, 3, 1, tzinfo=UTC), cost_gate_parameter="/safejob/gate",
    ...     alarm_names={"backend": ("safejob-staging-alb-5xx-rate",)})
    >>> report = run_preflight(request, context, registry=Registry(), parameters=Gate(), alarms=Alarms())
    >>> report.passed, [check.name for check in report.checks]
    (True, ['image:backend', 'scan:backend', 'cost_gate', 'freeze', 'alarms:backend'])
    """
    checks: list[PreflightCheck] = []
    checks += [_guarded(f"image:{s}", partial(_check_image, request, s, registry)) for s in request.services]
    checks += [_guarded(f"scan:{s}", partial(_check_scan, request, s, registry)) for s in request.services]
    checks.append(_guarded("cost_gate", lambda: _check_cost_gate(context.cost_gate_parameter, parameters)))
    checks.append(_guarded("freeze", lambda: _check_freeze(context.freeze, context.now, request.environment)))
    for service in request.services:
        names = context.alarm_names.get(service, ())
        checks.append(_guarded(f"alarms:{service}", partial(_check_alarms, names, alarms)))
    return PreflightReport(checks=tuple(checks), scan_override=request.scan_override)


def _guarded(name: str, check: Callable[[], tuple[bool, str]]) -> PreflightCheck:
    try:
        passed, detail = check()
    except Exception as exc:  # a check that cannot run fails closed; the others still run
        passed, detail = False, f"could not check: {type(exc).__name__}: {exc}"
    return PreflightCheck(name=name, passed=passed, detail=detail)


def _check_image(request: DeployRequest, service: Service, registry: ImageRegistry) -> tuple[bool, str]:
    host, repository, digest = image_parts(request.images[service])
    if registry.image_exists(host, repository, digest):
        return True, f"{repository}@{digest} exists"
    return False, (f"{repository}@{digest} is not in the registry; fix: push the image and pass the digest the push "
                   "printed (a digest from another repository or a rebuilt image does not match)")


def _check_scan(request: DeployRequest, service: Service, registry: ImageRegistry) -> tuple[bool, str]:
    host, repository, digest = image_parts(request.images[service])
    result = registry.scan(host, repository, digest)
    if result.status != "COMPLETE":
        more = f" ({result.description})" if result.description else ""
        return False, (f"the scan of {repository}@{digest} is {result.status}{more}; fix: wait for the scan to "
                       "complete (or start one: aws ecr start-image-scan), then deploy again")
    critical = result.critical
    if not critical:
        return True, f"scan complete, no CRITICAL finding ({len(result.findings)} finding(s) in all)"
    override = request.scan_override
    remaining = [name for name in critical if override is None or name != override.finding]
    if remaining:
        return False, (f"CRITICAL finding(s): {', '.join(remaining)}; fix: rebuild with the fixed packages, or, "
                       'if one is acceptable, pass scan_override {"finding": "<CVE id>", "reason": "<why>"}')
    assert override is not None
    return True, f"CRITICAL {override.finding} overridden by {request.requested_by}: {override.reason}"


def _check_cost_gate(parameter: str, parameters: Parameters) -> tuple[bool, str]:
    value = parameters.get(parameter)
    if value is None:
        return True, f"{parameter} is not set: open"
    state = value.strip().lower()
    if state == GATE_OPEN:
        return True, f"{parameter} is open"
    if state == GATE_CLOSED:
        return False, (f"{parameter} is closed (cost_guard closed it: the spend is over budget); fix: wait for "
                       f"cost_guard to reopen it, or, after review, set it to '{GATE_OPEN}'")
    return False, f"{parameter} has an unexpected value {value!r}; fix: set it to '{GATE_OPEN}' or '{GATE_CLOSED}'"


def _check_freeze(freeze: FreezeConfig, now: datetime, environment: str) -> tuple[bool, str]:
    active = freeze.active(now, environment)
    if not active:
        return True, f"no change freeze in force for {environment} at {now.astimezone(UTC).isoformat()}"
    windows = "; ".join(f"{window.reason} ({window.describe()})" for window in active)
    return False, (f"a change freeze is in force for {environment}: {windows}; fix: deploy after it ends, or "
                   "remove the window from config/deploy.yaml through review")


def _check_alarms(names: Sequence[str], alarms: AlarmStates) -> tuple[bool, str]:
    if not names:
        return True, "no alarm configured"
    states: Mapping[str, str] = alarms.states(names)
    firing = [name for name in names if states.get(name) == "ALARM"]
    missing = [name for name in names if name not in states]
    problems = [f"in ALARM: {', '.join(firing)}"] if firing else []
    problems += [f"not found: {', '.join(missing)}"] if missing else []
    if problems:
        return False, "; ".join(problems) + "; fix: resolve the alarm (or create the missing one), then deploy again"
    return True, ", ".join(f"{name} {states[name]}" for name in names)

