"""The local fleet (tools/safejob_tools/localaws/fleet.py) and its bridges (moto_gaps 14-19), against the deployed
stack, through boto3 and our adapters as the deploy handlers call them: ECS services run their tasks as targets whose
health follows the image, an unhealthy image leaves stopped tasks with logs, the test listener routes by path to the
idle colours, and the traffic follows the prod weights into the ALB metrics the canary analysis reads.

Every test leaves the shared stack as it found it (the `colours` fixture restores task definitions, desired counts
and weights)."""

from __future__ import annotations

import io
import json
import math
import random
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safejob_ops.adapters.canary_cloudwatch import CloudWatchCanaryMetrics
from safejob_ops.adapters.deploy_diagnostics import CloudWatchLogTail, CloudWatchMetricSums, EcsStoppedTasks
from safejob_ops.adapters.deploy_preflight import CloudWatchAlarmStates
from safejob_ops.adapters.smoke_http import UrllibSmokeHttp
from safejob_ops.deploy.canary_metrics import MetricWindow, TargetGroupRef
from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.diagnostics import DiagnosticsPorts, DiagnosticsWindow, GreenService, collect_diagnostics
from safejob_ops.deploy.smoke import run_smoke_tests
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.driver import wait_until
from safejob_tools.localaws.fleet import ELB_503, Behaviour, LocalFleet, latency_samples
from safejob_tools.localaws.runtime import FunctionSpec
from safejob_tools.localaws.server import LocalAws

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_deploy_config(ROOT / "config" / "deploy.yaml")
SERVICES = ("backend", "frontend")
COLOURS = ("blue", "green")
HTTP = UrllibSmokeHttp()


def new_image(service: str) -> str:
    """A release image by digest, unique to the test (behaviours are keyed by image)."""
    return f"123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/local/{service}@sha256:{uuid.uuid4().hex * 2}"


@dataclass
class Colours:
    """Drives the blue/green services through the ECS and ELBv2 APIs as the deploy handlers do."""

    stack: DeployedStack
    fleet: LocalFleet
    ecs: Any = field(init=False)
    elbv2: Any = field(init=False)

    def __post_init__(self) -> None:
        self.ecs = self.stack.aws.client("ecs")
        self.elbv2 = self.stack.aws.client("elbv2")

    @property
    def cluster(self) -> str:
        return self.stack.output("ClusterName")

    def name(self, service: str, colour: str) -> str:
        return self.stack.output(f"{service.title()}{colour.title()}ServiceName")

    def target_group(self, service: str, colour: str) -> str:
        return self.stack.output(f"{service.title()}{colour.title()}TargetGroupArn")

    def describe(self, service: str, colour: str) -> dict[str, Any]:
        described: dict[str, Any] = self.ecs.describe_services(
            cluster=self.cluster, services=[self.name(service, colour)])["services"][0]
        return described

    def release(self, service: str, image: str) -> str:
        """Register a revision of the service's family running `image` (its app container); returns family:revision,
        a form UpdateService takes (ECS then reports the ARN)."""
        current = self.describe(service, "blue")["taskDefinition"]
        definition = self.ecs.describe_task_definition(taskDefinition=current)["taskDefinition"]
        containers = [{**c, "image": image} if c["name"] == "app" else c for c in definition["containerDefinitions"]]
        copied = {key: definition[key] for key in ("family", "volumes", "memory", "cpu") if key in definition}
        registered = self.ecs.register_task_definition(**copied, containerDefinitions=containers)["taskDefinition"]
        return f"{registered['family']}:{registered['revision']}"

    def update(self, service: str, colour: str, **changes: Any) -> dict[str, Any]:
        updated: dict[str, Any] = self.ecs.update_service(cluster=self.cluster, service=self.name(service, colour),
                                                          **changes)["service"]
        return updated

    def health(self, service: str, colour: str) -> list[tuple[str, str, str | None]]:
        described = self.elbv2.describe_target_health(TargetGroupArn=self.target_group(service, colour))
        return sorted((d["Target"]["Id"], d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
                      for d in described["TargetHealthDescriptions"])

    def tasks(self, service: str, colour: str, status: str = "RUNNING") -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=self.name(service, colour),
                                   desiredStatus=status)["taskArns"]
        if not arns:
            return []
        described = self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"]
        order = {arn: index for index, arn in enumerate(arns)}
        return sorted(described, key=lambda task: order[task["taskArn"]])

    def shift(self, service: str, blue: int, green: int) -> None:
        """The traffic step: ModifyRule (backend) or ModifyListener (frontend), as the shift handler does."""
        groups = [{"TargetGroupArn": self.target_group(service, "blue"), "Weight": blue},
                  {"TargetGroupArn": self.target_group(service, "green"), "Weight": green}]
        actions = [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]
        if service == "backend":
            self.elbv2.modify_rule(RuleArn=self.stack.output("BackendProdRuleArn"), Actions=actions)
        else:
            self.elbv2.modify_listener(ListenerArn=self.stack.output("ProdListenerArn"), DefaultActions=actions)


