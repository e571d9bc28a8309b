"""The deploy use cases behind the Lambda handlers of statemachines/deploy.asl.json, one function per handler.

    validate_input    the execution input -> DeployRun (refused, naming each field, before any side effect)
    preflight         every check (image, scan, cost gate, freeze, alarms, traffic, lock) -> LiveState, or refused
    begin             the deploy lock (conditional write), then the ledger's in-progress record
    register          per service, the target colour's task definition: the live one with the new image
    scale_green       the test listener to the target colour, then the target services to the live counts
    check_green       one health check of the target colour (GreenUnhealthyError past the deadline)
    smoke             the smoke tests through the test listener (SmokeTestsFailedError)
    request_approval  the approval request, carrying the task token that answers it
    shift             the next traffic step's weights, and its maintenance windows
    analyse           the canary analysis of the current step: promote, extend or rollback
    finalize          the release is live: windows closed, ledger, notification
    retire            after the grace period: the old colour to 0, the lock released
    rollback          from any failure: 100% to the live colour, the target to 0, diagnostics, ledger, unlock, notify

Pure orchestration over ports (safejob_ops.deploy.ports, safejob_ops.migrate.ports); the decisions are in
preflight.py, traffic.py, canary.py and smoke.py. Every write is idempotent, so Step Functions may retry any task.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from safejob_ops.deploy.canary import CanaryConfig, CanaryObservation, CanaryVerdict, Verdict, analyze
from safejob_ops.deploy.canary_metrics import CanaryMetricsPort, MetricWindow, TargetGroupRef
from safejob_ops.deploy.config import DeployConfig
from safejob_ops.deploy.diagnostics import DiagnosticsPorts, DiagnosticsWindow, GreenService, collect_diagnostics
from safejob_ops.deploy.ledger import DeployLedger, put_final
from safejob_ops.deploy.models import (
    DeployInputError,
    DeployRecord,
    PreflightCheck,
    PreflightRefusedError,
    PreflightReport,
    RollbackDiagnostics,
    Service,
    StepRecord,
    parse_deploy_request,
)
from safejob_ops.deploy.ports import (
    AlarmStates,
    ContainerImages,
    EcsServices,
    Forwarding,
    ImageRegistry,
    MaintenanceWindows,
    Parameters,
    SmokeHttpPort,
    TargetHealth,
)
from safejob_ops.deploy.preflight import PreflightContext, run_preflight
from safejob_ops.deploy.smoke import SmokeReport, run_smoke_tests
from safejob_ops.deploy.traffic import Colour, ListenerWeights, plan_traffic
from safejob_ops.deploy.workflow import (
    Analysis,
    DeployRun,
    DeployState,
    DeployTimings,
    GreenHealth,
    LiveState,
    Outcome,
    Release,
    ServiceLive,
    ServiceTopology,
    Topology,
    TrafficState,
    ValidateRequest,
)
from safejob_ops.migrate.models import LockHolder
from safejob_ops.migrate.ports import Locks, Publisher, TaskDefinitions

LOCK_MARGIN = timedelta(minutes=15)
COLOURS: tuple[Colour, ...] = ("blue", "green")
RELEASE_VARIABLE = "SAFEJOB_RELEASE"
SUBJECT_MAX = 100
LEFT_ALONE = "its traffic and services were left as they are"  # the rollback's note when the lock is another's


class GreenUnhealthyError(RuntimeError):
    """The target colour did not become healthy before the deadline (or its ECS deployment failed)."""


class SmokeTestsFailedError(RuntimeError):
    """A smoke test through the test listener failed; the message lists each failed check."""


class ReleaseCommittedError(RuntimeError):
    """A rollback after the commit point: the ledger says the release succeeded, so it is live and left alone."""


# ------------------------------------------------------------------------------------------------ validate
class DeploySetup(BaseModel):
    """What the Validate handler knows from its environment (template.yaml) and config/deploy.yaml."""

    model_config = ConfigDict(frozen=True)

    environment_name: str
    topology: Topology
    timings: DeployTimings
    max_extensions: int = 3


def validate_input(request: ValidateRequest, setup: DeploySetup) -> DeployRun:
    """The execution input, checked and resolved; DeployInputError (naming each field) before any side effect.

    >>> validate_input(ValidateRequest(input={"environment": "local"}, execution_id="arn:x", execution_name="x",
    ...     started_at=datetime.fromisoformat("2026-03-01T00:00:00+00:00")), None)  # type: ignore[arg-type]
    Traceback (most recent call last):
    ...
    safejob_ops.deploy.models.DeployInputError: invalid deploy input (6 problems):
    ...
    """
    deploy = parse_deploy_request(request.input)
    if deploy.environment != setup.environment_name:
        raise DeployInputError([("environment", f"this is the {setup.environment_name!r} stack, not "
                                                f"{deploy.environment!r}; fix: start the deploy in the "
                                                f"{deploy.environment} account's state machine")])
    timings = setup.timings
    steps = len(deploy.strategy.steps) if deploy.strategy.type == "canary" else 1
    bake = deploy.strategy.bake_seconds if deploy.strategy.type == "canary" else 0
    budget = (timings.migrate_timeout_seconds + timings.health_timeout_seconds + timings.retire_grace_seconds
              + (timings.approval_timeout_seconds if deploy.approval_required else 0)
              + steps * bake * (setup.max_extensions + 1) + 20 * timings.task_timeout_seconds)
    migrate_input = None
    if "backend" in deploy.services:
        migrate_input = {"environment": deploy.environment, "image": deploy.images["backend"],
                         "git_sha": deploy.git_sha,
                         "requested_by": f"{deploy.requested_by} (deploy {request.execution_name})"[:256]}
    return DeployRun(
        request=deploy, execution_id=request.execution_id, execution_name=request.execution_name,
        started_at=request.started_at, environment=deploy.environment, lock_name=lock_name(deploy.environment),
        lock_expires_at=request.started_at + timedelta(seconds=budget) + LOCK_MARGIN, topology=setup.topology,
        timings=timings, has_migrations=migrate_input is not None, migrate_input=migrate_input,
    )


def lock_name(environment: str) -> str:
    """The lock item of one environment's deploys.

    >>> lock_name("production")
    'deploy/production'
    """
    return f"deploy/{environment}"


# ------------------------------------------------------------------------------------------------ preflight
@dataclass(frozen=True)
class PreflightPorts:
    registry: ImageRegistry
    parameters: Parameters
    alarms: AlarmStates
    services: EcsServices
    forwarding: Forwarding
    images: ContainerImages
    locks: Locks


def alarm_names(config: CanaryConfig, service: str, environment: str) -> tuple[str, ...]:
    return tuple(config.policy_for(service, environment).alarms)


def preflight(run: DeployRun, config: DeployConfig, cost_gate_parameter: str, ports: PreflightPorts,
              now: datetime) -> LiveState:
    """Every check, then what is live; PreflightRefusedError (listing each failed check and its fix) otherwise."""
    request = run.request
    context = PreflightContext(now=now, cost_gate_parameter=cost_gate_parameter, freeze=config.freeze,
                               alarm_names={s: alarm_names(config.canary, s, run.environment)
                                            for s in request.services})
    report = run_preflight(request, context, registry=ports.registry, parameters=ports.parameters,
                           alarms=ports.alarms)
    live, traffic_check = _live_colour(run.topology, ports.forwarding)
    lock_check = _lock_free(run.lock_name, ports.locks, now)
    checks = (*report.checks, traffic_check, lock_check)
    services: dict[Service, ServiceLive] = {}
    if live is not None:
        found, services_check = _live_services(run.topology, live, ports)
        services = found
        checks = (*checks, services_check)
    full = PreflightReport(checks=checks, scan_override=report.scan_override)
    if not full.passed or live is None:
        raise PreflightRefusedError(full)
    return LiveState(live=live, target="green" if live == "blue" else "blue", services=services,
                     plan=plan_traffic(request.strategy, live), checks=checks)


def _live_colour(topology: Topology, forwarding: Forwarding) -> tuple[Colour | None, PreflightCheck]:
    colours: dict[str, Colour | None] = {}
    split: list[str] = []
    try:
        for service, resources in topology.services.items():
            weights = forwarding.weights(resources.prod.kind, resources.prod.arn)
            full = [colour for colour in COLOURS if weights.get(resources.colour(colour).target_group_arn, 0) == 100]
            colours[service] = full[0] if len(full) == 1 else None
            split.append(f"{service} {_describe_weights(weights, resources)}")
    except Exception as exc:  # cannot read the weights: refuse, closed
        return None, PreflightCheck(name="traffic", passed=False,
                                    detail=f"could not check: {type(exc).__name__}: {exc}")
    found = set(colours.values())
    live = found.pop() if len(found) == 1 else None
    if live is not None:
        return live, PreflightCheck(name="traffic", passed=True, detail=f"100% on {live} for every service")
    return None, PreflightCheck(name="traffic", passed=False, detail=(
        f"traffic is not 100% on one colour ({', '.join(split)}): a deploy is running or one was interrupted; fix: "
        "wait for it, or put 100% back on the live colour (docs/workflows/deploy.md, runbook)"))


def _describe_weights(weights: Mapping[str, int], resources: ServiceTopology) -> str:
    blue = weights.get(resources.blue.target_group_arn, 0)
    green = weights.get(resources.green.target_group_arn, 0)
    return f"blue {blue}/green {green}"


def _lock_free(name: str, locks: Locks, now: datetime) -> PreflightCheck:
    try:
        holder = locks.holder(name)
    except Exception as exc:
        return PreflightCheck(name="lock", passed=False, detail=f"could not check: {type(exc).__name__}: {exc}")
    if holder is None or holder.expires_at <= now:
        return PreflightCheck(name="lock", passed=True, detail=f"{name} is free")
    return PreflightCheck(name="lock", passed=False, detail=(
        f"{name} is held by {holder.owner} (requested by {holder.requested_by or 'unknown'}) until "
        f"{holder.expires_at.isoformat()}; fix: wait for that deploy to end"))


def _live_services(topology: Topology, live: Colour,
                   ports: PreflightPorts) -> tuple[dict[Service, ServiceLive], PreflightCheck]:
    services: dict[Service, ServiceLive] = {}
    try:
        for service, resources in topology.services.items():
            state = ports.services.describe(topology.cluster, resources.colour(live).service_name)
            image = ports.images.image(state.task_definition, resources.container)
            services[service] = ServiceLive(task_definition=state.task_definition,
                                            desired_count=state.desired_count, image=image)
    except Exception as exc:
        return services, PreflightCheck(name="services", passed=False,
                                        detail=f"could not read the live services: {type(exc).__name__}: {exc}")
    detail = ", ".join(f"{s} {v.desired_count} task(s) of {v.task_definition.rsplit('/', 1)[-1]}"
                       for s, v in services.items())
    return services, PreflightCheck(name="services", passed=True, detail=f"{live} runs {detail}")


# ------------------------------------------------------------------------------------------------ begin
def begin(state: DeployState, locks: Locks, ledger: DeployLedger, now: datetime) -> LockHolder:
    """Take the deploy lock (LockHeldError, changing nothing, if held), then record the deploy as in progress."""
    run, live = state.run, state.need_live()
    holder = locks.acquire(run.lock_name, owner=run.execution_id, now=now, expires_at=run.lock_expires_at,
                           requested_by=run.request.requested_by)
    ledger.put(record_of(state, extra={"outcome": "in_progress", "live_colour": live.live}))
    return holder


def record_of(state: DeployState, extra: Mapping[str, Any]) -> DeployRecord:
    """The ledger record of this execution, from the carried state."""
    run = state.run
    steps = state.analysis.steps if state.analysis is not None else ()
    traffic = state.traffic
    if traffic is not None and all(step.started_at != traffic.started_at for step in steps):
        # The current step has no verdict yet (all at once, or a rollback before its analysis): it took traffic all
        # the same.
        steps = (*steps, StepRecord(weight=traffic.weight, started_at=traffic.started_at))
    return DeployRecord.started(run.request, run.execution_id, run.started_at, extra={
        "preflight": state.live.checks if state.live else (),
        "migrations_applied": state.migration.applied if state.migration else (),
        "steps": steps,
        **extra,
    })


# ------------------------------------------------------------------------------------------------ register
def register(state: DeployState, task_definitions: TaskDefinitions) -> Release:
    """Per service, what the target colour will run: for a service in the request, a revision of the live task
    definition with only the image and the release variable changed; for the others, the live task definition."""
    run, live = state.run, state.need_live()
    request = run.request
    result: dict[Service, str] = {}
    for service, resources in run.topology.services.items():
        current = live.services[service]
        if service not in request.images:
            result[service] = current.task_definition
            continue
        result[service] = task_definitions.derive(
            current.task_definition, container=resources.container, image=request.images[service],
            tags={"safejob:release": request.git_sha, "safejob:deploy": run.execution_name},
            environment={RELEASE_VARIABLE: request.git_sha})
    return Release(task_definitions=result)


# ------------------------------------------------------------------------------------------------ scale green
def scale_green(state: DeployState, services: EcsServices, forwarding: Forwarding) -> None:
    """Point the test listener at the target colour, then run the release there with the live colour's counts."""
    run, live = state.run, state.need_live()
    release = _need(state.release, "release")
    for service, resources in run.topology.services.items():
        target = resources.colour(live.target)
        forwarding.forward(resources.test.kind, resources.test.arn, {target.target_group_arn: 100})
        services.update(run.topology.cluster, target.service_name, desired_count=live.services[service].desired_count,
                        task_definition=release.task_definitions[service])


