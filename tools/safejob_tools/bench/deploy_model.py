"""Modeled end-to-end time of the deploy workflow (statemachines/deploy.asl.json), phase by phase. Pure, no AWS.

The deploy runs Validate, Preflight, Begin, Register, the migrate child execution (plan, RDS snapshot in
production, apply and verify: three one-off Fargate tasks), ScaleGreen, the WaitForGreen/CheckGreen loop, Smoke,
(Approval: a human, left out), then per traffic step Shift, Bake and Analyse, then Finalize, RetireGrace and Retire.
The model adds, by default, the wait the analysis needs before the bake's last minute of ALB metrics is published
(the state machine lacks it: its Analyse follows Bake at once, so it reads only the minutes published by then).

Each phase's duration comes from named `Assumption`s, each with its source: the stack (stacks/edge.yaml and
stacks/compute.yaml, read here so the figure follows the infrastructure), config/deploy.yaml, AWS's documentation,
or a stated assumption with a range (the nominal value is the conservative one; the pessimistic total takes the
high end of every range).

    >>> report = run()
    >>> [s.scenario for s in report.scenarios]
    ['canary', 'no_new_migration', 'all_at_once', 'issue_definition']
    >>> default = report.scenarios[0]
    >>> abs(default.total_seconds - sum(p.seconds for p in default.phases)) < 1e-6
    True

docs/benchmarks.md ("Modeled deploy time") prints the table and explains every assumption.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.models import AllAtOnceStrategy, CanaryStrategy, Service, Strategy
from safejob_ops.deploy.traffic import plan_traffic
from safejob_ops.deploy.workflow import SERVICES, DeployTimings
from safejob_ops.migrate.models import Timeouts
from safejob_tools.localaws.template import load_template

ROOT = Path(__file__).resolve().parents[3]
EDGE = ROOT / "stacks" / "edge.yaml"
COMPUTE = ROOT / "stacks" / "compute.yaml"
DEPLOY_CONFIG = ROOT / "config" / "deploy.yaml"

TARGET_SECONDS = 600.0  # the issue: at most 10 min for 3 steps of 2 min bake
PLAN_SECONDS = 900.0  # the plan's figure: 15 min

# AWS defaults of a target group and an ECS service, for a property the template leaves out.
ALB_DEFAULT_INTERVAL = 30
ALB_DEFAULT_HEALTHY_THRESHOLD = 5
ALB_DEFAULT_DEREGISTRATION_DELAY = 300
ECS_DEFAULT_MAXIMUM_PERCENT = 200
ECS_DEFAULT_GRACE = 0

Pick = Literal["nominal", "pessimistic"]
Kind = Literal["stack", "config", "aws", "measured", "assumed"]
Migrations = Literal["apply", "empty", "skip"]
Environment = Literal["staging", "production"]


class DeployModelError(ValueError):
    """A template or config the model cannot read (a value it cannot resolve to a number, a missing resource)."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ------------------------------------------------------------------------------------------------ assumptions
class Assumption(Frozen):
    """One named input of the model, in seconds (or a count), with where it comes from.

    >>> a = Assumption(key="task_start", what="Fargate task start", value=60, low=30, high=90, kind="assumed",
    ...                source="not documented")
    >>> a.at("nominal"), a.at("pessimistic"), a.range_text
    (60.0, 90.0, '30-90')
    """

    key: str
    what: str
    value: float = Field(ge=0, description="the nominal value: the conservative one when it is a range")
    unit: Literal["s", "count"] = "s"
    low: float | None = Field(default=None, ge=0, description="the optimistic end of the range, if a range")
    high: float | None = Field(default=None, ge=0, description="the pessimistic end of the range, if a range")
    kind: Kind
    source: str

    def at(self, pick: Pick) -> float:
        """The value the timeline uses: the nominal one, or the high end of its range."""
        return self.high if pick == "pessimistic" and self.high is not None else self.value

    @property
    def range_text(self) -> str:
        if self.low is None and self.high is None:
            return ""
        low = self.value if self.low is None else self.low
        high = self.value if self.high is None else self.high
        return f"{low:g}-{high:g}"

    def with_value(self, value: float) -> Assumption:
        """The same assumption at another nominal value (its range is kept only if it still contains it)."""
        keep = (self.low is None or self.low <= value) and (self.high is None or value <= self.high)
        return self.model_copy(update={"value": value} if keep else {"value": value, "low": None, "high": None})


class StackTimings(Frozen):
    """What the stack sets that the deploy waits on: the worst over both colours of every service (each colour is
    the target in turn), with where each value was read."""

    health_check_interval_seconds: int = Field(ge=1)
    healthy_threshold_count: int = Field(ge=1)
    deregistration_delay_seconds: int = Field(ge=0)
    maximum_percent: int = Field(ge=1, description="ECS DeploymentConfiguration.MaximumPercent (smallest)")
    health_check_grace_period_seconds: int = Field(ge=0, description="largest; not on the success path")
    sources: dict[str, str] = Field(description="per field, the template and resources it was read from")


