"""The migrate use cases behind the Lambda handlers of statemachines/migrate.asl.json, one function per handler.

    validate_input    the execution input -> MigrateRun (refused, naming the field, before any side effect)
    acquire_lock      conditional write of the lock item (owner: the execution), or LockHeldError
    register_release  a migrate task definition revision with the release image
    read_plan         the plan task's log stream -> MigrationPlan -> check_phase -> PlanResult
    snapshot_step     start, then poll, the pre-migration snapshot
    report_failure    one notification: the failed step, the task's last log lines and, when something may have
                      been applied, the rollback options with the task token that answers them
    finish            release the lock, then the execution's output (or how it fails)

The ECS tasks themselves (plan, apply, verify, reverse) are `ecs:runTask.sync` states, not code. Pure orchestration
over the ports of safejob_ops.migrate.ports; the decisions are in plan.py and classify.py.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from safejob_ops.migrate.classify import check_phase
from safejob_ops.migrate.models import (
    Commands,
    ContainerEnvironment,
    Decision,
    Environment,
    FailedOutcome,
    FinishRequest,
    LockHolder,
    MigrateInput,
    MigrateOutput,
    MigrateRun,
    MigrateState,
    Network,
    Notice,
    NotifyRequest,
    PlanResult,
    ReleaseTask,
    SnapshotRequest,
    SnapshotState,
    Step,
    StepError,
    Timings,
    ValidateRequest,
    ms_between,
    seconds_between,
)
from safejob_ops.migrate.plan import HEADER, PlanParseError, parse_plan_output, parse_showmigrations_plan
from safejob_ops.migrate.ports import Locks, Publisher, Snapshots, TaskDefinitions, TaskLogs

PLAN_COMMAND = ["sh", "-c",
                "python manage.py showmigrations --plan && python manage.py migrate --plan "
                "&& python manage.py safejob_plan"]
APPLY_COMMAND = ["python", "manage.py", "migrate", "--no-input"]
VERIFY_COMMAND = ["python", "manage.py", "migrate", "--check"]
# The lock outlives every step of an execution, its approval wait included; past that it expires by itself.
LOCK_MARGIN = timedelta(minutes=15)
LOG_TAIL_LINES = 50
SNAPSHOT_ID_MAX = 255
_SHOWN_LINE = re.compile(r"^\[[ X-]\]\s")
# The steps after which the database may have changed: their failure offers the rollback options.
STEPS_WITH_ROLLBACK: frozenset[Step] = frozenset({"apply", "verify"})


class MigrateInputError(ValueError):
    """The execution input is refused; the message names each bad field and how to fix it. Nothing was changed."""


class SnapshotFailedError(RuntimeError):
    """The pre-migration snapshot failed or took too long; nothing was applied."""


# ------------------------------------------------------------------------------------------------ validate
class RunConfig(BaseModel):
    """What the Validate handler knows from its environment (template.yaml) and adds to the run."""

    model_config = ConfigDict(frozen=True)

    environment_name: Environment
    cluster_arn: str
    subnets: list[str]
    security_groups: list[str]
    container: str = "app"
    snapshot_required: bool = False


def validate_input(request: ValidateRequest, config: RunConfig) -> MigrateRun:
    """The execution input, checked and resolved; MigrateInputError (naming the fields) before any side effect.

    >>> from datetime import UTC
    >>> config = RunConfig(environment_name="staging", cluster_arn="c", subnets=["s"], security_groups=["g"])
    >>> request = ValidateRequest(input={"environment": "staging", "image": "r/app:latest", "git_sha": "abc1234",
    ...                                  "requested_by": "ci"}, execution_id="arn:x", execution_name="x",
    ...                           started_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> validate_input(request, config)
    Traceback (most recent call last):
    ...
    safejob_ops.migrate.service.MigrateInputError: image: a tag is not allowed ('r/app:latest'): pass the image ...
    """
    try:
        migrate_input = MigrateInput.model_validate(request.input)
    except ValidationError as error:
        raise MigrateInputError(_describe(error)) from None
    problems = []
    if migrate_input.environment != config.environment_name:
        problems.append(f"environment: this is the {config.environment_name!r} stack, not "
                        f"{migrate_input.environment!r}; fix: start the execution in the {migrate_input.environment} "
                        "account/stack")
    if config.snapshot_required and migrate_input.snapshot is False:
        problems.append(f"snapshot: a pre-migration snapshot is required in {config.environment_name}; "
                        "fix: leave it out or set it to true")
    if problems:
        raise MigrateInputError("; ".join(problems))
    snapshot = config.snapshot_required if migrate_input.snapshot is None else migrate_input.snapshot
    timeouts = migrate_input.timeouts
    budget = (4 * timeouts.task_seconds + timeouts.snapshot_seconds + timeouts.approval_seconds)
    pg_options = (f"-c lock_timeout={timeouts.lock_timeout_seconds}s "
                  f"-c statement_timeout={timeouts.statement_timeout_seconds}s")
    return MigrateRun(
        input=migrate_input,
        execution_id=request.execution_id,
        execution_name=request.execution_name,
        started_at=request.started_at,
        snapshot=snapshot,
        snapshot_id=snapshot_id(config.environment_name, request.execution_name) if snapshot else None,
        lock_name=lock_name(config.environment_name),
        lock_expires_at=request.started_at + timedelta(seconds=budget) + LOCK_MARGIN,
        timeouts=timeouts,
        network=Network(cluster=config.cluster_arn, subnets=config.subnets, security_groups=config.security_groups),
        container=config.container,
        commands=Commands(plan=PLAN_COMMAND, apply=APPLY_COMMAND, verify=VERIFY_COMMAND),
        task_environment=[
            ContainerEnvironment(Name="PGOPTIONS", Value=pg_options),
            ContainerEnvironment(Name="SAFEJOB_RELEASE", Value=migrate_input.git_sha),
            ContainerEnvironment(Name="SAFEJOB_MIGRATE_EXECUTION", Value=request.execution_id),
        ],
    )


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "input"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field; fix: remove it (the input takes environment, image, git_sha, phase, snapshot, " \
                      "requested_by, timeouts)"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def lock_name(environment: str) -> str:
    """The lock item of one environment's migrations.

    >>> lock_name("production")
    'migrate/production'
    """
    return f"migrate/{environment}"


def snapshot_id(environment: str, execution_name: str) -> str:
    """`safejob-<env>-premigrate-<execution>`, made a valid RDS identifier (the IAM policy allows only that prefix).

    >>> snapshot_id("production", "deploy_42--Run.1")
    'safejob-production-premigrate-deploy-42-run-1'
    """
    suffix = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", execution_name.lower())).strip("-") or "run"
    return f"safejob-{environment}-premigrate-{suffix}"[:SNAPSHOT_ID_MAX].rstrip("-")


# ------------------------------------------------------------------------------------------------ lock
def acquire_lock(state: MigrateState, locks: Locks, now: datetime) -> LockHolder:
    """Take the environment's migrate lock for this execution (LockHeldError, changing nothing, if held)."""
    run = state.run
    return locks.acquire(run.lock_name, owner=run.execution_id, now=now, expires_at=run.lock_expires_at,
                         requested_by=run.input.requested_by)


# ------------------------------------------------------------------------------------------------ register
def register_release(state: MigrateState, task_definitions: TaskDefinitions, source_arn: str) -> ReleaseTask:
    """The migrate task definition of the template, with the release image: ECS cannot override an image."""
    run = state.run
    arn = task_definitions.derive(source_arn, container=run.container, image=run.input.image,
                                  tags={"safejob:release": run.input.git_sha, "safejob:execution": run.execution_name})
    return ReleaseTask(task_definition_arn=arn, image=run.input.image)


# ------------------------------------------------------------------------------------------------ plan
class LogLocation(BaseModel):
    """Where the migrate container's awslogs go: `<group>`, stream `<prefix>/<container>/<task id>`."""

    model_config = ConfigDict(frozen=True)

    group: str
    prefix: str = "migrate"

    def stream(self, container: str, task_arn: str) -> str:
        return f"{self.prefix}/{container}/{task_arn.rsplit('/', 1)[-1]}"


def read_plan(state: MigrateState, logs: TaskLogs, where: LogLocation) -> PlanResult:
    """Parse the plan task's log stream and classify it in the requested phase (PlanParseError if unreadable)."""
    plan_task = state.tasks.get("plan")
    if plan_task is None:
        raise PlanParseError("no plan task in the state: the Plan state did not run")
    lines = logs.lines(where.group, where.stream(state.run.container, plan_task.task_arn))
    if not lines:
        raise PlanParseError(f"the plan task's log stream {where.stream(state.run.container, plan_task.task_arn)} "
                             f"in {where.group} is empty or missing")
    plan = parse_plan_output("\n".join(lines))
    decision = check_phase(plan, state.run.input.phase)
    previous = previous_state(lines, plan.labels)
    return PlanResult(
        phase=decision.phase,
        allowed=decision.allowed,
        empty=plan.is_empty,
        migrations=plan.labels,
        counts=decision.counts(),
        violations=decision.errors,
        previous_state=previous,
        reverse_command=reverse_command(previous),
    )


def previous_state(lines: list[str], planned: list[str]) -> dict[str, str]:
    """Per app of the plan, its last applied migration before this run ('zero' if none), from the
    `showmigrations --plan` lines that precede the plan.

    >>> previous_state(["[X]  accounts.0001_initial", "[ ]  accounts.0002_x", "[ ]  jobs.0001_initial",
    ...                 "Planned operations:"], ["accounts.0002_x", "jobs.0001_initial"])
    {'accounts': '0001_initial', 'jobs': 'zero'}
    """
    header = next((i for i, line in enumerate(lines) if line.strip() == HEADER), len(lines))
    shown = parse_showmigrations_plan("\n".join(line for line in lines[:header] if _SHOWN_LINE.match(line)))
    if planned and not shown:
        raise PlanParseError("no `showmigrations --plan` lines before the plan: the previous state is unknown, so "
                             "no reverse migration could be offered; fix: run the plan command of the workflow")
    apps = list(dict.fromkeys(label.split(".", 1)[0] for label in planned))
    state = {app: "zero" for app in apps}
    for migration in shown:
        if migration.app in state and migration.applied:
            state[migration.app] = migration.name
    return state


def reverse_command(previous: Mapping[str, str]) -> list[str]:
    """The command that migrates each app back to its previous state, last-planned app first.

    >>> reverse_command({"accounts": "0001_initial", "jobs": "zero"})
    ['sh', '-c', 'python manage.py migrate jobs zero --no-input && python manage.py migrate accounts 0001_initial \
--no-input']
    """
    if not previous:
        return []
    steps = [f"python manage.py migrate {shlex.quote(app)} {shlex.quote(target)} --no-input"
             for app, target in reversed(list(previous.items()))]
    return ["sh", "-c", " && ".join(steps)]


# ------------------------------------------------------------------------------------------------ snapshot
def snapshot_step(request: SnapshotRequest, snapshots: Snapshots, db_instance_id: str, now: datetime) -> SnapshotState:
    """Start the pre-migration snapshot, or look at it again. SnapshotFailedError when it failed or took longer
    than `timeouts.snapshot_seconds`."""
    run = request.state.run
    if run.snapshot_id is None:
        raise SnapshotFailedError("no snapshot was asked for this execution (snapshot: false)")
    if request.action == "start":
        status = snapshots.create(db_instance_id, run.snapshot_id, tags={
            "safejob:release": run.input.git_sha, "safejob:execution": run.execution_id,
            "safejob:requested-by": run.input.requested_by})
        return SnapshotState(snapshot_id=run.snapshot_id, db_instance_id=db_instance_id, status=status,
                             started_at=now, checked_at=now)
    previous = request.state.snapshot
    if previous is None:
        raise SnapshotFailedError("poll before start: the state has no snapshot")
    status = snapshots.status(previous.snapshot_id)
    if status in {"failed", "deleted", "deleting", "incompatible-restore"}:
        raise SnapshotFailedError(f"snapshot {previous.snapshot_id} is {status}; nothing was applied")
    elapsed = seconds_between(previous.started_at, now)
    if status != "available" and elapsed > run.timeouts.snapshot_seconds:
        raise SnapshotFailedError(f"snapshot {previous.snapshot_id} still {status} after {elapsed:.0f} s "
                                  f"(timeouts.snapshot_seconds: {run.timeouts.snapshot_seconds}); nothing was applied")
    return previous.model_copy(update={"status": status, "checked_at": now})


# ------------------------------------------------------------------------------------------------ failures
class NotifyConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic_arn: str
    logs: LogLocation
    runbook_url: str = "docs/workflows/migrate.md#runbook"
    log_tail_lines: int = LOG_TAIL_LINES


def failed_step(state: MigrateState) -> tuple[Step, StepError]:
    """The step that failed (the first Catch that recorded one)."""
    if not state.failure:
        raise ValueError("the state records no failure")
    step, error = next(iter(state.failure.items()))
    return step, error


def report_failure(request: NotifyRequest, logs: TaskLogs, publisher: Publisher, config: NotifyConfig) -> Notice:
    """Publish the one notification of a failed execution: what failed, the task's last log lines and, with a task
    token (apply or verify failed), the rollback options and how to answer them. Never rolls anything back."""
    state = request.state
    step, error = failed_step(state)
    cause = summarize_cause(step, error, state)
    tail = _log_tail(step, error, state, logs, config)
    run = state.run
    lines = [
        f"The {run.input.environment} migration {run.execution_name} failed at step {step!r}.",
        "",
        f"error: {error.Error}",
        f"cause: {cause}",
        f"execution: {run.execution_id}",
        f"requested by: {run.input.requested_by}; image: {run.input.image}; git sha: {run.input.git_sha}; "
        f"phase: {run.input.phase.value}",
    ]
    if state.plan is not None:
        lines.append(f"plan: {', '.join(state.plan.migrations) or 'nothing pending'}")
    if tail is not None:
        stream, tail_lines = tail
        lines += ["", f"last {len(tail_lines)} log line(s) of {stream} ({config.logs.group}):",
                  *(f"  {line}" for line in tail_lines)]
    if request.task_token is not None:
        lines += ["", *_rollback_options(state, request.task_token, config)]
    else:
        lines += ["", "Nothing was applied to the database, and the lock is released as the execution ends. Fix the "
                  "cause and start a new execution.",
                  f"Runbook: {config.runbook_url}"]
    subject = f"[safejob {run.input.environment}] migrate failed at {step}"[:100]
    message_id = publisher.publish(config.topic_arn, subject, "\n".join(lines))
    return Notice(step=step, error=error.Error, cause=cause, message_id=message_id,
                  approval_requested=request.task_token is not None, log_lines=len(tail[1]) if tail else 0)


def summarize_cause(step: Step, error: StepError, state: MigrateState, limit: int = 1500) -> str:
    """A readable cause: a refused plan's violations, a failed task's stop reason and exit code, a Lambda's message."""
    if step == "classify" and state.plan is not None:
        return " | ".join(state.plan.violations)[:limit] or "the plan was refused"
    document = _json(error.Cause)
    if isinstance(document, dict) and "TaskArn" in document:  # an ecs:runTask.sync failure: the task description
        exits = [f"{c.get('Name')} exit code {c.get('ExitCode')}" + (f" ({c['Reason']})" if c.get("Reason") else "")
                 for c in document.get("Containers", [])]
        return (f"task {document['TaskArn'].rsplit('/', 1)[-1]} stopped: {document.get('StoppedReason', 'unknown')}"
                f"; {', '.join(exits)}")[:limit]
    if isinstance(document, dict) and "errorMessage" in document:  # a Lambda error payload
        return f"{document.get('errorType', error.Error)}: {document['errorMessage']}"[:limit]
    return (error.Cause or "no cause given")[:limit]


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _log_tail(step: Step, error: StepError, state: MigrateState, logs: TaskLogs,
              config: NotifyConfig) -> tuple[str, list[str]] | None:
    document = _json(error.Cause)
    task_arn: str | None = None
    if isinstance(document, dict) and isinstance(document.get("TaskArn"), str):
        task_arn = document["TaskArn"]
    elif step in {"read_plan", "classify"} and "plan" in state.tasks:
        task_arn = state.tasks["plan"].task_arn
    if task_arn is None:
        return None
    stream = config.logs.stream(state.run.container, task_arn)
    return stream, logs.lines(config.logs.group, stream)[-config.log_tail_lines:]


def _rollback_options(state: MigrateState, token: str, config: NotifyConfig) -> list[str]:
    run = state.run
    previous = state.plan.previous_state if state.plan is not None else {}
    targets = ", ".join(f"{app} -> {target}" for app, target in previous.items()) or "unknown"
    wait = run.timeouts.approval_seconds
    lines = [
        "Some migrations may have been applied. Nothing is rolled back until someone decides (the lock stays held):",
        f"  reverse            run the reverse migrations back to the recorded previous state ({targets})",
    ]
    if run.snapshot_id is not None:
        lines.append(f"  restore_snapshot   restore {run.snapshot_id}: never automatic, a person follows the runbook "
                     f"{config.runbook_url} (snapshot restore); the workflow only records the decision")
    lines += [
        "  none               leave the database as it is",
        "",
        "Answer with:",
        f"  aws stepfunctions send-task-success --task-token '{token}' "
        "--task-output '{\"action\": \"reverse\", \"decided_by\": \"<you>\", \"reason\": \"<why>\"}'",
        f"  aws stepfunctions send-task-failure --task-token '{token}' --error Rejected --cause '<why>'",
        f"Without an answer within {wait} s the execution fails, the lock is released and nothing is rolled back.",
    ]
    return lines


# ------------------------------------------------------------------------------------------------ finish
def finish(request: FinishRequest, locks: Locks, now: datetime) -> MigrateOutput | FailedOutcome:
    """Release the lock (only if this execution holds it), then the output of a success, or the Error and Cause
    the execution fails with."""
    state = request.state
    run = state.run
    released = locks.release(run.lock_name, owner=run.execution_id)
    if request.outcome == "failed":
        return _failed(state, released)
    plan = state.plan
    return MigrateOutput(
        environment=run.input.environment,
        image=run.input.image,
        git_sha=run.input.git_sha,
        phase=run.input.phase,
        applied=plan.migrations if plan is not None else [],
        previous_state=plan.previous_state if plan is not None else {},
        snapshot_id=state.snapshot.snapshot_id if state.snapshot is not None else None,
        task_definition_arn=state.release.task_definition_arn if state.release is not None else None,
        requested_by=run.input.requested_by,
        timings=_timings(state, now),
    )


def _failed(state: MigrateState, released: bool) -> FailedOutcome:
    lock = "lock released" if released else "lock was not held by this execution"
    if not state.failure:  # only the unlock path of a Lambda crash before any step recorded anything
        return FailedOutcome(error="MigrationFailedError", cause=f"failed before any step completed; {lock}",
                             lock_released=released)
    step, error = failed_step(state)
    cause = state.notice.cause if state.notice is not None else summarize_cause(step, error, state)
    name = "MigrationRefusedError" if step == "classify" else "MigrationFailedError"
    outcome = f"{step} failed: {error.Error}: {cause}; {_rollback_outcome(step, state)}; {lock}"
    return FailedOutcome(error=name, cause=outcome[:32_000], lock_released=released)


def _rollback_outcome(step: Step, state: MigrateState) -> str:
    if step not in STEPS_WITH_ROLLBACK:
        return "nothing was applied"
    if state.approval_error is not None:
        if state.approval_error.Error == "States.Timeout":
            return "no rollback decision before the approval timeout: nothing was rolled back"
        declined = f"{state.approval_error.Error}: {state.approval_error.Cause or ''}"
        return f"rollback declined ({declined}): nothing was rolled back"
    decision = state.decision if isinstance(state.decision, Decision) else None
    if decision is None:
        return "no valid rollback decision (action: reverse | restore_snapshot | none): nothing was rolled back"
    if decision.action == "reverse":
        if state.reverse_error is not None:
            return (f"reverse migrations FAILED ({state.reverse_error.Error}), decided by {decision.decided_by}: "
                    "restore the pre-migration snapshot per the runbook")
        targets = ", ".join(f"{a} -> {t}" for a, t in (state.plan.previous_state if state.plan else {}).items())
        return f"reverse migrations applied back to {targets}, decided by {decision.decided_by}"
    if decision.action == "restore_snapshot":
        return f"snapshot restore chosen by {decision.decided_by}: a person follows the runbook (never automatic)"
    return f"no rollback, decided by {decision.decided_by}"


def _timings(state: MigrateState, now: datetime) -> Timings:
    tasks = state.tasks

    def task_seconds(name: str) -> float | None:
        task = tasks.get(name)
        return ms_between(task.started_at, task.stopped_at) if task is not None else None

    snapshot = state.snapshot
    return Timings(
        total_seconds=seconds_between(state.run.started_at, now),
        plan_seconds=task_seconds("plan"),
        snapshot_seconds=seconds_between(snapshot.started_at, snapshot.checked_at) if snapshot else None,
        apply_seconds=task_seconds("apply"),
        verify_seconds=task_seconds("verify"),
    )
