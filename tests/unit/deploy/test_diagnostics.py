"""Rollback diagnostics (safejob_ops.deploy.diagnostics) over fakes: what is captured, and that nothing raises."""

from __future__ import annotations

import doctest
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from safejob_ops.deploy import diagnostics
from safejob_ops.deploy.diagnostics import (
    LOG_LINES,
    DiagnosticsPorts,
    DiagnosticsWindow,
    GreenService,
    collect_diagnostics,
)
from safejob_ops.deploy.models import ContainerExit, DeployRecord, RollbackDiagnostics
from safejob_ops.deploy.ports import AwsLogsLocation, MetricSumQuery, StoppedTaskInfo

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = DiagnosticsWindow(start=T0, end=T0 + timedelta(minutes=15))
CLUSTER = "safejob-production"
TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/safejob-backend:7"
CRASHED = StoppedTaskInfo(
    task_arn="arn:aws:ecs:eu-west-1:123456789012:task/safejob-production/aaa111", task_definition_arn=TD,
    stopped_reason="Essential container in task exited", stop_code="EssentialContainerExited",
    containers=(ContainerExit(name="app", exit_code=1, reason=None),
                ContainerExit(name="sidecar", exit_code=0, reason=None)))
CLEAN = StoppedTaskInfo(
    task_arn="arn:aws:ecs:eu-west-1:123456789012:task/safejob-production/bbb222", task_definition_arn=TD,
    stopped_reason="Scaling activity initiated by deployment", stop_code="ServiceSchedulerInitiated",
    containers=(ContainerExit(name="app", exit_code=0),))
BACKEND = GreenService(name="safejob-backend-green", target_group="targetgroup/backend-green/01",
                       load_balancer="app/safejob/02")


class FakeTasks:
    def __init__(self, tasks: dict[str, list[StoppedTaskInfo]], fail: set[str] | None = None) -> None:
        self.tasks = tasks
        self.fail = fail or set()
        self.calls: list[tuple[str, str, int]] = []

    def stopped(self, cluster: str, service: str, limit: int) -> list[StoppedTaskInfo]:
        self.calls.append((cluster, service, limit))
        if service in self.fail:
            raise RuntimeError(f"AccessDenied on {service}")
        return self.tasks.get(service, [])

    def log_locations(self, task_definition_arn: str) -> Mapping[str, AwsLogsLocation]:
        return {"app": AwsLogsLocation(group="/safejob/backend", stream_prefix="backend"),
                "sidecar": AwsLogsLocation(group="/safejob/backend", stream_prefix="backend")}


class FakeLogs:
    def __init__(self, streams: dict[str, list[str]]) -> None:
        self.streams = streams
        self.calls: list[tuple[str, str, int]] = []

    def tail(self, group: str, stream: str, lines: int) -> list[str]:
        self.calls.append((group, stream, lines))
        if stream not in self.streams:
            raise ConnectionError("logs endpoint unreachable")
        return self.streams[stream][-lines:]


class FakeAlarms:
    def states(self, names: Sequence[str]) -> Mapping[str, str]:
        return {name: "ALARM" for name in names if "5xx" in name}


class FakeMetrics:
    def __init__(self) -> None:
        self.queries: list[MetricSumQuery] = []

    def sums(self, queries: Sequence[MetricSumQuery], start: datetime, end: datetime) -> Mapping[str, float | None]:
        self.queries = list(queries)
        assert (start, end) == (WINDOW.start, WINDOW.end)
        return {queries[0].id: 42.0}


class Broken:
    def __getattr__(self, name: str) -> object:
        def fail(*args: object) -> object:
            raise TimeoutError(f"{name} timed out")
        return fail


def ports(tasks: object = None, logs: object = None, alarms: object = None, metrics: object = None) -> DiagnosticsPorts:
    return DiagnosticsPorts(tasks=tasks or FakeTasks({}), logs=logs or FakeLogs({}),  # type: ignore[arg-type]
                            alarms=alarms or FakeAlarms(), metrics=metrics or FakeMetrics())  # type: ignore[arg-type]


