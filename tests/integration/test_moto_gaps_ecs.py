"""The ECS bridge (moto_gaps.bridge_ecs_run_task): ecs:runTask(.sync) in Step Functions with Step Functions' own
parameter casing, a task's container run by the installed local runner, its output in the awslogs stream, and the
state failing on a non-zero exit code as in AWS."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from safejob_tools.localaws import containers
from safejob_tools.localaws.containers import ContainerResult, ContainerRun, DjangoProjectRunner
from safejob_tools.localaws.driver import wait_until
from safejob_tools.localaws.server import LocalAws

pytestmark = pytest.mark.emulator

FAMILY_SUFFIX = "-gapjob"
IMAGE = "registry.local/app@sha256:" + "e" * 64


@dataclass
class ScriptedRunner:
    """A runner that answers from a script: (exit code, output) per run, recording what it was asked to run."""

    results: list[ContainerResult]
    runs: list[ContainerRun] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.release.set()

    def handles(self, family: str) -> bool:
        return family.endswith(FAMILY_SUFFIX)

    def run(self, run: ContainerRun) -> ContainerResult:
        self.runs.append(run)
        self.release.wait(30)
        return self.results[min(len(self.runs), len(self.results)) - 1]


@dataclass
class Ecs:
    aws: LocalAws
    cluster: str
    subnet: str
    security_group: str
    log_group: str

    def task_definition(self, family: str, command: list[str], **container: Any) -> str:
        definition = {
            "name": "app", "image": IMAGE, "essential": True, "command": command,
            "environment": [{"name": "FROM_DEFINITION", "value": "1"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": self.log_group, "awslogs-region": self.aws.region, "awslogs-stream-prefix": "job"}},
            **container,
        }
        sidecar = {"name": "sidecar", "image": IMAGE, "essential": False, "memoryReservation": 64}
        arn: str = self.aws.client("ecs").register_task_definition(
            family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[definition, sidecar])["taskDefinition"]["taskDefinitionArn"]
        return arn

    def run_sync(self, task_definition: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """One runTask.sync state, written as Step Functions needs it (PascalCase parameters)."""
        parameters = {
            "Cluster": self.cluster, "TaskDefinition": task_definition, "LaunchType": "FARGATE",
            "NetworkConfiguration": {"AwsvpcConfiguration": {
                "Subnets": [self.subnet], "SecurityGroups": [self.security_group], "AssignPublicIp": "DISABLED"}},
            **({"Overrides": overrides} if overrides else {}),
        }
        definition = {"StartAt": "Run", "States": {"Run": {
            "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "TimeoutSeconds": 60,
            "Parameters": parameters, "End": True}}}
        sfn = self.aws.client("stepfunctions")
        name = f"ecs-gap-{uuid.uuid4().hex[:8]}"
        machine = sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                           roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]

        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
            return described if described["status"] != "RUNNING" else None

        result: dict[str, Any] = wait_until(ended, timeout=60, what="the runTask.sync state")
        return result

    def log_lines(self, task_arn: str, container: str = "app") -> list[str]:
        stream = f"job/{container}/{task_arn.rsplit('/', 1)[-1]}"
        events = self.aws.client("logs").get_log_events(logGroupName=self.log_group, logStreamName=stream,
                                                        startFromHead=True)["events"]
        return [event["message"] for event in events]


@pytest.fixture(scope="module")
def ecs(local_aws: LocalAws) -> Ecs:
    ec2 = local_aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # (moto needs it for awsvpc tasks)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"gap-{uuid.uuid4().hex[:6]}", Description="task", VpcId=vpc)["GroupId"]
    cluster = local_aws.client("ecs").create_cluster(clusterName=f"gap-{uuid.uuid4().hex[:6]}")["cluster"]["clusterArn"]
    log_group = f"/gap/{uuid.uuid4().hex[:6]}"
    local_aws.client("logs").create_log_group(logGroupName=log_group)
    return Ecs(local_aws, cluster, subnet, group, log_group)


@pytest.fixture
def scripted() -> Iterator[ScriptedRunner]:
    runner = ScriptedRunner(results=[ContainerResult(exit_code=0, output=("migrating", "", "done"))])
    with containers.installed(runner):
        yield runner


def family() -> str:
    return f"job-{uuid.uuid4().hex[:6]}{FAMILY_SUFFIX}"


def test_run_task_sync_runs_the_container_with_its_overrides_and_returns_the_stopped_task(
    ecs: Ecs, scripted: ScriptedRunner
) -> None:
    # GIVEN a task definition whose essential container has no memory of its own (valid on Fargate)
    definition = ecs.task_definition(family(), ["python", "manage.py", "migrate", "--check"])
    # WHEN a runTask.sync state runs it with a command and an environment override, in Step Functions' casing
    done = ecs.run_sync(definition, {"ContainerOverrides": [{"Name": "app", "Command": ["sh", "-c", "echo migrating"],
                                                             "Environment": [{"Name": "PGOPTIONS", "Value": "x"}]}]})
    # THEN the runner ran the overridden command with both environments merged
    assert done["status"] == "SUCCEEDED", done.get("cause")
    [run] = scripted.runs
    assert run.command == ("sh", "-c", "echo migrating")
    assert (run.container, run.image) == ("app", IMAGE)
    assert dict(run.environment) == {"FROM_DEFINITION": "1", "PGOPTIONS": "x"}
    # AND the output is the stopped task, as Step Functions shows it (PascalCase, epoch-millisecond times)
    task = json.loads(done["output"])
    assert (task["LastStatus"], task["StopCode"]) == ("STOPPED", "EssentialContainerExited")
    assert [(c["Name"], c["ExitCode"]) for c in task["Containers"]] == [("app", 0)]
    assert isinstance(task["StoppedAt"], int)
    assert task["StoppedAt"] >= task["StartedAt"]
    # AND the container's lines are in its awslogs stream (empty lines dropped, as the driver does)
    assert ecs.log_lines(task["TaskArn"]) == ["migrating", "done"]


def test_a_non_zero_exit_fails_the_state_with_the_task_as_cause(ecs: Ecs, scripted: ScriptedRunner) -> None:
    scripted.results = [ContainerResult(exit_code=3, output=("Traceback ...", "KeyError: 'x'"))]
    failed = ecs.run_sync(ecs.task_definition(family(), ["false"]))
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.TaskFailed"
    cause = json.loads(failed["cause"])
    assert [(c["Name"], c["ExitCode"]) for c in cause["Containers"]] == [("app", 3)]
    assert ecs.log_lines(cause["TaskArn"]) == ["Traceback ...", "KeyError: 'x'"]


def test_a_container_that_never_starts_fails_the_state(ecs: Ecs, scripted: ScriptedRunner) -> None:
    scripted.results = [ContainerResult(exit_code=None, reason="CannotPullContainerError: not found")]
    failed = ecs.run_sync(ecs.task_definition(family(), ["true"]))
    assert failed["error"] == "States.TaskFailed"
    cause = json.loads(failed["cause"])
    assert cause["StopCode"] == "TaskFailedToStart"
    assert cause["StoppedReason"] == "CannotPullContainerError: not found"
    assert "ExitCode" not in cause["Containers"][0]


def test_the_task_is_running_until_its_container_exits(ecs: Ecs, scripted: ScriptedRunner) -> None:
    # GIVEN a container that keeps running until released WHEN it is started through the ECS API
    scripted.release.clear()
    client = ecs.aws.client("ecs")
    [task] = client.run_task(cluster=ecs.cluster, taskDefinition=ecs.task_definition(family(), ["sleep"]),
                             launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                                 "subnets": [ecs.subnet], "securityGroups": [ecs.security_group]}})["tasks"]

    def status() -> str:
        described = client.describe_tasks(cluster=ecs.cluster, tasks=[task["taskArn"]])["tasks"][0]
        return str(described["lastStatus"])

    # THEN describing it does not stop it (moto alone would walk it to STOPPED), until the container exits
    wait_until(lambda: scripted.runs, what="the container to start")
    assert [status() for _ in range(5)] == ["RUNNING"] * 5
    scripted.release.set()
    wait_until(lambda: status() == "STOPPED", what="the task to stop")
    described = client.describe_tasks(cluster=ecs.cluster, tasks=[task["taskArn"]])["tasks"][0]
    assert described["containers"][0]["exitCode"] == 0


def test_families_the_runner_does_not_handle_keep_motos_behaviour(ecs: Ecs, scripted: ScriptedRunner) -> None:
    done = ecs.run_sync(ecs.task_definition(f"other-{uuid.uuid4().hex[:6]}", ["true"], memory=128))
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert scripted.runs == []


def test_the_django_runner_runs_the_command_in_the_release_project_with_its_python(ecs: Ecs) -> None:
    # GIVEN the default runner kind, pointed at a (never contacted) database
    runner = DjangoProjectRunner(database_url="postgresql://nobody@127.0.0.1:1/none", family_suffix=FAMILY_SUFFIX)
    script = "import django, os, sys; print(django.get_version(), os.path.basename(os.getcwd()), os.environ['A'])"
    with containers.installed(runner):
        done = ecs.run_sync(ecs.task_definition(family(), ["python", "-c", script], environment=[
            {"name": "A", "value": "from-the-definition"}]))
    # THEN it ran in the fixture project with the project's virtualenv, and its output reached the log stream
    assert done["status"] == "SUCCEEDED", done.get("cause")
    [line] = ecs.log_lines(json.loads(done["output"])["TaskArn"])
    assert line.split() == ["6.1.3", "django_project", "from-the-definition"]
    assert runner.runs[0][1].exit_code == 0