class Assumptions(Frozen):
    """Every input of the model. `default_assumptions` builds them from the stack and the config."""

    # the stack
    health_check_interval: Assumption
    first_healthy_check: Assumption
    deregistration_delay: Assumption
    launch_waves: Assumption
    # the workflow's config
    health_poll: Assumption
    retire_grace: Assumption
    snapshot_poll: Assumption
    smoke_checks: Assumption
    # AWS, documented or not
    metric_period_alignment: Assumption
    metric_publication: Assumption
    fargate_task_start: Assumption
    ecs_service_scheduling: Assumption
    task_stop: Assumption
    sync_completion: Assumption
    rds_snapshot: Assumption
    sfn_state: Assumption
    lambda_invoke: Assumption
    lambda_cold_start: Assumption
    aws_call: Assumption
    smoke_request: Assumption
    # the app
    app_boot: Assumption
    migrate_plan_command: Assumption
    migrate_apply_command: Assumption
    migrate_verify_command: Assumption

    def all(self) -> list[Assumption]:
        return [value for value in (getattr(self, name) for name in type(self).model_fields)
                if isinstance(value, Assumption)]

    def replace(self, **values: float) -> Assumptions:
        """A copy with some nominal values changed, e.g. `replace(fargate_task_start=30)`."""
        return self.model_copy(update={key: getattr(self, key).with_value(value) for key, value in values.items()})


# ------------------------------------------------------------------------------------------------ scenarios
class Scenario(Frozen):
    """One deploy to model: its strategy, what it deploys, and what its migrate child does.

    `migrations`: `apply` (new migrations: plan, snapshot in production, apply, verify), `empty` (nothing new: the
    child runs its plan task only), `skip` (no backend image: no child). Approval is a human's time: never modeled.
    """

    scenario: str
    title: str
    environment: Environment
    strategy: Strategy
    services: tuple[Service, ...] = ("backend", "frontend")
    migrations: Migrations = "apply"
    approval_required: bool = False
    extensions: tuple[int, ...] = Field(default=(), description="per traffic step, the analyses that extend")
    wait_for_last_minute: bool = Field(default=True, description="the analysis waits until the bake's last minute "
                                                                 "of ALB metrics is published")
    grace: Literal["config", "deregistration_delay"] = Field(
        default="config", description="the retire grace: config/deploy.yaml's, or only the deregistration delay "
                                      "(the end of the drain, as the issue's definition counts it)")

    @property
    def snapshot(self) -> bool:
        """The migrate workflow snapshots RDS before applying, always in production (docs/workflows/migrate.md)."""
        return self.environment == "production"

    @property
    def runs_migrate(self) -> bool:
        return "backend" in self.services and self.migrations != "skip"


def canary(steps: Iterable[int] = (10, 50, 100), bake_seconds: int = 120, **changes: Any) -> Scenario:
    """The production canary scenario; a change of steps or bake is one argument.

    >>> canary(steps=(25, 100), bake_seconds=60).strategy.steps
    (25, 100)
    """
    strategy = CanaryStrategy(type="canary", steps=tuple(steps), bake_seconds=bake_seconds)
    values: dict[str, Any] = {"scenario": "canary", "environment": "production", "strategy": strategy, **changes}
    if "title" not in values:
        migrations = {"apply": "new migrations (plan, RDS snapshot, apply, verify)",
                      "empty": "no new migration (plan task only)",
                      "skip": "no migrate child"}[values.get("migrations", "apply")]
        values["title"] = (f"{values['environment']}, canary {list(strategy.steps)}, bake {bake_seconds} s, "
                           f"{'+'.join(values.get('services', SERVICES))}, {migrations}, "
                           + ("approval (not modeled)" if values.get("approval_required") else "no approval"))
    return Scenario.model_validate(values)


def default_scenarios() -> tuple[Scenario, ...]:
    """Production with new migrations, the same without one, staging's all-at-once, and the issue's definition."""
    return (
        canary(),
        canary(scenario="no_new_migration", migrations="empty"),
        Scenario(scenario="all_at_once", environment="staging", strategy=AllAtOnceStrategy(type="all_at_once"),
                 title="staging, all_at_once (no bake, no analysis), backend+frontend, new migrations (plan, "
                       "apply, verify; no snapshot in staging)"),
        # The issue's own definition: "task start, health check interval x threshold, deregistration delay, bake".
        canary(scenario="issue_definition", migrations="skip", wait_for_last_minute=False,
               grace="deregistration_delay",
               title="the issue's definition: task start, health checks, 3 bakes of 2 min and the deregistration "
                     "delay; backend+frontend, analysis straight after each bake (as deploy.asl.json does), no "
                     "migrate child (the migrate workflow's own time, above)"),
    )


# ------------------------------------------------------------------------------------------------ results
class Phase(Frozen):
    name: str
    states: str = Field(description="the deploy (or migrate) states the phase covers")
    seconds: float
    pessimistic_seconds: float
    cumulative_seconds: float
    how: str = Field(description="how the nominal seconds were computed")


class Milestone(Frozen):
    name: str
    seconds: float


class ScenarioResult(Frozen):
    scenario: str
    title: str
    phases: tuple[Phase, ...]
    milestones: tuple[Milestone, ...]
    total_seconds: float
    pessimistic_total_seconds: float
    bake_seconds: float = Field(description="the Wait of the bakes alone: the floor of the strategy")
    target_seconds: float
    plan_seconds: float
    ratio_to_plan: float = Field(description="total / the plan's 15 min")
    passed: bool = Field(description="total <= target")
    pessimistic_passed: bool


