"""The local fleet: the running tasks, the ALB and the traffic that moto does not have, for the deploy workflow.

moto has ECS services, target groups and listeners, but no scheduler that runs a service's tasks, no health checks
and no load-balancer data plane. While a `LocalFleet` is started, it plays those parts for its deployed stack, through
the moto_gaps bridges that consult it (16-19) and through moto's own APIs:

- **Tasks and targets** (bridges 16, 17, 18): every ECS service of the stack's cluster runs `desiredCount` RUNNING
  tasks of its current task definition (UpdateService, CreateService and DeleteService are reconciled as they
  happen). Each task has an address in the app subnets, registered as an `ip` target in the service's target groups
  (`loadBalancers`, which bridge 14 keeps) and deregistered when the task stops (scale-in, a new task definition).
  runningCount counts the RUNNING tasks; a new task definition makes a new PRIMARY deployment.
- **Health**: a target's health follows the `Behaviour` of its task's image (`behave`); images without one are
  healthy. An unhealthy image's tasks fail the ALB health checks (`unhealthy`, `Target.ResponseCodeMismatch`) and, on
  each tick, are stopped by ECS (`Task failed ELB health checks in (target-group <arn>)`, stopCode
  ServiceSchedulerInitiated, the app container's exit code 143) and replaced, their awslogs stream
  (`<prefix>/<container>/<task id>`) holding the behaviour's `log_lines`. After the deployment circuit breaker's
  threshold of failed tasks (max(3, min(200, ceil(desired / 2)))), the deployment is FAILED and the tasks are no longer
  replaced; ECS's automatic rollback is not played (the deploy workflow rolls back itself).
- **The test listener** (bridge 19): an HTTP server on 127.0.0.1 (`test_listener_url`) answers as the ALB's test
  listener: its rules (path patterns) and default action, as they are in moto, choose the target group; a healthy
  target of it answers with its image's `smoke` entry for the path (default 200 "ok"); no healthy target: 503. The
  in-process functions' TEST_LISTENER_URL points at it while the fleet runs.
- **Traffic**: a thread simulates, each tick, `rps` requests per service (backend: the prod listener's backend rule;
  frontend: its default action), split between the colours' target groups by the weights in moto (ModifyRule,
  ModifyListener), and publishes what the ALB would to CloudWatch (AWS/ApplicationELB, dimensions TargetGroup +
  LoadBalancer): RequestCount, HTTPCode_Target_5XX_Count (no zeros, as the ALB) and TargetResponseTime samples whose
  p95 (bridge 13) is the behaviour's `p95_ms`; per LoadBalancer, RequestCount and the 5xx counts (HTTPCode_ELB_5XX_Count
  for requests to a target group without a healthy target). Deterministic given `seed`.

Fail-open (an ALB routes to unhealthy targets when none is healthy), draining, the `initial` health state and the
health check grace period are not played.

    with LocalFleet(stack) as fleet:                 # or the `fleet` pytest fixture
        fleet.behave(image, Behaviour(healthy=False, log_lines=("Traceback ...",)))
        ...                                          # UpdateService green with a task definition of `image`
        fleet.weights("backend")                     # {"blue": 100, "green": 0}
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import math
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from safejob_tools.localaws import moto_gaps
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.server import ACCOUNT_ID

log = logging.getLogger(__name__)

SERVICES = ("backend", "frontend")
COLOURS = ("blue", "green")
NAMESPACE = "AWS/ApplicationELB"
UNHEALTHY_REASON = "Target.ResponseCodeMismatch"
STOP_CODE = "ServiceSchedulerInitiated"
HEALTH_CHECK_EXIT_CODE = 143  # the app's exit code after ECS's SIGTERM
MAX_LATENCY_SAMPLES = 20  # per target group and tick: enough for a p95, little enough for moto's GetMetricData
DEFAULT_ANSWER = (200, "ok")
ELB_503 = ("<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
           "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n")
_FIRST_HOST = 10  # the first addresses of a subnet are AWS's (4) and, here, left alone


@dataclass(frozen=True)
class Behaviour:
    """How the tasks of one image behave behind the ALB.

    >>> Behaviour(error_rate=0.05, smoke={"/health/": (500, "db down")}).smoke["/health/"]
    (500, 'db down')
    """

    healthy: bool = True  # targets pass ALB health checks
    error_rate: float = 0.0  # share of requests answered 5xx
    p95_ms: float = 120.0  # TargetResponseTime p95
    smoke: Mapping[str, tuple[int, str]] = field(default_factory=dict)  # path -> (status, body); default (200, "ok")
    log_lines: tuple[str, ...] = ()  # what a failing task logged before it was stopped

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {self.error_rate}")
        if self.p95_ms <= 0:
            raise ValueError(f"p95_ms must be positive, got {self.p95_ms}")


HEALTHY = Behaviour()


class FleetError(RuntimeError):
    pass


@dataclass(frozen=True)
class _Target:
    """A running task's registered address."""

    ip: str
    task_arn: str
    service: str  # the ECS service name
    image: str