def address(task: dict[str, Any]) -> str:
    details = {d["name"]: d["value"] for a in task["attachments"] for d in a["details"]}
    return str(details["privateIPv4Address"])


@pytest.fixture
def colours(stack: DeployedStack, fleet: LocalFleet) -> Iterator[Colours]:
    """The colours' driver; afterwards, every service's task definition, desired count and prod weights are put
    back (while the fleet still runs, so that their tasks stop and their targets go)."""
    driver = Colours(stack, fleet)
    saved = {(s, c): driver.describe(s, c) for s in SERVICES for c in COLOURS}
    weights = {s: fleet.weights(s) for s in SERVICES}
    yield driver
    for (service, colour), described in saved.items():
        driver.update(service, colour, taskDefinition=described["taskDefinition"],
                      desiredCount=described["desiredCount"])
    for service, weight in weights.items():
        driver.shift(service, weight["blue"], weight["green"])


# ------------------------------------------------------------------------------------------- 14. load balancers
def test_ecs_services_from_cloudformation_keep_their_load_balancers(stack: DeployedStack) -> None:
    # GIVEN the stack, deployed through CloudFormation
    ecs = stack.aws.client("ecs")
    for service in SERVICES:
        for colour in COLOURS:
            # WHEN a service is described
            name = stack.output(f"{service.title()}{colour.title()}ServiceName")
            described = ecs.describe_services(cluster=stack.output("ClusterName"), services=[name])["services"][0]
            # THEN it names its colour's target group, as compute.yaml declares it
            assert described["loadBalancers"] == [{
                "targetGroupArn": stack.output(f"{service.title()}{colour.title()}TargetGroupArn"),
                "containerName": "app", "containerPort": 8000}]