def test_everything_is_captured() -> None:
    # GIVEN a crashed task and a cleanly stopped one, logs, alarms and metrics
    tasks = FakeTasks({BACKEND.name: [CRASHED, CLEAN]})
    logs = FakeLogs({"backend/app/aaa111": [f"line {n}" for n in range(30)], "backend/sidecar/aaa111": ["sc"]})
    metrics = FakeMetrics()
    # WHEN the diagnostics are collected
    result = collect_diagnostics(CLUSTER, [BACKEND], ["safejob-production-alb-5xx-rate", "missing-alarm"], WINDOW,
                                 ports(tasks, logs, FakeAlarms(), metrics), reason="canary: rollback verdict",
                                 failed_step="step 10%")
    # THEN the crashed task has its containers and the last 20 lines; the clean scale-in is not evidence: left out
    assert tasks.calls == [(CLUSTER, BACKEND.name, diagnostics.MAX_TASKS_PER_SERVICE)]
    [crashed] = result.stopped_tasks
    assert crashed.stop_code == "EssentialContainerExited"
    assert crashed.reason == "Essential container in task exited"
    assert crashed.service == BACKEND.name
    assert crashed.containers[0] == ContainerExit(name="app", exit_code=1)
    assert len(crashed.last_log_lines) == LOG_LINES
    assert crashed.last_log_lines[-1] == "[sidecar] sc"
    assert crashed.last_log_lines[0] == "[app] line 11"
    assert ("/safejob/backend", "backend/app/aaa111", LOG_LINES) in logs.calls
    assert not any(CLEAN.task_arn == task.task_arn for task in result.stopped_tasks)
    # AND the alarms (a missing one is NOT_FOUND) and both metric sums of the target group
    assert result.alarm_states == {"safejob-production-alb-5xx-rate": "ALARM", "missing-alarm": "NOT_FOUND"}
    assert [(q.metric, q.dimensions) for q in metrics.queries] == [
        ("HTTPCode_Target_5XX_Count", (("TargetGroup", BACKEND.target_group), ("LoadBalancer", "app/safejob/02"))),
        ("RequestCount", (("TargetGroup", BACKEND.target_group), ("LoadBalancer", "app/safejob/02"))),
    ]
    assert result.metrics == {f"{BACKEND.name}.target_5xx_count": 42.0, f"{BACKEND.name}.request_count": None}
    assert (result.reason, result.failed_step, result.notes) == ("canary: rollback verdict", "step 10%", ())


def test_every_failing_part_is_a_note_never_an_exception() -> None:
    # GIVEN every port failing
    # WHEN the diagnostics are collected
    result = collect_diagnostics(CLUSTER, [BACKEND], ["a"], WINDOW, ports(Broken(), Broken(), Broken(), Broken()))
    # THEN a result with one note per part, and nothing captured
    assert result.stopped_tasks == ()
    assert result.alarm_states == {}
    assert result.metrics == {}
    assert [note.split(":")[0] for note in result.notes] == [
        f"stopped tasks of {BACKEND.name}", "alarm states", "metrics"]
    assert all("TimeoutError" in note for note in result.notes)


def test_a_failing_service_or_stream_does_not_hide_the_others() -> None:
    # GIVEN one service whose listing fails, and a task whose log stream cannot be read
    frontend = GreenService(name="safejob-frontend-green")
    tasks = FakeTasks({BACKEND.name: [CRASHED]}, fail={frontend.name})
    logs = FakeLogs({"backend/sidecar/aaa111": ["sidecar said"]})
    # WHEN collected
    result = collect_diagnostics(CLUSTER, [frontend, BACKEND], [], WINDOW, ports(tasks, logs))
    # THEN the other service's task and the readable stream are there, and both failures are notes
    assert [task.task_arn for task in result.stopped_tasks] == [CRASHED.task_arn]
    assert result.stopped_tasks[0].last_log_lines == ("[sidecar] sidecar said",)
    assert len(result.notes) == 2
    assert result.notes[0].startswith(f"stopped tasks of {frontend.name}: RuntimeError")
    assert result.notes[1].startswith("logs of backend/app/aaa111: ConnectionError")


def test_no_alarm_and_no_target_group_means_no_call() -> None:
    result = collect_diagnostics(CLUSTER, [GreenService(name="svc")], [], WINDOW,
                                 ports(alarms=Broken(), metrics=Broken()))
    assert (result.alarm_states, result.metrics, result.notes) == ({}, {}, ())


@pytest.mark.parametrize(("update", "failed"), [
    ({}, False),
    ({"containers": (ContainerExit(name="app"),)}, True),
    ({"containers": ()}, True),
    ({"containers": (ContainerExit(name="app", exit_code=137),)}, True),
    ({"stop_code": "TaskFailedToStart"}, True),
    ({"stop_code": "UserInitiated", "stopped_reason": "stopped by alice"}, False),
    ({"stopped_reason": "Task failed ELB health checks in (target-group arn:...)"}, True),
])
def test_which_tasks_failed(update: dict[str, object], failed: bool) -> None:
    assert diagnostics.task_failed(CLEAN.model_copy(update=update)) is failed


def test_the_window_must_be_ordered() -> None:
    with pytest.raises(ValidationError):
        DiagnosticsWindow(start=T0, end=T0)


def test_diagnostics_round_trip_through_the_ledger_record() -> None:
    # GIVEN diagnostics with notes and containers, stored on a deploy record
    captured = collect_diagnostics(CLUSTER, [BACKEND], [], WINDOW, ports(FakeTasks({BACKEND.name: [CRASHED]}),
                                                                        Broken()))
    record = DeployRecord.model_validate({
        "environment": "production", "execution_id": "e", "started_at": T0, "requested_by": "a", "git_sha": "abcdef0",
        "services": ["backend"], "images": {"backend": "r@sha256:" + "a" * 64},
        "strategy": {"type": "canary", "steps": [100], "bake_seconds": 0},
        "outcome": "rolled_back", "rollback": captured})
    # THEN they survive a JSON round trip unchanged
    assert DeployRecord.model_validate_json(record.model_dump_json()).rollback == captured
    assert RollbackDiagnostics.model_validate({"reason": "old record"}).notes == ()


def test_docstring_examples() -> None:
    result = doctest.testmod(diagnostics, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