class Lever(Frozen):
    """One change and what it does to the first scenario's total."""

    what: str
    total_seconds: float
    saved_seconds: float
    passed: bool


class DeployModelReport(BaseModel):
    stack: StackTimings
    assumptions: list[Assumption]
    scenarios: list[ScenarioResult]
    levers: list[Lever]
    excluded: list[str] = Field(description="what the model leaves out, and why")
    target_seconds: float = TARGET_SECONDS
    plan_seconds: float = PLAN_SECONDS


EXCLUDED = [
    "Approval: a human decides (waitForTaskToken); its time is not modeled, whatever approval_required says.",
    "Failures, retries, rollbacks, throttling and capacity shortages: the model is the success path.",
    "The ALB applying new weights after ModifyListener/ModifyRule returns (seconds, undocumented): the bake starts "
    "when the call returns, so it only shortens the effective bake.",
    "Old-colour tasks stopping after Retire (deregistration delay, StopTimeout): the execution has ended.",
]


# ------------------------------------------------------------------------------------------------ the stack
def read_stack_timings(edge: Path = EDGE, compute: Path = COMPUTE) -> StackTimings:
    """The target groups' health check and deregistration delay (edge.yaml) and the ECS services' deployment
    settings (compute.yaml): the worst value over every colour of every service.

    >>> stack = read_stack_timings()
    >>> stack.health_check_interval_seconds, stack.healthy_threshold_count, stack.deregistration_delay_seconds
    (15, 2, 30)
    """
    edge_template, compute_template = load_template(edge), load_template(compute)
    groups = _tagged(edge_template, "AWS::ElasticLoadBalancingV2::TargetGroup", edge)
    services = _tagged(compute_template, "AWS::ECS::Service", compute)
    intervals = {lid: _int(p.get("HealthCheckIntervalSeconds", ALB_DEFAULT_INTERVAL), edge_template, edge)
                 for lid, p in groups.items()}
    thresholds = {lid: _int(p.get("HealthyThresholdCount", ALB_DEFAULT_HEALTHY_THRESHOLD), edge_template, edge)
                  for lid, p in groups.items()}
    delays = {lid: _int(_attribute(p, "deregistration_delay.timeout_seconds", ALB_DEFAULT_DEREGISTRATION_DELAY),
                        edge_template, edge) for lid, p in groups.items()}
    maximums = {lid: _int(p.get("DeploymentConfiguration", {}).get("MaximumPercent", ECS_DEFAULT_MAXIMUM_PERCENT),
                          compute_template, compute) for lid, p in services.items()}
    graces = {lid: _int(p.get("HealthCheckGracePeriodSeconds", ECS_DEFAULT_GRACE), compute_template, compute)
              for lid, p in services.items()}

    def where(path: Path, prop: str, values: Mapping[str, int], worst: int) -> str:
        ids = sorted(lid for lid, v in values.items() if v == worst)
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        return f"{name} {prop}: " + (f"all {len(ids)} of {', '.join(ids)}" if len(ids) == len(values) else
                                     f"{', '.join(ids)} (of {len(values)})")

    interval, threshold, delay = max(intervals.values()), max(thresholds.values()), max(delays.values())
    maximum, grace = min(maximums.values()), max(graces.values())
    return StackTimings(
        health_check_interval_seconds=interval, healthy_threshold_count=threshold,
        deregistration_delay_seconds=delay, maximum_percent=maximum, health_check_grace_period_seconds=grace,
        sources={
            "health_check_interval_seconds": where(edge, "HealthCheckIntervalSeconds", intervals, interval),
            "healthy_threshold_count": where(edge, "HealthyThresholdCount", thresholds, threshold),
            "deregistration_delay_seconds": where(edge, "deregistration_delay.timeout_seconds", delays, delay),
            "maximum_percent": where(compute, "DeploymentConfiguration.MaximumPercent", maximums, maximum),
            "health_check_grace_period_seconds": where(compute, "HealthCheckGracePeriodSeconds", graces, grace),
        })


def _tagged(template: Mapping[str, Any], kind: str, path: Path) -> dict[str, dict[str, Any]]:
    """The resources of `kind` tagged `safejob:service` with a deployed service, by logical id."""
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != kind:
            continue
        props = resource.get("Properties", {})
        tags = {t.get("Key"): t.get("Value") for t in props.get("Tags", []) if isinstance(t, Mapping)}
        if tags.get("safejob:service") in SERVICES:
            found[logical_id] = props
    if not found:
        raise DeployModelError(f"{path}: no {kind} tagged safejob:service with one of {', '.join(SERVICES)}")
    return found


def _attribute(props: Mapping[str, Any], key: str, default: int) -> Any:
    for attribute in props.get("TargetGroupAttributes", []):
        if isinstance(attribute, Mapping) and attribute.get("Key") == key:
            return attribute.get("Value")
    return default


def _int(value: Any, template: Mapping[str, Any], path: Path) -> int:
    """A number as the template writes it: an int, a numeric string, or a Ref to a parameter with a default."""
    if isinstance(value, Mapping) and set(value) == {"Ref"}:
        parameter = template.get("Parameters", {}).get(value["Ref"], {})
        if "Default" not in parameter:
            raise DeployModelError(f"{path}: Ref {value['Ref']} has no default to model with")
        value = parameter["Default"]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DeployModelError(f"{path}: cannot model {value!r} as a number")
    try:
        return int(value)
    except ValueError:
        raise DeployModelError(f"{path}: cannot model {value!r} as a number") from None