# ------------------------------------------------------------------------------------------- 15. alarms
def test_the_stacks_alarms_exist_as_cloudformation_declares_them(stack: DeployedStack) -> None:
    # GIVEN the alarms the canary analysis reads (config/deploy.yaml, environment local)
    names = {name for service in SERVICES for name in CONFIG.canary.policy_for(service, "local").alarms}
    # WHEN the deploy workflow's adapter reads their states
    states = CloudWatchAlarmStates(client=stack.aws.client("cloudwatch")).states(sorted(names))
    # THEN every one exists (moto alone creates none from CloudFormation); moto never evaluates them, so each is OK
    # unless a test set it otherwise
    assert set(states) == names
    assert set(states.values()) <= {"OK", "ALARM", "INSUFFICIENT_DATA"}
    # AND they are defined as observability.yaml declares them: a p95 on the ALB, metric math, composites
    cloudwatch = stack.aws.client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix="safejob-local-")["MetricAlarms"]}
    latency = alarms["safejob-local-alb-latency-p95"]
    assert (latency["Namespace"], latency["MetricName"], latency["ExtendedStatistic"]) == (
        "AWS/ApplicationELB", "TargetResponseTime", "p95")
    assert latency["Dimensions"] == [{"Name": "LoadBalancer", "Value": stack.output("LoadBalancerFullName")}]
    assert latency["AlarmActions"] == [stack.output("AlarmTopicArn")]
    assert [m["Id"] for m in alarms["safejob-local-alb-5xx-rate"]["Metrics"]] == [
        "rate", "target5xx", "elb5xx", "requests"]
    composite = cloudwatch.describe_alarms(AlarmNames=["safejob-local-slo-fast-burn"],
                                           AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert "safejob-local-slo-burn-fast-1h" in composite[0]["AlarmRule"]
    # AND a Ref to an alarm is its name (the dashboard's alarm widget lists their ARNs)
    body = cloudwatch.get_dashboard(DashboardName=stack.output("DashboardName"))["DashboardBody"]
    assert ":alarm:safejob-local-alb-5xx-rate" in body


def test_set_alarm_is_what_the_canary_analysis_reads(stack: DeployedStack, fleet: LocalFleet) -> None:
    # GIVEN one of the backend's canary alarms
    name = "safejob-local-backend-error-logs"
    metrics = CloudWatchCanaryMetrics(cloudwatch=stack.aws.client("cloudwatch"))
    try:
        # WHEN the fleet sets it to ALARM
        fleet.set_alarm(name, "ALARM", "error logs above threshold")
        # THEN the canary adapter reads ALARM for it
        assert metrics.alarm_states([name, "safejob-local-no-such-alarm"]) == {name: "ALARM"}
    finally:
        fleet.set_alarm(name, "OK")


# ------------------------------------------------------------------------------------------- 16. ListTasks
def test_list_tasks_filters_by_service_and_lists_stopped_tasks_newest_first(colours: Colours) -> None:
    # GIVEN green ran two releases, one after the other, each scaled in afterwards
    first, second = colours.release("backend", new_image("backend")), colours.release("backend", new_image("backend"))
    colours.update("backend", "green", taskDefinition=first, desiredCount=1)
    colours.update("backend", "green", desiredCount=0)
    colours.update("backend", "green", taskDefinition=second, desiredCount=1)
    colours.update("backend", "green", desiredCount=0)
    # WHEN the tasks are listed by service, as ECS lists them (RUNNING unless asked otherwise)
    blue = colours.tasks("backend", "blue")
    green_running = colours.tasks("backend", "green")
    green_stopped = colours.tasks("backend", "green", "STOPPED")
    # THEN each service lists its own tasks only
    assert {t["group"] for t in blue} == {f"service:{colours.name('backend', 'blue')}"}
    assert len(blue) == colours.describe("backend", "blue")["desiredCount"]
    assert green_running == []
    assert {t["group"] for t in green_stopped} == {f"service:{colours.name('backend', 'green')}"}
    # AND stopped tasks come newest first: the second release's before the first's
    assert [t["taskDefinitionArn"].rsplit("/", 1)[-1] for t in green_stopped[:2]] == [second, first]
    stopped_at = [t["stoppedAt"] for t in green_stopped]
    assert stopped_at == sorted(stopped_at, reverse=True)


# ------------------------------------------------------------------------------------------- 17, 18. tasks and health
def test_the_live_colour_runs_its_desired_tasks_as_healthy_targets(colours: Colours) -> None:
    # GIVEN the stack as deployed: blue is live, green idle
    for service in SERVICES:
        # WHEN its services and target groups are described
        blue, green = colours.describe(service, "blue"), colours.describe(service, "green")
        # THEN blue runs its desired count (moto alone: runningCount 0, pendingCount = desiredCount)
        assert blue["desiredCount"] > 0
        assert (blue["runningCount"], blue["pendingCount"]) == (blue["desiredCount"], 0)
        [deployment] = blue["deployments"]
        assert (deployment["status"], deployment["taskDefinition"], deployment["rolloutState"]) == (
            "PRIMARY", blue["taskDefinition"], "COMPLETED")
        # AND each of its tasks is a healthy ip target of blue's target group; green has neither
        addresses = sorted(address(task) for task in colours.tasks(service, "blue"))
        assert colours.health(service, "blue") == [(ip, "healthy", None) for ip in addresses]
        assert (green["runningCount"], colours.health(service, "green")) == (0, [])


def test_a_target_the_fleet_did_not_register_keeps_motos_answer(colours: Colours) -> None:
    # GIVEN an address registered by hand in green's target group, which no task of the fleet has
    group = colours.target_group("frontend", "green")
    colours.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.9.9.9", "Port": 8000}])
    try:
        # THEN moto answers for it (healthy), not the fleet
        assert colours.health("frontend", "green") == [("10.9.9.9", "healthy", None)]
    finally:
        colours.elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": "10.9.9.9", "Port": 8000}])


def test_a_new_revision_on_green_gets_a_primary_deployment_and_healthy_targets(colours: Colours) -> None:
    # GIVEN a release of the backend: a new revision of its family, with a new image (no behaviour: healthy)
    image = new_image("backend")
    revision = colours.release("backend", image)
    desired = colours.describe("backend", "blue")["desiredCount"]
    # WHEN green is updated to it, with blue's count, as the release handler does
    colours.update("backend", "green", taskDefinition=revision, desiredCount=desired)
    # THEN green's PRIMARY deployment runs the new revision (by ARN), with every task running
    green = colours.describe("backend", "green")
    assert green["taskDefinition"].endswith(f":task-definition/{revision}")
    [deployment] = green["deployments"]
    assert (deployment["status"], deployment["taskDefinition"], deployment["rolloutState"]) == (
        "PRIMARY", green["taskDefinition"], "COMPLETED")
    assert (green["runningCount"], green["pendingCount"], deployment["runningCount"]) == (desired, 0, desired)
    # AND its tasks (of the new revision, started by that deployment) are green's healthy targets
    tasks = colours.tasks("backend", "green")
    assert {(t["taskDefinitionArn"], t["startedBy"], t["lastStatus"]) for t in tasks} == {
        (green["taskDefinition"], deployment["id"], "RUNNING")}
    assert colours.health("backend", "green") == sorted((address(t), "healthy", None) for t in tasks)
    # AND the fleet reads it as the handlers would: green runs the image, with blue's count
    assert (colours.fleet.image("backend", "green"), colours.fleet.desired("backend", "green")) == (image, desired)


def test_retiring_green_stops_its_tasks_and_deregisters_them(colours: Colours) -> None:
    # GIVEN green running a release
    colours.update("backend", "green", taskDefinition=colours.release("backend", new_image("backend")),
                   desiredCount=2)
    running = colours.tasks("backend", "green")
    # WHEN it is scaled to 0 (rollback or retire)
    colours.update("backend", "green", desiredCount=0)
    # THEN it runs nothing, its targets are gone, and its tasks stopped as a scale-in stops them (exit 0)
    assert colours.describe("backend", "green")["runningCount"] == 0
    assert colours.health("backend", "green") == []
    stopped = {t["taskArn"]: t for t in colours.tasks("backend", "green", "STOPPED")}
    for task in running:
        done = stopped[task["taskArn"]]
        assert done["stoppedReason"].startswith("Scaling activity initiated by (deployment ecs-svc/")
        assert (done["stopCode"], done["lastStatus"]) == ("ServiceSchedulerInitiated", "STOPPED")
        assert {c["exitCode"] for c in done["containers"]} == {0}


def test_an_unhealthy_image_fails_health_checks_and_leaves_stopped_tasks_with_logs(colours: Colours) -> None:
    # GIVEN a release whose image fails the ALB health checks, having logged why
    image = new_image("backend")
    lines = ("Booting worker with pid: 7", "django.db.utils.OperationalError: connection refused")
    colours.fleet.behave(image, Behaviour(healthy=False, log_lines=lines, smoke={"/health/": (503, "db down")}))
    started = datetime.now(UTC) - timedelta(seconds=1)
    # WHEN green is updated to it
    colours.update("backend", "green", taskDefinition=colours.release("backend", image), desiredCount=2)
    # THEN its targets are unhealthy, and the test listener has no healthy target to send the smoke tests to
    assert [(state, reason) for _, state, reason in colours.health("backend", "green")] == [
        ("unhealthy", "Target.ResponseCodeMismatch")] * 2
    assert HTTP.get(f"{colours.fleet.test_listener_url}/health/", 5) == (503, ELB_503)
    # AND ECS stops the failing tasks until the deployment circuit breaker's threshold (3 for 2 tasks): FAILED
    name = colours.name("backend", "green")

    def failed() -> dict[str, Any] | None:
        deployment: dict[str, Any] = colours.describe("backend", "green")["deployments"][0]
        return deployment if deployment["rolloutState"] == "FAILED" else None

    deployment = wait_until(failed, what="green's deployment to fail")
    assert deployment["failedTasks"] >= 3
    assert colours.describe("backend", "green")["runningCount"] == 2
    # AND the rollback diagnostics, read through the deploy workflow's adapters, find them with their logs
    diagnostics = collect_diagnostics(
        colours.cluster, [GreenService(name=name)], [],
        DiagnosticsWindow(start=started, end=datetime.now(UTC) + timedelta(seconds=1)),
        DiagnosticsPorts(tasks=EcsStoppedTasks(client=colours.ecs), logs=CloudWatchLogTail(),
                         alarms=CloudWatchAlarmStates(), metrics=CloudWatchMetricSums()))
    assert diagnostics.notes == ()
    failures = [t for t in diagnostics.stopped_tasks if "ELB health checks" in t.reason]
    assert len(failures) >= 3
    group = colours.target_group("backend", "green")
    for task in failures:
        assert task.reason == f"Task failed ELB health checks in (target-group {group})"
        assert (task.service, task.stop_code) == (name, "ServiceSchedulerInitiated")
        assert [(c.name, c.exit_code) for c in task.containers] == [("app", 143), ("xray-daemon", 0)]
        assert task.last_log_lines == tuple(f"[app] {line}" for line in lines)  # (the xray stream is empty)


# ------------------------------------------------------------------------------------------- 19. test listener
def test_the_test_listener_routes_by_path_to_the_idle_colours(colours: Colours) -> None:
    # GIVEN both services' green running releases that answer their own pages
    backend, frontend = new_image("backend"), new_image("frontend")
    colours.fleet.behave(backend, Behaviour(smoke={"/health/": (200, "backend green"),
                                                   "/api/jobs/": (200, '{"jobs": []}')}))
    colours.fleet.behave(frontend, Behaviour(smoke={"/": (200, "<!doctype html><title>Safe Job</title>")}))
    colours.update("backend", "green", taskDefinition=colours.release("backend", backend), desiredCount=1)
    colours.update("frontend", "green", taskDefinition=colours.release("frontend", frontend), desiredCount=1)
    url = colours.fleet.test_listener_url
    # WHEN paths are requested through the test listener
    # THEN backend paths (the BackendTestRule) reach backend green, the others (the default action) frontend green;
    # a path without an answer of its own gets the default one
    assert HTTP.get(f"{url}/health/", 5) == (200, "backend green")
    assert HTTP.get(f"{url}/api/jobs/?page=2", 5) == (200, '{"jobs": []}')
    assert HTTP.get(f"{url}/admin/login/", 5) == (200, "ok")
    assert HTTP.get(f"{url}/", 5) == (200, "<!doctype html><title>Safe Job</title>")
    assert HTTP.get(f"{url}/jobs/42", 5) == (200, "ok")
    # AND the deploy workflow's smoke tests (config/deploy.yaml) pass through it for both services
    for service in SERVICES:
        report = run_smoke_tests(url, service, CONFIG.smoke, HTTP)
        assert report.passed, report.summary()
    # AND a colour without tasks behind its target group gets the ALB's 503
    colours.update("frontend", "green", desiredCount=0)
    assert HTTP.get(f"{url}/", 5) == (503, ELB_503)


HANDLER = """
import os, urllib.error, urllib.request
def lambda_handler(event, context):
    url = os.environ["TEST_LISTENER_URL"] + "/health/"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return {"url": url, "status": response.status}
    except urllib.error.HTTPError as error:
        return {"url": url, "status": error.code}
"""


@pytest.fixture
def smoke_function(local_aws: LocalAws, tmp_path: Path) -> Iterator[str]:
    """A function with the template's kind of TEST_LISTENER_URL (the ALB's test listener), run in-process."""
    (tmp_path / "app.py").write_text(HANDLER)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "app.py", "app.py")
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    environment = {"TEST_LISTENER_URL": "https://safejob-local-1.us-east-1.elb.amazonaws.com:8443"}
    role = local_aws.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = local_aws.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()}, Environment={"Variables": environment})["FunctionArn"]
    local_aws.runtime.register(FunctionSpec(name=name, handler="app.lambda_handler", code_dir=tmp_path,
                                            environment=environment, arn=arn))
    yield name
    local_aws.client("lambda").delete_function(FunctionName=name)


