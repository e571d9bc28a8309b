"""Canary analysis: green (the canary) against blue (the baseline), after a traffic step's bake.

`analyze` pools each color's metric windows and runs six checks, always all of them and always in this order:

1. `alarms`: a configured alarm in ALARM (or not found) rolls back, whatever the traffic.
2. `min_requests`: fewer green requests than the minimum is too little to judge.
3. `error_rate`: green's 5xx ratio against an absolute ceiling (a one-sided exact binomial test).
4. `error_rate_vs_baseline`: green's 5xx ratio against blue's (a one-sided Fisher exact test), failing only when
   the increase is both significant and material (beyond an absolute and a relative tolerance).
5. `latency_p95`: green's p95 TargetResponseTime against an absolute ceiling.
6. `latency_p95_vs_baseline`: green's p95 against blue's (a ratio, above a noise floor).

The verdict: rollback when an alarm fails; otherwise extend while data is insufficient and extensions remain
(then roll back if any check failed, else fall back to `on_insufficient_data`); otherwise rollback when any check
failed, else promote. docs/workflows/canary-analysis.md explains the statistics. Pure: no AWS, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Self

import yaml
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

# A sane bound on a count in one window (a trillion requests): keeps the statistics in floating-point range.
MAX_COUNT = 1_000_000_000_000
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDERS = ("service", "environment")
# Tail sums stop when a term adds less than this fraction of the sum (terms shrink geometrically past the mode).
_NEGLIGIBLE = 1e-17


class CanaryConfigError(ValueError):
    """An invalid canary config, or a policy that cannot be resolved. `problems` holds (path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "canary config") -> None:
        self.problems = problems
        lines = [f"invalid {source} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class CanaryInputError(ValueError):
    """Inputs that `analyze` cannot judge (a negative extension count, an unknown alarm state)."""


class Verdict(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    EXTEND = "extend"


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class OnInsufficientData(StrEnum):
    ROLLBACK = "rollback"
    PROMOTE = "promote"


class CheckName(StrEnum):
    ALARMS = "alarms"
    MIN_REQUESTS = "min_requests"
    ERROR_RATE = "error_rate"
    ERROR_RATE_VS_BASELINE = "error_rate_vs_baseline"
    LATENCY_P95 = "latency_p95"
    LATENCY_P95_VS_BASELINE = "latency_p95_vs_baseline"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT_DATA = "insufficient_data"
    NOT_APPLICABLE = "not_applicable"


def _no_bool(value: object) -> object:
    # pydantic takes True for 1 in lax mode; a count written as a boolean is a mistake in the file.
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    return value


Count = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_COUNT)]


# --- inputs --------------------------------------------------------------------------------------------------------


class CanarySample(BaseModel):
    """One metric window of one target group: CloudWatch's RequestCount and HTTPCode_Target_5XX_Count (Sum) and
    TargetResponseTime p95 (in milliseconds; None when the window had no requests or no datapoint)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: AwareDatetime | None = None
    request_count: Count
    http_5xx_count: Count
    p95_latency_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _errors_within_requests(self) -> Self:
        if self.http_5xx_count > self.request_count:
            raise ValueError(
                f"http_5xx_count ({self.http_5xx_count}) cannot exceed request_count ({self.request_count})"
            )
        return self


class CanaryObservation(BaseModel):
    """What one analysis looks at: blue's and green's windows, and the alarm states (the CLI's metrics FILE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline: list[CanarySample]
    canary: list[CanarySample]
    alarms: dict[str, AlarmState] = Field(default_factory=dict)


# --- config --------------------------------------------------------------------------------------------------------


def _check_alarm_name(name: str) -> str:
    if not name.strip():
        raise ValueError("an alarm name cannot be empty")
    unknown = [p for p in _PLACEHOLDER.findall(name) if p not in _PLACEHOLDERS]
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} in {name!r}; fix: use {{service}} or {{environment}}")
    if "{" in _PLACEHOLDER.sub("", name) or "}" in _PLACEHOLDER.sub("", name):
        raise ValueError(f"unbalanced brace in {name!r}")
    return name