def read_workflow_timings(config: Path = DEPLOY_CONFIG) -> DeployTimings:
    """The `timings:` of config/deploy.yaml (DeployTimings' defaults for the keys it leaves out)."""
    return load_deploy_config(config).timings


def read_smoke_checks(config: Path = DEPLOY_CONFIG) -> int:
    """How many smoke checks the Smoke task runs: every service's, `/health/` included.

    >>> read_smoke_checks()
    3
    """
    smoke = load_deploy_config(config).smoke
    return sum(len(smoke.checks(service)) for service in SERVICES)


# ------------------------------------------------------------------------------------------------ the defaults
ALB_HEALTH_DOC = ("docs.aws.amazon.com/AmazonECS/latest/developerguide/load-balancer-healthcheck.html: a newly "
                  "registered target needs one passing check, HealthyThresholdCount applies to a recovering one")
ALB_METRICS_DOC = ("docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html:"
                   " ELB sends its metrics in 60-second intervals")


def default_assumptions(stack: StackTimings | None = None, timings: DeployTimings | None = None,
                        migrate: Timeouts | None = None, smoke_checks: int | None = None) -> Assumptions:
    """Every assumption, the stack's and the config's read from the repository unless given.

    >>> a = default_assumptions()
    >>> a.health_check_interval.value, a.first_healthy_check.value, a.first_healthy_check.high
    (15.0, 15.0, 30.0)
    """
    stack = stack or read_stack_timings()
    timings = timings or read_workflow_timings()
    migrate = migrate or Timeouts()
    smoke_checks = read_smoke_checks() if smoke_checks is None else smoke_checks
    interval, threshold = stack.health_check_interval_seconds, stack.healthy_threshold_count
    waves = math.ceil(100 / stack.maximum_percent)
    return Assumptions(
        health_check_interval=Assumption(
            key="health_check_interval", what="ALB target group health check interval", value=interval,
            kind="stack", source=f"{stack.sources['health_check_interval_seconds']} (AWS default 30)"),
        first_healthy_check=Assumption(
            key="first_healthy_check", what="from target registration to healthy: one check interval; pessimistic: "
            "HealthyThresholdCount checks (a first check that lands before the app listens)",
            value=interval, low=0, high=interval * threshold, kind="aws",
            source=f"{ALB_HEALTH_DOC}; HealthyThresholdCount {threshold} from "
                   f"{stack.sources['healthy_threshold_count']} (AWS default 5)"),
        deregistration_delay=Assumption(
            key="deregistration_delay", what="target group deregistration delay (the retire grace's floor)",
            value=stack.deregistration_delay_seconds, kind="stack",
            source=f"{stack.sources['deregistration_delay_seconds']} (AWS default 300)"),
        launch_waves=Assumption(
            key="launch_waves", what="waves in which ECS starts green's tasks: ceil(100 / MaximumPercent)",
            value=waves, unit="count", kind="stack",
            source=f"{stack.sources['maximum_percent']} = {stack.maximum_percent} (green starts from 0 tasks)"),
        health_poll=Assumption(
            key="health_poll", what="WaitForGreen: the Wait between two CheckGreen looks",
            value=timings.health_poll_seconds, kind="config",
            source="config/deploy.yaml timings.health_poll_seconds"),
        retire_grace=Assumption(
            key="retire_grace", what="RetireGrace: the Wait before Retire (the old colour drains)",
            value=timings.retire_grace_seconds, kind="config",
            source="config/deploy.yaml timings.retire_grace_seconds" + (
                "" if timings.retire_grace_seconds >= stack.deregistration_delay_seconds else
                f"; BELOW the deregistration delay ({stack.deregistration_delay_seconds} s): in-flight requests "
                "to the old colour may be cut")),
        snapshot_poll=Assumption(
            key="snapshot_poll", what="migrate: the Wait between two looks at the snapshot",
            value=migrate.snapshot_poll_seconds, kind="config",
            source="safejob_ops.migrate.models.Timeouts.snapshot_poll_seconds (default)"),
        smoke_checks=Assumption(
            key="smoke_checks", what="smoke checks (a count: /health/ of each service plus the configured paths)",
            value=smoke_checks, unit="count", kind="config", source="config/deploy.yaml smoke:"),
        metric_period_alignment=Assumption(
            key="metric_period_alignment", what="from the end of a bake to the end of its minute (the last "
            "one-minute datapoint closes then); the bake ends at a random second of the minute",
            value=30, low=0, high=60, kind="aws", source=f"{ALB_METRICS_DOC}; uniform over the minute, mean 30 s"),
        metric_publication=Assumption(
            key="metric_publication", what="from the end of a minute until GetMetricData returns its ALB datapoints",
            value=90, low=60, high=180, kind="assumed",
            source="not documented by AWS, which documents only the 60-s interval; our assumption, to replace with "
                   "the lag measured on the first real deploys"),
        fargate_task_start=Assumption(
            key="fargate_task_start", what="RunTask/UpdateService to RUNNING: capacity, ENI, image pull, start",
            value=60, low=30, high=90, kind="assumed",
            source="not documented by AWS (ECS best practices, 'Speeding up task launch', lists the phases; awsvpc "
                   "adds 'several seconds'); a published run of a 413 MB image in a private subnet through NAT: "
                   "53-62 s (elasticscale.com, 2024); our images are not measured: conservative 60 s"),
        ecs_service_scheduling=Assumption(
            key="ecs_service_scheduling", what="UpdateService to the scheduler starting the tasks",
            value=5, low=1, high=15, kind="assumed", source="not documented; seconds in practice"),
        task_stop=Assumption(
            key="task_stop", what="the essential container exits to the task STOPPED (sidecar stop, ENI release)",
            value=20, low=10, high=40, kind="assumed", source="not documented (DEACTIVATING, STOPPING, "
            "DEPROVISIONING in the ECS task lifecycle); the X-Ray sidecar stops on SIGTERM"),
        sync_completion=Assumption(
            key="sync_completion", what="a .sync integration noticing the end (ECS task STOPPED, child execution "
            "ended)", value=5, low=1, high=15, kind="assumed",
            source="not documented (Step Functions learns it from EventBridge, e.g. StepFunctionsGetEventsForECS"
                   "TaskRule)"),
        rds_snapshot=Assumption(
            key="rds_snapshot", what="CreateDBSnapshot to available (production, when there are migrations)",
            value=180, low=60, high=900, kind="assumed",
            source="not documented; incremental snapshots of a small instance take minutes, the first one copies "
                   "everything"),
        sfn_state=Assumption(
            key="sfn_state", what="Step Functions overhead of entering one state (Task, Wait, Choice)",
            value=0.05, low=0.02, high=0.2, kind="assumed", source="not documented (Standard workflows)"),
        lambda_invoke=Assumption(
            key="lambda_invoke", what="lambda:invoke from Step Functions, a warm handler's own work",
            value=0.1, low=0.05, high=0.3, kind="assumed", source="not documented"),
        lambda_cold_start=Assumption(
            key="lambda_cold_start", what="added to each function's first invocation in an execution (deploys are "
            "far apart, so every function starts cold once)", value=1.0, low=0.5, high=2.5, kind="measured",
            source="docs/benchmarks.md: our handlers' import and init take 0.24-0.56 s in a fresh process; "
                   "Lambda's environment start comes on top"),
        aws_call=Assumption(
            key="aws_call", what="one AWS API call from a handler, same region", value=0.1, low=0.05, high=0.3,
            kind="assumed", source="not documented"),
        smoke_request=Assumption(
            key="smoke_request", what="one smoke GET through the test listener", value=0.2, low=0.05, high=1.0,
            kind="assumed", source="the app's /health/ and static pages; a check times out at 5 s"),
        app_boot=Assumption(
            key="app_boot", what="RUNNING to the app answering /health/ (gunicorn and Django, or the static server)",
            value=10, low=5, high=20, kind="assumed", source="not measured on Fargate (0.5 vCPU backend)"),
        migrate_plan_command=Assumption(
            key="migrate_plan_command", what="the plan task's commands (showmigrations, migrate --plan, "
            "safejob_plan)", value=10, low=5, high=30, kind="assumed", source="Django start-ups on 0.5 vCPU"),
        migrate_apply_command=Assumption(
            key="migrate_apply_command", what="migrate (apply)", value=15, low=5, high=120, kind="assumed",
            source="a few additive migrations; a table rewrite takes as long as the table"),
        migrate_verify_command=Assumption(
            key="migrate_verify_command", what="migrate --check", value=5, low=3, high=15, kind="assumed",
            source="one Django start-up"),
    )


