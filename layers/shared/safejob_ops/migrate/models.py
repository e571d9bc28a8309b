"""The migrate workflow's models: the execution input, the state the state machine carries, each handler's request
and response, and the execution output. docs/workflows/migrate.md ("Orchestration") shows them in an execution.

The execution input (`MigrateInput`) is strict: an unknown field, an image by tag, an unknown phase are refused by
the first state, before the lock or anything else is touched, with an error that names the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from safejob_ops.migrate.classify import Phase

Environment = Literal["local", "staging", "production"]
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# <registry host[:port]/>path components (lower case, separators . _ -), as the distribution spec names them.
_REPOSITORY = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
DIGEST_FIX = "pass the image by digest: <repository>@sha256:<64 hex digits> (e.g. the build's pushed digest)"


def check_image_reference(value: str) -> str:
    """An image reference by digest only: a tag (even next to a digest) is refused.

    >>> check_image_reference("123456789012.dkr.ecr.eu-west-1.amazonaws.com/safejob/backend@sha256:" + "a" * 64)[-8:]
    'aaaaaaaa'
    >>> check_image_reference("safejob/backend:1.4.2")
    Traceback (most recent call last):
    ...
    ValueError: a tag is not allowed ('safejob/backend:1.4.2'): pass the image by digest: ...
    """
    name, at, digest = value.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        raise ValueError(f"a tag is not allowed ({value!r}): {DIGEST_FIX}")
    if not at:
        raise ValueError(f"no digest in {value!r}: {DIGEST_FIX}")
    if not DIGEST.match(digest):
        raise ValueError(f"{digest!r} is not a sha256 digest: {DIGEST_FIX}")
    if not _REPOSITORY.match(name):
        raise ValueError(f"{name!r} is not a repository name: {DIGEST_FIX}")
    return value


class Timeouts(BaseModel):
    """Every duration of one execution, in seconds. The defaults suit AWS; the local config passes small ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lock_timeout_seconds: int = Field(default=5, ge=1, le=60,
                                      description="PostgreSQL lock_timeout of the migration's statements")
    statement_timeout_seconds: int = Field(default=900, ge=1, le=6 * 3600,
                                           description="PostgreSQL statement_timeout of the migration's statements")
    task_seconds: int = Field(default=3600, ge=1, le=24 * 3600,
                              description="how long one ECS task (plan, apply, verify, reverse) may run")
    snapshot_seconds: int = Field(default=3600, ge=1, le=24 * 3600,
                                  description="how long the pre-migration snapshot may take")
    snapshot_poll_seconds: int = Field(default=30, ge=0, le=300,
                                       description="the Wait between two looks at the snapshot")
    approval_seconds: int = Field(default=86400, ge=1, le=7 * 86400,
                                  description="how long the rollback options wait for a decision")

    @model_validator(mode="after")
    def _statements_end_before_the_task(self) -> Timeouts:
        if self.statement_timeout_seconds >= self.task_seconds:
            raise ValueError(
                f"statement_timeout_seconds ({self.statement_timeout_seconds}) must be below task_seconds "
                f"({self.task_seconds}): a statement must time out before its task is abandoned"
            )
        return self


class MigrateInput(BaseModel):
    """The execution input (events/migrate/execution_*.json). Anything else is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: Environment
    image: str = Field(description="the release image, by digest")
    git_sha: str = Field(pattern=r"^[0-9a-f]{7,40}$")
    phase: Phase = Phase.EXPAND
    snapshot: bool | None = Field(default=None, description="take a pre-migration snapshot; default: the "
                                                            "environment's (on in production, where it is required)")
    requested_by: str = Field(min_length=1, max_length=256)
    timeouts: Timeouts = Timeouts()

    @field_validator("image")
    @classmethod
    def _by_digest(cls, value: str) -> str:
        return check_image_reference(value)


# ------------------------------------------------------------------------------------------- the carried state
class ContainerEnvironment(BaseModel):
    """One ECS container override variable, in Step Functions' casing (the ASL passes the list as is)."""

    model_config = ConfigDict(frozen=True)

    Name: str
    Value: str


