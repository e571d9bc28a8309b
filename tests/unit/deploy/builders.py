"""Builders for the deploy use-case tests: a local environment with a full topology (both services, blue live), the
carried state at any point of the workflow, and a `Fleet` of in-memory twins seeded to match it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from safejob_ops.deploy.canary import AlarmState, CanaryObservation, CanarySample
from safejob_ops.deploy.config import DeployConfig
from safejob_ops.deploy.diagnostics import DiagnosticsPorts
from safejob_ops.deploy.ledger import InMemoryDeployLedger
from safejob_ops.deploy.memory import (
    MemoryAlarms,
    MemoryCanaryMetrics,
    MemoryForwarding,
    MemoryImages,
    MemoryLogTail,
    MemoryMaintenance,
    MemoryMetricSums,
    MemoryParameters,
    MemoryRegistry,
    MemoryServices,
    MemorySmokeHttp,
    MemoryStoppedTasks,
    MemoryTargetHealth,
)
from safejob_ops.deploy.models import PreflightCheck, Service, image_parts
from safejob_ops.deploy.ports import ServiceState
from safejob_ops.deploy.service import (
    DeploySetup,
    Notify,
    PreflightPorts,
    RollbackPorts,
    alarm_names,
    max_extensions,
    validate_input,
)
from safejob_ops.deploy.traffic import Colour, other, plan_traffic
from safejob_ops.deploy.workflow import (
    SERVICES,
    ColourResources,
    DeployRun,
    DeployState,
    DeployTimings,
    LiveState,
    Release,
    ServiceLive,
    ServiceTopology,
    Topology,
    TrafficSwitch,
    ValidateRequest,
)
from safejob_ops.migrate.memory import MemoryLocks, MemoryPublisher, MemoryTaskDefinitions

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENVIRONMENT = "local"
EXECUTION_NAME = "deploy-42"
EXECUTION = f"arn:aws:states:us-east-1:123456789012:execution:safejob-local-deploy:{EXECUTION_NAME}"
OTHER_EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:safejob-local-deploy:deploy-43"
GIT_SHA = "0123abcdef"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
ELB = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}"
CLUSTER = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/safejob-local"
LOAD_BALANCER = "app/safejob-local/50dc6c495c0c9188"
TEST_LISTENER_URL = "http://safejob-local.elb.test:8080"
COST_GATE = "/safejob/local/cost-gate"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:safejob-local-notifications"
RUNBOOK = "https://example.test/docs/workflows/deploy.md#runbook"
TASK_TOKEN = "AAAAKgAAAAIAAAAAAAAAAbc+token/=="

IMAGES: dict[Service, str] = {"backend": f"{REGISTRY}/safejob/backend@sha256:{'a' * 64}",
                              "frontend": f"{REGISTRY}/safejob/frontend@sha256:{'b' * 64}"}
LIVE_IMAGES: dict[Service, str] = {"backend": f"{REGISTRY}/safejob/backend@sha256:{'c' * 64}",
                                   "frontend": f"{REGISTRY}/safejob/frontend@sha256:{'d' * 64}"}
LIVE_TASK_DEFINITIONS: dict[Service, str] = {
    "backend": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/safejob-local-backend:7",
    "frontend": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/safejob-local-frontend:4"}
OLD_TASK_DEFINITIONS: dict[Service, str] = {  # what the idle colour ran last (retired to 0 tasks)
    "backend": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/safejob-local-backend:6",
    "frontend": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/safejob-local-frontend:3"}
RELEASE_TASK_DEFINITIONS: dict[Service, str] = {
    "backend": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/safejob-local-backend:8",
    "frontend": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/safejob-local-frontend:5"}
LIVE_COUNTS: dict[Service, int] = {"backend": 3, "frontend": 2}
_TARGET_GROUP_IDS = {("backend", "blue"): "0a1b2c3d4e5f6071", ("backend", "green"): "1b2c3d4e5f607182",
                     ("frontend", "blue"): "2c3d4e5f60718293", ("frontend", "green"): "3d4e5f60718293a4"}


def colour_resources(service: Service, colour: Colour) -> ColourResources:
    name = f"safejob-local-{service}-{colour}"
    target_group = f"targetgroup/{name}/{_TARGET_GROUP_IDS[(service, colour)]}"
    return ColourResources(service_name=name, target_group_arn=f"{ELB}:{target_group}", target_group=target_group)


def _switch(kind: str, name: str) -> TrafficSwitch:
    if kind == "rule":
        return TrafficSwitch(kind="rule", arn=f"{ELB}:listener-rule/{LOAD_BALANCER}/{name}")
    return TrafficSwitch(kind="listener", arn=f"{ELB}:listener/{LOAD_BALANCER}/{name}")


# As stacks/edge.yaml: the backend's weights are on a rule of each listener, the frontend's on its default action.
TOPOLOGY = Topology(cluster=CLUSTER, load_balancer=LOAD_BALANCER, test_listener_url=TEST_LISTENER_URL, services={
    "backend": ServiceTopology(service="backend", blue=colour_resources("backend", "blue"),
                               green=colour_resources("backend", "green"),
                               prod=_switch("rule", "prod/1111/backend"), test=_switch("rule", "test/2222/backend")),
    "frontend": ServiceTopology(service="frontend", blue=colour_resources("frontend", "blue"),
                                green=colour_resources("frontend", "green"),
                                prod=_switch("listener", "prod/1111"), test=_switch("listener", "test/2222")),
})
TIMINGS = DeployTimings(task_timeout_seconds=30, health_poll_seconds=10, health_timeout_seconds=60,
                        migrate_timeout_seconds=600, approval_timeout_seconds=900, retire_grace_seconds=120,
                        maintenance_margin_seconds=60)
CONFIG = DeployConfig.model_validate({
    "canary": {
        "defaults": {"min_requests": 50, "max_extensions": 2, "alarms": ["safejob-{environment}-alb-5xx-rate"]},
        "services": {
            "backend": {"alarms": ["safejob-{environment}-alb-5xx-rate", "safejob-{environment}-backend-error-logs"]},
            "frontend": {"max_extensions": 1, "max_p95_latency_ms": 500},
        },
    },
    "smoke": {"services": {"backend": [{"path": "/api/jobs/", "body_contains": "results"}],
                           "frontend": [{"path": "/", "body_contains": '<div id="app">'}]}},
    "timings": TIMINGS.model_dump(),
})
SETUP = DeploySetup(environment_name=ENVIRONMENT, topology=TOPOLOGY, timings=TIMINGS,
                    max_extensions=max_extensions(CONFIG.canary))
ALARMS: dict[Service, tuple[str, ...]] = {s: alarm_names(CONFIG.canary, s, ENVIRONMENT) for s in SERVICES}
ALL_ALARMS = tuple(dict.fromkeys(name for names in ALARMS.values() for name in names))


# ------------------------------------------------------------------------------------------- the carried state
def deploy_input(**changes: Any) -> dict[str, Any]:
    """A valid execution input for the local stack: both services, a 10/50/100 canary, no approval."""
    return {"environment": ENVIRONMENT, "services": ["backend", "frontend"], "images": dict(IMAGES),
            "git_sha": GIT_SHA, "strategy": {"type": "canary", "steps": [10, 50, 100], "bake_seconds": 60},
            "approval_required": False, "requested_by": "github:jane.doe", **changes}


def only(*services: Service) -> dict[str, Any]:
    """The input changes that deploy only `services`."""
    return {"services": list(services), "images": {s: IMAGES[s] for s in services}}


def sample_run(setup: DeploySetup = SETUP, **changes: Any) -> DeployRun:
    """The run Validate resolves from `deploy_input(**changes)`."""
    return validate_input(ValidateRequest(input=deploy_input(**changes), execution_id=EXECUTION,
                                          execution_name=EXECUTION_NAME, started_at=T0), setup)


def sample_live(run: DeployRun, live: Colour = "blue") -> LiveState:
    """What Preflight finds: `live` at 100% with the live task definitions and counts."""
    return LiveState(live=live, target=other(live),
                     services={s: ServiceLive(task_definition=LIVE_TASK_DEFINITIONS[s], desired_count=LIVE_COUNTS[s],
                                              image=LIVE_IMAGES[s]) for s in SERVICES},
                     plan=plan_traffic(run.request.strategy, live),
                     checks=(PreflightCheck(name="traffic", passed=True, detail=f"100% on {live} for every service"),))


def sample_release(run: DeployRun) -> Release:
    """What Register returns: a new revision for each deployed service, the live one for the others."""
    return Release(task_definitions={s: RELEASE_TASK_DEFINITIONS[s] if s in run.request.services
                                     else LIVE_TASK_DEFINITIONS[s] for s in SERVICES})


def sample_state(run: DeployRun | None = None, live: Colour = "blue", **parts: Any) -> DeployState:
    """The state after Preflight (`$.run`, `$.live`), with any later part given (`release=...`, `traffic=...`, or
    `failure={"smoke": {...}}`); `release=True` takes `sample_release`."""
    run = run or sample_run()
    if parts.get("release") is True:
        parts["release"] = sample_release(run)
    return DeployState.model_validate({"run": run, "live": sample_live(run, live), **parts})


# ------------------------------------------------------------------------------------------- canary observations
def windows(requests: int, errors: int = 0, p95: float | None = 200.0, count: int = 5) -> list[CanarySample]:
    return [CanarySample(start=T0, request_count=requests, http_5xx_count=errors, p95_latency_ms=p95)] * count


def observation(canary: list[CanarySample], alarms: AlarmState = AlarmState.OK) -> CanaryObservation:
    """Blue healthy and busy against `canary`, with every configured alarm in state `alarms`."""
    return CanaryObservation(baseline=windows(400, errors=0, p95=180.0), canary=canary,
                             alarms={name: alarms for name in ALL_ALARMS})


HEALTHY = observation(windows(100, errors=0, p95=190.0))
FAILING = observation(windows(100, errors=25, p95=190.0))  # 5% 5xx against blue's 0%
THIN = observation(windows(3, errors=0, p95=190.0, count=1))  # too few requests to judge: extend


# ------------------------------------------------------------------------------------------- the fleet
@dataclass
class Fleet:
    """Every in-memory twin, seeded for TOPOLOGY with `live` serving 100% (its services running LIVE_COUNTS tasks of
    the live task definitions), the other colour at 0 tasks, the images pushed and clean, alarms OK, the lock free."""

    live: Colour = "blue"
    services: MemoryServices = field(default_factory=MemoryServices)
    forwarding: MemoryForwarding = field(default_factory=MemoryForwarding)
    health: MemoryTargetHealth = field(default_factory=MemoryTargetHealth)
    images: MemoryImages = field(default_factory=MemoryImages)
    maintenance: MemoryMaintenance = field(default_factory=MemoryMaintenance)
    metrics: MemoryCanaryMetrics = field(default_factory=lambda: MemoryCanaryMetrics(default=HEALTHY))
    registry: MemoryRegistry = field(default_factory=MemoryRegistry)
    parameters: MemoryParameters = field(default_factory=MemoryParameters)
    alarms: MemoryAlarms = field(default_factory=lambda: MemoryAlarms({name: "OK" for name in ALL_ALARMS}))
    http: MemorySmokeHttp = field(default_factory=MemorySmokeHttp)
    stopped: MemoryStoppedTasks = field(default_factory=MemoryStoppedTasks)
    logs: MemoryLogTail = field(default_factory=MemoryLogTail)
    sums: MemoryMetricSums = field(default_factory=MemoryMetricSums)
    locks: MemoryLocks = field(default_factory=MemoryLocks)
    ledger: InMemoryDeployLedger = field(default_factory=InMemoryDeployLedger)
    publisher: MemoryPublisher = field(default_factory=MemoryPublisher)
    task_definitions: MemoryTaskDefinitions = field(default_factory=MemoryTaskDefinitions)

    def __post_init__(self) -> None:
        idle = other(self.live)
        for service, resources in TOPOLOGY.services.items():
            live, target = resources.colour(self.live), resources.colour(idle)
            self.services.services[live.service_name] = ServiceState(
                desired_count=LIVE_COUNTS[service], running_count=LIVE_COUNTS[service],
                task_definition=LIVE_TASK_DEFINITIONS[service], rollout_state="COMPLETED")
            self.services.services[target.service_name] = ServiceState(
                desired_count=0, running_count=0, task_definition=OLD_TASK_DEFINITIONS[service],
                rollout_state="COMPLETED")
            for switch in (resources.prod, resources.test):
                self.forwarding.actions[(switch.kind, switch.arn)] = {live.target_group_arn: 100,
                                                                      target.target_group_arn: 0}
            self.health.set(live.target_group_arn, ["healthy"] * LIVE_COUNTS[service])
            self.images.images[LIVE_TASK_DEFINITIONS[service]] = LIVE_IMAGES[service]
            _, repository, digest = image_parts(IMAGES[service])
            self.registry.images.add((repository, digest))
        self.http.answers.update({
            f"{TEST_LISTENER_URL}/api/jobs/": (200, '{"results": []}'),
            f"{TEST_LISTENER_URL}/": (200, '<html><div id="app"></div></html>'),
        })

    # ports as the handlers group them
    def preflight_ports(self) -> PreflightPorts:
        return PreflightPorts(registry=self.registry, parameters=self.parameters, alarms=self.alarms,
                              services=self.services, forwarding=self.forwarding, images=self.images, locks=self.locks)

    def rollback_ports(self) -> RollbackPorts:
        return RollbackPorts(forwarding=self.forwarding, services=self.services, maintenance=self.maintenance,
                             diagnostics=DiagnosticsPorts(tasks=self.stopped, logs=self.logs, alarms=self.alarms,
                                                          metrics=self.sums),
                             ledger=self.ledger, locks=self.locks)

    def notify(self) -> Notify:
        return Notify(publisher=self.publisher, topic_arn=TOPIC, runbook_url=RUNBOOK)

    # what the tests look at
    def prod(self, service: Service) -> tuple[int, int]:
        """(blue, green) weights of the service's production forward action."""
        return self._weights(service, TOPOLOGY.services[service].prod)

    def preview(self, service: Service) -> tuple[int, int]:
        """(blue, green) weights of the service's test listener forward action."""
        return self._weights(service, TOPOLOGY.services[service].test)

    def _weights(self, service: Service, switch: TrafficSwitch) -> tuple[int, int]:
        action = self.forwarding.actions[(switch.kind, switch.arn)]
        resources = TOPOLOGY.services[service]
        return action.get(resources.blue.target_group_arn, 0), action.get(resources.green.target_group_arn, 0)

    def desired(self, service: Service, colour: Colour) -> int:
        return self.services.services[TOPOLOGY.services[service].colour(colour).service_name].desired_count

    def make_healthy(self, colour: Colour) -> None:
        """Every target of `colour` healthy, as many as its service wants."""
        for resources in TOPOLOGY.services.values():
            wanted = self.services.services[resources.colour(colour).service_name].desired_count
            self.health.set(resources.colour(colour).target_group_arn, ["healthy"] * wanted)

    def take_lock(self, owner: str = EXECUTION, requested_by: str = "github:jane.doe") -> None:
        self.locks.acquire(f"deploy/{ENVIRONMENT}", owner=owner, now=T0, expires_at=T0.replace(hour=23),
                           requested_by=requested_by)

    def writes(self) -> dict[str, int]:
        """How many writes each side-effecting twin took."""
        return {"services": len(self.services.updates), "forwarding": len(self.forwarding.forwards),
                "maintenance": len(self.maintenance.opened) + len(self.maintenance.closed),
                "locks": self.locks.writes, "ledger": len(self.ledger.records),
                "publisher": len(self.publisher.messages), "task_definitions": len(self.task_definitions.revisions)}


NO_WRITES = {"services": 0, "forwarding": 0, "maintenance": 0, "locks": 0, "ledger": 0, "publisher": 0,
             "task_definitions": 0}
