"""The smoke HTTP adapter against a real local HTTP server, and the diagnostics adapters against moto."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from safejob_ops.adapters.deploy_diagnostics import CloudWatchLogTail, CloudWatchMetricSums, EcsStoppedTasks
from safejob_ops.adapters.deploy_preflight import CloudWatchAlarmStates
from safejob_ops.adapters.smoke_http import MAX_BODY_BYTES, UrllibSmokeHttp
from safejob_ops.deploy.diagnostics import DiagnosticsPorts, DiagnosticsWindow, GreenService, collect_diagnostics
from safejob_ops.deploy.ports import AwsLogsLocation, MetricSumQuery
from safejob_ops.deploy.smoke import SmokeConfig, run_smoke_tests

REGION = "eu-west-1"
CLUSTER = "safejob-test"
SERVICE = "safejob-backend-green"
GROUP = "/safejob/test/backend"
TARGET_GROUP = "targetgroup/backend-green/0123abcd"
LOAD_BALANCER = "app/safejob-test/4567ef"


# --- the smoke HTTP adapter -----------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {"/health/": (200, b"ok"), "/down/": (503, b"maintenance"), "/big/": (200, b"x" * (200 * 1024)),
                  "/moved/": (302, b"")}
        status, body = routes.get(self.path, (404, b"no such page"))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/health/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep the test output quiet
        return


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_http_adapter_statuses_bodies_and_no_redirects(server: str) -> None:
    http = UrllibSmokeHttp()
    assert http.get(f"{server}/health/", 2) == (200, "ok")
    assert http.get(f"{server}/down/", 2) == (503, "maintenance")
    assert http.get(f"{server}/nowhere/", 2) == (404, "no such page")
    # a redirect is the answer, not followed
    assert http.get(f"{server}/moved/", 2)[0] == 302
    # the body is read up to 64 KiB
    status, body = http.get(f"{server}/big/", 2)
    assert (status, len(body)) == (200, MAX_BODY_BYTES)


def test_http_adapter_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="not an http"):
        UrllibSmokeHttp().get("file:///etc/passwd", 1)


def test_smoke_tests_through_the_adapter(server: str) -> None:
    # GIVEN a config with a passing and a failing path
    config = SmokeConfig.model_validate({"services": {"backend": [{"path": "/down/"}, {"path": "/moved/",
                                                                                       "expected_status": 302}]}})
    # WHEN run over HTTP
    report = run_smoke_tests(server, "backend", config, UrllibSmokeHttp())
    # THEN /health/ and the redirect passed, /down/ failed
    assert [(r.path, r.status, r.passed) for r in report.results] == [
        ("/health/", 200, True), ("/down/", 503, False), ("/moved/", 302, True)]
    assert not report.passed


def test_a_refused_connection_is_a_failed_check(server: str) -> None:
    # GIVEN a port where nothing listens (the server's, once it is closed)
    probe = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    closed = f"http://127.0.0.1:{probe.server_address[1]}"
    probe.server_close()
    # WHEN the smoke tests run against it
    report = run_smoke_tests(closed, "frontend", SmokeConfig(), UrllibSmokeHttp())
    # THEN a failed check naming the error's type, not an exception
    assert not report.passed
    assert report.results[0].status is None
    assert report.results[0].detail.startswith(("URLError", "ConnectionRefusedError"))


# --- the diagnostics adapters on moto -------------------------------------------------------------------------------
@pytest.fixture
def stopped_task(aws: None) -> str:
    """A task of the green service, run and stopped with a reason; its awslogs stream holds 25 lines."""
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    definition = ecs.register_task_definition(family="safejob-backend", containerDefinitions=[{
        "name": "app", "image": "backend@sha256:" + "a" * 64, "memory": 512, "essential": True,
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": GROUP, "awslogs-region": REGION, "awslogs-stream-prefix": "backend"}},
    }])["taskDefinition"]["taskDefinitionArn"]
    image = boto3.client("ec2").describe_images()["Images"][0]["ImageId"]
    instance = boto3.resource("ec2").create_instances(ImageId=image, MinCount=1, MaxCount=1)[0]
    ecs.register_container_instance(cluster=CLUSTER, instanceIdentityDocument=json.dumps({"instanceId": instance.id}))
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=definition, desiredCount=0)
    task = ecs.run_task(cluster=CLUSTER, taskDefinition=definition, count=1, startedBy=SERVICE)["tasks"][0]
    ecs.stop_task(cluster=CLUSTER, task=task["taskArn"], reason="Task failed ELB health checks")
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    stream = f"backend/app/{task['taskArn'].rsplit('/', 1)[-1]}"
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    start = int(datetime.now(UTC).timestamp() * 1000)
    logs.put_log_events(logGroupName=GROUP, logStreamName=stream,
                        logEvents=[{"timestamp": start + n, "message": f"line {n}"} for n in range(25)])
    return str(task["taskArn"])


def test_ecs_adapter_reads_the_stopped_task_and_its_log_configuration(stopped_task: str) -> None:
    # WHEN the stopped tasks of the service are read
    tasks = EcsStoppedTasks().stopped(CLUSTER, SERVICE, 10)
    # THEN the task, its reason and its task definition come back
    # (moto 5.2 ignores ListTasks' serviceName filter and reports no stopCode: the domain's handling of stop codes
    # and exit codes is covered with fakes in tests/unit/deploy/test_diagnostics.py)
    assert [task.task_arn for task in tasks] == [stopped_task]
    assert tasks[0].stopped_reason == "Task failed ELB health checks"
    assert EcsStoppedTasks().log_locations(tasks[0].task_definition_arn) == {
        "app": AwsLogsLocation(group=GROUP, stream_prefix="backend")}


def test_log_tail_returns_the_last_lines_and_nothing_for_a_missing_stream(stopped_task: str) -> None:
    stream = f"backend/app/{stopped_task.rsplit('/', 1)[-1]}"
    assert CloudWatchLogTail().tail(GROUP, stream, 20) == [f"line {n}" for n in range(5, 25)]
    assert CloudWatchLogTail().tail(GROUP, "backend/app/nope", 20) == []
    assert CloudWatchLogTail().tail("/no/such/group", stream, 20) == []


def put_alb_metrics(at: datetime) -> None:
    dimensions = [{"Name": "TargetGroup", "Value": TARGET_GROUP}, {"Name": "LoadBalancer", "Value": LOAD_BALANCER}]
    data: list[Any] = [
        {"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": at + timedelta(minutes=n), "Value": 100}
        for n in range(3)
    ]
    data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions, "Timestamp": at, "Value": 7})
    boto3.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


def test_metric_sums_over_the_window(aws: None) -> None:
    # GIVEN 3 x 100 requests and 7 errors in the window
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    put_alb_metrics(now - timedelta(minutes=10))
    dimensions = (("TargetGroup", TARGET_GROUP), ("LoadBalancer", LOAD_BALANCER))
    queries = [MetricSumQuery(id="requests", namespace="AWS/ApplicationELB", metric="RequestCount",
                              dimensions=dimensions),
               MetricSumQuery(id="errors", namespace="AWS/ApplicationELB", metric="HTTPCode_Target_5XX_Count",
                              dimensions=dimensions),
               MetricSumQuery(id="other", namespace="AWS/ApplicationELB", metric="RequestCount",
                              dimensions=(("TargetGroup", "targetgroup/other/1"),))]
    # WHEN summed over the last 30 minutes
    sums = CloudWatchMetricSums().sums(queries, now - timedelta(minutes=30), now)
    # THEN the totals, and None where there is no datapoint
    assert sums == {"requests": 300.0, "errors": 7.0, "other": None}


def test_collect_diagnostics_through_the_adapters(stopped_task: str) -> None:
    # GIVEN a stopped task with logs, an alarm in ALARM and the target group's metrics
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="safejob-test-alb-5xx-rate", MetricName="HTTPCode_Target_5XX_Count",
                                Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=1,
                                Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="safejob-test-alb-5xx-rate", StateValue="ALARM", StateReason="test")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    put_alb_metrics(now - timedelta(minutes=10))
    ports = DiagnosticsPorts(tasks=EcsStoppedTasks(), logs=CloudWatchLogTail(), alarms=CloudWatchAlarmStates(),
                             metrics=CloudWatchMetricSums())
    # WHEN the diagnostics are collected
    result = collect_diagnostics(
        CLUSTER, [GreenService(name=SERVICE, target_group=TARGET_GROUP, load_balancer=LOAD_BALANCER)],
        ["safejob-test-alb-5xx-rate", "safejob-test-missing"],
        DiagnosticsWindow(start=now - timedelta(minutes=30), end=now), ports, reason="smoke tests failed")
    # THEN everything is there, and nothing failed
    assert result.notes == ()
    (task,) = result.stopped_tasks
    assert (task.task_arn, task.reason, task.service) == (stopped_task, "Task failed ELB health checks", SERVICE)
    assert task.last_log_lines == tuple(f"line {n}" for n in range(5, 25))
    assert result.alarm_states == {"safejob-test-alb-5xx-rate": "ALARM", "safejob-test-missing": "NOT_FOUND"}
    assert result.metrics == {f"{SERVICE}.target_5xx_count": 7.0, f"{SERVICE}.request_count": 300.0}


def test_collect_diagnostics_without_a_cluster_is_a_note(aws: None) -> None:
    ports = DiagnosticsPorts(tasks=EcsStoppedTasks(), logs=CloudWatchLogTail(), alarms=CloudWatchAlarmStates(),
                             metrics=CloudWatchMetricSums())
    now = datetime.now(UTC)
    result = collect_diagnostics("no-such-cluster", [GreenService(name=SERVICE)], [],
                                 DiagnosticsWindow(start=now - timedelta(minutes=5), end=now), ports)
    assert result.stopped_tasks == ()
    assert len(result.notes) == 1
    assert result.notes[0].startswith(f"stopped tasks of {SERVICE}: ClusterNotFoundException")