def check_green(state: DeployState, services: EcsServices, health: TargetHealth, now: datetime) -> GreenHealth:
    """One look at the target colour: every task running the release, and as many healthy targets.
    GreenUnhealthyError when its ECS deployment failed, or when it is still not healthy at the deadline."""
    run, live = state.run, state.need_live()
    release = _need(state.release, "release")
    polls = 1 if state.green is None else state.green.polls + 1
    problems: list[str] = []
    for service, resources in run.topology.services.items():
        target = resources.colour(live.target)
        wanted = live.services[service].desired_count
        current = services.describe(run.topology.cluster, target.service_name)
        if current.rollout_state == "FAILED":
            raise GreenUnhealthyError(f"{target.service_name}: its ECS deployment failed: {current.rollout_reason}")
        states = health.states(target.target_group_arn)
        healthy = states.count("healthy")
        if current.task_definition != release.task_definitions[service]:
            problems.append(f"{target.service_name} runs {current.task_definition}, not the release")
        elif current.running_count < wanted or healthy < wanted:
            others = sorted({s for s in states if s != "healthy"})
            problems.append(f"{target.service_name}: {current.running_count}/{wanted} running, {healthy}/{wanted} "
                            f"healthy targets" + (f" (others: {', '.join(others)})" if others else ""))
    if not problems:
        return GreenHealth(healthy=True, polls=polls, detail=f"{live.target} healthy after {polls} check(s)")
    waited = polls * run.timings.health_poll_seconds
    if waited >= run.timings.health_timeout_seconds:
        raise GreenUnhealthyError(f"{live.target} not healthy after {waited} s ({polls} checks): "
                                  + "; ".join(problems))
    return GreenHealth(healthy=False, polls=polls, detail="; ".join(problems))