AlarmName = Annotated[str, BeforeValidator(lambda v: _check_alarm_name(v) if isinstance(v, str) else v)]


class CanaryPolicy(BaseModel):
    """The thresholds one analysis applies (one service's: the defaults with its overrides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Fewer green requests than this in the analysed window: extend the bake.
    min_requests: int = Field(default=100, ge=1, le=MAX_COUNT)
    # Extensions allowed while data is insufficient; then `on_insufficient_data`.
    max_extensions: int = Field(default=3, ge=0, le=100)
    on_insufficient_data: OnInsufficientData = OnInsufficientData.ROLLBACK
    # One-sided significance level of both error-rate tests.
    significance: float = Field(default=0.01, gt=0, le=0.5)
    # Ceiling of green's 5xx ratio (the stack's alb-5xx-rate alarm fires at 1% too).
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    # Green may exceed blue's 5xx ratio by this much (absolute) or this factor, whichever tolerates more.
    max_error_rate_increase: float = Field(default=0.001, ge=0, le=1)
    max_error_rate_ratio: float = Field(default=2.0, ge=1, allow_inf_nan=False)
    # Ceiling of green's p95 TargetResponseTime (the plan's target: under 2 s).
    max_p95_latency_ms: float = Field(default=2000.0, gt=0, allow_inf_nan=False)
    # Green's p95 may be this factor of blue's; differences under the noise floor never fail.
    max_p95_latency_ratio: float = Field(default=1.5, ge=1, allow_inf_nan=False)
    p95_latency_noise_floor_ms: float = Field(default=100.0, ge=0, allow_inf_nan=False)
    # Alarms whose ALARM state forces a rollback; may use {service} and {environment}.
    alarms: tuple[AlarmName, ...] = ()

    @model_validator(mode="after")
    def _unique_alarms(self) -> Self:
        duplicates = sorted({a for a in self.alarms if self.alarms.count(a) > 1})
        if duplicates:
            raise ValueError(f"alarm listed twice: {', '.join(duplicates)}")
        return self

    def resolved(self, service: str | None = None, environment: str | None = None) -> CanaryPolicy:
        """This policy with {service} and {environment} filled in its alarm names."""
        values = {"service": service, "environment": environment}
        names = []
        for template in self.alarms:
            name = template
            for placeholder in _PLACEHOLDER.findall(template):
                value = values[placeholder]
                if not value:
                    raise CanaryConfigError([("alarms", f"{template!r} uses {{{placeholder}}}: give the {placeholder} "
                                                        f"(--{placeholder} in the CLI)")])
                name = name.replace(f"{{{placeholder}}}", value)
            names.append(name)
        return self.model_copy(update={"alarms": tuple(names)})


class CanaryConfig(BaseModel):
    """The `canary:` section of config/deploy.yaml: `defaults`, and `services.<name>` overriding some of them.

    A service's entry is merged over the defaults key by key (a list, such as `alarms`, is replaced whole).

    >>> config = CanaryConfig.model_validate(
    ...     {"defaults": {"min_requests": 200}, "services": {"frontend": {"max_p95_latency_ms": 500}}})
    >>> policy = config.policy_for("frontend")
    >>> (policy.min_requests, policy.max_p95_latency_ms)
    (200, 500.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: CanaryPolicy = CanaryPolicy()
    services: dict[str, CanaryPolicy] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults_into_services(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        # An empty YAML key (`defaults:` with everything commented out) means "no overrides".
        data = {key: {} if key in ("defaults", "services") and value is None else value for key, value in data.items()}
        if not isinstance(data.get("services"), Mapping):
            return data
        try:
            defaults = CanaryPolicy.model_validate(data.get("defaults") or {}).model_dump()
        except ValidationError:
            return data  # reported once, at `defaults`; the services are then checked on their own
        services = {
            name: defaults if override is None else {**defaults, **override} if isinstance(override, Mapping)
            else override
            for name, override in data["services"].items()
        }
        return {**data, "services": services}

    def policy_for(self, service: str | None = None, environment: str | None = None) -> CanaryPolicy:
        """The policy of `service` (the defaults when None), with its alarm names resolved.

        Raises CanaryConfigError for a service the config does not list, or a placeholder without a value.
        """
        if service is None:
            policy = self.defaults
        elif service in self.services:
            policy = self.services[service]
        else:
            known = ", ".join(sorted(self.services)) or "none"
            raise CanaryConfigError([("services", f"unknown service {service!r}; known: {known}")])
        return policy.resolved(service, environment)


def validation_problems(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Pydantic errors as (path, message) pairs: `canary[2].request_count`, `must be >= 0`."""
    problems = []
    for item in error.errors():
        path = prefix
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        problems.append((path, _message(item["type"], item["msg"], item.get("ctx") or {})))
    return problems


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "greater_than_equal": lambda ctx: f"must be >= {_number(ctx['ge'])}",
    "greater_than": lambda ctx: f"must be > {_number(ctx['gt'])}",
    "less_than_equal": lambda ctx: f"must be <= {_number(ctx['le'])}",
    "less_than": lambda ctx: f"must be < {_number(ctx['lt'])}",
    "missing": lambda ctx: "required",
    "extra_forbidden": lambda ctx: "unknown field",
    "int_type": lambda ctx: "must be an integer",
    "int_parsing": lambda ctx: "must be an integer",
    "int_from_float": lambda ctx: "must be an integer",
    "float_type": lambda ctx: "must be a number",
    "float_parsing": lambda ctx: "must be a number",
    "finite_number": lambda ctx: "must be a finite number",
    "list_type": lambda ctx: "must be a list",
    "tuple_type": lambda ctx: "must be a list",
    "dict_type": lambda ctx: "must be an object",
    "model_type": lambda ctx: "must be an object",
    "model_attributes_type": lambda ctx: "must be an object",
    "enum": lambda ctx: f"must be one of {ctx['expected']}",
}


def _message(kind: str, msg: str, ctx: Mapping[str, Any]) -> str:
    render = _MESSAGES.get(kind)
    return render(ctx) if render else msg.removeprefix("Value error, ")


def parse_canary_config(section: Mapping[str, Any] | None, *, source: str = "canary config") -> CanaryConfig:
    """Validate a `canary:` section (None or empty: every default). Raises CanaryConfigError with each path."""
    try:
        return CanaryConfig.model_validate(section or {})
    except ValidationError as exc:
        raise CanaryConfigError(validation_problems(exc, "canary"), source) from None


def load_canary_config(path: Path | str) -> CanaryConfig:
    """The `canary:` section of a deploy config file (YAML); a file without one gets every default."""
    try:
        data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CanaryConfigError([("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    except yaml.YAMLError as exc:
        raise CanaryConfigError([("", f"not valid YAML: {exc}")], str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise CanaryConfigError([("", f"expected a mapping at the top level, got {type(data).__name__}")], str(path))
    section = data.get("canary")
    if section is not None and not isinstance(section, Mapping):
        raise CanaryConfigError([("canary", "must be a mapping")], str(path))
    return parse_canary_config(section, source=str(path))


# --- statistics ----------------------------------------------------------------------------------------------------


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _tail(pmf: Callable[[int], float], start: int, stop: int, step: int) -> float:
    """Sum pmf from `start` to `stop` inclusive, moving away from the mode, until the terms are negligible."""
    total = 0.0
    x = start
    while (x <= stop) if step > 0 else (x >= stop):
        term = pmf(x)
        total += term
        if term <= total * _NEGLIGIBLE:
            break
        x += step
    return total


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely k or more 5xx in n requests are if the true ratio were p.

    >>> round(binomial_upper_tail(1, 10, 0.01), 4)   # 1 error in 10 requests against a 1% ceiling
    0.0956
    """
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)

    def pmf(x: int) -> float:
        return math.exp(_log_comb(n, x) + x * log_p + (n - x) * log_q)

    mode = math.floor((n + 1) * p)
    if k > mode:
        return min(1.0, _tail(pmf, k, n, 1))
    return min(1.0, max(0.0, 1.0 - _tail(pmf, k - 1, 0, -1)))


def fisher_exact_greater(canary_errors: int, canary_requests: int, baseline_errors: int,
                         baseline_requests: int) -> float:
    """One-sided Fisher exact test: the p-value of "green's 5xx ratio is higher than blue's".

    Given all the errors seen, the chance that green would hold at least as many of them as it does if both
    colors failed at the same rate (the hypergeometric upper tail).

    >>> f"{fisher_exact_greater(20, 1000, 2, 1000):.1e}"  # 2.0% against 0.2%: significant
    '5.6e-05'
    >>> round(fisher_exact_greater(1, 10, 0, 10), 4)  # 1 error in 10 requests against none in 10: a coin flip
    0.5
    """
    n = canary_requests
    total = canary_requests + baseline_requests
    errors = canary_errors + baseline_errors
    low, high = max(0, n + errors - total), min(n, errors)
    if canary_errors <= low:
        return 1.0
    log_denominator = _log_comb(total, n)

    def pmf(x: int) -> float:
        return math.exp(_log_comb(errors, x) + _log_comb(total - errors, n - x) - log_denominator)

    mode = (n + 1) * (errors + 1) // (total + 2)
    if canary_errors > mode:
        return min(1.0, _tail(pmf, canary_errors, high, 1))
    return min(1.0, max(0.0, 1.0 - _tail(pmf, canary_errors - 1, low, -1)))


# --- outputs -------------------------------------------------------------------------------------------------------

type Value = float | int | str | None


class ColorStatistics(BaseModel):
    """One color's windows, pooled."""

    model_config = ConfigDict(frozen=True)

    windows: int
    requests: int
    errors: int
    error_rate: float | None  # errors / requests; None without requests
    # The request-weighted mean of the windows' p95 (percentiles do not add up; see the docs); None without data.
    p95_latency_ms: float | None


class CanaryStatistics(BaseModel):
    model_config = ConfigDict(frozen=True)

    baseline: ColorStatistics
    canary: ColorStatistics
    error_rate_increase: float | None  # green - blue
    error_rate_ratio: float | None  # green / blue; None when blue had no errors (or no requests)
    error_rate_tolerance: float | None  # the highest green ratio that is not material: max(blue + inc, blue * ratio)
    error_rate_p_value: float | None  # Fisher exact, one-sided: green higher than blue
    error_rate_ceiling_p_value: float | None  # exact binomial, one-sided: green above max_error_rate
    latency_p95_ratio: float | None  # green / blue
    latency_p95_increase_ms: float | None  # green - blue


class CheckResult(BaseModel):
    """One check: `passed` is true for pass and not_applicable, false for fail and insufficient_data."""

    model_config = ConfigDict(frozen=True)

    check: CheckName
    outcome: Outcome
    passed: bool
    observed: dict[str, Value]
    threshold: dict[str, Value]
    detail: str


class CanaryVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    summary: str
    extensions_so_far: int
    reasons: list[CheckResult]
    statistics: CanaryStatistics
    policy: CanaryPolicy


# --- analysis ------------------------------------------------------------------------------------------------------


def analyze(baseline: Sequence[CanarySample], canary: Sequence[CanarySample], alarms: Mapping[str, str],
            config: CanaryConfig | CanaryPolicy, extensions_so_far: int = 0, *, service: str | None = None,
            environment: str | None = None) -> CanaryVerdict:
    """Judge green (`canary`) against blue (`baseline`) after a bake: promote, rollback or extend.

    `config` is the whole canary section (`service` and `environment` pick and resolve the policy) or a resolved
    policy. `alarms` maps alarm names to OK | ALARM | INSUFFICIENT_DATA; only the policy's alarms count. Pass every
    window since the traffic step began, so that an extension adds to the evidence instead of starting over.

    >>> blue = [CanarySample(request_count=9000, http_5xx_count=9, p95_latency_ms=180.0)]
    >>> green = [CanarySample(request_count=1000, http_5xx_count=20, p95_latency_ms=190.0)]
    >>> result = analyze(blue, green, {}, CanaryConfig())
    >>> result.verdict, [r.check.value for r in result.reasons if not r.passed]
    (<Verdict.ROLLBACK: 'rollback'>, ['error_rate', 'error_rate_vs_baseline'])
    >>> analyze(blue, green[:0], {}, CanaryConfig()).verdict
    <Verdict.EXTEND: 'extend'>
    """
    if extensions_so_far < 0:
        raise CanaryInputError(f"extensions_so_far must be >= 0, got {extensions_so_far}")
    policy = config.policy_for(service, environment) if isinstance(config, CanaryConfig) else config
    states = _alarm_states(alarms)
    stats, exact = _statistics(baseline, canary, policy)
    reasons = [
        _check_alarms(policy, states),
        _check_min_requests(policy, exact.green),
        _check_error_rate(policy, stats, exact),
        _check_error_rate_vs_baseline(policy, stats, exact),
        _check_latency(policy, exact.green),
        _check_latency_vs_baseline(policy, stats, exact),
    ]
    verdict, summary = _decide(reasons, policy, extensions_so_far)
    return CanaryVerdict(verdict=verdict, summary=summary, extensions_so_far=extensions_so_far, reasons=reasons,
                         statistics=stats, policy=policy)


def _alarm_states(alarms: Mapping[str, str]) -> dict[str, AlarmState]:
    states = {}
    for name, state in alarms.items():
        try:
            states[name] = AlarmState(state)
        except ValueError:
            raise CanaryInputError(
                f"alarm {name!r}: unknown state {state!r}; expected OK, ALARM or INSUFFICIENT_DATA"
            ) from None
    return states


def _decide(reasons: list[CheckResult], policy: CanaryPolicy, extensions_so_far: int) -> tuple[Verdict, str]:
    failed = [r for r in reasons if r.outcome is Outcome.FAIL]
    insufficient = [r for r in reasons if r.outcome is Outcome.INSUFFICIENT_DATA]
    if reasons[0].outcome is Outcome.FAIL:  # alarms: whatever the traffic
        return Verdict.ROLLBACK, "rollback: " + _details(failed)
    if insufficient and extensions_so_far < policy.max_extensions:
        return Verdict.EXTEND, f"extend ({extensions_so_far + 1} of {policy.max_extensions}): " + _details(insufficient)
    if insufficient:
        fallback = f"after {policy.max_extensions} extension{'s' if policy.max_extensions != 1 else ''}"
        if failed:
            return Verdict.ROLLBACK, f"rollback (insufficient data {fallback}, and a check failed): " + _details(
                failed + insufficient)
        verdict = Verdict(policy.on_insufficient_data.value)
        return verdict, f"{verdict} (on_insufficient_data {fallback}): " + _details(insufficient)
    if failed:
        return Verdict.ROLLBACK, "rollback: " + _details(failed)
    return Verdict.PROMOTE, f"promote: all {len(reasons)} checks passed or did not apply"


def _details(results: list[CheckResult]) -> str:
    return "; ".join(f"{r.check}: {r.detail}" for r in results)


class _Color(NamedTuple):
    """One color's windows, pooled, unrounded (ColorStatistics is its report)."""

    windows: int
    requests: int
    errors: int
    error_rate: float | None
    p95_latency_ms: float | None


class _Exact(NamedTuple):
    """The unrounded values that decisions use (reports show them to 6 significant digits)."""

    blue: _Color
    green: _Color
    ceiling_p: float | None
    fisher_p: float | None
    tolerance: float | None


def _statistics(baseline: Sequence[CanarySample], canary: Sequence[CanarySample],
                policy: CanaryPolicy) -> tuple[CanaryStatistics, _Exact]:
    blue, green = _pool(baseline), _pool(canary)
    increase = ratio = tolerance = p_value = ceiling_p = None
    if blue.error_rate is not None and green.error_rate is not None:
        increase = green.error_rate - blue.error_rate
        ratio = green.error_rate / blue.error_rate if blue.error_rate > 0 else None
        tolerance = _tolerance(blue.error_rate, policy)
        p_value = fisher_exact_greater(green.errors, green.requests, blue.errors, blue.requests)
    if green.requests > 0:
        ceiling_p = binomial_upper_tail(green.errors, green.requests, policy.max_error_rate)
    latency_ratio = latency_increase = None
    if blue.p95_latency_ms is not None and green.p95_latency_ms is not None:
        latency_ratio = green.p95_latency_ms / blue.p95_latency_ms if blue.p95_latency_ms > 0 else None
        latency_increase = green.p95_latency_ms - blue.p95_latency_ms
    stats = CanaryStatistics(
        baseline=_report(blue), canary=_report(green), error_rate_increase=_sig(increase), error_rate_ratio=_sig(ratio),
        error_rate_tolerance=_sig(tolerance), error_rate_p_value=_sig(p_value),
        error_rate_ceiling_p_value=_sig(ceiling_p), latency_p95_ratio=_sig(latency_ratio),
        latency_p95_increase_ms=_sig(latency_increase),
    )
    return stats, _Exact(blue=blue, green=green, ceiling_p=ceiling_p, fisher_p=p_value, tolerance=tolerance)


def _pool(samples: Sequence[CanarySample]) -> _Color:
    requests = sum(s.request_count for s in samples)
    errors = sum(s.http_5xx_count for s in samples)
    timed = [(s.p95_latency_ms, s.request_count) for s in samples if s.p95_latency_ms is not None and s.request_count]
    weight = sum(n for _, n in timed)
    # fsum is exactly rounded, so the mean does not depend on the order of the windows.
    p95 = math.fsum(p * n for p, n in timed) / weight if weight else None
    return _Color(windows=len(samples), requests=requests, errors=errors,
                  error_rate=errors / requests if requests else None, p95_latency_ms=p95)


def _report(color: _Color) -> ColorStatistics:
    return ColorStatistics(windows=color.windows, requests=color.requests, errors=color.errors,
                           error_rate=_sig(color.error_rate), p95_latency_ms=_sig(color.p95_latency_ms))


def _tolerance(blue_rate: float, policy: CanaryPolicy) -> float:
    return max(blue_rate + policy.max_error_rate_increase, blue_rate * policy.max_error_rate_ratio)


def _sig(value: float | None, digits: int = 6) -> float | None:
    """Rounded to `digits` significant digits for reporting (decisions use the exact values)."""
    return None if value is None else float(f"{value:.{digits}g}")


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.2f}%"


def _p(value: float, significance: float) -> str:
    """A p-value to 2 significant digits, or more when 2 would read as the significance level itself."""
    text = f"{value:.2g}"
    return f"{value:.6g}" if float(text) == significance and value != significance else text


def _result(check: CheckName, outcome: Outcome, observed: dict[str, Value], threshold: dict[str, Value],
            detail: str) -> CheckResult:
    passed = outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE)
    return CheckResult(check=check, outcome=outcome, passed=passed, observed=observed, threshold=threshold,
                       detail=detail)