class Commands(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: list[str]
    apply: list[str]
    verify: list[str]


class Network(BaseModel):
    model_config = ConfigDict(frozen=True)

    cluster: str
    subnets: list[str]
    security_groups: list[str]


class MigrateRun(BaseModel):
    """The validated input with everything resolved: what every later state reads (`$.run`)."""

    model_config = ConfigDict(frozen=True)

    input: MigrateInput
    execution_id: str
    execution_name: str
    started_at: AwareDatetime
    snapshot: bool
    snapshot_id: str | None
    lock_name: str
    lock_expires_at: AwareDatetime
    timeouts: Timeouts
    network: Network
    container: str
    commands: Commands
    task_environment: list[ContainerEnvironment]


class LockHolder(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    owner: str
    acquired_at: AwareDatetime
    expires_at: AwareDatetime
    requested_by: str = ""


class ReleaseTask(BaseModel):
    """The migrate task definition revision of this release (`$.release`)."""

    model_config = ConfigDict(frozen=True)

    task_definition_arn: str
    image: str


class TaskRun(BaseModel):
    """What the state machine keeps of one ECS task (`$.tasks.<step>`): StartedAt/StoppedAt in epoch ms."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_arn: str
    started_at: int | None = None
    stopped_at: int | None = None


class PlanResult(BaseModel):
    """The pending migrations, their classification in the requested phase, and how to go back (`$.plan`)."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    allowed: bool
    empty: bool
    migrations: list[str]
    counts: dict[str, int]
    violations: list[str]
    previous_state: dict[str, str] = Field(description="per app of the plan: its last applied migration, or 'zero'")
    reverse_command: list[str]


class SnapshotState(BaseModel):
    """The pre-migration snapshot (`$.snapshot`)."""

    model_config = ConfigDict(frozen=True)

    snapshot_id: str
    db_instance_id: str
    status: str
    started_at: AwareDatetime
    checked_at: AwareDatetime


class StepError(BaseModel):
    """What a Catch puts at `$.failure.<step>`: Step Functions' error name and cause."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    Error: str = "States.Runtime"
    Cause: str | None = None


Step = Literal["lock", "register", "plan", "read_plan", "classify", "snapshot", "apply", "verify"]


class Decision(BaseModel):
    """The answer to the rollback options (send-task-success output): `$.decision`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    action: Literal["reverse", "restore_snapshot", "none"]
    decided_by: str = Field(default="unknown", min_length=1)
    reason: str = ""


class Notice(BaseModel):
    """What the failure notification said (`$.notice`)."""

    model_config = ConfigDict(frozen=True)

    step: Step
    error: str
    cause: str
    message_id: str
    approval_requested: bool
    log_lines: int


class MigrateState(BaseModel):
    """The whole state of an execution, as the state machine carries it. Later fields are absent until set."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run: MigrateRun
    lock: LockHolder | None = None
    release: ReleaseTask | None = None
    tasks: dict[str, TaskRun] = {}
    plan: PlanResult | None = None
    snapshot: SnapshotState | None = None
    failure: dict[Step, StepError] = {}
    notice: Notice | None = None
    decision: Annotated[Decision | dict[str, Any] | None, Field(union_mode="left_to_right")] = None
    approval_error: StepError | None = None
    reverse_error: StepError | None = None


# ------------------------------------------------------------------------------------------- handler requests
class ValidateRequest(BaseModel):
    """The Validate state's payload: the raw execution input and the execution's identity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Any
    execution_id: str = Field(min_length=1)
    execution_name: str = Field(min_length=1)
    started_at: AwareDatetime


class StateRequest(BaseModel):
    """The payload of the states that work on the whole state (lock, register, read_plan, snapshot, finish)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: MigrateState


class SnapshotRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["start", "poll"]
    state: MigrateState


class NotifyRequest(BaseModel):
    """A failure to report; with `task_token`, the report also asks for a rollback decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: MigrateState
    task_token: str | None = None


class FinishRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Literal["succeeded", "failed"]
    state: MigrateState


# ------------------------------------------------------------------------------------------- outputs
class Timings(BaseModel):
    model_config = ConfigDict(frozen=True)

    total_seconds: float
    plan_seconds: float | None = None
    snapshot_seconds: float | None = None
    apply_seconds: float | None = None
    verify_seconds: float | None = None


class MigrateOutput(BaseModel):
    """The execution output of a successful migration."""

    model_config = ConfigDict(frozen=True)

    environment: Environment
    image: str
    git_sha: str
    phase: Phase
    applied: list[str]
    previous_state: dict[str, str]
    snapshot_id: str | None
    task_definition_arn: str | None
    requested_by: str
    timings: Timings


class FailedOutcome(BaseModel):
    """How a failed execution ends (the Fail state's Error and Cause), after the lock is released."""

    model_config = ConfigDict(frozen=True)

    error: str
    cause: str
    lock_released: bool


def ms_between(start: int | None, end: int | None) -> float | None:
    """Seconds between two epoch-millisecond stamps, if both are known.

    >>> ms_between(1_000, 4_500)
    3.5
    """
    if start is None or end is None:
        return None
    return round((end - start) / 1000, 3)


def seconds_between(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 3)