# ------------------------------------------------------------------------------------------------ smoke
def smoke(state: DeployState, config: DeployConfig, http: SmokeHttpPort) -> list[SmokeReport]:
    """Every service's smoke tests through the test listener; SmokeTestsFailedError names each failed check."""
    run = state.run
    reports = [run_smoke_tests(run.topology.test_listener_url, service, config.smoke, http)
               for service in run.topology.services]
    failed = [report.summary() for report in reports if not report.passed]
    if failed:
        raise SmokeTestsFailedError("; ".join(failed))
    return reports


# ------------------------------------------------------------------------------------------------ approval
def request_approval(state: DeployState, task_token: str, publisher: Publisher, topic_arn: str) -> str:
    """Publish the approval request with the commands that answer it; returns the message id."""
    run, live = state.run, state.need_live()
    request = run.request
    approve = _answer(task_token, {"approved": True, "decided_by": "<you>"})
    reject = _answer(task_token, {"approved": False, "decided_by": "<you>", "reason": "<why>"})
    images = "\n".join(f"  {service}: {image}" for service, image in request.images.items())
    message = (
        f"Deploy {run.execution_name} of {request.git_sha} to {run.environment} waits for approval.\n"
        f"Requested by: {request.requested_by}\nImages:\n{images}\n"
        f"The release runs in {live.target}, healthy, and passed its smoke tests; no traffic has moved yet.\n"
        f"Steps: {_steps(live)}. Without an answer in {run.timings.approval_timeout_seconds} s it rolls back.\n\n"
        f"Approve:\n  {approve}\n\nReject:\n  {reject}\n\nExecution: {console_url(run.execution_id)}\n"
    )
    return publisher.publish(topic_arn, _subject(f"[{run.environment}] approve deploy {request.git_sha[:12]}?"),
                             message)


