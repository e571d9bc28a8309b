"""`make demo`: deploy the whole app into the local emulator and run every workflow end to end, with a summary.

The workflows that exist today: alarm_route (an alarm storm routed with visible grouping, a failed delivery recovered
from the dead-letter queue, what each local receiver got), migrate (an expand release applied to a real PostgreSQL
through the state machine, and a contract release refused) and deploy (a good release promoted through a canary,
step by step, and a bad one rolled back by the canary analysis; demo_deploy.py).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from safejob_tools import demo_deploy
from safejob_tools.commands.live import replay_dead_letters
from safejob_tools.localaws.deploy import DeployedStack, deploy
from safejob_tools.localaws.driver import AlarmDriver, settle, wait_until
from safejob_tools.localaws.seed import seed_receiver_secrets
from safejob_tools.localaws.server import LocalAws
from safejob_tools.localaws.sink import HttpSink
from safejob_tools.localaws.template import TEMPLATE, load_template

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

# The storm: (alarm, service, severity, team, how many regions it fires in). Regions make several alerts per group.
STORM: list[tuple[str, str, str, str, int]] = [
    ("ApiHighErrorRate", "api", "critical", "backend", 3),
    ("ApiHighLatencyP95", "api", "warning", "backend", 2),
    ("WebHighErrorRate", "web", "warning", "web", 2),
    ("DbReplicaLag", "db", "warning", "data", 1),
    ("DbFreeStorageLow", "db", "critical", "data", 1),
    ("RedisEvictions", "cache", "warning", "platform", 2),
]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1"]


@dataclass
class Step:
    name: str
    seconds: float
    detail: str


@dataclass
class Summary:
    steps: list[Step] = field(default_factory=list)

    def run(self, name: str, action: Callable[[], str]) -> None:
        started = time.perf_counter()
        with console.status(f"[bold]{name}[/]…"):
            detail = action()
        step = Step(name, time.perf_counter() - started, detail)
        self.steps.append(step)
        console.print(f"[green]✓[/] {name} [dim]({step.seconds:.1f} s)[/] {detail}")


# The core's resource types as the inventory shows them: (area, CloudFormation type, label). Types not listed here
# still show, under "other", by their short name.
CORE_TYPES: list[tuple[str, str, str]] = [
    ("network", "AWS::EC2::VPC", "VPC"),
    ("network", "AWS::EC2::Subnet", "subnet"),
    ("network", "AWS::EC2::RouteTable", "route table"),
    ("network", "AWS::EC2::Route", "route"),
    ("network", "AWS::EC2::SubnetRouteTableAssociation", "subnet association"),
    ("network", "AWS::EC2::InternetGateway", "internet gateway"),
    ("network", "AWS::EC2::VPCGatewayAttachment", "gateway attachment"),
    ("network", "AWS::EC2::NatGateway", "NAT gateway"),
    ("network", "AWS::EC2::EIP", "elastic IP"),
    ("network", "AWS::EC2::VPCEndpoint", "VPC endpoint"),
    ("network", "AWS::EC2::FlowLog", "flow log"),
    ("security", "AWS::EC2::SecurityGroup", "security group"),
    ("security", "AWS::EC2::SecurityGroupIngress", "ingress rule"),
    ("security", "AWS::KMS::Key", "KMS key"),
    ("security", "AWS::KMS::Alias", "KMS alias"),
    ("security", "AWS::IAM::Role", "IAM role"),
    ("security", "AWS::IAM::ManagedPolicy", "managed policy"),
    ("compute", "AWS::ECS::Cluster", "ECS cluster"),
    ("compute", "AWS::ECS::Service", "ECS service"),
    ("compute", "AWS::ECS::TaskDefinition", "task definition"),
    ("edge", "AWS::ElasticLoadBalancingV2::LoadBalancer", "ALB"),
    ("edge", "AWS::ElasticLoadBalancingV2::TargetGroup", "target group"),
    ("edge", "AWS::ElasticLoadBalancingV2::Listener", "listener"),
    ("edge", "AWS::ElasticLoadBalancingV2::ListenerRule", "listener rule"),
    ("data", "AWS::RDS::DBInstance", "RDS instance"),
    ("data", "AWS::RDS::DBSubnetGroup", "DB subnet group"),
    ("data", "AWS::RDS::DBParameterGroup", "DB parameter group"),
    ("data", "AWS::S3::Bucket", "S3 bucket"),
    ("delivery", "AWS::ECR::Repository", "ECR repository"),
    ("observability", "AWS::Logs::LogGroup", "log group"),
    ("observability", "AWS::SNS::Topic", "SNS topic"),
    ("observability", "AWS::CloudWatch::Dashboard", "dashboard"),
]


def _counted(n: int, label: str) -> str:
    if n == 1:
        return f"1 {label}"
    if label.endswith("s"):
        return f"{n} {label}es"
    return f"{n} {label[:-1]}ies" if label[-1] == "y" and label[-2] not in "aeiou" else f"{n} {label}s"


def _inventory(stack: DeployedStack) -> str:
    root = stack.inventory()
    core = Counter(stack.inventory(nested=True)) - Counter(root)
    return (f"stack {stack.name}: {sum(root.values())} resources in template.yaml, "
            f"{sum(core.values())} created by moto in its {root.get('AWS::CloudFormation::Stack', 0)} core stacks")


def _core_declared_types() -> set[str]:
    """Every resource type the nested core templates declare (whatever the conditions)."""
    root = load_template(TEMPLATE)
    declared: set[str] = set()
    for resource in root["Resources"].values():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            child = load_template(TEMPLATE.parent / resource["Properties"]["TemplateURL"])
            declared |= {r["Type"] for r in child["Resources"].values()}
    return declared


def _absent(declared: set[str], created: set[str]) -> str:
    """The declared types moto did not create, by service: "ElastiCache, IAM OIDCProvider/RolePolicy, ..."."""
    by_service: dict[str, list[str]] = {}
    for kind in sorted(declared - created):
        service, name = kind.split("::")[1:]
        by_service.setdefault(service, []).append(name)
    services_created = {kind.split("::")[1] for kind in created}
    return ", ".join(service if service not in services_created else f"{service} {'/'.join(names)}"
                     for service, names in by_service.items())


def _core_table(stack: DeployedStack) -> Table:
    created = Counter(stack.inventory(nested=True)) - Counter(stack.inventory())
    created_types = set(created)
    created.pop("AWS::CloudFormation::Stack", None)
    areas: dict[str, list[str]] = {}
    for area, kind, label in CORE_TYPES:
        if created.get(kind):
            areas.setdefault(area, []).append(_counted(created.pop(kind), label))
    if created:
        areas["other"] = [f"{n} {kind.split('::', 1)[1]}" for kind, n in sorted(created.items())]
    table = Table(title="Core stacks in the emulator: what moto created (counted from the nested stacks)")
    table.add_column("area")
    table.add_column("created")
    for area, items in areas.items():
        table.add_row(area, ", ".join(items))
    table.add_row("[dim]not created here[/]", f"[dim]{_absent(_core_declared_types(), created_types)}: moto "
                  "ignores these types (or a condition skips them locally); static checks cover them "
                  "(docs/local-aws.md)[/]")
    return table


def _storm(driver: AlarmDriver, names: dict[str, str]) -> str:
    sent = 0
    for alarm, service, severity, team, regions in STORM:
        name = names[alarm]
        driver.fired[name] = {"service": service, "severity": severity, "team": team}
        for region in REGIONS[:regions]:
            event = driver.event(name, "ALARM", service=service, severity=severity, team=team, region=region)
            for _ in range(2):  # every event twice: EventBridge delivers at least once
                driver.ingest(event)
                sent += 1
    return f"{sent} events ({len(STORM)} alarms, duplicates included)"


def _notifications(driver: AlarmDriver, names: dict[str, str]) -> list[dict[str, Any]]:
    return [entry for name in names.values() for entry in driver.log(name)]


def _grouping_table(driver: AlarmDriver, names: dict[str, str]) -> Table:
    table = Table(title="Grouping: what each receiver was told, per alert group")
    for column in ("alarm", "receiver", "notifications", "alerts in first", "statuses"):
        table.add_column(column)
    for alarm, *_ in STORM:
        by_receiver: dict[str, list[dict[str, Any]]] = {}
        for entry in driver.log(names[alarm]):
            by_receiver.setdefault(entry["receiver"], []).append(entry)
        for receiver, entries in sorted(by_receiver.items()):
            table.add_row(alarm, receiver, str(len(entries)), str(len(entries[0]["fingerprints"])),
                          ", ".join(e["status"] for e in entries))
    return table


def _sink_table(sink: HttpSink) -> Table:
    table = Table(title="Local receivers: requests received (HTTP sink)")
    table.add_column("receiver endpoint")
    table.add_column("requests")
    table.add_column("failed (injected)")
    failed = Counter(r.path for r in sink.requests() if r.status >= 300)
    for path, count in sink.summary().items():
        table.add_row(path, str(count), str(failed.get(path, 0)))
    return table


def main() -> int:
    summary = Summary()
    console.rule("[bold]Safe Job platform: local demo")
    with LocalAws() as aws, HttpSink() as sink:
        holder: dict[str, DeployedStack] = {}

        def deploy_step() -> str:
            holder["stack"] = deploy(aws, parameters={"PagerDutyEventsUrl": sink.url("/pagerduty")})
            seed_receiver_secrets(aws, sink)
            return _inventory(holder["stack"])

        summary.run("Deploy template.yaml into the emulator", deploy_step)
        stack = holder["stack"]
        console.print(_core_table(stack))
        driver = AlarmDriver(stack, sink)
        names = {alarm: driver.name(alarm) for alarm, *_ in STORM}

        summary.run("alarm_route: send an alarm storm", lambda: _storm(driver, names))
        summary.run("alarm_route: wait for group_wait and the first flushes", lambda: _wait_grouped(driver, names))
        console.print(_grouping_table(driver, names))

        failing = driver.name("CheckoutDown")
        summary.run("alarm_route: Slack down for one alert: retries, then the dead-letter queue",
                    lambda: _dead_letter(driver, failing))
        summary.run("alarm_route: replay the dead-letter queue (Slack is back)",
                    lambda: _replay(driver, failing))
        summary.run("alarm_route: resolve everything; groups send resolves and end",
                    lambda: _resolve_all(driver, names, failing))
        console.print(_sink_table(sink))
        with tempfile.TemporaryDirectory(prefix="safejob-demo-") as workdir:
            run_migrate(summary, stack, Path(workdir))
        run_deploy(summary, stack)
    _print_summary(summary)
    return 0


def _wait_grouped(driver: AlarmDriver, names: dict[str, str]) -> str:
    wait_until(lambda: all(driver.log(name) for name in names.values()), timeout=60, what="every group to notify")
    settle(2.5)  # one more group_interval: nothing new, so nothing more is sent
    entries = _notifications(driver, names)
    return f"{len(entries)} notifications for {sum(r for *_, r in STORM) * 2} events"


def _dead_letter(driver: AlarmDriver, name: str) -> str:
    driver.sink.fail("/slack/slack-platform", times=5, status=503, containing=name)
    driver.fire(name, service="checkout", severity="warning", team="web")
    queue = driver.stack.output("DeliveryDeadLetterQueueUrl")
    sqs = driver.aws.client("sqs")
    wait_until(lambda: int(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
                           ["ApproximateNumberOfMessages"]), timeout=60, what="the dead-lettered notification")
    attempts = len(driver.sink.containing(name, "/slack/slack-platform"))
    return f"{attempts} attempts answered 503, 1 message in the dead-letter queue"


def _replay(driver: AlarmDriver, name: str) -> str:
    aws = driver.aws
    report = replay_dead_letters(aws.client("sqs"), aws.client("lambda"), driver.stack.outputs)
    delivered = [r for r in driver.sink.containing(name, "/slack/slack-platform") if r.status < 300]
    return f"{report.delivered} replayed and delivered, {report.failed} failed; Slack now has {len(delivered)}"


def _resolve_all(driver: AlarmDriver, names: dict[str, str], failing: str) -> str:
    for alarm, service, severity, team, regions in STORM:
        for region in REGIONS[:regions]:
            driver.ingest(driver.event(names[alarm], "OK", service=service, severity=severity, team=team,
                                       region=region))
        driver.fired.pop(names[alarm], None)
    driver.resolve(failing)
    everything = [*names.values(), failing]
    wait_until(lambda: all(e["status"] == "SUCCEEDED" for n in everything for e in driver.executions(n)),
               timeout=90, what="every group to end")
    resolved = sum(1 for name in everything for e in driver.log(name) if e["status"] == "resolved")
    return f"{resolved} resolve notifications; every group execution SUCCEEDED"


# ------------------------------------------------------------------------------------------------ migrate
RELEASE_MIGRATIONS = {
    "initial": ["accounts.0001_initial", "jobs.0001_initial"],  # CreateModel only: expand
    "contract": ["accounts.0001_initial", "jobs.0001_initial", "accounts.0002_account_expand",
                 "accounts.0003_account_contract"],  # removes and renames: contract
}
MIGRATE_TIMEOUTS = {"lock_timeout_seconds": 5, "statement_timeout_seconds": 60, "task_seconds": 120,
                    "snapshot_seconds": 60, "snapshot_poll_seconds": 0, "approval_seconds": 120}


def _image(release: str) -> str:
    digest = hashlib.sha256(release.encode()).hexdigest()
    return f"123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/local/backend@sha256:{digest}"


def _migrate(stack: DeployedStack, release: str) -> dict[str, Any]:
    sfn = stack.aws.client("stepfunctions")
    document = {"environment": "local", "image": _image(release), "git_sha": "0123abc4", "requested_by": "demo",
                "timeouts": MIGRATE_TIMEOUTS}
    arn = sfn.start_execution(stateMachineArn=stack.output("MigrateStateMachineArn"),
                              name=f"demo-{release}-{uuid.uuid4().hex[:8]}", input=json.dumps(document))["executionArn"]

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        return described if described["status"] != "RUNNING" else None

    result: dict[str, Any] = wait_until(ended, timeout=120, what=f"migrate execution {arn}")
    return result


def _tables(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()
    return int(row[0]) if row else 0


def run_migrate(summary: Summary, stack: DeployedStack, workdir: Path) -> None:
    """migrate, as a deploy runs it: the release image's Django project (the fixture) against a real PostgreSQL."""
    from safejob_tools.localaws import containers
    from safejob_tools.localaws.containers import DjangoProjectRunner, release_project
    from safejob_tools.localaws.postgres import PostgresCluster

    with PostgresCluster() as postgres:
        dsn = postgres.create_database("safejob_demo")
        runner = DjangoProjectRunner(database_url=dsn)
        runner.images.update({_image(name): release_project(workdir / name, migrations)
                              for name, migrations in RELEASE_MIGRATIONS.items()})
        with containers.installed(runner):
            def expand() -> str:
                result = _migrate(stack, "initial")
                if result["status"] != "SUCCEEDED":
                    raise RuntimeError(f"migrate failed: {result.get('error')}: {result.get('cause')}")
                output = json.loads(result["output"])
                return (f"plan → apply (lock/statement timeouts) → migrate --check: {len(output['applied'])} "
                        f"migrations applied, {_tables(dsn)} tables in PostgreSQL")

            def contract() -> str:
                before = _tables(dsn)
                result = _migrate(stack, "contract")
                refused = result["status"] == "FAILED" and "Refused" in str(result.get("error"))
                return (f"{'refused' if refused else 'NOT refused'} ({result.get('error')}): contract operations "
                        f"while the old release serves; database unchanged ({before} → {_tables(dsn)} tables)")

            summary.run("migrate: an expand release (CreateModel only)", expand)
            summary.run("migrate: a contract release in the expand phase", contract)


# ------------------------------------------------------------------------------------------------ deploy
def run_deploy(summary: Summary, stack: DeployedStack) -> None:
    """deploy, with the local fleet playing the tasks, the ALB and the traffic: a good frontend release promoted
    through a canary [10, 50, 100], then a bad one rolled back by the analysis of its first step."""
    with demo_deploy.story(console, stack) as story:
        summary.run("deploy: a good frontend release, canary 10 → 50 → 100%", story.good)
        summary.run("deploy: a bad release (30% of its requests 5xx)", story.bad)


def _print_summary(summary: Summary) -> None:
    table = Table(title="Summary")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("result")
    for step in summary.steps:
        table.add_row(step.name, f"{step.seconds:.1f}", step.detail)
    console.print(table)
    console.print(f"[bold green]Demo complete[/] in {sum(s.seconds for s in summary.steps):.0f} s.")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TimeoutError as exc:
        console.print(f"[bold red]Demo failed:[/] {exc}")
        sys.exit(1)
    except Exception as exc:
        console.print(f"[bold red]Demo failed:[/] {type(exc).__name__}: {json.dumps(str(exc))}")
        raise
