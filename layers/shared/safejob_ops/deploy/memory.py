"""In-memory twins of the deploy ports, for unit tests of the deploy use cases (safejob_ops.deploy.service) and for
dry runs. The ledger's twin is `safejob_ops.deploy.ledger.InMemoryDeployLedger`; the lock, the task definitions and
the publisher are the migrate ones (`safejob_ops.migrate.memory`).

They keep the adapters' contracts: an unknown ECS service, listener or task definition is a LookupError; an update
also sets the service's auto scaling minimum; a forward replaces the whole action; closing a closed or unknown
maintenance window is not an error. Every twin records its calls (the writes, to assert that a refusal wrote nothing)
and can be made to fail: `fail=True` makes every call raise ConnectionError, `fail={"close"}` only the named ones.

>>> services = MemoryServices({"web-blue": ServiceState(desired_count=2, running_count=2, task_definition="td:1")})
>>> services.update("cluster", "web-blue", desired_count=0)
>>> services.describe("cluster", "web-blue").running_count, services.minimums, len(services.updates)
(0, {'web-blue': 0}, 1)
>>> MemoryMaintenance(fail={"close"}).close("silence-1")
Traceback (most recent call last):
...
ConnectionError: MemoryMaintenance.close: connection reset
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from safejob_ops.deploy.canary import CanaryObservation
from safejob_ops.deploy.canary_metrics import MetricWindow, TargetGroupRef
from safejob_ops.deploy.ports import AwsLogsLocation, MetricSumQuery, ScanResult, ServiceState, StoppedTaskInfo

Faults = bool | Collection[str]


class _Failing:
    """`fail`: True (every call raises ConnectionError) or the names of the calls that do."""

    fail: Faults = False

    def _call(self, name: str) -> None:
        if self.fail is True or (not isinstance(self.fail, bool) and name in self.fail):
            raise ConnectionError(f"{type(self).__name__}.{name}: connection reset")


# ------------------------------------------------------------------------------------------- the fleet
@dataclass(frozen=True)
class ServiceUpdate:
    cluster: str
    service: str
    desired_count: int
    task_definition: str | None


class MemoryServices(_Failing):
    """`EcsServices`: services by name (any cluster). An update converges at once (running = desired) unless
    `converge` is False; `set` changes what `describe` reports (a slow start, a FAILED rollout)."""

    def __init__(self, services: Mapping[str, ServiceState] | None = None, *, converge: bool = True,
                 fail: Faults = False) -> None:
        self.services: dict[str, ServiceState] = dict(services or {})
        self.updates: list[ServiceUpdate] = []
        self.minimums: dict[str, int] = {}  # the auto scaling minimum each update set
        self.converge = converge
        self.fail = fail

    def describe(self, cluster: str, service: str) -> ServiceState:
        self._call("describe")
        if service not in self.services:
            raise LookupError(f"ECS service {service} not found in {cluster}")
        return self.services[service]

    def update(self, cluster: str, service: str, desired_count: int, task_definition: str | None = None) -> None:
        self._call("update")
        if service not in self.services:
            raise LookupError(f"ECS service {service} not found in {cluster}")
        current = self.services[service]
        changes: dict[str, object] = {"desired_count": desired_count}
        if task_definition is not None:
            changes["task_definition"] = task_definition
        if self.converge:
            changes["running_count"] = desired_count
        self.services[service] = current.model_copy(update=changes)
        self.minimums[service] = desired_count
        self.updates.append(ServiceUpdate(cluster, service, desired_count, task_definition))

    def set(self, service: str, **changes: object) -> None:
        """Change what `describe` reports, e.g. `set("web-green", running_count=1, rollout_state="FAILED")`."""
        self.services[service] = self.services[service].model_copy(update=changes)


class MemoryForwarding(_Failing):
    """`Forwarding`: per (kind, ARN), the forward action's target group ARN -> weight; `forward` replaces it whole."""

    def __init__(self, weights: Mapping[tuple[str, str], Mapping[str, int]] | None = None, *,
                 fail: Faults = False) -> None:
        self.actions: dict[tuple[str, str], dict[str, int]] = {key: dict(value) for key, value in
                                                               (weights or {}).items()}
        self.forwards: list[tuple[str, str, dict[str, int]]] = []  # every write, in order
        self.fail = fail

    def weights(self, kind: str, arn: str) -> dict[str, int]:
        self._call("weights")
        if (kind, arn) not in self.actions:
            raise LookupError(f"no {kind} {arn}")
        return dict(self.actions[(kind, arn)])

    def forward(self, kind: str, arn: str, weights: Mapping[str, int]) -> None:
        self._call("forward")
        if (kind, arn) not in self.actions:
            raise LookupError(f"no {kind} {arn}")
        self.actions[(kind, arn)] = dict(weights)
        self.forwards.append((kind, arn, dict(weights)))