def _answer(token: str, document: Mapping[str, Any]) -> str:
    return (f"aws stepfunctions send-task-success --task-token '{token}' "
            f"--task-output '{json.dumps(document, separators=(',', ':'))}'")


def _steps(live: LiveState) -> str:
    return " -> ".join(f"{step.target_weight}%" for step in live.plan.steps)


# ------------------------------------------------------------------------------------------------ traffic steps
def shift(state: DeployState, forwarding: Forwarding, maintenance: MaintenanceWindows, now: datetime,
          max_extensions: int) -> TrafficState:
    """Move to the next step's weights. For a step that bakes, open each service's maintenance window (then close the
    previous step's, so that no alarm pages in between) so its alarms feed the analysis instead of paging.

    On a failure, the windows this call opened are closed again before it raises: the rollback closes only those in
    `$.traffic`, and a window left open would silence the live colour's alarms after the rollback."""
    run, live = state.run, state.need_live()
    index = 0 if state.traffic is None else state.traffic.index + 1
    step = live.plan.steps[index]
    for resources in run.topology.services.values():
        forwarding.forward(resources.prod.kind, resources.prod.arn, _weights(resources, step.weights))
    previous = state.traffic.maintenance if state.traffic is not None else {}
    windows: dict[Service, str] = {}
    try:
        if step.analyse:
            seconds = step.bake_seconds * (max_extensions + 1) + run.timings.maintenance_margin_seconds
            minutes = max(1, math.ceil(seconds / 60))
            for service in run.topology.services:
                windows[service] = maintenance.open(service, opened_by=run.execution_id, duration_minutes=minutes)
        for silence_id in previous.values():
            maintenance.close(silence_id)
    except Exception:
        for silence_id in windows.values():
            with contextlib.suppress(Exception):  # best effort: it expires by itself; the first error matters
                maintenance.close(silence_id)
        raise
    return TrafficState(index=index, weight=step.target_weight, started_at=now, bake_seconds=step.bake_seconds,
                        analyse=step.analyse, last=index == len(live.plan.steps) - 1, maintenance=windows)