def _now() -> datetime:
    return datetime.now(UTC)


def _path_pattern(value: str) -> re.Pattern[str]:
    """An ALB path pattern (case-sensitive; `*` any characters, `?` one) as a regular expression."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value))


def _forward_weights(action: Mapping[str, Any]) -> dict[str, int]:
    """A forward action's target groups and weights (a single `TargetGroupArn` has all of it)."""
    if action.get("Type", action.get("type")) != "forward":
        return {}
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if groups:
        return {str(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
    arn = action.get("TargetGroupArn")
    return {str(arn): 1} if arn else {}


def _action_data(action: Any) -> Mapping[str, Any]:
    data: Mapping[str, Any] = getattr(action, "data", action)
    return data


class LocalFleet:
    """The local stand-in for the ECS tasks, the ALB and the traffic of a deployed stack (see the module docstring).

    Start it (`start`, or `with`), which makes it the fleet the emulator's bridges consult; `stop` ends the traffic
    and the test listener, and forgets the behaviours. What it did in moto (tasks, targets, metrics) stays there.
    """

    def __init__(self, stack: DeployedStack, *, rps: int = 40, tick_seconds: float = 1.0, seed: int = 0) -> None:
        if rps < 0 or tick_seconds <= 0:
            raise ValueError("rps must be >= 0 and tick_seconds > 0")
        self.stack = stack
        self.rps = rps
        self.tick_seconds = tick_seconds
        self.seed = seed
        out = stack.outputs
        self.region = stack.aws.region
        self.cluster = out["ClusterName"]
        self.load_balancer_arn = out["LoadBalancerArn"]
        self.test_listener_arn = out["TestListenerArn"]
        self._routes = {"backend": ("rule", out["BackendProdRuleArn"]),
                        "frontend": ("listener", out["ProdListenerArn"])}
        self._ecs_services = {(s, c): out[f"{s.title()}{c.title()}ServiceName"] for s in SERVICES for c in COLOURS}
        self._target_groups = {(s, c): out[f"{s.title()}{c.title()}TargetGroupArn"] for s in SERVICES for c in COLOURS}
        self._app_subnets = [s for s in out.get("AppSubnetIds", "").split(",") if s]
        self._behaviours: dict[str, Behaviour] = {}
        self._targets: dict[str, _Target] = {}  # ip -> target
        self._lock = threading.RLock()
        self._traffic_rng = random.Random(seed)
        self._listener_rng = random.Random(seed + 1)
        self._ids = random.Random(seed + 2)
        self._carry = dict.fromkeys(SERVICES, 0.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: _ListenerServer | None = None
        self._server_thread: threading.Thread | None = None
        self._restore_environment: Any = None
        self._cloudwatch: Any = None
        self.ticks = 0

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Become the active fleet, run the stack's services' tasks, open the test listener and start the traffic."""
        if self._thread is not None:
            return self
        moto_gaps.activate_fleet(self)
        try:
            with self._lock:
                self._reindex()
                for service in self._cluster_services():
                    self._reconcile(service)
            self._server = _ListenerServer(self)
            self._server_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                                   name="fleet-test-listener", daemon=True)
            self._server_thread.start()
            self._restore_environment = moto_gaps.redirect_test_listener(self.stack.aws.runtime,
                                                                          self.test_listener_url)
            self._cloudwatch = self.stack.aws.client("cloudwatch")
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="fleet-traffic", daemon=True)
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the traffic and the test listener, restore TEST_LISTENER_URL and forget the behaviours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._restore_environment is not None:
            self._restore_environment()
            self._restore_environment = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._server_thread is not None:
                self._server_thread.join()
            self._server, self._server_thread = None, None
        with self._lock:
            self._behaviours.clear()
        moto_gaps.deactivate_fleet(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def test_listener_url(self) -> str:
        """http://127.0.0.1:<port> of the local test-listener app (while started)."""
        if self._server is None:
            raise FleetError("the fleet is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------------------------------------ behaviours
    def behave(self, image: str, behaviour: Behaviour) -> None:
        """Make the tasks of `image` (the full reference in the task definition, repo@sha256:...) behave so."""
        with self._lock:
            self._behaviours[image] = behaviour
            if moto_gaps.active_fleet() is self:
                for service in self._cluster_services():
                    self._reconcile(service)

    def behaviour(self, image: str) -> Behaviour:
        with self._lock:
            return self._behaviours.get(image, HEALTHY)

    # ------------------------------------------------------------------------------------------------ readings
    def weights(self, service: str) -> dict[str, int]:
        """The prod listener's current weights of the service's colours, e.g. {"blue": 90, "green": 10}."""
        with self._lock:
            weights = self._route_weights(service)
        return {colour: weights.get(self._target_groups[(service, colour)], 0) for colour in COLOURS}

    def desired(self, service: str, colour: str) -> int:
        return int(self._ecs_service(service, colour).desired_count or 0)

    def image(self, service: str, colour: str) -> str:
        """The image the colour's ECS service runs now (its task definition's load-balanced container)."""
        ecs_service = self._ecs_service(service, colour)
        return self._image_of(ecs_service, self._ecs().describe_task_definition(ecs_service.task_definition))

    def target_group_arn(self, service: str, colour: str) -> str:
        return self._target_groups[(service, colour)]

    def ecs_service_name(self, service: str, colour: str) -> str:
        return self._ecs_services[(service, colour)]

    def set_alarm(self, name: str, state: str, reason: str = "test") -> None:
        """Set a CloudWatch alarm's state (moto never evaluates alarms)."""
        self.stack.aws.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    # ------------------------------------------------------------------------------------------------ bridge hooks
    def manages(self, cluster: str, service: str) -> bool:
        return cluster == self.cluster

    def reconcile(self, service: Any) -> None:
        with self._lock:
            self._reconcile(service)

    def target_health(self, target_group_arn: str, target_id: str) -> tuple[str, str | None, str | None] | None:
        with self._lock:
            target = self._targets.get(target_id)
            if target is None:
                return None
            behaviour = self._behaviours.get(target.image, HEALTHY)
            if behaviour.healthy:
                return "healthy", None, None
            group = self._elbv2().target_groups.get(target_group_arn)
            status = behaviour.smoke.get(getattr(group, "health_check_path", None) or "/health/", (500, ""))[0]
            code = status if status != 200 else 500
            return "unhealthy", UNHEALTHY_REASON, f"Health checks failed with these codes: [{code}]"

    # ------------------------------------------------------------------------------------------------ moto access
    def _ecs(self) -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends[ACCOUNT_ID][self.region]

    def _elbv2(self) -> Any:
        from moto.elbv2.models import elbv2_backends

        return elbv2_backends[ACCOUNT_ID][self.region]

    def _ecs_service(self, service: str, colour: str) -> Any:
        return self._ecs().services[f"{self.cluster}:{self._ecs_services[(service, colour)]}"]

    def _cluster_services(self) -> list[Any]:
        return [s for s in list(self._ecs().services.values()) if s.cluster_name == self.cluster]

    def _cluster_tasks(self) -> list[Any]:
        return list(self._ecs().tasks.get(self.cluster, {}).values())

    @staticmethod
    def _image_of(service: Any, definition: Any) -> str:
        names = [lb.get("containerName") for lb in service.load_balancers or []]
        containers = definition.container_definitions
        chosen = next((c for c in containers if c.get("name") in names), None)
        chosen = chosen or next((c for c in containers if c.get("essential", True)), containers[0])
        return str(chosen.get("image", ""))

    def _reindex(self) -> None:
        """The targets of the tasks a previous fleet left running (the emulator outlives fleets)."""
        self._targets.clear()
        for task in self._cluster_tasks():
            if task.last_status == "RUNNING" and str(task.group).startswith("service:"):
                ip = self._task_ip(task)
                if ip:
                    definition = self._ecs().describe_task_definition(task.task_definition_arn)
                    service = self._ecs().services.get(f"{self.cluster}:{task.group.split(':', 1)[1]}")
                    image = self._image_of(service, definition) if service is not None else ""
                    self._targets[ip] = _Target(ip, task.task_arn, task.group.split(":", 1)[1], image)

    @staticmethod
    def _task_ip(task: Any) -> str | None:
        for attachment in task.attachments or []:
            for detail in attachment.get("details", []):
                if detail.get("name") == "privateIPv4Address":
                    return str(detail["value"])
        return None

    # ------------------------------------------------------------------------------------------------ the scheduler
    def _reconcile(self, service: Any) -> None:
        """Run the service's desired count of tasks of its task definition (the lock is held)."""
        ecs = self._ecs()
        active = service.status == "ACTIVE" and service.task_definition
        desired = int(service.desired_count or 0) if active else 0
        definition = ecs.describe_task_definition(service.task_definition) if service.task_definition else None
        deployment = self._deployment(service, desired) if definition is not None else None
        running = [t for t in self._cluster_tasks()
                   if t.group == f"service:{service.name}" and t.last_status == "RUNNING"]
        reason = f"Scaling activity initiated by (deployment {deployment['id'] if deployment else 'ecs-svc'})"
        for task in [t for t in running if definition is None or t.task_definition_arn != definition.arn]:
            self._stop_task(service, task, reason, exit_code=0)
            running.remove(task)
        while len(running) > desired:
            self._stop_task(service, running.pop(), reason, exit_code=0)
        while definition is not None and len(running) < desired:
            running.append(self._start_task(service, definition, deployment))
        service.running_count, service.pending_count = len(running), 0
        if deployment is not None and definition is not None:
            self._roll_out(service, deployment, desired, len(running), definition)

    def _deployment(self, service: Any, desired: int) -> dict[str, Any] | None:
        """The PRIMARY deployment of the service's task definition: a new one when the definition changed."""
        if service.deployment_controller.get("type", "ECS") != "ECS":
            return None
        primary: dict[str, Any] | None = next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)
        if primary is not None and primary.get("taskDefinition") == service.task_definition:
            return primary
        deployment_id = f"ecs-svc/{self._ids.randrange(10**18):018d}"
        now = _now()
        fresh = {**(primary or {}), "id": deployment_id, "status": "PRIMARY", "taskDefinition": service.task_definition,
                 "desiredCount": desired, "pendingCount": 0, "runningCount": 0, "failedTasks": 0, "createdAt": now,
                 "updatedAt": now, "launchType": "FARGATE", "platformFamily": "Linux", "platformVersion": "1.4.0",
                 "rolloutState": "IN_PROGRESS", "rolloutStateReason": f"ECS deployment {deployment_id} in progress."}
        service.deployments = [fresh]
        return fresh

    def _roll_out(self, service: Any, deployment: dict[str, Any], desired: int, running: int, definition: Any) -> None:
        before = (deployment.get("desiredCount"), deployment.get("runningCount"), deployment.get("rolloutState"))
        deployment.update(desiredCount=desired, runningCount=running, pendingCount=0)
        if deployment.get("rolloutState") != "FAILED":
            healthy = self._behaviours.get(self._image_of(service, definition), HEALTHY).healthy
            if healthy or desired == 0 or not service.load_balancers:
                deployment["rolloutState"] = "COMPLETED"
                deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} completed."
            elif deployment.get("failedTasks", 0) >= self._failure_threshold(desired):
                deployment["rolloutState"] = "FAILED"
                deployment["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
            else:
                deployment["rolloutState"] = "IN_PROGRESS"
                deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} in progress."
        if before != (deployment["desiredCount"], deployment["runningCount"], deployment["rolloutState"]):
            deployment["updatedAt"] = _now()

    @staticmethod
    def _failure_threshold(desired: int) -> int:
        """The deployment circuit breaker's failed-task threshold."""
        return max(3, min(200, math.ceil(desired / 2)))

    def _start_task(self, service: Any, definition: Any, deployment: dict[str, Any] | None) -> Any:
        from moto.ecs import models

        ecs = self._ecs()
        cluster = ecs.clusters[self.cluster]
        # The task's ENI is the fleet's (an address in the app subnets), not one moto would create in EC2.
        shell = copy.copy(definition)
        shell.network_mode = "fleet"
        task: Any = models.Task(cluster, shell, None, None, ecs, group=f"service:{service.name}", launch_type="FARGATE",
                                started_by=str(deployment["id"]) if deployment else "", platform_version="1.4.0",
                                capacity_provider_name="FARGATE")
        task._transitions = []  # moto walks a task to STOPPED as it is described; here ECS decides
        task.last_status = task.desired_status = "RUNNING"
        task.started_at = task.pull_started_at = _now()
        image = self._image_of(service, definition)
        healthy = self._behaviours.get(image, HEALTHY).healthy
        containers = []
        container_class: Any = models.Container
        for spec in definition.container_definitions:
            container: Any = container_class(definition)
            container.task_arn = task.task_arn
            container.container_arn = (f"arn:aws:ecs:{self.region}:{ACCOUNT_ID}:container/{self.cluster}/{task.id}/"
                                       f"{uuid.UUID(int=self._ids.getrandbits(128))}")
            container.name, container.image = spec.get("name"), spec.get("image")
            container.cpu, container.memory = spec.get("cpu", 0), spec.get("memory")
            container.environment, container.command = spec.get("environment"), spec.get("command")
            container.last_status, container.exitCode = "RUNNING", None
            container.health_status = ("HEALTHY" if healthy else "UNHEALTHY") if spec.get("healthCheck") else "UNKNOWN"
            containers.append(container)
        task.containers = containers
        subnet, ip = self._next_address()
        task.attachments = [{"id": str(uuid.UUID(int=self._ids.getrandbits(128))), "type": "ElasticNetworkInterface",
                             "status": "ATTACHED", "details": [
                                 {"name": "subnetId", "value": subnet},
                                 {"name": "networkInterfaceId", "value": f"eni-{self._ids.getrandbits(68):017x}"},
                                 {"name": "privateIPv4Address", "value": ip}]}]
        # In place, as moto's RunTask adds its tasks (a copy could lose one that a concurrent RunTask adds).
        ecs.tasks.setdefault(self.cluster, {})[task.task_arn] = task
        self._targets[ip] = _Target(ip, task.task_arn, service.name, image)
        for lb in service.load_balancers or []:
            group = self._elbv2().target_groups.get(lb.get("targetGroupArn"))
            if group is not None:
                group.targets[ip] = {"Id": ip, "Port": int(lb.get("containerPort") or group.port)}
                group.deregistered_targets.pop(ip, None)
        return task

    def _stop_task(self, service: Any, task: Any, reason: str, exit_code: int) -> None:
        ip = self._task_ip(task)
        if ip is not None:
            self._targets.pop(ip, None)
            for lb in service.load_balancers or []:
                group = self._elbv2().target_groups.get(lb.get("targetGroupArn"))
                if group is not None and ip in group.targets:
                    group.deregistered_targets[ip] = group.targets.pop(ip)
        now = _now()
        essential = {c.get("name") for c in self._ecs().describe_task_definition(task.task_definition_arn)
                     .container_definitions if c.get("essential", True)}
        for container in task.containers:
            container.last_status = "STOPPED"
            container.exitCode = exit_code if container.name in essential else 0
        for attachment in task.attachments or []:
            attachment["status"] = "DELETED"
        task.stopped_reason, task.stop_code = reason, STOP_CODE
        task.stopping_at = task.execution_stopped_at = task.stopped_at = now
        task.last_status = task.desired_status = "STOPPED"

    def _fail_unhealthy(self) -> None:
        """ECS stops the tasks that fail the ALB health checks and starts others (the lock is held)."""
        for service in self._cluster_services():
            if service.status != "ACTIVE" or not service.task_definition or not service.load_balancers:
                continue
            definition = self._ecs().describe_task_definition(service.task_definition)
            behaviour = self._behaviours.get(self._image_of(service, definition), HEALTHY)
            deployment = self._deployment(service, int(service.desired_count or 0))
            if behaviour.healthy or deployment is None or deployment.get("rolloutState") == "FAILED":
                continue
            group = service.load_balancers[0].get("targetGroupArn", "")
            for task in [t for t in self._cluster_tasks()
                         if t.group == f"service:{service.name}" and t.last_status == "RUNNING"]:
                self._write_logs(task, definition, behaviour.log_lines)
                self._stop_task(service, task, f"Task failed ELB health checks in (target-group {group})",
                                exit_code=HEALTH_CHECK_EXIT_CODE)
                deployment["failedTasks"] = int(deployment.get("failedTasks", 0)) + 1
            self._reconcile(service)

    def _write_logs(self, task: Any, definition: Any, lines: tuple[str, ...]) -> None:
        """What the awslogs driver wrote for the task's essential container: stream <prefix>/<container>/<task id>."""
        if not lines:
            return
        from moto.logs.models import logs_backends

        spec = next((c for c in definition.container_definitions if c.get("essential", True)), None)
        options = ((spec or {}).get("logConfiguration") or {}).get("options") or {}
        if spec is None or "awslogs-group" not in options:
            return
        logs = logs_backends[ACCOUNT_ID][options.get("awslogs-region") or self.region]
        group = options["awslogs-group"]
        stream = f"{options.get('awslogs-stream-prefix', 'ecs')}/{spec['name']}/{task.id}"
        if group not in logs.groups:
            logs.create_log_group(group, tags={})
        logs.ensure_log_stream(group, stream)
        now = int(_now().timestamp() * 1000)
        logs.put_log_events(group, stream, [{"timestamp": now + n, "message": line} for n, line in enumerate(lines)])

    def _next_address(self) -> tuple[str, str]:
        """The first free address of the app subnets, round robin (deterministic given the tasks running)."""
        used = set(self._targets) | {ip for t in self._cluster_tasks() if t.last_status == "RUNNING"
                                     for ip in [self._task_ip(t)] if ip}
        subnets = self._subnets()
        start = len(used)
        for offset in range(len(subnets)):
            subnet_id, network = subnets[(start + offset) % len(subnets)]
            for index, host in enumerate(network.hosts()):
                if index >= _FIRST_HOST and str(host) not in used:
                    return subnet_id, str(host)
        raise FleetError("no free address left in the app subnets")

    def _subnets(self) -> list[tuple[str, ipaddress.IPv4Network]]:
        from moto.ec2.models import ec2_backends

        found = []
        for subnet_id in self._app_subnets:
            try:
                cidr = ec2_backends[ACCOUNT_ID][self.region].get_subnet(subnet_id).cidr_block
            except Exception:  # a subnet the emulator does not know: the fallback below
                continue
            found.append((subnet_id, ipaddress.IPv4Network(cidr)))
        return found or [("subnet-fleet", ipaddress.IPv4Network("10.0.128.0/20"))]

    # ------------------------------------------------------------------------------------------------ routing
    def _route_weights(self, service: str) -> dict[str, int]:
        kind, arn = self._routes[service]
        elbv2 = self._elbv2()
        if kind == "rule":
            actions = elbv2.describe_rules(listener_arn=None, rule_arns=[arn])[0].actions
        else:
            actions = elbv2.describe_listeners(load_balancer_arn=None, listener_arns=[arn])[0].default_actions
        for action in actions:
            weights = _forward_weights(_action_data(action))
            if weights:
                return weights
        return {}

    def _test_listener_action(self, path: str) -> Mapping[str, Any] | None:
        """The action the test listener takes for `path`: its first matching rule's, else its default action."""
        elbv2 = self._elbv2()
        rules = elbv2.describe_rules(listener_arn=self.test_listener_arn, rule_arns=None)
        ordered = sorted((r for r in rules if not r.is_default), key=lambda r: int(r.priority))
        ordered += [r for r in rules if r.is_default]
        for rule in ordered:
            if rule.is_default or self._matches(rule.conditions, path):
                actions = [_action_data(a) for a in rule.actions]
                return actions[-1] if actions else None
        return None

    @staticmethod
    def _matches(conditions: list[dict[str, Any]], path: str) -> bool:
        for condition in conditions:
            if condition.get("Field") != "path-pattern":
                return False  # the test listener only routes by path here
            values = (condition.get("PathPatternConfig") or {}).get("Values") or condition.get("Values") or []
            if not any(_path_pattern(value).fullmatch(path) for value in values):
                return False
        return True

    def _healthy_targets(self, target_group_arn: str) -> list[_Target]:
        group = self._elbv2().target_groups.get(target_group_arn)
        if group is None:
            return []
        targets = [self._targets[ip] for ip in list(group.targets) if ip in self._targets]
        return [t for t in targets if self._behaviours.get(t.image, HEALTHY).healthy]

    def answer(self, path: str) -> tuple[int, str]:
        """What the test listener answers for a GET of `path` (the query string is not part of the path)."""
        with self._lock:
            action = self._test_listener_action(path)
            if action is None:
                return 404, "no rule matched"
            if action.get("Type") == "fixed-response":
                config = action.get("FixedResponseConfig") or {}
                return int(config.get("StatusCode", 200)), str(config.get("MessageBody", ""))
            weights = {arn: w for arn, w in _forward_weights(action).items() if w > 0}
            if not weights:
                return 503, ELB_503
            arns = sorted(weights)
            arn = self._listener_rng.choices(arns, weights=[weights[a] for a in arns])[0]
            targets = self._healthy_targets(arn)
            if not targets:
                return 503, ELB_503
            target = targets[self._listener_rng.randrange(len(targets))]
            return self._behaviours.get(target.image, HEALTHY).smoke.get(path, DEFAULT_ANSWER)

    # ------------------------------------------------------------------------------------------------ traffic
    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception:  # the traffic must outlive one bad tick (logged, and the next tick tries again)
                log.exception("local fleet tick failed")

    def tick(self) -> list[dict[str, Any]]:
        """One tick: ECS replaces the tasks failing health checks, and `rps * tick_seconds` requests per service go
        to the colours by weight; returns the metric data it published (PutMetricData's MetricData). The thread calls
        it every `tick_seconds`; a test may too."""
        with self._lock:
            self._fail_unhealthy()
            data = self._traffic(_now())
            self.ticks += 1
        cloudwatch = self._cloudwatch or self.stack.aws.client("cloudwatch")
        for start in range(0, len(data), 500):  # never with the lock held: moto's server calls the bridges
            cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start:start + 500])
        return data

    def _traffic(self, now: datetime) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = []
        totals: Counter[str] = Counter()
        for service in SERVICES:
            self._carry[service] += self.rps * self.tick_seconds
            requests = int(self._carry[service])
            self._carry[service] -= requests
            weights = {arn: w for arn, w in self._route_weights(service).items() if w > 0}
            if not weights or not requests:
                continue
            arns = sorted(weights)
            counts = Counter(self._traffic_rng.choices(arns, weights=[weights[a] for a in arns], k=requests))
            for arn in arns:
                if counts[arn]:
                    data += self._target_group_traffic(arn, counts[arn], now, totals)
        balancer = [{"Name": "LoadBalancer", "Value": self._balancer_dimension()}]
        for name, key in (("RequestCount", "requests"), ("HTTPCode_Target_5XX_Count", "target_5xx"),
                          ("HTTPCode_ELB_5XX_Count", "elb_5xx")):
            if totals[key]:
                data.append({"MetricName": name, "Dimensions": balancer, "Timestamp": now, "Value": totals[key],
                             "Unit": "Count"})
        return data

    def _balancer_dimension(self) -> str:
        return self.load_balancer_arn.split(":loadbalancer/", 1)[-1]

    def _target_group_traffic(self, arn: str, requests: int, now: datetime,
                              totals: Counter[str]) -> list[dict[str, Any]]:
        targets = self._healthy_targets(arn)
        if not targets:  # the ALB answers 503 itself: no target was chosen, so no RequestCount of the group
            totals["elb_5xx"] += requests
            return []
        served: Counter[str] = Counter(targets[self._traffic_rng.randrange(len(targets))].image
                                       for _ in range(requests))
        errors, latencies = 0, []
        for image in sorted(served):
            behaviour = self._behaviours.get(image, HEALTHY)
            errors += sum(self._traffic_rng.random() < behaviour.error_rate for _ in range(served[image]))
            latencies += self._latencies(behaviour.p95_ms / 1000, served[image])
        totals["requests"] += requests
        totals["target_5xx"] += errors
        dimensions = [{"Name": "TargetGroup", "Value": arn.rsplit(":", 1)[-1]},
                      {"Name": "LoadBalancer", "Value": self._balancer_dimension()}]
        data: list[dict[str, Any]] = [
            {"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": now, "Value": requests,
             "Unit": "Count"},
            {"MetricName": "TargetResponseTime", "Dimensions": dimensions, "Timestamp": now, "Values": latencies,
             "Unit": "Seconds"},
        ]
        if errors:
            data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions, "Timestamp": now,
                         "Value": errors, "Unit": "Count"})
        return data

    def _latencies(self, p95: float, requests: int) -> list[float]:
        return latency_samples(self._traffic_rng, p95, requests)


