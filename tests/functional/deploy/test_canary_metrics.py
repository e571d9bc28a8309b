"""The canary metrics adapter (CloudWatchCanaryMetrics) against moto, and its exact request against botocore.

moto gap (5.2.5): GetMetricData with a percentile stat (`p95`) crashes with a TypeError: moto's `Statistics`
returns None for any stat it does not know, then calls float(None). The production query is not bent around it.
Here:
- the Sum queries (RequestCount, HTTPCode_Target_5XX_Count) run against moto for real, as the adapter builds them;
- `test_moto_still_crashes_on_a_percentile_stat` pins the gap, so it fails the day moto answers p95 itself;
- the `percentile_bridge` fixture applies the harness's bridge 13 (safejob_tools.localaws.moto_gaps): moto crashes
  on `pNN` stats, and the bridge answers them with the nearest-rank percentile of the period's raw values, so that
  the adapter's whole path (paginator, serialisation, moto's response, parsing) runs end to end;
- the exact production request (p95 queries included) and the pagination are checked with a botocore Stubber,
  which validates every parameter against botocore's model of the API.
moto also lacks PutCompositeAlarm, so composite alarms are covered by the Stubber only.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from safejob_ops.adapters.canary_cloudwatch import CloudWatchCanaryMetrics
from safejob_ops.deploy.canary import AlarmState, CanaryConfig, CanarySample, Verdict, analyze
from safejob_ops.deploy.canary_metrics import MetricWindow, TargetGroupRef, metric_data_queries, samples_from_results

REGION = "eu-west-1"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
WINDOW = MetricWindow(start=T0, end=T0 + 5 * MINUTE, period_seconds=60)
LB = "app/safejob-staging/50dc6c495c0c9188"
BLUE = TargetGroupRef(load_balancer=LB, target_group="targetgroup/backend-blue/aa01")
GREEN = TargetGroupRef(load_balancer=LB, target_group="targetgroup/backend-green/bb02")
FRONTEND = TargetGroupRef(load_balancer=LB, target_group="targetgroup/frontend-blue/cc03")  # must not leak in
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")


@pytest.fixture
def percentile_bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers GetMetricData's `pNN` stats with the nearest-rank percentile of the period's raw values."""
    from moto.cloudwatch.models import Statistics

    original = Statistics.get_statistics_for_type

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        match = _PERCENTILE.fullmatch(stat)
        if match is None:
            return original(self, stat)
        values = sorted([*self.metric_single_values_list, *(s.max for s in self.metric_aggregated_list)])
        rank = math.ceil(float(match[1]) / 100 * len(values))
        return values[max(rank, 1) - 1]

    monkeypatch.setattr(Statistics, "get_statistics_for_type", get_statistics_for_type)


def publish(ref: TargetGroupRef, minute: int, requests: int, errors: int, latencies: list[float] | None = None) -> None:
    """What the ALB publishes for one target group and one minute (no 5xx datapoint when there were none)."""
    at = T0 + minute * MINUTE + timedelta(seconds=30)
    dimensions: list[Any] = ref.dimensions()
    data: list[Any] = [{"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": at,
                        "Value": requests, "Unit": "Count"}]
    if errors:
        data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions, "Timestamp": at,
                     "Value": errors, "Unit": "Count"})
    data += [{"MetricName": "TargetResponseTime", "Dimensions": dimensions, "Timestamp": at, "Value": seconds,
              "Unit": "Seconds"} for seconds in latencies or []]
    boto3.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


def latencies(p95_seconds: float) -> list[float]:
    """20 response times whose nearest-rank p95 (the 19th) is `p95_seconds`."""
    return [0.05] * 18 + [p95_seconds, 9.9]


@pytest.fixture
def traffic(aws: None) -> None:
    """GIVEN a 50% step: blue 2 5xx in 1000 requests, green 20 in 1000; a frontend target group on the same ALB."""
    for minute in range(5):
        publish(BLUE, minute, 200, 1 if minute in (1, 3) else 0, latencies(0.18))
        publish(GREEN, minute, 200, 4, latencies(0.2 + minute / 100))
        publish(FRONTEND, minute, 5000, 500, latencies(3.0))


@pytest.mark.usefixtures("traffic")
def test_sum_queries_read_what_the_alb_publishes() -> None:
    # WHEN the adapter's Sum queries run against moto as built (the p95 ones aside: see the module docstring)
    queries = [q for q in metric_data_queries(BLUE, GREEN, 60) if q["MetricStat"]["Stat"] == "Sum"]
    response = boto3.client("cloudwatch").get_metric_data(MetricDataQueries=queries, StartTime=WINDOW.start,
                                                          EndTime=WINDOW.end, ScanBy="TimestampAscending")
    samples = samples_from_results(response["MetricDataResults"])
    # THEN each color gets its own target group's counts, per minute, and nothing of the frontend's
    assert [(s.start, s.request_count, s.http_5xx_count) for s in samples["baseline"]] == [
        (T0 + m * MINUTE, 200, 1 if m in (1, 3) else 0) for m in range(5)]
    assert [(s.request_count, s.http_5xx_count, s.p95_latency_ms) for s in samples["canary"]] == [(200, 4, None)] * 5


