"""The migrate service over its in-memory ports: input refusals, the lock, the plan and its classification, the
snapshot, the one failure notification, and the lock released on every path."""

from __future__ import annotations

import doctest
import importlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from safejob_ops.migrate.memory import (
    MemoryLocks,
    MemoryPublisher,
    MemorySnapshots,
    MemoryTaskDefinitions,
    MemoryTaskLogs,
)
from safejob_ops.migrate.models import (
    Decision,
    FailedOutcome,
    FinishRequest,
    MigrateOutput,
    MigrateRun,
    MigrateState,
    NotifyRequest,
    SnapshotRequest,
    StepError,
    TaskRun,
    ValidateRequest,
)
from safejob_ops.migrate.plan import JSON_MARKER, PlanParseError
from safejob_ops.migrate.ports import LockHeldError
from safejob_ops.migrate.service import (
    APPLY_COMMAND,
    LogLocation,
    MigrateInputError,
    NotifyConfig,
    RunConfig,
    SnapshotFailedError,
    acquire_lock,
    finish,
    read_plan,
    register_release,
    report_failure,
    snapshot_step,
    validate_input,
)

PLANS = Path(__file__).resolve().parents[2] / "fixtures" / "django_plans"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/safejob/backend@sha256:" + "a" * 64
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:safejob-staging-migrate:deploy-42"
CONFIG = RunConfig(environment_name="staging", cluster_arn="arn:aws:ecs:eu-west-1:123456789012:cluster/safejob-staging",
                   subnets=["subnet-a", "subnet-b"], security_groups=["sg-migrate"])
PRODUCTION = CONFIG.model_copy(update={"environment_name": "production", "snapshot_required": True})
LOGS = LogLocation(group="/safejob/staging/migrate", prefix="migrate")
NOTIFY = NotifyConfig(topic_arn="arn:aws:sns:eu-west-1:123456789012:notifications", logs=LOGS,
                      runbook_url="https://example.test/migrate.md#runbook")
PLAN_TASK = "arn:aws:ecs:eu-west-1:123456789012:task/safejob-staging/0f1e2d3c"
APPLY_TASK = "arn:aws:ecs:eu-west-1:123456789012:task/safejob-staging/9a8b7c6d"


def raw_input(**changes: Any) -> dict[str, Any]:
    return {"environment": "staging", "image": IMAGE, "git_sha": "0123abc", "requested_by": "ci", **changes}


def validated(config: RunConfig = CONFIG, **changes: Any) -> MigrateRun:
    request = ValidateRequest(input=raw_input(environment=config.environment_name, **changes),
                              execution_id=EXECUTION, execution_name="deploy-42", started_at=NOW)
    return validate_input(request, config)


def plan_output(stem: str, applied: list[str]) -> str:
    """What the plan task prints: showmigrations --plan, migrate --plan, then the emitter's marker line."""
    every = [line.split()[-1] for line in (PLANS / "showmigrations_fresh.txt").read_text().splitlines()]
    shown = "\n".join(f"[{'X' if label in applied else ' '}]  {label}" for label in every)
    document = json.dumps(json.loads((PLANS / f"{stem}.json").read_text()), separators=(",", ":"))
    return f"{shown}\n{(PLANS / f'{stem}.txt').read_text()}{JSON_MARKER}{document}\n"


def planned_state(stem: str, applied: list[str], phase: str = "expand") -> tuple[MigrateState, MemoryTaskLogs]:
    logs = MemoryTaskLogs()
    logs.write(LOGS.group, LOGS.stream("app", PLAN_TASK), plan_output(stem, applied))
    state = MigrateState(run=validated(phase=phase), tasks={"plan": TaskRun(task_arn=PLAN_TASK)})
    return state, logs


# ------------------------------------------------------------------------------------------------ validate
def test_a_valid_input_is_resolved_into_the_run() -> None:
    # GIVEN a staging input with short timeouts WHEN it is validated
    run = validated(timeouts={"lock_timeout_seconds": 3, "statement_timeout_seconds": 30, "task_seconds": 60,
                              "snapshot_poll_seconds": 0, "approval_seconds": 10})
    # THEN the phase defaults to expand, no snapshot (staging), and the timeouts reach PostgreSQL through PGOPTIONS
    assert run.input.phase == "expand"
    assert (run.snapshot, run.snapshot_id) == (False, None)
    assert {"Name": "PGOPTIONS", "Value": "-c lock_timeout=3s -c statement_timeout=30s"} in [
        e.model_dump() for e in run.task_environment]
    assert run.commands.apply == APPLY_COMMAND
    assert run.lock_name == "migrate/staging"
    # AND the lock outlives every step, the approval wait included
    assert run.lock_expires_at >= NOW + timedelta(seconds=4 * 60 + 3600 + 10)
    assert run.network.subnets == ["subnet-a", "subnet-b"]