def _check_alarms(policy: CanaryPolicy, states: Mapping[str, AlarmState]) -> CheckResult:
    observed: dict[str, Value] = {name: states[name].value if name in states else "MISSING" for name in policy.alarms}
    threshold: dict[str, Value] = {"rollback_on": "ALARM or MISSING"}
    if not policy.alarms:
        return _result(CheckName.ALARMS, Outcome.NOT_APPLICABLE, observed, threshold, "no alarms configured")
    firing = [n for n in policy.alarms if observed[n] == AlarmState.ALARM]
    missing = [n for n in policy.alarms if observed[n] == "MISSING"]
    if firing or missing:
        parts = ([f"in ALARM: {', '.join(firing)}"] if firing else []) + (
            [f"not found (check the name in the deploy config): {', '.join(missing)}"] if missing else [])
        return _result(CheckName.ALARMS, Outcome.FAIL, observed, threshold, "; ".join(parts))
    count = len(policy.alarms)
    return _result(CheckName.ALARMS, Outcome.PASS, observed, threshold,
                   f"{count} configured alarm{'s' if count != 1 else ''}, none in ALARM")


def _check_min_requests(policy: CanaryPolicy, green: _Color) -> CheckResult:
    observed: dict[str, Value] = {"canary_requests": green.requests}
    threshold: dict[str, Value] = {"min_requests": policy.min_requests}
    if green.requests < policy.min_requests:
        return _result(CheckName.MIN_REQUESTS, Outcome.INSUFFICIENT_DATA, observed, threshold,
                       f"green served {green.requests} requests; {policy.min_requests} are needed to judge")
    return _result(CheckName.MIN_REQUESTS, Outcome.PASS, observed, threshold,
                   f"green served {green.requests} requests (minimum {policy.min_requests})")