def test_in_process_functions_reach_the_fleets_test_listener(stack: DeployedStack, smoke_function: str) -> None:
    aws = stack.aws
    template_url = aws.runtime.spec(smoke_function).environment["TEST_LISTENER_URL"]
    # GIVEN a function whose TEST_LISTENER_URL is the ALB's test listener (nothing answers there in the emulator)
    with LocalFleet(stack) as fleet:
        # WHEN it runs while a fleet runs
        response = aws.client("lambda").invoke(FunctionName=smoke_function, Payload=b"{}")
        # THEN it reached the fleet's test listener (which has no healthy green target to offer: 503)
        assert json.loads(response["Payload"].read()) == {"url": f"{fleet.test_listener_url}/health/",
                                                          "status": 503}
    # AND afterwards the function has the template's value again
    assert aws.runtime.spec(smoke_function).environment["TEST_LISTENER_URL"] == template_url


# ------------------------------------------------------------------------------------------- 19. traffic
@pytest.mark.parametrize("fleet", [{"rps": 800, "tick_seconds": 0.5, "seed": 7}], indirect=True)
def test_traffic_follows_the_prod_weights_into_the_canary_metrics(stack: DeployedStack, fleet: LocalFleet,
                                                                  colours: Colours) -> None:
    # GIVEN green running a release that fails 5% of requests with a p95 of 300 ms (blue: none, 120 ms)
    image = new_image("backend")
    fleet.behave(image, Behaviour(error_rate=0.05, p95_ms=300))
    colours.update("backend", "green", taskDefinition=colours.release("backend", image), desiredCount=2)
    # WHEN the traffic step sends 10% to green
    colours.shift("backend", 90, 10)
    start = datetime.now(UTC)
    assert fleet.weights("backend") == {"blue": 90, "green": 10}
    # THEN the canary adapter, with the dimensions the analysis uses, reads about 90/10 of the requests
    metrics = CloudWatchCanaryMetrics(cloudwatch=stack.aws.client("cloudwatch"))
    load_balancer = stack.output("LoadBalancerArn")
    blue = TargetGroupRef(load_balancer=load_balancer, target_group=colours.target_group("backend", "blue"))
    green = TargetGroupRef(load_balancer=load_balancer, target_group=colours.target_group("backend", "green"))
    window = MetricWindow(start=start, end=start + timedelta(minutes=5), period_seconds=60)
    names = list(CONFIG.canary.policy_for("backend", "local").alarms)

    def enough() -> Any:
        observed = metrics.observe(blue, green, names, window)
        return observed if sum(s.request_count for s in observed.canary) >= 400 else None

    observed = wait_until(enough, timeout=60, what="400 requests on green")
    requests = {colour: sum(s.request_count for s in samples)
                for colour, samples in (("blue", observed.baseline), ("green", observed.canary))}
    assert requests["green"] / (requests["blue"] + requests["green"]) == pytest.approx(0.10, abs=0.03)
    # AND only green answered 5xx, at about its rate
    errors = {colour: sum(s.http_5xx_count for s in samples)
              for colour, samples in (("blue", observed.baseline), ("green", observed.canary))}
    assert errors["blue"] == 0
    assert 0 < errors["green"] / requests["green"] < 0.12
    # AND the p95 of every period is each image's
    assert [s.p95_latency_ms for s in observed.baseline] == [pytest.approx(120.0)] * len(observed.baseline)
    assert [s.p95_latency_ms for s in observed.canary] == [pytest.approx(300.0)] * len(observed.canary)
    # AND the canary's alarms are there
    assert set(observed.alarms) == set(names)


