"""Rollback diagnostics: what to keep of a failed release, captured best-effort before green is scaled to 0.

- the STOPPED tasks of the green services: stopped reason, stop code, each container's exit code and reason;
- for each failed task (`task_failed`: a container did not exit 0, or it failed to start or its health checks), the
  last 20 lines of its awslogs streams
  (`<prefix>/<container>/<task id>`, from the task definition's logConfiguration);
- the states of the given alarms;
- per green target group, the sums over the window of AWS/ApplicationELB `HTTPCode_Target_5XX_Count` and
  `RequestCount` (`<service>.target_5xx_count`, `<service>.request_count`).

Every part is best-effort: a call that fails becomes a note in `RollbackDiagnostics.notes`, never an exception,
because diagnostics must never block a rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from safejob_ops.deploy.models import RollbackDiagnostics, StoppedTask
from safejob_ops.deploy.ports import AlarmStates, LogTail, MetricSumQuery, MetricSums, StoppedTaskInfo, StoppedTasks

LOG_LINES = 20
MAX_TASKS_PER_SERVICE = 10  # bounds the log calls: the most recent stopped tasks tell the story
ALB_NAMESPACE = "AWS/ApplicationELB"
_FAILED_STOP_CODES = frozenset({"TaskFailedToStart", "EssentialContainerExited"})
_METRICS = {"target_5xx_count": "HTTPCode_Target_5XX_Count", "request_count": "RequestCount"}


class GreenService(BaseModel):
    """A green ECS service and, when it has one, its target group (ARN suffixes, as the ALB metrics name them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="the ECS service name")
    target_group: str | None = Field(default=None, description="e.g. targetgroup/safejob-backend-green/0123abcd")
    load_balancer: str | None = Field(default=None, description="e.g. app/safejob-production/0123abcd")