class MemoryTargetHealth(_Failing):
    """`TargetHealth`: the targets' states per target group ARN (none registered: [])."""

    def __init__(self, states: Mapping[str, Sequence[str]] | None = None, *, fail: Faults = False) -> None:
        self.groups: dict[str, list[str]] = {arn: list(value) for arn, value in (states or {}).items()}
        self.fail = fail

    def set(self, target_group_arn: str, states: Sequence[str]) -> None:
        self.groups[target_group_arn] = list(states)

    def states(self, target_group_arn: str) -> list[str]:
        self._call("states")
        return list(self.groups.get(target_group_arn, []))


class MemoryImages(_Failing):
    """`ContainerImages`: per task definition ARN, its app image (every container reads the same one)."""

    def __init__(self, images: Mapping[str, str] | None = None, *, fail: Faults = False) -> None:
        self.images: dict[str, str] = dict(images or {})
        self.fail = fail

    def image(self, task_definition: str, container: str) -> str:
        self._call("image")
        if task_definition not in self.images:
            raise LookupError(f"task definition {task_definition} not found")
        return self.images[task_definition]


@dataclass(frozen=True)
class MaintenanceWindow:
    silence_id: str
    service: str
    opened_by: str
    duration_minutes: int


class MemoryMaintenance(_Failing):
    """`MaintenanceWindows`: `open` returns `silence-<n>`; `windows` are the open ones, `opened` and `closed` every
    call (a close of a closed or unknown id is recorded too, and is fine)."""

    def __init__(self, *, fail: Faults = False) -> None:
        self.windows: dict[str, MaintenanceWindow] = {}
        self.opened: list[MaintenanceWindow] = []
        self.closed: list[str] = []
        self._ids = itertools.count(1)
        self.fail = fail

    def open(self, service: str, opened_by: str, duration_minutes: int) -> str:
        self._call("open")
        window = MaintenanceWindow(f"silence-{next(self._ids)}", service, opened_by, duration_minutes)
        self.windows[window.silence_id] = window
        self.opened.append(window)
        return window.silence_id

    def close(self, silence_id: str) -> None:
        self._call("close")
        self.windows.pop(silence_id, None)
        self.closed.append(silence_id)


# ------------------------------------------------------------------------------------------- canary analysis
class MemoryCanaryMetrics(_Failing):
    """`CanaryMetricsPort`: the observation configured per (baseline, canary) target group (`targetgroup/...`), else
    `default`, else LookupError. `calls` records each (baseline, canary, alarm names, window)."""

    def __init__(self, observations: Mapping[tuple[str, str], CanaryObservation] | None = None, *,
                 default: CanaryObservation | None = None, fail: Faults = False) -> None:
        self.observations: dict[tuple[str, str], CanaryObservation] = dict(observations or {})
        self.default = default
        self.calls: list[tuple[TargetGroupRef, TargetGroupRef, tuple[str, ...], MetricWindow]] = []
        self.fail = fail

    def set(self, baseline: str, canary: str, observation: CanaryObservation) -> None:
        self.observations[(baseline, canary)] = observation

    def observe(self, baseline: TargetGroupRef, canary: TargetGroupRef, alarm_names: Sequence[str],
                window: MetricWindow) -> CanaryObservation:
        self._call("observe")
        self.calls.append((baseline, canary, tuple(alarm_names), window))
        found = self.observations.get((baseline.target_group, canary.target_group), self.default)
        if found is None:
            raise LookupError(f"no observation of {baseline.target_group} against {canary.target_group}")
        # The port leaves out the alarms that do not exist; the analysis reports them as missing.
        return found.model_copy(update={"alarms": {n: s for n, s in found.alarms.items() if n in alarm_names}})


# ------------------------------------------------------------------------------------------- preflight
class MemoryRegistry(_Failing):
    """`ImageRegistry`: the (repository, digest) pairs pushed; a pushed image's scan is `scans[repository]`, else
    COMPLETE and clean; an image not pushed has no scan (NOT_FOUND)."""

    def __init__(self, images: Collection[tuple[str, str]] = (), scans: Mapping[str, ScanResult] | None = None, *,
                 fail: Faults = False) -> None:
        self.images: set[tuple[str, str]] = set(images)
        self.scans: dict[str, ScanResult] = dict(scans or {})
        self.calls: list[tuple[str, str | None, str, str]] = []  # (call, registry, repository, digest)
        self.fail = fail

    def image_exists(self, registry: str | None, repository: str, digest: str) -> bool:
        self._call("image_exists")
        self.calls.append(("image_exists", registry, repository, digest))
        return (repository, digest) in self.images

    def scan(self, registry: str | None, repository: str, digest: str) -> ScanResult:
        self._call("scan")
        self.calls.append(("scan", registry, repository, digest))
        if (repository, digest) not in self.images:
            return ScanResult(status="NOT_FOUND", description="no such image")
        return self.scans.get(repository, ScanResult(status="COMPLETE"))


class MemoryParameters(_Failing):
    """`Parameters`: name -> value (a missing name: None)."""

    def __init__(self, values: Mapping[str, str] | None = None, *, fail: Faults = False) -> None:
        self.values: dict[str, str] = dict(values or {})
        self.fail = fail

    def get(self, name: str) -> str | None:
        self._call("get")
        return self.values.get(name)


