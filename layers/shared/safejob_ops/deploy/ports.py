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
