"""The state the deploy state machine carries between its tasks (statemachines/deploy.asl.json), and its timings.

    $.run        DeployRun       Validate: the checked request, the environment's resources, the timings
    $.live       LiveState       Preflight: the live colour, what each colour runs, the traffic plan, the checks
    $.lock       LockHolder      Begin
    $.release    Release         Register: per service, the task definition the target colour will run
    $.migration  Migration       Migrate (the child execution's output), absent without a backend image
    $.green      GreenHealth     CheckGreen
    $.approval   Approval        the approval's answer (waitForTaskToken)
    $.traffic    TrafficState    Shift: the current step
    $.analysis   Analysis        Analyse: the verdict, and every step so far
    $.failure    {<step>: {Error, Cause}}   the Catch of the step that failed

The environment moves as one: both services change colour together, each service not in the request running its
live task definition in the new colour, so the live colour (the stack's `LiveColor`) is one for the environment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from safejob_ops.deploy.canary import Verdict
from safejob_ops.deploy.models import DeployRequest, PreflightCheck, Service, StepRecord
from safejob_ops.deploy.traffic import Colour, TrafficPlan
from safejob_ops.migrate.models import LockHolder

SERVICES: tuple[Service, ...] = ("backend", "frontend")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


# ------------------------------------------------------------------------------------------- config: timings
class DeployTimings(BaseModel):
    """The `timings:` section of config/deploy.yaml: how long each part of a deploy may take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_timeout_seconds: int = Field(default=60, ge=1, le=900, description="each Lambda task (its TimeoutSeconds)")
    health_poll_seconds: int = Field(default=10, ge=1, le=300, description="between two checks of green's health")
    health_timeout_seconds: int = Field(default=900, ge=1, le=3600, description="green healthy within this")
    migrate_timeout_seconds: int = Field(default=3600, ge=1, le=86_400, description="the migrate child execution")
    approval_timeout_seconds: int = Field(default=3600, ge=1, le=7 * 86_400, description="then it rolls back")
    retire_grace_seconds: int = Field(default=300, ge=0, le=3600,
                                      description="the old colour keeps running this long after the promotion, "
                                                  "at least the target groups' deregistration delay")
    rollback_timeout_seconds: int = Field(default=180, ge=1, le=900,
                                          description="the Rollback task; keep it above its function's Timeout "
                                                      "(120 s in template.yaml)")
    maintenance_margin_seconds: int = Field(default=300, ge=0, le=3600,
                                            description="added to a step's bake and extensions in its window")


# ------------------------------------------------------------------------------------------- $.run
class ColourResources(Frozen):
    service_name: str = Field(min_length=1, description="the ECS service, e.g. safejob-production-backend-blue")
    target_group_arn: str = Field(min_length=1)
    target_group: str = Field(min_length=1, description="the metrics dimension: targetgroup/<name>/<id>")


class TrafficSwitch(Frozen):
    """Where a service's weights live: the production listener's default action, or one of its rules."""

    kind: Literal["listener", "rule"]
    arn: str = Field(min_length=1)


class ServiceTopology(Frozen):
    service: Service
    container: str = "app"
    blue: ColourResources
    green: ColourResources
    prod: TrafficSwitch
    test: TrafficSwitch

    def colour(self, colour: Colour) -> ColourResources:
        return self.blue if colour == "blue" else self.green


class Topology(Frozen):
    cluster: str = Field(min_length=1)
    load_balancer: str = Field(min_length=1, description="the metrics dimension: app/<name>/<id>")
    test_listener_url: str = Field(min_length=1, description="e.g. https://app.example.com:8443")
    services: dict[Service, ServiceTopology]


class DeployRun(Frozen):
    """The checked request and everything the later tasks need about the environment (`$.run`)."""

    request: DeployRequest
    execution_id: str
    execution_name: str
    started_at: AwareDatetime
    environment: str
    lock_name: str
    lock_expires_at: AwareDatetime
    topology: Topology
    timings: DeployTimings
    has_migrations: bool = Field(description="a backend image is deployed: migrate runs first")
    migrate_input: dict[str, Any] | None = Field(default=None, description="the migrate child's execution input")


# ------------------------------------------------------------------------------------------- $.live
class ServiceLive(Frozen):
    """One service as preflight found it: the live colour's task definition and count."""

    task_definition: str
    desired_count: int = Field(ge=0)
    image: str = Field(description="the live image of the app container")


class LiveState(Frozen):
    live: Colour
    target: Colour
    services: dict[Service, ServiceLive]
    plan: TrafficPlan
    checks: tuple[PreflightCheck, ...]


# ------------------------------------------------------------------------------------------- later results
class Release(Frozen):
    task_definitions: dict[Service, str] = Field(description="per service, what the target colour runs")


class Migration(Frozen):
    """What the migrate child reported (its output, as startExecution.sync:2 returns it)."""

    execution_arn: str | None = None
    applied: tuple[str, ...] = ()


class GreenHealth(Frozen):
    healthy: bool
    polls: int = Field(ge=1)
    detail: str


class Approval(Frozen):
    """The answer to the approval request: send-task-success with this document. Lenient on purpose: an answer
    without `approved: true` rejects (the Approved? choice rolls back), and the rollback must still read it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    approved: bool = False
    decided_by: str = "unknown"
    reason: str = ""


class TrafficState(Frozen):
    index: int = Field(ge=0)
    weight: int = Field(ge=1, le=100, description="the target colour's share")
    started_at: AwareDatetime
    bake_seconds: int = Field(ge=0)
    analyse: bool
    last: bool
    maintenance: dict[Service, str] = Field(default_factory=dict, description="the open windows' silence ids")


class Analysis(Frozen):
    index: int = Field(ge=0, description="the step it judged")
    verdict: Verdict
    summary: str
    extensions: int = Field(ge=0)
    steps: tuple[StepRecord, ...] = ()


class FailureDetail(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    Error: str = "Unknown"
    Cause: str = ""


class DeployState(Frozen):
    """The whole carried state, as each task receives it (`{"state.$": "$"}`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run: DeployRun
    live: LiveState | None = None
    lock: LockHolder | None = None
    release: Release | None = None
    migration: Migration | None = None
    green: GreenHealth | None = None
    approval: Approval | None = None
    traffic: TrafficState | None = None
    analysis: Analysis | None = None
    failure: dict[str, FailureDetail] = Field(default_factory=dict)

    def need_live(self) -> LiveState:
        if self.live is None:
            raise ValueError("state: $.live is missing; the state machine runs Preflight before this task")
        return self.live


class StateRequest(Frozen):
    """A task's payload: the state, and the task token of a waitForTaskToken task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: DeployState
    task_token: str | None = None


class ValidateRequest(Frozen):
    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Any
    execution_id: str
    execution_name: str
    started_at: datetime


class Outcome(Frozen):
    """What Finalize and Rollback return: the execution's result, also the ledger's outcome."""

    outcome: Literal["succeeded", "rolled_back"]
    live: Colour
    reason: str
    notified: bool
    message_id: str | None = None
