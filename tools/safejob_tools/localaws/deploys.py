"""Drive the deploy workflow in a deployed stack: push images to ECR, start executions, and read what happened (the
listeners, the services, the lock, the ledger, the notifications). Used by the state machine tests and the demo."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from safejob_ops.adapters.deploy_ledger import DynamoDeployLedger
from safejob_ops.adapters.locks import DynamoLocks
from safejob_ops.deploy.models import DeployRecord
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.driver import Inbox, wait_until

ENVIRONMENT = "local"
REPOSITORIES = {"backend": "safejob/local/backend", "frontend": "safejob/local/frontend"}
LOCK = f"deploy/{ENVIRONMENT}"
DEADLINE = 120.0


@dataclass(frozen=True)
class Snapshot:
    """What the platform looks like: per service, the prod weights, each colour's desired count and task
    definition, and the lock holder."""

    weights: dict[str, dict[str, int]]
    desired: dict[str, dict[str, int]]
    task_definitions: dict[str, dict[str, str]]
    lock_owner: str | None

    def live(self) -> str:
        colours = {next(c for c, w in weights.items() if w == 100) for weights in self.weights.values()}
        if len(colours) != 1:
            raise AssertionError(f"traffic is split: {self.weights}")
        return colours.pop()


class Deploys:
    """Starts deploy executions in the deployed stack and reads their effects."""

    def __init__(self, stack: DeployedStack) -> None:
        self.stack = stack
        self.aws = stack.aws
        self.sfn = self.aws.client("stepfunctions")
        self.ecr = self.aws.client("ecr")
        self.ecs = self.aws.client("ecs")
        self.elbv2 = self.aws.client("elbv2")
        self.locks = DynamoLocks(stack.output("OpsLockTableName"), client=self.aws.client("dynamodb"))
        self.ledger = DynamoDeployLedger(stack.output("DeployLedgerTableName"), client=self.aws.client("dynamodb"))
        self.started: list[str] = []
        self.inbox = Inbox(stack)

    # ------------------------------------------------------------------ images
    def push(self, service: str, name: str) -> str:
        """Push an image (a manifest unique to `name`) to the service's repository and scan it; returns its
        reference by digest, as CI would pass it."""
        repository = REPOSITORIES[service]
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
                       "digest": "sha256:" + hashlib.sha256(f"{service}/{name}".encode()).hexdigest()},
            "layers": [],
        })
        # ECR's digest is the manifest's sha256; passed explicitly, since moto derives it from the layers alone.
        digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        with contextlib.suppress(self.ecr.exceptions.ImageAlreadyExistsException):
            self.ecr.put_image(repositoryName=repository, imageManifest=manifest, imageDigest=digest)
        with contextlib.suppress(Exception):
            self.ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
        uri = self.ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
        return f"{uri}@{digest}"

    # ------------------------------------------------------------------ executions
    def request(self, images: dict[str, str], **changes: Any) -> dict[str, Any]:
        document: dict[str, Any] = {
            "environment": ENVIRONMENT, "services": sorted(images), "images": images, "git_sha": "0123abc4",
            "strategy": {"type": "canary", "steps": [10, 50, 100], "bake_seconds": 3},
            "approval_required": False, "requested_by": "test",
        }
        document.update(changes)
        return document

    def start(self, document: dict[str, Any]) -> str:
        started = self.sfn.start_execution(stateMachineArn=self.stack.output("DeployStateMachineArn"),
                                           name=f"d-{uuid.uuid4().hex[:12]}", input=json.dumps(document))
        arn: str = started["executionArn"]
        self.started.append(arn)
        return arn

    def wait(self, arn: str, timeout: float = DEADLINE) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
            return described if described["status"] != "RUNNING" else None

        result: dict[str, Any] = wait_until(ended, timeout=timeout, what=f"execution {arn} to end")
        return result

    def run(self, document: dict[str, Any]) -> dict[str, Any]:
        return self.wait(self.start(document))

    def history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token: dict[str, Any] = {}
        while True:
            page = self.sfn.get_execution_history(executionArn=arn, maxResults=1000, **token)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            token = {"nextToken": page["nextToken"]}

    def states(self, arn: str) -> list[str]:
        """The states entered, in order (each one is a state transition)."""
        return [e["stateEnteredEventDetails"]["name"] for e in self.history(arn) if "stateEnteredEventDetails" in e]

    def state_reached(self, arn: str, name: str) -> bool:
        return name in self.states(arn)

    # ------------------------------------------------------------------ what happened
    def snapshot(self) -> Snapshot:
        out = self.stack.output
        switches = {"frontend": ("listener", out("ProdListenerArn")), "backend": ("rule", out("BackendProdRuleArn"))}
        groups = {(service, colour): out(f"{service.capitalize()}{colour.capitalize()}TargetGroupArn")
                  for service in REPOSITORIES for colour in ("blue", "green")}
        weights: dict[str, dict[str, int]] = {}
        for service, (kind, arn) in switches.items():
            if kind == "listener":
                actions = self.elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]
            else:
                actions = self.elbv2.describe_rules(RuleArns=[arn])["Rules"][0]["Actions"]
            forward = next(a for a in actions if a["Type"] == "forward")
            by_group = {g["TargetGroupArn"]: g.get("Weight", 0) for g in forward["ForwardConfig"]["TargetGroups"]}
            weights[service] = {colour: by_group.get(groups[(service, colour)], 0) for colour in ("blue", "green")}
        desired: dict[str, dict[str, int]] = {}
        task_definitions: dict[str, dict[str, str]] = {}
        cluster = out("ClusterName")
        for service in REPOSITORIES:
            for colour in ("blue", "green"):
                name = out(f"{service.capitalize()}{colour.capitalize()}ServiceName")
                described = self.ecs.describe_services(cluster=cluster, services=[name])["services"][0]
                desired.setdefault(service, {})[colour] = described["desiredCount"]
                task_definitions.setdefault(service, {})[colour] = described["taskDefinition"]
        holder = self.locks.holder(LOCK)
        return Snapshot(weights=weights, desired=desired, task_definitions=task_definitions,
                        lock_owner=holder.owner if holder else None)

    def record(self, arn: str) -> DeployRecord | None:
        return next((r for r in self.ledger.history(ENVIRONMENT, limit=1000) if r.execution_id == arn), None)

    def notifications(self, arn: str) -> list[tuple[str, str]]:
        """(subject, body) of the notifications about this deploy execution (the migrate child's are its own)."""
        name = arn.rsplit(":", 1)[-1]
        return [(s, m) for s, m in self.inbox.read() if m.startswith(f"Deploy {name} ")]

    def approval_token(self, arn: str) -> str:
        def asked() -> list[tuple[str, str]]:
            return [n for n in self.notifications(arn) if "waits for approval" in n[1]]

        [(_, message)] = wait_until(asked, timeout=DEADLINE, what="the approval request")
        token: str = message.split("--task-token '", 1)[1].split("'", 1)[0]
        return token

    def answer(self, token: str, approved: bool, reason: str = "") -> None:
        self.sfn.send_task_success(taskToken=token, output=json.dumps(
            {"approved": approved, "decided_by": "test", "reason": reason}))

    def cleanup(self) -> None:
        for arn in self.started:
            if self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                self.sfn.stop_execution(executionArn=arn, error="TestCleanup")
            with contextlib.suppress(Exception):
                self.locks.release(LOCK, arn)  # a failed test must not block the next ones
        self.inbox.close()


@contextlib.contextmanager
def deploys(stack: DeployedStack) -> Iterator[Deploys]:
    driver = Deploys(stack)
    try:
        yield driver
    finally:
        driver.cleanup()
