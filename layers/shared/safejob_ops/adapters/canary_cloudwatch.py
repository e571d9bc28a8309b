"""`CanaryMetricsPort` on CloudWatch: one paginated GetMetricData for both target groups, and DescribeAlarms.

The queries (RequestCount Sum, HTTPCode_Target_5XX_Count Sum, TargetResponseTime p95, per target group) are built
by `safejob_ops.deploy.canary_metrics`. The client is created on first use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from safejob_ops.adapters.botoconfig import new_client
from safejob_ops.adapters.deploy_preflight import CloudWatchAlarmStates
from safejob_ops.deploy.canary import AlarmState, CanaryObservation
from safejob_ops.deploy.canary_metrics import (
    MetricWindow,
    TargetGroupRef,
    metric_data_queries,
    samples_from_results,
)

if TYPE_CHECKING:  # boto3 loads on first use: cold start matters
    import boto3
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDataResultTypeDef

class CloudWatchCanaryMetrics:
    """Blue's and green's ALB metrics and the service's alarm states, from CloudWatch."""

    def __init__(self, *, cloudwatch: CloudWatchClient | None = None, session: boto3.Session | None = None) -> None:
        self._cloudwatch = cloudwatch
        self._session = session

    @property
    def cloudwatch(self) -> CloudWatchClient:
        if self._cloudwatch is None:
            self._cloudwatch = new_client("cloudwatch", self._session, read_timeout=10, max_attempts=5)
        return self._cloudwatch

    def observe(self, baseline: TargetGroupRef, canary: TargetGroupRef, alarm_names: Sequence[str],
                window: MetricWindow) -> CanaryObservation:
        samples = samples_from_results(self.metric_data(baseline, canary, window))
        return CanaryObservation(baseline=samples["baseline"], canary=samples["canary"],
                                 alarms=self.alarm_states(alarm_names))

    def metric_data(self, baseline: TargetGroupRef, canary: TargetGroupRef,
                    window: MetricWindow) -> Iterator[MetricDataResultTypeDef]:
        """Every page of the GetMetricData results of both colors."""
        pages = self.cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=metric_data_queries(baseline, canary, window.period_seconds),
            StartTime=window.start,
            EndTime=window.end,
            ScanBy="TimestampAscending",
        )
        for page in pages:
            yield from page.get("MetricDataResults", [])

    def alarm_states(self, names: Sequence[str]) -> dict[str, AlarmState]:
        """The states of the named metric and composite alarms; a name CloudWatch does not know is left out."""
        return {name: AlarmState(state) for name, state in CloudWatchAlarmStates(self.cloudwatch).states(names).items()}