def _check_error_rate(policy: CanaryPolicy, stats: CanaryStatistics, exact: _Exact) -> CheckResult:
    green = exact.green
    p_value = stats.error_rate_ceiling_p_value
    observed: dict[str, Value] = {"canary_errors": green.errors, "canary_requests": green.requests,
                                  "canary_error_rate": _sig(green.error_rate), "p_value": p_value}
    threshold: dict[str, Value] = {"max_error_rate": policy.max_error_rate, "significance": policy.significance}
    if green.error_rate is None or exact.ceiling_p is None:
        return _result(CheckName.ERROR_RATE, Outcome.INSUFFICIENT_DATA, observed, threshold, "green served no requests")
    exact_p = exact.ceiling_p
    above = f"green {_pct(green.error_rate)} 5xx ({green.errors} of {green.requests})"
    ceiling = f"the {_pct(policy.max_error_rate)} ceiling"
    test = f"binomial p={_p(exact_p, policy.significance)}"
    if green.error_rate > policy.max_error_rate and exact_p < policy.significance:
        return _result(CheckName.ERROR_RATE, Outcome.FAIL, observed, threshold,
                       f"{above} is above {ceiling} ({test} < {policy.significance})")
    if green.error_rate > policy.max_error_rate:
        return _result(CheckName.ERROR_RATE, Outcome.PASS, observed, threshold,
                       f"{above} is not significantly above {ceiling} ({test} >= {policy.significance})")
    return _result(CheckName.ERROR_RATE, Outcome.PASS, observed, threshold, f"{above} is within {ceiling}")


