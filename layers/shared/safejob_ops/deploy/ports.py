"""What the deploy preflight needs from the outside world, as ports.

Adapters (boto3): `safejob_ops.adapters.deploy_preflight` (`EcrImages`, `SsmParameters`, `CloudWatchAlarmStates`);
the smoke tests' HTTP port: `safejob_ops.adapters.smoke_http`; the rollback diagnostics' ports:
`safejob_ops.adapters.deploy_diagnostics`;
the ledger's port and adapter are in `safejob_ops.deploy.ledger` and `safejob_ops.adapters.deploy_ledger`; the deploy
lock is `safejob_ops.adapters.locks.DynamoLocks` (the `safejob_ops.migrate.ports.Locks` port), taken by the state
machine, not by preflight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from safejob_ops.deploy.models import ContainerExit

ScanStatus = Literal["COMPLETE", "IN_PROGRESS", "FAILED", "NOT_FOUND", "OTHER"]


class ScanFinding(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    severity: str


class ScanResult(BaseModel):
    """An image's scan: its status and its findings (every severity, as the registry reports them)."""

    model_config = ConfigDict(frozen=True)

    status: ScanStatus
    findings: tuple[ScanFinding, ...] = ()
    description: str = ""

    @property
    def critical(self) -> tuple[str, ...]:
        return tuple(sorted({finding.name for finding in self.findings if finding.severity.upper() == "CRITICAL"}))


class ImageRegistry(Protocol):
    def image_exists(self, registry: str | None, repository: str, digest: str) -> bool:
        """Whether the repository holds an image with this digest (a missing repository: False)."""
        ...

    def scan(self, registry: str | None, repository: str, digest: str) -> ScanResult:
        """The image's scan findings (status NOT_FOUND when the image or its scan does not exist)."""
        ...


class Parameters(Protocol):
    def get(self, name: str) -> str | None:
        """A parameter's value, or None when it does not exist."""
        ...


class AlarmStates(Protocol):
    def states(self, names: Sequence[str]) -> Mapping[str, str]:
        """The state of each named alarm that exists (OK, ALARM, INSUFFICIENT_DATA); missing ones are absent."""
        ...


# ------------------------------------------------------------------------------------------- smoke tests
class SmokeHttpPort(Protocol):
    def get(self, url: str, timeout: float) -> tuple[int, str]:
        """(status, body text) of a GET, redirects not followed; raises on a connection error or a timeout."""
        ...


# ------------------------------------------------------------------------------------------- rollback diagnostics
class StoppedTaskInfo(BaseModel):
    """A stopped ECS task as DescribeTasks reports it (`containers`: name, exit code, reason)."""

    model_config = ConfigDict(frozen=True)

    task_arn: str
    task_definition_arn: str
    stopped_reason: str = ""
    stop_code: str | None = None
    containers: tuple[ContainerExit, ...] = ()


class AwsLogsLocation(BaseModel):
    """A container's awslogs configuration: its stream is `<stream_prefix>/<container>/<task id>` in `group`."""

    model_config = ConfigDict(frozen=True)

    group: str
    stream_prefix: str


class MetricSumQuery(BaseModel):
    """One metric summed over a window: e.g. AWS/ApplicationELB RequestCount of one target group."""

    model_config = ConfigDict(frozen=True)

    id: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]


class StoppedTasks(Protocol):
    def stopped(self, cluster: str, service: str, limit: int) -> list[StoppedTaskInfo]:
        """At most `limit` STOPPED tasks of the service (ListTasks desiredStatus STOPPED, then DescribeTasks)."""
        ...

    def log_locations(self, task_definition_arn: str) -> Mapping[str, AwsLogsLocation]:
        """Per container name, its awslogs location (containers logging elsewhere are absent)."""
        ...


class LogTail(Protocol):
    def tail(self, group: str, stream: str, lines: int) -> list[str]:
        """The last `lines` messages of a log stream, oldest first ([] when the stream does not exist)."""
        ...


class MetricSums(Protocol):
    def sums(self, queries: Sequence[MetricSumQuery], start: datetime, end: datetime) -> Mapping[str, float | None]:
        """Per query id, the metric's Sum over [start, end) (None: no datapoint)."""
        ...


# ------------------------------------------------------------------------------------------- the workflow's writes
class ServiceState(BaseModel):
    """An ECS service as DescribeServices reports it (`rollout_state` of its PRIMARY deployment)."""

    model_config = ConfigDict(frozen=True)

    desired_count: int
    running_count: int
    task_definition: str
    rollout_state: str | None = None
    rollout_reason: str = ""


class EcsServices(Protocol):
    def describe(self, cluster: str, service: str) -> ServiceState:
        """The service's counts and the task definition of its PRIMARY deployment."""
        ...

    def update(self, cluster: str, service: str, desired_count: int, task_definition: str | None = None) -> None:
        """Set the service's desired count (and its auto scaling minimum to match), and optionally its task
        definition."""
        ...


class TargetHealth(Protocol):
    def states(self, target_group_arn: str) -> list[str]:
        """The health state of each registered target (healthy, unhealthy, initial, draining, ...)."""
        ...


class Forwarding(Protocol):
    def weights(self, kind: str, arn: str) -> dict[str, int]:
        """Target group ARN -> weight of a listener's default forward action (`kind` listener) or a rule's."""
        ...

    def forward(self, kind: str, arn: str, weights: Mapping[str, int]) -> None:
        """Replace the forward action's target groups and weights (ModifyListener or ModifyRule)."""
        ...


class ContainerImages(Protocol):
    def image(self, task_definition: str, container: str) -> str:
        """The image of one container of a task definition."""
        ...


class MaintenanceWindows(Protocol):
    def open(self, service: str, opened_by: str, duration_minutes: int) -> str:
        """Open an alarm-routing maintenance window for the service; returns its silence id."""
        ...

    def close(self, silence_id: str) -> None:
        """Close (expire) a maintenance window; closing a closed or unknown one is not an error."""
        ...