def test_production_takes_a_snapshot_by_default_named_for_the_iam_policy() -> None:
    run = validated(PRODUCTION)
    assert run.snapshot is True
    assert run.snapshot_id == "safejob-production-premigrate-deploy-42"


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"image": "safejob/backend:1.4.2"}, "image", "a tag is not allowed"),
    ({"image": f"safejob/backend:1.4.2@sha256:{'a' * 64}"}, "image", "a tag is not allowed"),
    ({"image": "safejob/backend@sha256:abc"}, "image", "not a sha256 digest"),
    ({"image": "safejob/backend"}, "image", "no digest"),
    ({"phase": "cleanup"}, "phase", "'expand' or 'contract'"),
    ({"git_sha": "main"}, "git_sha", "pattern"),
    ({"requested_by": ""}, "requested_by", "at least 1 character"),
    ({"force": True}, "force", "unknown field"),
    ({"timeouts": {"approval_seconds": 0}}, "timeouts.approval_seconds", "greater than or equal to 1"),
    ({"timeouts": {"statement_timeout_seconds": 600, "task_seconds": 600}}, "timeouts", "must be below task_seconds"),
    ({"timeouts": {"retries": 3}}, "timeouts.retries", "unknown field"),
    ({"environment": "production"}, "environment", "not 'production'"),
])
def test_a_bad_input_is_refused_naming_the_field(changes: dict[str, Any], field: str, words: str) -> None:
    request = ValidateRequest(input=raw_input(**changes), execution_id=EXECUTION, execution_name="x", started_at=NOW)
    with pytest.raises(MigrateInputError) as refused:
        validate_input(request, CONFIG)
    assert str(refused.value).startswith(f"{field}: ")
    assert words in str(refused.value)


def test_production_refuses_to_skip_the_snapshot() -> None:
    request = ValidateRequest(input=raw_input(environment="production", snapshot=False), execution_id=EXECUTION,
                              execution_name="x", started_at=NOW)
    with pytest.raises(MigrateInputError, match=r"^snapshot: a pre-migration snapshot is required in production"):
        validate_input(request, PRODUCTION)


def test_a_snapshot_is_taken_outside_production_only_when_asked() -> None:
    assert validated(snapshot=True).snapshot_id == "safejob-staging-premigrate-deploy-42"
    assert validated(snapshot=False).snapshot_id is None


# ------------------------------------------------------------------------------------------------ lock
def test_the_lock_is_taken_for_the_execution_until_its_expiry() -> None:
    locks = MemoryLocks()
    holder = acquire_lock(MigrateState(run=validated()), locks, NOW)
    assert (holder.owner, holder.requested_by) == (EXECUTION, "ci")
    assert locks.holder("migrate/staging") == holder


def test_a_held_lock_refuses_the_second_execution_and_changes_nothing() -> None:
    # GIVEN another execution holding the lock
    locks = MemoryLocks()
    first = acquire_lock(MigrateState(run=validated()), locks, NOW)
    writes = locks.writes
    second = MigrateState(run=validated().model_copy(update={"execution_id": EXECUTION + "-2"}))
    # WHEN a second execution asks for it
    with pytest.raises(LockHeldError, match=r"held by .*deploy-42 .*nothing was changed") as refused:
        acquire_lock(second, locks, NOW + timedelta(minutes=1))
    # THEN it is refused with the holder named, and nothing changed
    assert refused.value.holder == first
    assert locks.writes == writes
    assert locks.holder("migrate/staging") == first


def test_an_expired_lock_is_taken_and_a_retried_acquire_is_idempotent() -> None:
    locks = MemoryLocks()
    stale = validated().model_copy(update={"execution_id": "arn:crashed", "lock_expires_at": NOW})
    acquire_lock(MigrateState(run=stale), locks, NOW - timedelta(hours=1))
    state = MigrateState(run=validated())
    acquire_lock(state, locks, NOW + timedelta(seconds=1))
    again = acquire_lock(state, locks, NOW + timedelta(seconds=2))
    assert again.owner == EXECUTION