# ------------------------------------------------------------------------------------------------ the timeline
# AWS calls each handler makes (safejob_ops.deploy.service, safejob_ops.migrate): per service of the environment
# (both move, services not in the request keep their task definition), per deployed service, and fixed.
CALLS: dict[str, tuple[int, int, int]] = {
    #              per env service, per deployed service, fixed
    "validate": (0, 0, 0),
    "preflight": (3, 2, 2),  # live service, weights, alarms; image, scan; cost gate, lock
    "begin": (0, 0, 2),  # lock, ledger
    "register": (0, 2, 0),  # DescribeTaskDefinition, RegisterTaskDefinition
    "migrate_validate": (0, 0, 0),
    "migrate_lock": (0, 0, 1),
    "migrate_register": (0, 0, 2),
    "migrate_read_plan": (0, 0, 1),  # the plan task's log stream
    "migrate_snapshot": (0, 0, 1),  # CreateDBSnapshot, then DescribeDBSnapshots per look
    "migrate_finish": (0, 0, 1),  # the lock
    "scale_green": (2, 0, 0),  # the test listener, UpdateService
    "check_green": (2, 0, 0),  # DescribeServices, DescribeTargetHealth
    "smoke": (0, 0, 0),  # HTTP, counted apart
    "shift": (3, 0, 0),  # weights, close the previous window, open one
    "analyse": (2, 0, 0),  # GetMetricData, DescribeAlarms
    "finalize": (1, 0, 2),  # close the windows; ledger, SNS
    "retire": (1, 0, 1),  # UpdateService to 0; the lock
}