def _weights(resources: ServiceTopology, weights: ListenerWeights) -> dict[str, int]:
    return {resources.blue.target_group_arn: weights.blue, resources.green.target_group_arn: weights.green}


def analyse(state: DeployState, config: CanaryConfig, metrics: CanaryMetricsPort, now: datetime) -> Analysis:
    """Judge the current step for every service (rollback if any says so, else extend if any needs more data)."""
    run, live = state.run, state.need_live()
    traffic = _need(state.traffic, "traffic")
    previous = state.analysis
    extensions = previous.extensions + 1 if previous is not None and previous.verdict == Verdict.EXTEND \
        and _same_step(previous, traffic) else 0
    window = MetricWindow(start=traffic.started_at, end=max(now, traffic.started_at + timedelta(seconds=1)))
    verdicts = {}
    for service, resources in run.topology.services.items():
        baseline, canary = resources.colour(live.live), resources.colour(live.target)
        observed = metrics.observe(
            TargetGroupRef(load_balancer=run.topology.load_balancer, target_group=baseline.target_group),
            TargetGroupRef(load_balancer=run.topology.load_balancer, target_group=canary.target_group),
            alarm_names(config, service, run.environment), window)
        verdicts[service] = _analyze(observed, config, extensions, service, run.environment)
    order = [Verdict.ROLLBACK, Verdict.EXTEND, Verdict.PROMOTE]
    verdict = next(v for v in order if any(result.verdict == v for result in verdicts.values()))
    summary = "; ".join(f"{service}: {result.summary}" for service, result in verdicts.items())
    reasons = tuple(f"{service} {r.check.value}: {r.detail}" for service, result in verdicts.items()
                    for r in result.reasons if not r.passed)
    record = StepRecord(weight=traffic.weight, started_at=traffic.started_at, ended_at=now, verdict=verdict,
                        extensions=extensions, reasons=reasons)
    earlier = tuple(s for s in (previous.steps if previous else ()) if s.started_at != traffic.started_at)
    return Analysis(verdict=verdict, summary=summary, extensions=extensions, steps=(*earlier, record),
                    index=traffic.index)