def test_the_traffic_is_deterministic_given_the_seed(stack: DeployedStack) -> None:
    # GIVEN blue's image failing 30% of its requests (its draws: targets, errors, latencies)
    def ticks(seed: int) -> list[list[dict[str, Any]]]:
        # (a tick every 10 minutes: only the test's own ticks run, 600 requests per service each)
        with LocalFleet(stack, rps=1, tick_seconds=600, seed=seed) as fleet:
            fleet.behave(fleet.image("backend", "blue"), Behaviour(error_rate=0.3, p95_ms=200))
            published = [fleet.tick() for _ in range(3)]
        return [[{k: v for k, v in datum.items() if k != "Timestamp"} for datum in tick] for tick in published]

    # WHEN fleets tick with the same seed, and with another
    first, again, other = ticks(11), ticks(11), ticks(12)
    # THEN the same seed publishes the same traffic, another seed other traffic
    assert first == again
    assert first != other
    errors = [d["Value"] for tick in first for d in tick if d["MetricName"] == "HTTPCode_Target_5XX_Count"]
    assert errors  # (the draws did happen)


@given(ticks=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=40),
       p95=st.floats(min_value=0.001, max_value=10.0), seed=st.integers(min_value=0, max_value=2**32))
def test_latency_samples_keep_the_p95_over_any_ticks(ticks: list[int], p95: float, seed: int) -> None:
    # GIVEN any number of ticks with any number of requests each
    rng = random.Random(seed)
    samples = sorted(value for requests in ticks for value in latency_samples(rng, p95, requests))
    # THEN the nearest-rank p95 of all their samples (as bridge 13 computes it) is the behaviour's p95
    assert samples[math.ceil(0.95 * len(samples)) - 1] == p95