Mark = Literal["green_healthy", "first_traffic", "full_traffic", "promoted", "ended"]
MILESTONES: dict[Mark, str] = {
    "green_healthy": "green healthy",
    "first_traffic": "green takes traffic (first shift)",
    "full_traffic": "100% on green (last shift)",
    "promoted": "promoted (Finalize)",
    "ended": "execution ends (Retire)",
}


@dataclass(frozen=True)
class Row:
    """One phase of a timeline: its name, the states it covers, its seconds and how they were computed."""

    name: str
    states: str
    seconds: float
    how: str
    marks: tuple[Mark, ...] = ()
    bake_seconds: float = 0.0


@dataclass
class _Clock:
    """Builds one timeline with the nominal or the pessimistic value of every assumption."""

    a: Assumptions
    pick: Pick
    scenario: Scenario
    rows: list[Row] = field(default_factory=list)
    warm: set[str] = field(default_factory=set)

    def v(self, assumption: Assumption) -> float:
        return assumption.at(self.pick)

    def add(self, name: str, states: str, seconds: float, how: str, *marks: Mark) -> None:
        self.rows.append(Row(name, states, seconds, how, marks))

    def state(self, count: int = 1) -> float:
        return count * self.v(self.a.sfn_state)

    def calls(self, function: str) -> int:
        per_env, per_deployed, fixed = CALLS[function]
        return per_env * len(SERVICES) + per_deployed * len(self.scenario.services) + fixed

    def invoke(self, function: str) -> tuple[float, str]:
        """A Lambda task state: its state, the invoke, a cold start the first time, the handler's AWS calls."""
        cold = function not in self.warm
        self.warm.add(function)
        calls = self.calls(function)
        seconds = (self.state() + self.v(self.a.lambda_invoke) + calls * self.v(self.a.aws_call)
                   + (self.v(self.a.lambda_cold_start) if cold else 0.0))
        return seconds, f"{function} ({'cold, ' if cold else ''}{calls} AWS call{'' if calls == 1 else 's'})"

    def lambdas(self, name: str, states: str, *functions: str, extra: float = 0.0, extra_how: str = "",
                marks: tuple[Mark, ...] = ()) -> None:
        done = [self.invoke(f) for f in functions]
        how = " + ".join(h for _, h in done) + (f" + {extra_how}" if extra_how else "")
        self.add(name, states, sum(s for s, _ in done) + extra, how, *marks)

    def poll_loop(self, ready: float, wait: float, function: str, choice: bool = True) -> tuple[float, int]:
        """Wait, look, decide, until a look happens at or after `ready` seconds: (elapsed, looks)."""
        elapsed, looks = 0.0, 0
        while elapsed < ready or looks == 0:
            step = self.state() + wait + self.invoke(function)[0] + (self.state() if choice else 0.0)
            if step <= 0:
                raise DeployModelError("a poll loop iteration must take some time")
            elapsed, looks = elapsed + step, looks + 1
        return elapsed, looks

    def fargate_task(self, name: str, state: str, command: Assumption) -> None:
        start, run, stop, sync = (self.v(self.a.fargate_task_start), self.v(command), self.v(self.a.task_stop),
                                  self.v(self.a.sync_completion))
        self.add(name, state, self.state() + start + run + stop + sync,
                 f"runTask.sync: start {start:g} + command {run:g} + stop {stop:g} + .sync {sync:g}")


def _prepare(c: _Clock) -> None:
    c.lambdas("Validate", "Validate", "validate")
    c.lambdas("Preflight", "Preflight", "preflight")
    c.lambdas("Begin (lock, ledger)", "Begin", "begin")
    c.lambdas("Register task definitions", "Register, HasMigrations", "register", extra=c.state(),
              extra_how="Choice")


def _migrate(c: _Clock) -> None:
    s = c.scenario
    if not s.runs_migrate:
        return
    c.lambdas("Migrate: child starts (Validate, Lock, Register)", "Migrate: Validate, Lock, RegisterTaskDefinition",
              "migrate_validate", "migrate_lock", "migrate_register", extra=c.state(), extra_how="startExecution")
    c.fargate_task("Migrate: plan task", "Migrate: Plan", c.a.migrate_plan_command)
    c.lambdas("Migrate: read the plan", "Migrate: ReadPlan, PlanDecision", "migrate_read_plan", extra=c.state(),
              extra_how="Choice")
    if s.migrations == "apply":
        if s.snapshot:
            start, start_how = c.invoke("migrate_snapshot")
            ready = c.v(c.a.rds_snapshot)
            loop, looks = c.poll_loop(ready, c.v(c.a.snapshot_poll), "migrate_snapshot")
            c.add("Migrate: RDS snapshot", "Migrate: StartSnapshot, WaitForSnapshot, CheckSnapshot, SnapshotReady",
                  start + loop,
                  f"{start_how}; snapshot {ready:g} s seen by look {looks} (Wait {c.v(c.a.snapshot_poll):g} + "
                  "CheckSnapshot + Choice each)")
        c.fargate_task("Migrate: apply task", "Migrate: Apply", c.a.migrate_apply_command)
        c.fargate_task("Migrate: verify task", "Migrate: Verify", c.a.migrate_verify_command)
    c.lambdas("Migrate: finish, child ends", "Migrate: Finish", "migrate_finish",
              extra=c.v(c.a.sync_completion), extra_how="startExecution.sync:2 notices the end")