def _same_step(previous: Analysis, traffic: TrafficState) -> bool:
    return previous.index == traffic.index


def _analyze(observed: CanaryObservation, config: CanaryConfig, extensions: int, service: str,
             environment: str) -> CanaryVerdict:
    return analyze(observed.baseline, observed.canary, observed.alarms, config, extensions,
                   service=service, environment=environment)


# ------------------------------------------------------------------------------------------------ the end
@dataclass(frozen=True)
class Notify:
    publisher: Publisher
    topic_arn: str
    runbook_url: str


def finalize(state: DeployState, maintenance: MaintenanceWindows, ledger: DeployLedger, notify: Notify,
             now: datetime) -> Outcome:
    """The release is live: close the windows, record success (the commit point), then tell people (best effort:
    after the commit, a failed publish is reported in the outcome, never a rollback)."""
    run, live = state.run, state.need_live()
    for silence_id in (state.traffic.maintenance if state.traffic else {}).values():
        maintenance.close(silence_id)
    record = put_final(ledger, record_of(state, extra={"outcome": "succeeded", "live_colour": live.target,
                                                       "finished_at": now}))
    minutes = (now - run.started_at).total_seconds() / 60
    message = (f"Deploy {run.execution_name} of {run.request.git_sha} to {run.environment} succeeded: {live.target} "
               f"is live.\nRequested by: {run.request.requested_by}\nSteps: {_steps(live)}\n"
               f"Migrations applied: {', '.join(record.migrations_applied) or 'none'}\nDuration: {minutes:.1f} min\n"
               f"The old colour ({live.live}) stops after {run.timings.retire_grace_seconds} s.\n"
               f"Execution: {console_url(run.execution_id)}\n")
    subject = _subject(f"[{run.environment}] deployed {run.request.git_sha[:12]}")
    try:
        message_id: str | None = notify.publisher.publish(notify.topic_arn, subject, message)
    except Exception:  # after the commit point: report, do not roll a live release back
        message_id = None
    return Outcome(outcome="succeeded", live=live.target, reason="promoted", notified=message_id is not None,
                   message_id=message_id)


def retire(state: DeployState, services: EcsServices, locks: Locks) -> bool:
    """After the grace period: the old colour to 0 tasks, then the lock released (True when it was ours)."""
    run, live = state.run, state.need_live()
    for resources in run.topology.services.values():
        services.update(run.topology.cluster, resources.colour(live.live).service_name, desired_count=0)
    return locks.release(run.lock_name, run.execution_id)


@dataclass(frozen=True)
class RollbackPorts:
    forwarding: Forwarding
    services: EcsServices
    maintenance: MaintenanceWindows
    diagnostics: DiagnosticsPorts
    ledger: DeployLedger
    locks: Locks