# ------------------------------------------------------------------------------------------------ register
def test_the_release_runs_from_a_revision_with_its_image() -> None:
    definitions = MemoryTaskDefinitions()
    release = register_release(MigrateState(run=validated()), definitions,
                               "arn:aws:ecs:eu-west-1:123456789012:task-definition/safejob-staging-migrate:7")
    [(arn, container, image, tags)] = definitions.revisions
    assert (release.task_definition_arn, container, image) == (arn, "app", IMAGE)
    assert tags["safejob:release"] == "0123abc"


# ------------------------------------------------------------------------------------------------ plan
def test_an_expand_plan_is_allowed_with_the_previous_state_to_go_back_to() -> None:
    # GIVEN the plan task's log stream of the index release (jobs.0002, AddIndexConcurrently)
    state, logs = planned_state("03_index_concurrently", ["accounts.0001_initial", "accounts.0002_account_expand",
                                                          "jobs.0001_initial"])
    # WHEN it is read
    plan = read_plan(state, logs, LOGS)
    # THEN it is allowed, and the reverse goes back to what was applied before
    assert (plan.allowed, plan.empty, plan.migrations) == (True, False, ["jobs.0002_job_title_idx"])
    assert plan.previous_state == {"jobs": "0001_initial"}
    assert plan.reverse_command == ["sh", "-c", "python manage.py migrate jobs 0001_initial --no-input"]


def test_a_contract_plan_is_refused_in_expand_and_allowed_in_contract() -> None:
    applied = ["accounts.0001_initial", "jobs.0001_initial", "jobs.0002_job_title_idx"]
    expand, logs = planned_state("04_job_changes", applied)
    contract, _ = planned_state("04_job_changes", applied, phase="contract")
    refused = read_plan(expand, logs, LOGS)
    assert refused.allowed is False
    assert refused.counts["contract"] == 2
    assert all("contract" in violation and "Fix:" in violation for violation in refused.violations)
    assert read_plan(contract, logs, LOGS).allowed is True


def test_unannotated_raw_operations_are_refused_even_in_contract() -> None:
    state, logs = planned_state("05_raw_operations", ["jobs.0003_job_changes"], phase="contract")
    plan = read_plan(state, logs, LOGS)
    assert plan.allowed is False
    assert plan.counts["needs_annotation"] == 2
    assert any("safejob_phase" in violation for violation in plan.violations)


def test_an_up_to_date_database_has_an_empty_plan() -> None:
    state, logs = planned_state("07_up_to_date", [])
    plan = read_plan(state, logs, LOGS)
    assert (plan.allowed, plan.empty, plan.reverse_command) == (True, True, [])


@pytest.mark.parametrize("output", ["", "Traceback (most recent call last):\n  ...\nOperationalError: no such host"])
def test_a_plan_task_without_a_plan_in_its_logs_is_an_error(output: str) -> None:
    logs = MemoryTaskLogs()
    logs.write(LOGS.group, LOGS.stream("app", PLAN_TASK), output)
    with pytest.raises(PlanParseError):
        read_plan(MigrateState(run=validated(), tasks={"plan": TaskRun(task_arn=PLAN_TASK)}), logs, LOGS)


# ------------------------------------------------------------------------------------------------ snapshot
def test_the_snapshot_is_started_then_polled_until_available() -> None:
    snapshots = MemorySnapshots(statuses=["creating", "available"])
    state = MigrateState(run=validated(snapshot=True))
    started = snapshot_step(SnapshotRequest(action="start", state=state), snapshots, "safejob-staging-db", NOW)
    state = state.model_copy(update={"snapshot": started})
    first = snapshot_step(SnapshotRequest(action="poll", state=state), snapshots, "safejob-staging-db", NOW)
    second = snapshot_step(SnapshotRequest(action="poll", state=state), snapshots, "safejob-staging-db", NOW)
    assert snapshots.created == {"safejob-staging-premigrate-deploy-42": "safejob-staging-db"}
    assert (started.status, first.status, second.status) == ("creating", "creating", "available")


@pytest.mark.parametrize(("statuses", "later", "words"), [
    (["failed"], timedelta(seconds=5), "is failed"),
    (["creating"], timedelta(hours=2), "still creating after 7200 s"),
])
def test_a_failed_or_slow_snapshot_stops_the_migration(statuses: list[str], later: timedelta, words: str) -> None:
    snapshots = MemorySnapshots(statuses=statuses)
    state = MigrateState(run=validated(snapshot=True))
    started = snapshot_step(SnapshotRequest(action="start", state=state), snapshots, "db", NOW)
    with pytest.raises(SnapshotFailedError, match=words):
        snapshot_step(SnapshotRequest(action="poll", state=state.model_copy(update={"snapshot": started})),
                      snapshots, "db", NOW + later)