def green_ready_seconds(a: Assumptions, pick: Pick = "nominal") -> float:
    """From UpdateService until every green target is healthy: scheduling, then per launch wave the task start,
    the app's boot and the first passing health check.

    >>> a = default_assumptions()
    >>> green_ready_seconds(a) == 5 + 60 + 10 + 15
    True
    """
    per_wave = a.fargate_task_start.at(pick) + a.app_boot.at(pick) + a.first_healthy_check.at(pick)
    return a.ecs_service_scheduling.at(pick) + a.launch_waves.at(pick) * per_wave


def _green(c: _Clock) -> None:
    c.lambdas("ScaleGreen (test listener, UpdateService)", "ScaleGreen", "scale_green")
    ready = green_ready_seconds(c.a, c.pick)
    loop, looks = c.poll_loop(ready, c.v(c.a.health_poll), "check_green")
    c.add("Green healthy (poll loop)", "WaitForGreen, CheckGreen, GreenHealthy?", loop,
          f"ready after {ready:g} s (scheduling + task start + boot + first check), seen by look {looks} "
          f"(Wait {c.v(c.a.health_poll):g} + CheckGreen + Choice each)", "green_healthy")
    checks = c.v(c.a.smoke_checks)
    c.lambdas("Smoke tests", "Smoke, ApprovalRequired?", "smoke", extra=checks * c.v(c.a.smoke_request) + c.state(),
              extra_how=f"{checks:g} GETs + Choice")
    if c.scenario.approval_required:
        c.add("Approval (a human: not modeled)", "RequestApproval, Approved?", 0.0, "excluded")


def _settle_and_analyse(c: _Clock, label: str) -> None:
    if c.scenario.wait_for_last_minute:
        align, publish = c.v(c.a.metric_period_alignment), c.v(c.a.metric_publication)
        c.add(f"{label}: last minute published", "(a Wait deploy.asl.json lacks: Analyse follows Bake)",
              c.state() + align + publish, f"to the minute's end {align:g} + publication {publish:g}")
    c.lambdas(f"{label}: analyse", "Analyse, Verdict?", "analyse", extra=c.state(), extra_how="Choice")


def _traffic(c: _Clock) -> None:
    s = c.scenario
    plan = plan_traffic(s.strategy, live="blue")
    for step in plan.steps:
        label = f"Step {step.index + 1} ({step.target_weight}%)"
        marks: list[Mark] = []
        if step.index == 0:
            marks.append("first_traffic")
        if step.target_weight == 100:
            marks.append("full_traffic")
        c.lambdas(f"{label}: shift", "Shift, Analysed?", "shift", extra=c.state(), extra_how="Choice",
                  marks=tuple(marks))
        extensions = s.extensions[step.index] if step.index < len(s.extensions) else 0
        for round_ in range(1 + (extensions if step.analyse else 0)):
            name = label if round_ == 0 else f"{label} extension {round_}"
            if step.bake_seconds:
                c.rows.append(Row(f"{name}: bake", "Bake", c.state() + step.bake_seconds,
                                  f"Wait {step.bake_seconds}", bake_seconds=step.bake_seconds))
            if step.analyse:
                _settle_and_analyse(c, name)


def _finish(c: _Clock) -> None:
    c.lambdas("Finalize (windows, ledger, notification)", "Finalize", "finalize", marks=("promoted",))
    grace = c.v(c.a.deregistration_delay if c.scenario.grace == "deregistration_delay" else c.a.retire_grace)
    c.add("Retire grace (old colour drains)", "RetireGrace", c.state() + grace, f"Wait {grace:g}")
    c.lambdas("Retire (old colour to 0, unlock)", "Retire", "retire", marks=("ended",))


def timeline(scenario: Scenario, a: Assumptions, pick: Pick = "nominal") -> list[Row]:
    """The phases of one deploy, in order, with the nominal or the pessimistic value of every assumption."""
    clock = _Clock(a=a, pick=pick, scenario=scenario)
    for part in (_prepare, _migrate, _green, _traffic, _finish):
        part(clock)
    return clock.rows


def model_deploy(scenario: Scenario, a: Assumptions, target_seconds: float = TARGET_SECONDS,
                 plan_seconds: float = PLAN_SECONDS) -> ScenarioResult:
    """The modeled timeline of one scenario, with its totals and its verdict against the target.

    >>> result = model_deploy(canary(bake_seconds=60), default_assumptions())
    >>> result.total_seconds == result.phases[-1].cumulative_seconds, result.bake_seconds
    (True, 180.0)
    """
    nominal, pessimistic = timeline(scenario, a, "nominal"), timeline(scenario, a, "pessimistic")
    if [row.name for row in nominal] != [row.name for row in pessimistic]:
        raise DeployModelError("the nominal and pessimistic timelines differ in their phases")
    phases: list[Phase] = []
    milestones: list[Milestone] = []
    for index, (row, worst) in enumerate(zip(nominal, pessimistic, strict=True)):
        cumulative = math.fsum(r.seconds for r in nominal[:index + 1])  # exactly the total at the end
        phases.append(Phase(name=row.name, states=row.states, seconds=row.seconds,
                            pessimistic_seconds=worst.seconds, cumulative_seconds=cumulative, how=row.how))
        milestones += [Milestone(name=MILESTONES[m], seconds=cumulative) for m in row.marks]
    total, worst_total = math.fsum(p.seconds for p in phases), math.fsum(p.pessimistic_seconds for p in phases)
    bakes = math.fsum(row.bake_seconds for row in nominal)
    return ScenarioResult(
        scenario=scenario.scenario, title=scenario.title, phases=tuple(phases), milestones=tuple(milestones),
        total_seconds=total, pessimistic_total_seconds=worst_total, bake_seconds=bakes,
        target_seconds=target_seconds, plan_seconds=plan_seconds, ratio_to_plan=total / plan_seconds,
        passed=total <= target_seconds, pessimistic_passed=worst_total <= target_seconds)