def rollback(state: DeployState, ports: RollbackPorts, notify: Notify, canary: CanaryConfig,
             now: datetime) -> Outcome:
    """Put everything back: 100% to the live colour, the target colour to 0, the windows closed; then capture the
    diagnostics, record them, release the lock and send the one notification. Safe to retry:

    - once the ledger says rolled_back (a retry after a failed notification), only the notification is sent again:
      the lock is released by then, and the environment may be another deploy's;
    - once the ledger says succeeded (Finalize failed after its commit point), the release is live: nothing is
      touched, and ReleaseCommittedError says so (the execution ends in RollbackFailed, which pages);
    - while another execution holds the deploy lock (Begin failed without taking it), its traffic and services are
      left alone: the rollback records and notifies, with a note.
    """
    run, live = state.run, state.need_live()
    step, reason = rollback_reason(state)
    recorded = ports.ledger.get(run.environment, record_of(state, extra={}).sort_key)
    if recorded is not None and recorded.outcome == "succeeded":
        raise ReleaseCommittedError(
            f"deploy {run.execution_name} is recorded as succeeded: {live.target} is live, so it is not rolled back "
            f"({reason}); fix: check the release, then retire {live.live} and release {run.lock_name} by hand "
            "(docs/workflows/deploy.md, runbook)")
    if recorded is not None and recorded.outcome == "rolled_back" and recorded.rollback is not None:
        return _announce_rollback(state, recorded.rollback, notify)
    holder = ports.locks.holder(run.lock_name)
    if holder is not None and holder.owner != run.execution_id and holder.expires_at > now:
        notes = [f"{run.lock_name} is held by {holder.owner}: {LEFT_ALONE}",
                 *_close_windows(state, ports.maintenance)]
        diagnostics = RollbackDiagnostics(reason=reason, failed_step=step, notes=tuple(notes))
    else:
        diagnostics = _put_back(state, ports, canary, now, step, reason)
    put_final(ports.ledger, record_of(state, extra={"outcome": "rolled_back", "live_colour": live.live,
                                                    "finished_at": now, "rollback": diagnostics}))
    ports.locks.release(run.lock_name, run.execution_id)
    return _announce_rollback(state, diagnostics, notify)


def _put_back(state: DeployState, ports: RollbackPorts, canary: CanaryConfig, now: datetime, step: str | None,
              reason: str) -> RollbackDiagnostics:
    """Traffic to the live colour, the diagnostics (best effort), then the target to 0 and the windows closed."""
    run, live = state.run, state.need_live()
    for resources in run.topology.services.values():
        ports.forwarding.forward(resources.prod.kind, resources.prod.arn,
                                 _weights(resources, live.plan.rollback))
    # The evidence before the scale-in: the tasks our own scale-in stops would crowd out the ones that failed.
    green = [GreenService(name=r.colour(live.target).service_name, target_group=r.colour(live.target).target_group,
                          load_balancer=run.topology.load_balancer) for r in run.topology.services.values()]
    names = [name for service in run.topology.services for name in alarm_names(canary, service, run.environment)]
    window = DiagnosticsWindow(start=run.started_at, end=max(now, run.started_at + timedelta(seconds=1)))
    diagnostics = collect_diagnostics(run.topology.cluster, green, names, window, ports.diagnostics,
                                      reason=reason, failed_step=step)
    for resources in run.topology.services.values():
        ports.services.update(run.topology.cluster, resources.colour(live.target).service_name, desired_count=0)
    notes = _close_windows(state, ports.maintenance)
    if notes:
        diagnostics = diagnostics.model_copy(update={"notes": (*diagnostics.notes, *notes)})
    return diagnostics


def _close_windows(state: DeployState, maintenance: MaintenanceWindows) -> list[str]:
    notes: list[str] = []
    for silence_id in (state.traffic.maintenance if state.traffic else {}).values():
        try:
            maintenance.close(silence_id)
        except Exception as exc:  # it expires by itself; the rollback goes on
            notes.append(f"maintenance window {silence_id} not closed: {type(exc).__name__}: {exc}")
    return notes