def _check_error_rate_vs_baseline(policy: CanaryPolicy, stats: CanaryStatistics, exact: _Exact) -> CheckResult:
    blue, green = exact.blue, exact.green
    observed: dict[str, Value] = {
        "canary_error_rate": _sig(green.error_rate), "baseline_error_rate": _sig(blue.error_rate),
        "increase": stats.error_rate_increase, "ratio": stats.error_rate_ratio, "p_value": stats.error_rate_p_value}
    threshold: dict[str, Value] = {
        "tolerance": stats.error_rate_tolerance, "max_error_rate_increase": policy.max_error_rate_increase,
        "max_error_rate_ratio": policy.max_error_rate_ratio, "significance": policy.significance}
    if green.error_rate is None:
        return _result(CheckName.ERROR_RATE_VS_BASELINE, Outcome.INSUFFICIENT_DATA, observed, threshold,
                       "green served no requests")
    if blue.error_rate is None or exact.fisher_p is None or exact.tolerance is None:
        return _result(CheckName.ERROR_RATE_VS_BASELINE, Outcome.NOT_APPLICABLE, observed, threshold,
                       "blue served no requests: nothing to compare with (the ceiling still applies)")
    exact_p, tolerance = exact.fisher_p, exact.tolerance
    rates = f"green {_pct(green.error_rate)} 5xx against blue {_pct(blue.error_rate)}"
    significant = exact_p < policy.significance
    material = green.error_rate > tolerance
    test = f"Fisher p={_p(exact_p, policy.significance)} {'<' if significant else '>='} {policy.significance}"
    if significant and material:
        return _result(CheckName.ERROR_RATE_VS_BASELINE, Outcome.FAIL, observed, threshold,
                       f"{rates}: significantly higher ({test}) and above the {_pct(tolerance)} tolerance")
    why = f"significant ({test}) but within the {_pct(tolerance)} tolerance" if significant else (
        f"not significantly higher ({test})")
    return _result(CheckName.ERROR_RATE_VS_BASELINE, Outcome.PASS, observed, threshold, f"{rates}: {why}")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _check_latency(policy: CanaryPolicy, green: _Color) -> CheckResult:
    observed: dict[str, Value] = {"canary_p95_latency_ms": _sig(green.p95_latency_ms)}
    threshold: dict[str, Value] = {"max_p95_latency_ms": policy.max_p95_latency_ms}
    if green.p95_latency_ms is None:
        return _result(CheckName.LATENCY_P95, Outcome.INSUFFICIENT_DATA, observed, threshold,
                       "no p95 latency for green")
    if green.p95_latency_ms > policy.max_p95_latency_ms:
        return _result(CheckName.LATENCY_P95, Outcome.FAIL, observed, threshold,
                       f"green p95 {_ms(green.p95_latency_ms)} is above {_ms(policy.max_p95_latency_ms)}")
    return _result(CheckName.LATENCY_P95, Outcome.PASS, observed, threshold,
                   f"green p95 {_ms(green.p95_latency_ms)} is within {_ms(policy.max_p95_latency_ms)}")


