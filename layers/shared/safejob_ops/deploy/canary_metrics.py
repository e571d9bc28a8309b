"""The CloudWatch side of the canary analysis: which metrics to read, and how they become CanarySamples.

Per target group (dimensions TargetGroup + LoadBalancer, namespace AWS/ApplicationELB) and per period:
RequestCount Sum, HTTPCode_Target_5XX_Count Sum and TargetResponseTime p95 (seconds, reported here in ms). Both
colors go into one GetMetricData call, with query ids `<color>_<metric>` (`baseline_requests`, `canary_p95`, ...).

This module is pure (the query shapes, the parsing, the port); the boto3 adapter is
`safejob_ops.adapters.canary_cloudwatch.CloudWatchCanaryMetrics`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from safejob_ops.deploy.canary import CanaryObservation, CanarySample

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef, MetricDataQueryTypeDef, MetricDataResultTypeDef

NAMESPACE = "AWS/ApplicationELB"
type Color = Literal["baseline", "canary"]
COLORS: tuple[Color, Color] = ("baseline", "canary")

_LOAD_BALANCER = re.compile(r"^app/[A-Za-z0-9-]{1,32}/[0-9a-f]+$")
_TARGET_GROUP = re.compile(r"^targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]+$")


class Metric(NamedTuple):
    key: str  # the query id's suffix
    name: str  # the CloudWatch metric
    stat: str
    scale: float  # to the sample's unit


# TargetResponseTime is in seconds; the samples carry milliseconds.
REQUESTS = Metric("requests", "RequestCount", "Sum", 1.0)
ERRORS = Metric("http_5xx", "HTTPCode_Target_5XX_Count", "Sum", 1.0)
P95 = Metric("p95", "TargetResponseTime", "p95", 1000.0)
METRICS = (REQUESTS, ERRORS, P95)


def _dimension_value(value: str, kind: str) -> str:
    """An ARN's dimension value: `arn:...:loadbalancer/app/web/0123` -> `app/web/0123`."""
    if value.startswith("arn:"):
        resource = value.split(":", 5)[-1]
        return resource.removeprefix("loadbalancer/") if kind == "loadbalancer" else resource
    return value


class TargetGroupRef(BaseModel):
    """One color's target group and its load balancer, as CloudWatch dimension values; ARNs are accepted too.

    >>> arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012"
    >>> TargetGroupRef(load_balancer=f"{arn}:loadbalancer/app/web/50dc6c49", target_group=f"{arn}:targetgroup/g/9f")
    TargetGroupRef(load_balancer='app/web/50dc6c49', target_group='targetgroup/g/9f')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    load_balancer: str
    target_group: str

    @field_validator("load_balancer", mode="before")
    @classmethod
    def _load_balancer(cls, value: object) -> object:
        if isinstance(value, str):
            value = _dimension_value(value, "loadbalancer")
            if not _LOAD_BALANCER.match(str(value)):
                raise ValueError(f"expected app/<name>/<id> or an ALB ARN, got {value!r}")
        return value

    @field_validator("target_group", mode="before")
    @classmethod
    def _target_group(cls, value: object) -> object:
        if isinstance(value, str):
            value = _dimension_value(value, "targetgroup")
            if not _TARGET_GROUP.match(str(value)):
                raise ValueError(f"expected targetgroup/<name>/<id> or a target group ARN, got {value!r}")
        return value

    def dimensions(self) -> list[DimensionTypeDef]:
        return [{"Name": "TargetGroup", "Value": self.target_group},
                {"Name": "LoadBalancer", "Value": self.load_balancer}]


class MetricWindow(BaseModel):
    """The time range analysed (every window since the traffic step began) and the period of one sample."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    period_seconds: int = Field(default=60, ge=60, le=86_400)

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.period_seconds % 60:
            raise ValueError("period_seconds must be a multiple of 60")
        return self


def metric_data_queries(baseline: TargetGroupRef, canary: TargetGroupRef,
                        period_seconds: int) -> list[MetricDataQueryTypeDef]:
    """The GetMetricData queries of both colors: three per target group.

    >>> refs = TargetGroupRef(load_balancer="app/web/1", target_group="targetgroup/blue/2")
    >>> [(q["Id"], q["MetricStat"]["Stat"]) for q in metric_data_queries(refs, refs, 60)][:3]
    [('baseline_requests', 'Sum'), ('baseline_http_5xx', 'Sum'), ('baseline_p95', 'p95')]
    """
    queries: list[MetricDataQueryTypeDef] = []
    for color, ref in zip(COLORS, (baseline, canary), strict=True):
        for metric in METRICS:
            queries.append({
                "Id": f"{color}_{metric.key}",
                "Label": f"{color} {metric.name} {metric.stat}",
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": metric.name, "Dimensions": ref.dimensions()},
                    "Period": period_seconds,
                    "Stat": metric.stat,
                },
                "ReturnData": True,
            })
    return queries


def samples_from_results(results: Iterable[MetricDataResultTypeDef]) -> dict[Color, list[CanarySample]]:
    """GetMetricData results (every page; an id may repeat) as each color's samples, oldest first.

    A period without a RequestCount or 5xx datapoint had none (the ALB publishes no zeros); without a p95 it has
    no latency. When a period's 5xx Sum exceeds its RequestCount Sum (the two are published separately), the
    request count is raised to match, so that no error is dropped.
    """
    series: dict[str, dict[datetime, float]] = {}
    for result in results:
        values = series.setdefault(result.get("Id", ""), {})
        for at, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True):
            values[at.astimezone(UTC)] = value
    samples: dict[Color, list[CanarySample]] = {}
    for color in COLORS:
        requests, errors, p95 = (series.get(f"{color}_{m.key}", {}) for m in METRICS)
        samples[color] = [
            CanarySample(
                start=at,
                request_count=max(round(requests.get(at, 0.0)), round(errors.get(at, 0.0))),
                http_5xx_count=round(errors.get(at, 0.0)),
                p95_latency_ms=p95[at] * P95.scale if at in p95 else None,
            )
            for at in sorted(requests.keys() | errors.keys() | p95.keys())
        ]
    return samples


class CanaryMetricsPort(Protocol):
    """Reads what one canary analysis looks at."""

    def observe(self, baseline: TargetGroupRef, canary: TargetGroupRef, alarm_names: Sequence[str],
                window: MetricWindow) -> CanaryObservation:
        """Both colors' samples over `window`, and the states of `alarm_names` (an unknown name is left out)."""
        ...