def _announce_rollback(state: DeployState, diagnostics: RollbackDiagnostics, notify: Notify) -> Outcome:
    run, live = state.run, state.need_live()
    subject = _subject(f"[{run.environment}] deploy {run.request.git_sha[:12]} rolled back")
    message_id = notify.publisher.publish(notify.topic_arn, subject,
                                          rollback_message(state, diagnostics, notify.runbook_url))
    return Outcome(outcome="rolled_back", live=live.live, reason=diagnostics.reason, notified=True,
                   message_id=message_id)


def rollback_reason(state: DeployState) -> tuple[str | None, str]:
    """(the failed step, why) from the carried state: a caught failure, a rejection, or the analysis verdict."""
    for step, failure in state.failure.items():
        if failure.Error == "States.Timeout":
            return step, f"{step} timed out"
        cause = _cause(failure.Cause)
        return step, f"{step} failed: {failure.Error}" + (f": {cause}" if cause else "")
    if state.approval is not None and not state.approval.approved:
        why = f": {state.approval.reason}" if state.approval.reason else ""
        return "approval", f"rejected by {state.approval.decided_by}{why}"
    if state.analysis is not None and state.analysis.verdict == Verdict.ROLLBACK:
        return "analyse", f"canary analysis at {state.traffic.weight if state.traffic else '?'}%: " \
                          f"{state.analysis.summary}"
    return None, "rolled back"


def _cause(cause: str) -> str:
    """A Lambda error's message (its Cause is the error payload as JSON), else the cause as given."""
    try:
        payload = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(payload, dict) and "errorMessage" in payload:
        return str(payload["errorMessage"])
    return cause


def rollback_message(state: DeployState, diagnostics: RollbackDiagnostics, runbook_url: str) -> str:
    run, live = state.run, state.need_live()
    lines = [
        f"Deploy {run.execution_name} of {run.request.git_sha} to {run.environment} was rolled back: "
        f"{diagnostics.reason}",
        f"Requested by: {run.request.requested_by}",
    ]
    if any(note.endswith(LEFT_ALONE) for note in diagnostics.notes):
        lines.append(f"Traffic and services: left as they are ({run.lock_name} is another execution's).")
    else:
        lines.append(f"Traffic: 100% on {live.live} (unchanged release); {live.target} scaled to 0.")
    if diagnostics.stopped_tasks:
        lines.append("Stopped tasks:")
        for task in diagnostics.stopped_tasks:
            lines.append(f"  {task.task_arn.rsplit('/', 1)[-1]} ({task.service}): {task.reason}")
            lines += [f"    | {line}" for line in task.last_log_lines]
    if diagnostics.alarm_states:
        lines.append("Alarms: " + ", ".join(f"{name} {value}" for name, value in diagnostics.alarm_states.items()))
    if diagnostics.metrics:
        lines.append("Metrics: " + ", ".join(f"{name}={value:g}" if value is not None else f"{name}=n/a"
                                             for name, value in diagnostics.metrics.items()))
    lines += [f"Note: {note}" for note in diagnostics.notes]
    lines += [f"Execution: {console_url(run.execution_id)}", f"Runbook: {runbook_url}"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ helpers
def console_url(execution_arn: str) -> str:
    """The execution's page in the Step Functions console.

    >>> console_url("arn:aws:states:eu-west-1:123456789012:execution:safejob-production-deploy:d1")
    'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:safejob-production-deploy:d1'
    """
    parts = execution_arn.split(":")
    region = parts[3] if len(parts) > 3 else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def _subject(text: str) -> str:
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"


def _need[T](value: T | None, name: str) -> T:
    if value is None:
        raise ValueError(f"state: $.{name} is missing; the state machine sets it before this task")
    return value


def max_extensions(config: CanaryConfig) -> int:
    """The most extensions any service's policy allows (a step's maintenance window covers them all).

    Read from the unresolved policies: resolving them needs the environment of the alarm names' `{environment}`.

    >>> max_extensions(CanaryConfig.model_validate({"defaults": {"alarms": ["safejob-{environment}-alb-5xx-rate"]},
    ...                                             "services": {"backend": {"max_extensions": 5}}}))
    5
    """
    return max(config.services.get(service, config.defaults).max_extensions for service in ("backend", "frontend"))