def _check_latency_vs_baseline(policy: CanaryPolicy, stats: CanaryStatistics, exact: _Exact) -> CheckResult:
    blue, green = exact.blue, exact.green
    observed: dict[str, Value] = {
        "canary_p95_latency_ms": _sig(green.p95_latency_ms), "baseline_p95_latency_ms": _sig(blue.p95_latency_ms),
        "ratio": stats.latency_p95_ratio, "increase_ms": stats.latency_p95_increase_ms}
    threshold: dict[str, Value] = {"max_p95_latency_ratio": policy.max_p95_latency_ratio,
                                   "p95_latency_noise_floor_ms": policy.p95_latency_noise_floor_ms}
    if green.p95_latency_ms is None:
        return _result(CheckName.LATENCY_P95_VS_BASELINE, Outcome.INSUFFICIENT_DATA, observed, threshold,
                       "no p95 latency for green")
    if blue.p95_latency_ms is None:
        return _result(CheckName.LATENCY_P95_VS_BASELINE, Outcome.NOT_APPLICABLE, observed, threshold,
                       "no p95 latency for blue: nothing to compare with (the ceiling still applies)")
    slower = green.p95_latency_ms > blue.p95_latency_ms * policy.max_p95_latency_ratio
    beyond_noise = green.p95_latency_ms - blue.p95_latency_ms > policy.p95_latency_noise_floor_ms
    text = f"green p95 {_ms(green.p95_latency_ms)} against blue {_ms(blue.p95_latency_ms)}"
    if slower and beyond_noise:
        return _result(CheckName.LATENCY_P95_VS_BASELINE, Outcome.FAIL, observed, threshold,
                       f"{text}: more than {policy.max_p95_latency_ratio:g}x and more than "
                       f"{_ms(policy.p95_latency_noise_floor_ms)} slower")
    why = (f"within {policy.max_p95_latency_ratio:g}x" if not slower
           else f"the difference is under the {_ms(policy.p95_latency_noise_floor_ms)} noise floor")
    return _result(CheckName.LATENCY_P95_VS_BASELINE, Outcome.PASS, observed, threshold, f"{text}: {why}")
