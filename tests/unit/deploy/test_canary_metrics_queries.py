"""The CloudWatch query shapes and the parsing of their results (pure: no AWS). The queries are also validated
against botocore's own model of GetMetricData, offline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from pydantic import ValidationError

from safejob_ops.deploy.canary import CanarySample
from safejob_ops.deploy.canary_metrics import (
    MetricWindow,
    TargetGroupRef,
    metric_data_queries,
    samples_from_results,
)

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012"
BLUE = TargetGroupRef(load_balancer="app/safejob-prod/50dc6c495c0c9188", target_group="targetgroup/backend-blue/aa01")
GREEN = TargetGroupRef(load_balancer="app/safejob-prod/50dc6c495c0c9188", target_group="targetgroup/backend-green/bb02")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_three_queries_per_color_with_both_dimensions() -> None:
    queries = metric_data_queries(BLUE, GREEN, 60)
    shapes = [(q["Id"], q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"]) for q in queries]
    assert shapes == [
        ("baseline_requests", "RequestCount", "Sum"),
        ("baseline_http_5xx", "HTTPCode_Target_5XX_Count", "Sum"),
        ("baseline_p95", "TargetResponseTime", "p95"),
        ("canary_requests", "RequestCount", "Sum"),
        ("canary_http_5xx", "HTTPCode_Target_5XX_Count", "Sum"),
        ("canary_p95", "TargetResponseTime", "p95"),
    ]
    for query, ref in zip(queries, [BLUE] * 3 + [GREEN] * 3, strict=True):
        stat = query["MetricStat"]
        assert stat["Metric"]["Namespace"] == "AWS/ApplicationELB"
        assert stat["Metric"]["Dimensions"] == [{"Name": "TargetGroup", "Value": ref.target_group},
                                                {"Name": "LoadBalancer", "Value": ref.load_balancer}]
        assert stat["Period"] == 60
        assert query["ReturnData"] is True
        assert re.fullmatch(r"[a-z][a-zA-Z0-9_]*", query["Id"])  # CloudWatch's rule for query ids


def test_the_request_is_valid_for_botocore() -> None:
    # GIVEN botocore's model of GetMetricData (offline) / WHEN our request is validated / THEN no error
    model = botocore.session.get_session().get_service_model("cloudwatch")
    shape = model.operation_model("GetMetricData").input_shape
    assert shape is not None
    request: dict[str, Any] = {"MetricDataQueries": metric_data_queries(BLUE, GREEN, 300), "StartTime": T0,
                               "EndTime": T0 + 10 * MINUTE, "ScanBy": "TimestampAscending"}
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


def test_target_groups_are_taken_from_arns_or_dimension_values() -> None:
    ref = TargetGroupRef(load_balancer=f"{ARN}:loadbalancer/app/safejob-prod/50dc6c495c0c9188",
                         target_group=f"{ARN}:targetgroup/backend-green/bb02")
    assert ref == GREEN


@pytest.mark.parametrize(
    ("field", "value"),
    [("load_balancer", "safejob-prod"), ("load_balancer", f"{ARN}:loadbalancer/net/nlb/1"),
     ("target_group", "backend-green"), ("target_group", "targetgroup/x/NOTHEX")],
)
def test_invalid_target_group_references_are_refused(field: str, value: str) -> None:
    fields = {"load_balancer": BLUE.load_balancer, "target_group": BLUE.target_group, field: value}
    with pytest.raises(ValidationError, match=field):
        TargetGroupRef.model_validate(fields)


@pytest.mark.parametrize(
    ("start", "end", "period", "message"),
    [(T0, T0, 60, "end must be after start"), (T0, T0 + MINUTE, 90, "multiple of 60"),
     (T0, T0 + MINUTE, 30, "greater than or equal to 60")],
)
def test_invalid_windows_are_refused(start: datetime, end: datetime, period: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MetricWindow(start=start, end=end, period_seconds=period)


def result(query_id: str, points: dict[datetime, float]) -> Any:
    return {"Id": query_id, "Timestamps": list(points), "Values": list(points.values()), "StatusCode": "Complete"}


def test_results_become_samples_per_color_oldest_first() -> None:
    # GIVEN results as CloudWatch returns them: no 5xx datapoint when there were none, seconds for latency,
    # float sums, and a page boundary inside one series
    results = [
        result("canary_requests", {T0 + MINUTE: 52.0, T0: 48.0}),
        result("canary_http_5xx", {T0 + MINUTE: 2.0}),
        result("canary_p95", {T0: 0.1825, T0 + MINUTE: 0.25}),
        result("baseline_requests", {T0: 450.0}),
        result("baseline_p95", {T0: 0.18}),
        result("baseline_requests", {T0 + MINUTE: 430.0}),  # the next page
        result("baseline_p95", {T0 + MINUTE: 0.2}),
    ]
    # WHEN parsed
    samples = samples_from_results(results)
    # THEN one sample per period and color, 5xx 0 when absent, latency in ms
    assert samples["canary"] == [
        CanarySample(start=T0, request_count=48, http_5xx_count=0, p95_latency_ms=182.5),
        CanarySample(start=T0 + MINUTE, request_count=52, http_5xx_count=2, p95_latency_ms=250.0),
    ]
    assert samples["baseline"] == [
        CanarySample(start=T0, request_count=450, http_5xx_count=0, p95_latency_ms=180.0),
        CanarySample(start=T0 + MINUTE, request_count=430, http_5xx_count=0, p95_latency_ms=200.0),
    ]


def test_a_period_without_requests_has_no_latency_and_errors_are_never_dropped() -> None:
    local = timezone(timedelta(hours=2))
    results = [
        result("canary_http_5xx", {(T0 + 2 * MINUTE).astimezone(local): 3.0}),  # 5xx published, RequestCount not yet
        result("canary_requests", {T0: 10.0}),
    ]
    assert samples_from_results(results)["canary"] == [
        CanarySample(start=T0, request_count=10, http_5xx_count=0, p95_latency_ms=None),
        CanarySample(start=T0 + 2 * MINUTE, request_count=3, http_5xx_count=3, p95_latency_ms=None),
    ]
    assert samples_from_results([])["baseline"] == []
