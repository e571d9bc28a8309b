"""The rollback diagnostics ports on boto3: ECS (`EcsStoppedTasks`), CloudWatch Logs (`CloudWatchLogTail`) and
CloudWatch GetMetricData (`CloudWatchMetricSums`); the alarm states reuse `deploy_preflight.CloudWatchAlarmStates`.

Each client is created on first use, with `botoconfig.client_config()`. Errors are raised: the domain
(`safejob_ops.deploy.diagnostics`) turns each into a note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from safejob_ops.adapters.botoconfig import new_client
from safejob_ops.deploy.models import ContainerExit
from safejob_ops.deploy.ports import AwsLogsLocation, MetricSumQuery, StoppedTaskInfo

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_logs.client import CloudWatchLogsClient

# DescribeTasks takes at most 100 tasks, GetMetricData at most 500 queries per call.
TASKS_PER_CALL = 100
QUERIES_PER_CALL = 500


class EcsStoppedTasks:
    """`StoppedTasks` on ECS ListTasks (desiredStatus STOPPED), DescribeTasks and DescribeTaskDefinition."""

    def __init__(self, client: ECSClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> ECSClient:
        if self._client is None:
            self._client = new_client("ecs", self._session)
        return self._client

    def stopped(self, cluster: str, service: str, limit: int) -> list[StoppedTaskInfo]:
        arns = self.client.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED",
                                      maxResults=max(1, min(limit, 100)))["taskArns"][:limit]
        infos: list[StoppedTaskInfo] = []
        for start in range(0, len(arns), TASKS_PER_CALL):
            tasks = self.client.describe_tasks(cluster=cluster, tasks=arns[start:start + TASKS_PER_CALL])["tasks"]
            infos += [_info(task) for task in tasks]
        return infos

    def log_locations(self, task_definition_arn: str) -> dict[str, AwsLogsLocation]:
        definition = self.client.describe_task_definition(taskDefinition=task_definition_arn)["taskDefinition"]
        locations: dict[str, AwsLogsLocation] = {}
        for container in definition.get("containerDefinitions", []):
            log: Mapping[str, Any] = container.get("logConfiguration", {})
            options: Mapping[str, str] = log.get("options", {})
            if log.get("logDriver") == "awslogs" and "awslogs-group" in options and "awslogs-stream-prefix" in options:
                locations[container["name"]] = AwsLogsLocation(group=options["awslogs-group"],
                                                               stream_prefix=options["awslogs-stream-prefix"])
        return locations


def _info(task: Mapping[str, Any]) -> StoppedTaskInfo:
    containers = tuple(ContainerExit(name=str(c.get("name", "")), exit_code=c.get("exitCode"), reason=c.get("reason"))
                       for c in task.get("containers", []))
    return StoppedTaskInfo(task_arn=task["taskArn"], task_definition_arn=str(task.get("taskDefinitionArn", "")),
                           stopped_reason=str(task.get("stoppedReason", "")), stop_code=task.get("stopCode"),
                           containers=containers)


class CloudWatchLogTail:
    """`LogTail` on CloudWatch Logs GetLogEvents (from the end of the stream)."""

    def __init__(self, client: CloudWatchLogsClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> CloudWatchLogsClient:
        if self._client is None:
            self._client = new_client("logs", self._session)
        return self._client

    def tail(self, group: str, stream: str, lines: int) -> list[str]:
        try:
            page = self.client.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=False,
                                              limit=lines)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return []
            raise
        messages = [event.get("message", "").rstrip("\n") for event in page.get("events", [])]
        return messages[-lines:]


class CloudWatchMetricSums:
    """`MetricSums` on CloudWatch GetMetricData: one Sum datapoint per period, added up over the window."""

    def __init__(self, client: CloudWatchClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> CloudWatchClient:
        if self._client is None:
            self._client = new_client("cloudwatch", self._session)
        return self._client

    def sums(self, queries: Sequence[MetricSumQuery], start: datetime, end: datetime) -> dict[str, float | None]:
        # One period over the whole window (a multiple of 60 s), so each query returns at most a few datapoints.
        period = max(60, math.ceil((end - start).total_seconds() / 60) * 60)
        ids = {f"q{index}": query.id for index, query in enumerate(queries)}
        values: dict[str, list[float]] = {query.id: [] for query in queries}
        for first in range(0, len(queries), QUERIES_PER_CALL):
            chunk = list(enumerate(queries))[first:first + QUERIES_PER_CALL]
            data: list[Any] = [{
                "Id": f"q{index}", "ReturnData": True,
                "MetricStat": {"Metric": {"Namespace": query.namespace, "MetricName": query.metric,
                                          "Dimensions": [{"Name": k, "Value": v} for k, v in query.dimensions]},
                               "Period": period, "Stat": "Sum"},
            } for index, query in chunk]
            paginator = self.client.get_paginator("get_metric_data")
            for page in paginator.paginate(MetricDataQueries=data, StartTime=start, EndTime=end):
                for result in page.get("MetricDataResults", []):
                    values[ids[result["Id"]]] += [float(value) for value in result.get("Values", [])]
        return {name: (sum(found) if found else None) for name, found in values.items()}