class DiagnosticsWindow(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


@dataclass(frozen=True)
class DiagnosticsPorts:
    tasks: StoppedTasks
    logs: LogTail
    alarms: AlarmStates
    metrics: MetricSums


def collect_diagnostics(cluster: str, services: Sequence[GreenService], alarm_names: Sequence[str],
                        window: DiagnosticsWindow, ports: DiagnosticsPorts, *, reason: str = "rollback",
                        failed_step: str | None = None) -> RollbackDiagnostics:
    """Capture the rollback diagnostics; never raises for a failing call (it becomes a note).

    >>> class Down:
    ...     def __getattr__(self, name):
    ...         def fail(*args): raise TimeoutError("no answer")
    ...         return fail
    >>> from datetime import UTC, datetime
    >>> window = DiagnosticsWindow(start=datetime(2026, 3, 1, tzinfo=UTC), end=datetime(2026, 3, 1, 1, tzinfo=UTC))
    >>> collect_diagnostics("c", [GreenService(name="backend-green")], ["a"], window,
    ...     DiagnosticsPorts(Down(), Down(), Down(), Down()), reason="canary").notes
    ('stopped tasks of backend-green: TimeoutError: no answer', 'alarm states: TimeoutError: no answer')
    """
    notes: list[str] = []
    stopped: list[StoppedTask] = []
    for service in services:
        infos = _best_effort(notes, f"stopped tasks of {service.name}",
                             partial(ports.tasks.stopped, cluster, service.name, MAX_TASKS_PER_SERVICE))
        stopped += [_stopped_task(info, service.name, ports, notes) for info in infos or [] if not scaled_in(info)]
    alarm_states: dict[str, str] = {}
    if alarm_names:
        states = _best_effort(notes, "alarm states", lambda: ports.alarms.states(list(dict.fromkeys(alarm_names))))
        if states is not None:
            alarm_states = {name: states.get(name, "NOT_FOUND") for name in dict.fromkeys(alarm_names)}
    metrics: dict[str, float | None] = {}
    queries = [query for service in services for query in _metric_queries(service)]
    if queries:
        sums = _best_effort(notes, "metrics", lambda: ports.metrics.sums(queries, window.start, window.end))
        if sums is not None:
            metrics = {query.id: sums.get(query.id) for query in queries}
    return RollbackDiagnostics(reason=reason, failed_step=failed_step, stopped_tasks=tuple(stopped),
                               alarm_states=alarm_states, metrics=metrics, notes=tuple(notes))


SCALE_IN_REASON = "Scaling activity initiated by"


def scaled_in(info: StoppedTaskInfo) -> bool:
    """A task ECS stopped to scale the service in (a retire, a rollback, auto scaling): normal, not evidence.

    >>> from safejob_ops.deploy.models import ContainerExit
    >>> scaled_in(StoppedTaskInfo(task_arn="t", task_definition_arn="d",
    ...     stopped_reason="Scaling activity initiated by (deployment ecs-svc/123)",
    ...     containers=(ContainerExit(name="app", exit_code=0),)))
    True
    """
    return info.stopped_reason.startswith(SCALE_IN_REASON) and not task_failed(info)


def task_failed(info: StoppedTaskInfo) -> bool:
    """Whether a stopped task failed: a container exited non-zero or never ran (no exit code), the stop code says
    it failed to start or an essential container exited, or it failed its health checks (it may still exit 0 on the
    SIGTERM that follows). A scale-in or a manual stop whose containers all exited 0 is not a failure.

    >>> from safejob_ops.deploy.models import ContainerExit
    >>> task_failed(StoppedTaskInfo(task_arn="t", task_definition_arn="d", stopped_reason="Scaling activity",
    ...     containers=(ContainerExit(name="app", exit_code=0),)))
    False
    """
    if not info.containers or any(container.exit_code != 0 for container in info.containers):
        return True
    return info.stop_code in _FAILED_STOP_CODES or "health check" in info.stopped_reason.lower()


def task_id(task_arn: str) -> str:
    """The id of a task from its ARN (old and new formats).

    >>> task_id("arn:aws:ecs:eu-west-1:123456789012:task/safejob/0123abcd")
    '0123abcd'
    """
    return task_arn.rsplit("/", 1)[-1]


def _best_effort[T](notes: list[str], what: str, call: Callable[[], T]) -> T | None:
    try:
        return call()
    except Exception as exc:  # diagnostics must never block a rollback: the failure is recorded instead
        notes.append(f"{what}: {type(exc).__name__}: {exc}")
        return None


def _stopped_task(info: StoppedTaskInfo, service: str, ports: DiagnosticsPorts, notes: list[str]) -> StoppedTask:
    lines: list[str] = []
    if task_failed(info):
        lines = _last_lines(info, ports, notes)
    return StoppedTask(task_arn=info.task_arn, reason=info.stopped_reason, last_log_lines=tuple(lines),
                       service=service, stop_code=info.stop_code, containers=info.containers)


def _last_lines(info: StoppedTaskInfo, ports: DiagnosticsPorts, notes: list[str]) -> list[str]:
    locations = _best_effort(notes, f"log configuration of {info.task_definition_arn}",
                             lambda: ports.tasks.log_locations(info.task_definition_arn))
    if not locations:
        return []
    names = [container.name for container in info.containers if container.name in locations] or sorted(locations)
    lines: list[str] = []
    for name in names:
        location = locations[name]
        stream = f"{location.stream_prefix}/{name}/{task_id(info.task_arn)}"
        tail = _best_effort(notes, f"logs of {stream}", partial(ports.logs.tail, location.group, stream, LOG_LINES))
        prefix = f"[{name}] " if len(names) > 1 else ""
        lines += [prefix + line for line in tail or []]
    return lines[-LOG_LINES:]


def _metric_queries(service: GreenService) -> list[MetricSumQuery]:
    if service.target_group is None:
        return []
    dimensions: tuple[tuple[str, str], ...] = (("TargetGroup", service.target_group),)
    if service.load_balancer is not None:
        dimensions += (("LoadBalancer", service.load_balancer),)
    return [MetricSumQuery(id=f"{service.name}.{key}", namespace=ALB_NAMESPACE, metric=metric, dimensions=dimensions)
            for key, metric in _METRICS.items()]