# ------------------------------------------------------------------------------------------------ levers
LeverChange = Callable[[Scenario, Assumptions], tuple[Scenario, Assumptions]]


def _scenario_change(**update: Any) -> LeverChange:
    def change(s: Scenario, a: Assumptions) -> tuple[Scenario, Assumptions]:
        return s.model_copy(update=update), a
    return change


def _assumption_change(**values: float) -> LeverChange:
    def change(s: Scenario, a: Assumptions) -> tuple[Scenario, Assumptions]:
        return s, a.replace(**values)
    return change


def _together(*changes: LeverChange) -> LeverChange:
    def change(s: Scenario, a: Assumptions) -> tuple[Scenario, Assumptions]:
        for one in changes:
            s, a = one(s, a)
        return s, a
    return change


def _levers(a: Assumptions) -> list[tuple[str, LeverChange]]:
    delay = a.deregistration_delay.value
    fast = a.fargate_task_start.low if a.fargate_task_start.low is not None else a.fargate_task_start.value
    no_wait = _scenario_change(wait_for_last_minute=False)
    short_grace = _assumption_change(retire_grace=delay)
    migrate_ahead = _scenario_change(migrations="skip")
    publication = a.metric_publication.value
    return [
        ("analyse right after the bake, as deploy.asl.json does (Bake -> Analyse): it then sees only the minutes "
         f"already published, at most bake - {publication:g} s of each bake, so a 2-min bake mostly extends",
         no_wait),
        (f"retire grace = the deregistration delay ({delay:g} s) instead of {a.retire_grace.value:g} s", short_grace),
        ("migrations applied before the deploy (migrate workflow, expand phase): no migrate child", migrate_ahead),
        ("no new migration: the child runs its plan task only", _scenario_change(migrations="empty")),
        (f"Fargate task start {fast:g} s instead of {a.fargate_task_start.value:g} (smaller images, SOCI)",
         _assumption_change(fargate_task_start=fast)),
        ("bake 60 s instead of 120 s",
         _scenario_change(strategy=CanaryStrategy(type="canary", steps=(10, 50, 100), bake_seconds=60))),
        ("2 steps [10, 100] instead of 3",
         _scenario_change(strategy=CanaryStrategy(type="canary", steps=(10, 100), bake_seconds=120))),
        ("one extension at the first step (fewer than min_requests at 10%)", _scenario_change(extensions=(1,))),
        ("the first two together", _together(no_wait, short_grace)),
        ("the first two together, no new migration (plan task only)",
         _together(no_wait, short_grace, _scenario_change(migrations="empty"))),
        ("the first three together", _together(no_wait, short_grace, migrate_ahead)),
        ("2 steps [10, 100], the grace and migrations as above, still waiting for the last minute",
         _together(short_grace, migrate_ahead, _scenario_change(
             strategy=CanaryStrategy(type="canary", steps=(10, 100), bake_seconds=120)))),
    ]


def levers(scenario: Scenario, a: Assumptions) -> list[Lever]:
    """What each change would do to `scenario`'s total (negative savings: it costs time)."""
    base = model_deploy(scenario, a).total_seconds
    out = []
    for what, change in _levers(a):
        s, x = change(scenario, a)
        total = model_deploy(s, x).total_seconds
        out.append(Lever(what=what, total_seconds=total, saved_seconds=base - total, passed=total <= TARGET_SECONDS))
    return out


# ------------------------------------------------------------------------------------------------ the benchmark
def run(scenarios: Iterable[Scenario] | None = None, edge: Path = EDGE, compute: Path = COMPUTE,
        config: Path = DEPLOY_CONFIG, progress: Callable[[str], None] | None = None) -> DeployModelReport:
    """The bench entry point: read the stack and config, model every scenario, and the levers of the first."""
    stack = read_stack_timings(edge, compute)
    a = default_assumptions(stack, read_workflow_timings(config), smoke_checks=read_smoke_checks(config))
    chosen = tuple(scenarios) if scenarios is not None else default_scenarios()
    if not chosen:
        raise DeployModelError("no scenario to model")
    if progress:
        progress(f"deploy_model: {len(chosen)} scenarios, {len(a.all())} assumptions, from {edge.name} and "
                 f"{compute.name}")
    return DeployModelReport(stack=stack, assumptions=a.all(), scenarios=[model_deploy(s, a) for s in chosen],
                             levers=levers(chosen[0], a), excluded=list(EXCLUDED))