def latency_samples(rng: random.Random, p95: float, requests: int) -> list[float]:
    """TargetResponseTime samples of one target group and tick: whatever the ticks, the nearest-rank p95 of all their
    samples (bridge 13's) is exactly `p95`. At most MAX_LATENCY_SAMPLES (20) per tick, one of them `p95`, one above it
    only when there are 20 (so never more than 5% above), the others below.

    >>> samples = latency_samples(random.Random(0), 0.2, 3)
    >>> len(samples), max(samples)
    (3, 0.2)
    """
    count = min(requests, MAX_LATENCY_SAMPLES)
    if count <= 0:
        return []
    below = count - (2 if count == MAX_LATENCY_SAMPLES else 1)
    samples = [p95 * (0.3 + 0.69 * rng.random()) for _ in range(below)] + [p95]
    if count == MAX_LATENCY_SAMPLES:
        samples.append(p95 * (1.05 + rng.random()))
    return samples


class _ListenerHandler(BaseHTTPRequestHandler):
    server: _ListenerServer
    protocol_version = "HTTP/1.1"

    def _answer(self, with_body: bool) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        try:
            status, body = self.server.fleet.answer(self.path.split("?", 1)[0])
        except Exception as error:  # an ALB answers 502 when its target misbehaves; here the fleet did
            log.exception("test listener failed")
            status, body = 502, f"local fleet error: {error}"
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if body.lstrip()[:1] in ("{", "[") else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if with_body:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_POST(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the smoke reports say what was asked and answered."""


class _ListenerServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, fleet: LocalFleet) -> None:
        super().__init__(("127.0.0.1", 0), _ListenerHandler)
        self.fleet = fleet