class MemoryAlarms(_Failing):
    """`AlarmStates`: name -> state; names that do not exist are left out of the answer, as CloudWatch does."""

    def __init__(self, states: Mapping[str, str] | None = None, *, fail: Faults = False) -> None:
        self.alarm_states: dict[str, str] = dict(states or {})
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    def states(self, names: Sequence[str]) -> Mapping[str, str]:
        self._call("states")
        self.calls.append(tuple(names))
        return {name: self.alarm_states[name] for name in names if name in self.alarm_states}


# ------------------------------------------------------------------------------------------- smoke tests
class MemorySmokeHttp(_Failing):
    """`SmokeHttpPort`: per URL, a (status, body) answer or an exception to raise; others get `default`."""

    def __init__(self, answers: Mapping[str, tuple[int, str] | Exception] | None = None, *,
                 default: tuple[int, str] = (200, "ok"), fail: Faults = False) -> None:
        self.answers: dict[str, tuple[int, str] | Exception] = dict(answers or {})
        self.default = default
        self.calls: list[tuple[str, float]] = []
        self.fail = fail

    def get(self, url: str, timeout: float) -> tuple[int, str]:
        self.calls.append((url, timeout))
        self._call("get")
        answer = self.answers.get(url, self.default)
        if isinstance(answer, Exception):
            raise answer
        return answer


# ------------------------------------------------------------------------------------------- rollback diagnostics
class MemoryStoppedTasks(_Failing):
    """`StoppedTasks`: per ECS service name, its stopped tasks (newest first); per task definition ARN, its awslogs
    locations by container."""

    def __init__(self, tasks: Mapping[str, Sequence[StoppedTaskInfo]] | None = None,
                 logs: Mapping[str, Mapping[str, AwsLogsLocation]] | None = None, *, fail: Faults = False) -> None:
        self.tasks: dict[str, list[StoppedTaskInfo]] = {name: list(value) for name, value in (tasks or {}).items()}
        self.logs: dict[str, dict[str, AwsLogsLocation]] = {arn: dict(value) for arn, value in (logs or {}).items()}
        self.calls: list[tuple[str, str, int]] = []
        self.fail = fail

    def stopped(self, cluster: str, service: str, limit: int) -> list[StoppedTaskInfo]:
        self._call("stopped")
        self.calls.append((cluster, service, limit))
        return self.tasks.get(service, [])[:limit]

    def log_locations(self, task_definition_arn: str) -> Mapping[str, AwsLogsLocation]:
        self._call("log_locations")
        return dict(self.logs.get(task_definition_arn, {}))


class MemoryLogTail(_Failing):
    """`LogTail`: per (group, stream), its lines, oldest first (a missing stream: [])."""

    def __init__(self, streams: Mapping[tuple[str, str], Sequence[str]] | None = None, *,
                 fail: Faults = False) -> None:
        self.streams: dict[tuple[str, str], list[str]] = {key: list(value) for key, value in (streams or {}).items()}
        self.fail = fail

    def tail(self, group: str, stream: str, lines: int) -> list[str]:
        self._call("tail")
        return self.streams.get((group, stream), [])[-lines:] if lines > 0 else []


class MemoryMetricSums(_Failing):
    """`MetricSums`: per query id, its sum (an id not configured: None, no datapoint). `calls` records each query."""

    def __init__(self, sums: Mapping[str, float | None] | None = None, *, fail: Faults = False) -> None:
        self.sums_by_id: dict[str, float | None] = dict(sums or {})
        self.calls: list[tuple[tuple[MetricSumQuery, ...], datetime, datetime]] = []
        self.fail = fail

    def sums(self, queries: Sequence[MetricSumQuery], start: datetime, end: datetime) -> Mapping[str, float | None]:
        self._call("sums")
        self.calls.append((tuple(queries), start, end))
        return {query.id: self.sums_by_id.get(query.id) for query in queries}


if TYPE_CHECKING:  # each twin satisfies its port (checked by mypy, not at run time)
    from safejob_ops.deploy.canary_metrics import CanaryMetricsPort
    from safejob_ops.deploy.ports import (
        AlarmStates,
        ContainerImages,
        EcsServices,
        Forwarding,
        ImageRegistry,
        LogTail,
        MaintenanceWindows,
        MetricSums,
        Parameters,
        SmokeHttpPort,
        StoppedTasks,
        TargetHealth,
    )

    _ports: tuple[EcsServices, Forwarding, TargetHealth, ContainerImages, MaintenanceWindows, CanaryMetricsPort,
                  ImageRegistry, Parameters, AlarmStates, SmokeHttpPort, StoppedTasks, LogTail, MetricSums] = (
        MemoryServices(), MemoryForwarding(), MemoryTargetHealth(), MemoryImages(), MemoryMaintenance(),
        MemoryCanaryMetrics(), MemoryRegistry(), MemoryParameters(), MemoryAlarms(), MemorySmokeHttp(),
        MemoryStoppedTasks(), MemoryLogTail(), MemoryMetricSums())