@pytest.mark.usefixtures("traffic", "percentile_bridge")
def test_observe_end_to_end_then_analyze() -> None:
    # GIVEN the service's alarms: one OK, one in ALARM after a state change; and one name that does not exist
    cloudwatch = boto3.client("cloudwatch")
    for name in ("safejob-staging-alb-5xx-rate", "safejob-staging-backend-error-logs"):
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="RequestCount",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                    ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="safejob-staging-alb-5xx-rate", StateValue="OK", StateReason="test")
    cloudwatch.set_alarm_state(AlarmName="safejob-staging-backend-error-logs", StateValue="ALARM", StateReason="t")
    names = ["safejob-staging-alb-5xx-rate", "safejob-staging-backend-error-logs", "safejob-staging-nope"]

    # WHEN the adapter observes the step
    observation = CloudWatchCanaryMetrics().observe(BLUE, GREEN, names, WINDOW)

    # THEN both colors' windows, latency in ms from the p95 of TargetResponseTime, and the known alarms' states
    assert observation.baseline[1] == CanarySample(start=T0 + MINUTE, request_count=200, http_5xx_count=1,
                                                   p95_latency_ms=180.0)
    assert [s.p95_latency_ms for s in observation.canary] == pytest.approx([200.0, 210.0, 220.0, 230.0, 240.0])
    assert observation.alarms == {"safejob-staging-alb-5xx-rate": AlarmState.OK,
                                  "safejob-staging-backend-error-logs": AlarmState.ALARM}
    # AND the analysis of what was read rolls back: an alarm, and 20 in 1000 against 2 in 1000
    config = CanaryConfig.model_validate({"defaults": {"alarms": names[:2]}})
    result = analyze(observation.baseline, observation.canary, observation.alarms, config)
    assert result.verdict is Verdict.ROLLBACK
    assert [r.check for r in result.reasons if not r.passed] == ["alarms", "error_rate", "error_rate_vs_baseline"]


@pytest.mark.usefixtures("aws")
def test_alarm_states_are_read_in_chunks_of_100() -> None:
    # GIVEN 105 alarms, every seventh in ALARM
    cloudwatch = boto3.client("cloudwatch")
    names = [f"alarm-{i:03d}" for i in range(105)]
    for i, name in enumerate(names):
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="SafeJob", MetricName="m", Statistic="Sum", Period=60,
                                    EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM" if i % 7 == 0 else "OK", StateReason="test")
    # WHEN their states are read, with a duplicate and an unknown name
    states = CloudWatchCanaryMetrics(cloudwatch=cloudwatch).alarm_states([*names, names[0], "unknown"])
    # THEN every known alarm, once, with its state; the unknown one is left out
    assert len(states) == 105
    assert [n for n, s in states.items() if s is AlarmState.ALARM] == names[::7]


def test_the_production_request_and_its_pagination() -> None:
    # GIVEN a CloudWatch client whose answers are stubbed; the Stubber checks each request against botocore's model
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    queries = metric_data_queries(BLUE, GREEN, 60)
    request = {"MetricDataQueries": queries, "StartTime": WINDOW.start, "EndTime": WINDOW.end,
               "ScanBy": "TimestampAscending"}
    with Stubber(cloudwatch) as stub:
        stub.add_response("get_metric_data", {"NextToken": "page-2", "MetricDataResults": [
            {"Id": "canary_requests", "Timestamps": [T0], "Values": [100.0], "StatusCode": "PartialData"},
            {"Id": "canary_p95", "Timestamps": [T0], "Values": [0.25], "StatusCode": "PartialData"},
        ]}, request)
        stub.add_response("get_metric_data", {"MetricDataResults": [
            {"Id": "canary_requests", "Timestamps": [T0 + MINUTE], "Values": [120.0], "StatusCode": "Complete"},
            {"Id": "canary_http_5xx", "Timestamps": [T0 + MINUTE], "Values": [3.0], "StatusCode": "Complete"},
            {"Id": "baseline_requests", "Timestamps": [T0], "Values": [900.0], "StatusCode": "Complete"},
        ]}, {**request, "NextToken": "page-2"})
        stub.add_response("describe_alarms", {
            "MetricAlarms": [{"AlarmName": "safejob-staging-alb-5xx-rate", "StateValue": "OK"}],
            "CompositeAlarms": [{"AlarmName": "safejob-staging-backend-health", "StateValue": "ALARM"}],
        }, {"AlarmNames": ["safejob-staging-alb-5xx-rate", "safejob-staging-backend-health"],
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]})

        # WHEN the adapter observes
        observation = CloudWatchCanaryMetrics(cloudwatch=cloudwatch).observe(
            BLUE, GREEN, ["safejob-staging-alb-5xx-rate", "safejob-staging-backend-health"], WINDOW)

        # THEN it sent exactly the production queries, followed the NextToken, and merged the pages
        stub.assert_no_pending_responses()
    assert [q["MetricStat"]["Stat"] for q in queries].count("p95") == 2
    assert observation.canary == [
        CanarySample(start=T0, request_count=100, http_5xx_count=0, p95_latency_ms=250.0),
        CanarySample(start=T0 + MINUTE, request_count=120, http_5xx_count=3, p95_latency_ms=None),
    ]
    assert observation.baseline == [CanarySample(start=T0, request_count=900, http_5xx_count=0)]
    assert observation.alarms == {"safejob-staging-alb-5xx-rate": AlarmState.OK,
                                  "safejob-staging-backend-health": AlarmState.ALARM}