def test_no_snapshot_is_taken_unless_asked() -> None:
    snapshots = MemorySnapshots()
    with pytest.raises(SnapshotFailedError, match="no snapshot was asked"):
        snapshot_step(SnapshotRequest(action="start", state=MigrateState(run=validated())), snapshots, "db", NOW)
    assert snapshots.created == {}


# ------------------------------------------------------------------------------------------------ failures
def task_failure(task_arn: str, exit_code: int) -> StepError:
    """What ecs:runTask.sync puts in a Catch: the task description as the cause."""
    cause = {"TaskArn": task_arn, "StoppedReason": "Essential container in task exited", "LastStatus": "STOPPED",
             "Containers": [{"Name": "app", "ExitCode": exit_code}]}
    return StepError(Error="States.TaskFailed", Cause=json.dumps(cause))


def test_a_failed_plan_task_is_reported_once_with_its_last_log_lines_and_no_rollback() -> None:
    # GIVEN the plan task exited 1 after printing a traceback
    logs, publisher = MemoryTaskLogs(), MemoryPublisher()
    logs.write(LOGS.group, LOGS.stream("app", PLAN_TASK), "\n".join(f"line {n}" for n in range(80)))
    state = MigrateState(run=validated(), failure={"plan": task_failure(PLAN_TASK, 1)})
    # WHEN the failure is reported
    notice = report_failure(NotifyRequest(state=state), logs, publisher, NOTIFY)
    # THEN one message names the step, the exit code and the last 50 log lines, and offers no rollback
    [(topic, subject, message)] = publisher.messages
    assert topic == NOTIFY.topic_arn
    assert subject == "[safejob staging] migrate failed at plan"
    assert "app exit code 1" in message
    assert "  line 79" in message
    assert "  line 30" in message
    assert "  line 29" not in message
    assert "Nothing was applied" in message
    assert "send-task-success" not in message
    assert (notice.step, notice.approval_requested, notice.log_lines) == ("plan", False, 50)


def test_a_failed_apply_asks_for_a_rollback_decision_with_the_token_and_the_options() -> None:
    logs, publisher = MemoryTaskLogs(), MemoryPublisher()
    logs.write(LOGS.group, LOGS.stream("app", APPLY_TASK), "Applying jobs.0002_job_title_idx...\nlock timeout")
    state, plan_logs = planned_state("03_index_concurrently", ["accounts.0001_initial", "jobs.0001_initial"])
    state = state.model_copy(update={"run": validated(snapshot=True), "plan": read_plan(state, plan_logs, LOGS),
                                     "failure": {"apply": task_failure(APPLY_TASK, 1)}})
    notice = report_failure(NotifyRequest(state=state, task_token="TOKEN-123"), logs, publisher, NOTIFY)
    [(_, _, message)] = publisher.messages
    assert notice.approval_requested is True
    assert "--task-token 'TOKEN-123'" in message
    assert "reverse migrations back to the recorded previous state (jobs -> 0001_initial)" in message
    assert "restore safejob-staging-premigrate-deploy-42: never automatic" in message
    assert "lock timeout" in message


def test_without_a_snapshot_the_options_do_not_offer_a_restore() -> None:
    publisher = MemoryPublisher()
    state, _ = planned_state("03_index_concurrently", ["jobs.0001_initial"])
    state = state.model_copy(update={"failure": {"verify": task_failure(APPLY_TASK, 1)}})
    report_failure(NotifyRequest(state=state, task_token="T"), MemoryTaskLogs(), publisher, NOTIFY)
    assert "restore_snapshot" not in publisher.messages[0][2]


def test_a_refused_plan_is_reported_with_each_violation_and_its_fix() -> None:
    state, logs = planned_state("04_job_changes", ["jobs.0002_job_title_idx"])
    state = state.model_copy(update={"plan": read_plan(state, logs, LOGS),
                                     "failure": {"classify": StepError(Error="MigrationRefusedError")}})
    publisher = MemoryPublisher()
    notice = report_failure(NotifyRequest(state=state), logs, publisher, NOTIFY)
    assert "jobs.0003_job_changes, operation 1" in notice.cause
    assert "Fix:" in publisher.messages[0][2]


# ------------------------------------------------------------------------------------------------ finish
def held(state: MigrateState, locks: MemoryLocks) -> MigrateState:
    acquire_lock(state, locks, NOW)
    return state


def test_success_releases_the_lock_and_returns_what_was_applied_with_timings() -> None:
    locks = MemoryLocks()
    state, logs = planned_state("03_index_concurrently", ["jobs.0001_initial"])
    state = held(state.model_copy(update={"plan": read_plan(state, logs, LOGS), "tasks": {
        "plan": TaskRun(task_arn=PLAN_TASK, started_at=1_000, stopped_at=31_000),
        "apply": TaskRun(task_arn=APPLY_TASK, started_at=40_000, stopped_at=100_500)}}), locks)
    output = finish(FinishRequest(outcome="succeeded", state=state), locks, NOW + timedelta(minutes=3))
    assert isinstance(output, MigrateOutput)
    assert output.applied == ["jobs.0002_job_title_idx"]
    assert output.previous_state == {"jobs": "0001_initial"}
    assert (output.timings.total_seconds, output.timings.plan_seconds, output.timings.apply_seconds) == (180, 30, 60.5)
    assert locks.holder("migrate/staging") is None


@pytest.mark.parametrize(("failure", "extra", "words"), [
    ({"plan": task_failure(PLAN_TASK, 1)}, {}, "nothing was applied"),
    ({"read_plan": StepError(Error="PlanParseError", Cause='{"errorMessage": "empty"}')}, {}, "nothing was applied"),
    ({"snapshot": StepError(Error="SnapshotFailedError")}, {}, "nothing was applied"),
    ({"apply": task_failure(APPLY_TASK, 1)}, {"approval_error": StepError(Error="States.Timeout")},
     "no rollback decision before the approval timeout"),
    ({"apply": task_failure(APPLY_TASK, 1)}, {"approval_error": StepError(Error="Rejected", Cause="known")},
     "rollback declined (Rejected: known)"),
    ({"verify": task_failure(APPLY_TASK, 1)}, {"decision": Decision(action="reverse", decided_by="ana")},
     "reverse migrations applied back to jobs -> 0001_initial, decided by ana"),
    ({"verify": task_failure(APPLY_TASK, 1)},
     {"decision": Decision(action="reverse", decided_by="ana"), "reverse_error": StepError(Error="States.TaskFailed")},
     "reverse migrations FAILED"),
    ({"apply": task_failure(APPLY_TASK, 1)}, {"decision": Decision(action="restore_snapshot", decided_by="ana")},
     "never automatic"),
    ({"apply": task_failure(APPLY_TASK, 1)}, {"decision": {"action": "nuke"}}, "no valid rollback decision"),
])
def test_every_failure_path_releases_the_lock(failure: dict[str, StepError], extra: dict[str, Any],
                                              words: str) -> None:
    locks = MemoryLocks()
    state, logs = planned_state("03_index_concurrently", ["jobs.0001_initial"])
    state = held(state.model_copy(update={"plan": read_plan(state, logs, LOGS), "failure": failure, **extra}), locks)
    outcome = finish(FinishRequest(outcome="failed", state=MigrateState.model_validate(state.model_dump())), locks,
                     NOW)
    assert isinstance(outcome, FailedOutcome)
    assert outcome.error == "MigrationFailedError"
    assert words in outcome.cause
    assert outcome.lock_released is True
    assert locks.holder("migrate/staging") is None


def test_a_refused_plan_fails_as_refused_and_releases_the_lock() -> None:
    locks = MemoryLocks()
    state = held(MigrateState(run=validated(), failure={"classify": StepError(Error="MigrationRefusedError")}), locks)
    outcome = finish(FinishRequest(outcome="failed", state=state), locks, NOW)
    assert isinstance(outcome, FailedOutcome)
    assert (outcome.error, outcome.lock_released) == ("MigrationRefusedError", True)


def test_finishing_never_releases_another_executions_lock() -> None:
    # GIVEN a lock held by another execution (ours expired and was taken over)
    locks = MemoryLocks()
    other = validated().model_copy(update={"execution_id": "arn:other"})
    holder = acquire_lock(MigrateState(run=other), locks, NOW)
    state = MigrateState(run=validated(), failure={"lock": StepError(Error="Lambda.Unknown")})
    # WHEN this execution finishes
    outcome = finish(FinishRequest(outcome="failed", state=state), locks, NOW)
    # THEN the other execution keeps its lock
    assert isinstance(outcome, FailedOutcome)
    assert outcome.lock_released is False
    assert locks.holder("migrate/staging") == holder


@pytest.mark.parametrize("name", ["service", "models"])
def test_the_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(f"safejob_ops.migrate.{name}"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
