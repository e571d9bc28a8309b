"""The core stacks (stacks/*.yaml, nested from template.yaml) deployed into the emulator, checked through the service
APIs: what the templates ask for is what EC2, ECS, ELBv2, RDS, S3, KMS, IAM, ECR, Logs and CloudWatch report.

Two deployments share the session's emulator: the session `stack` (local parameters, as staging renders except for
names) and, once for this module, a production-parameter stack (`safejob-production`) for the environment
differences. Names carry the environment, so both coexist.

moto's CloudFormation creates these resource types but keeps only some of their properties (docs/local-aws.md,
"Created by moto, some properties dropped"). The tests assert what moto keeps; `test_moto_still_drops_...` at the
end pins what it drops, so that a moto upgrade or a new bridge that keeps one of them fails there and the check can
move up here. What moto does not create at all is covered by the static checks only (tests/unit/core, cfn-lint,
checkov).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from safejob_tools.localaws.deploy import LOCAL_PARAMETERS, DeployedStack, deploy
from safejob_tools.localaws.server import LocalAws

# moto warns once per ignored resource, at every read of a stack that holds one; docs/local-aws.md lists them.
pytestmark = [pytest.mark.emulator, pytest.mark.filterwarnings("ignore:Tried to parse .* moto's CloudFormation")]

DIGEST_REFERENCE = re.compile(r"^[^@:]+(:\d+)?[^@]*@sha256:[0-9a-f]{64}$")
APP_PORT = 8000
TEST_LISTENER_PORT = 8443
DR_REGION = "eu-central-1"
PRODUCTION_PARAMETERS = {
    "EnvironmentName": "production",
    "AlertingConfigFile": "alerting.yaml",
    "LogRetentionDays": "30",
    "AvailabilityZoneCount": "3",
    "DomainName": "safejob.example.com",
    "AlarmEmail": "oncall@example.com",
    "MonthlyBudgetUsd": "1500",
    "BackendImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/production/backend@sha256:" + "a" * 64,
    "FrontendImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/production/frontend@sha256:" + "b" * 64,
    "DrRegion": DR_REGION,
    "DrReplicaBucketArn": "arn:aws:s3:::safejob-production-dr-media",
    "DrReplicaKmsKeyArn": f"arn:aws:kms:{DR_REGION}:123456789012:key/11111111-2222-3333-4444-555555555555",
    "DrBackupVaultArn": f"arn:aws:backup:{DR_REGION}:123456789012:backup-vault:safejob-production-dr",
}
# Root outputs that carry an `...emulated` placeholder (moto_gaps bridge 7): their resources are ones moto ignores,
# or attributes it does not compute. docs/local-aws.md lists the same.
EMULATED_OUTPUTS = {
    "DjangoSecretKeySecretArn", "DbSecretArn", "CacheReplicationGroupId", "DistributionId",
    "PublicUrl", "BackupVaultName", "BackupVaultArn",
}


@dataclass(frozen=True)
class Core:
    """One deployment, with what its nested stacks report: `outputs["DataStack"]["DbInstanceId"]`, and
    `resources["NetworkStack"]["Vpc"]` (physical ids of what moto created)."""

    stack: DeployedStack
    outputs: dict[str, dict[str, str]]
    resources: dict[str, dict[str, str]]

    @property
    def out(self) -> dict[str, str]:
        return self.stack.outputs

    def client(self, service: str) -> Any:
        return self.stack.aws.client(service)


def _core(stack: DeployedStack) -> Core:
    cfn = stack.aws.client("cloudformation")
    outputs: dict[str, dict[str, str]] = {}
    resources: dict[str, dict[str, str]] = {}
    for logical_id, kind in stack.types.items():
        if kind != "AWS::CloudFormation::Stack":
            continue
        physical = stack.resources[logical_id]
        described = cfn.describe_stacks(StackName=physical)["Stacks"][0]
        outputs[logical_id] = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        resources[logical_id] = {
            r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
            for r in cfn.describe_stack_resources(StackName=physical)["StackResources"]
            if "LogicalResourceId" in r  # moto lists ignored and condition-skipped resources as blank entries
        }
    return Core(stack, outputs, resources)


@pytest.fixture(scope="module")
def local(stack: DeployedStack) -> Core:
    return _core(stack)


@pytest.fixture(scope="module")
def production(local_aws: LocalAws) -> Core:
    deployed = deploy(local_aws, stack_name="safejob-production", parameters=PRODUCTION_PARAMETERS)
    _make_inert(deployed)
    return _core(deployed)


def _make_inert(stack: DeployedStack) -> None:
    """The emulator has one default event bus (and moto ignores a rule's state): production's rules would also
    route the events other tests put there to production's functions. Detach their targets."""
    events = stack.aws.client("events")
    for logical_id, kind in stack.types.items():
        if kind == "AWS::Events::Rule":
            rule = stack.resources[logical_id]
            targets = events.list_targets_by_rule(Rule=rule)["Targets"]
            if targets:
                events.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def _route_tables(core: Core) -> dict[str, dict[str, Any]]:
    """Route tables of the VPC by logical id (moto drops their Name tags but keeps CloudFormation's own)."""
    tables = core.client("ec2").describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [core.out["VpcId"]]}])
    return {_tags(t).get("aws:cloudformation:logical-id", "main"): t for t in tables["RouteTables"]}


def _default_route(table: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)


def _nat_gateways(core: Core) -> list[dict[str, Any]]:
    nats = core.client("ec2").describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [core.out["VpcId"]]}])
    return list(nats["NatGateways"])


def _ingress(core: Core, group_id: str) -> set[tuple[str, int | None, int | None, str]]:
    group = core.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    rules = set()
    for permission in group["IpPermissions"]:
        sources = [pair["GroupId"] for pair in permission.get("UserIdGroupPairs", [])]
        sources += [cidr["CidrIp"] for cidr in permission.get("IpRanges", [])]
        for source in sources:
            rules.add((permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"), source))
    return rules


def _task_definition(core: Core, logical_id: str) -> dict[str, Any]:
    # By the revision CloudFormation registered (its physical id), not by family: a later revision is the deploy
    # workflow's business.
    arn = core.resources["ComputeStack"][logical_id]
    return dict(core.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"])


def _containers(task_definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in task_definition["containerDefinitions"]}


def _db(core: Core, identifier: str) -> dict[str, Any]:
    return dict(core.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0])


def _core_log_groups(core: Core) -> dict[str, dict[str, Any]]:
    """The core's log groups by logical id (nested stacks), as the Logs API describes them."""
    pages = core.client("logs").get_paginator("describe_log_groups").paginate()
    described = {g["logGroupName"]: g for page in pages for g in page["logGroups"]}
    return {
        logical_id: described[physical]
        for stack_resources in core.resources.values()
        for logical_id, physical in stack_resources.items()
        if physical in described
    }


def _role(core: Core, nested_stack: str, logical_id: str) -> dict[str, Any]:
    name = core.resources[nested_stack][logical_id]
    return dict(core.client("iam").get_role(RoleName=name)["Role"])


def _inline_policy(core: Core, role_name: str, policy_name: str) -> dict[str, Any]:
    document = core.client("iam").get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):  # moto gap: a CloudFormation inline policy comes back as a Python repr
        parsed: dict[str, Any] = ast.literal_eval(document)
        return parsed
    return dict(document)


# -------------------------------------------------------------------------------------------------------------- network
def test_vpc_spans_two_azs_with_public_app_and_data_subnets(local: Core) -> None:
    # GIVEN the local deployment WHEN its VPC and subnets are described
    ec2 = local.client("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[local.out["VpcId"]])["Vpcs"][0]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    # THEN there is one subnet per tier and AZ, in the configured CIDRs, none mapping public IPs
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert _tags(vpc)["Name"] == "safejob-local"
    by_tier: dict[str, list[dict[str, Any]]] = {}
    for subnet in subnets:
        by_tier.setdefault(_tags(subnet)["safejob:tier"], []).append(subnet)
    assert {tier: len(members) for tier, members in by_tier.items()} == {"public": 2, "app": 2, "data": 2}
    cidrs = {tier: sorted(s["CidrBlock"] for s in members) for tier, members in by_tier.items()}
    assert cidrs == {"public": ["10.0.0.0/20", "10.0.16.0/20"], "app": ["10.0.64.0/20", "10.0.80.0/20"],
                     "data": ["10.0.128.0/20", "10.0.144.0/20"]}
    for tier, members in by_tier.items():
        assert len({s["AvailabilityZone"] for s in members}) == 2, f"{tier} subnets share an AZ"
        assert sorted(s["SubnetId"] for s in members) == sorted(local.out[f"{tier.title()}SubnetIds"].split(","))
    assert not any(s["MapPublicIpOnLaunch"] for s in subnets)


def test_public_tables_route_to_the_internet_gateway_and_app_tables_to_the_nat(local: Core) -> None:
    # GIVEN the VPC's internet gateway and its one NAT gateway (staging and local share one)
    ec2 = local.client("ec2")
    gateways = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [local.out["VpcId"]]}])["InternetGateways"]
    nats = _nat_gateways(local)
    tables = _route_tables(local)
    # THEN public goes out through the internet gateway, each app table through the NAT, and data nowhere
    assert len(gateways) == 1
    assert len(nats) == 1
    assert nats[0]["SubnetId"] == local.out["PublicSubnetIds"].split(",")[0]
    assert nats[0]["NatGatewayAddresses"][0]["PublicIp"]
    assert _default_route(tables["PublicRouteTable"]) == {
        "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": gateways[0]["InternetGatewayId"],
        "Origin": "CreateRoute", "State": "active"}
    for app_table in ("AppRouteTable1", "AppRouteTable2"):
        route = _default_route(tables[app_table])
        assert route is not None
        assert route["NatGatewayId"] == nats[0]["NatGatewayId"]
    assert _default_route(tables["DataRouteTable"]) is None
    assert set(tables) == {"main", "PublicRouteTable", "AppRouteTable1", "AppRouteTable2", "DataRouteTable"}


def test_vpc_endpoints_serve_s3_ecr_logs_secrets_ssm_and_sts(local: Core) -> None:
    # GIVEN the VPC's endpoints
    endpoints = local.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [local.out["VpcId"]]}])["VpcEndpoints"]
    by_service = {e["ServiceName"].removeprefix("com.amazonaws.us-east-1."): e for e in endpoints}
    tables = _route_tables(local)
    endpoint_group = local.outputs["NetworkStack"]["EndpointSecurityGroupId"]
    app_subnets = sorted(local.out["AppSubnetIds"].split(","))
    # THEN S3 is a gateway on the app and data tables (not public), and the rest are private-DNS interfaces in the
    # app subnets behind the endpoint security group
    assert set(by_service) == {"s3", "ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm", "sts"}
    s3 = by_service.pop("s3")
    assert s3["VpcEndpointType"] == "Gateway"
    assert sorted(s3["RouteTableIds"]) == sorted(
        tables[name]["RouteTableId"] for name in ("AppRouteTable1", "AppRouteTable2", "DataRouteTable"))
    for service, endpoint in by_service.items():
        assert endpoint["VpcEndpointType"] == "Interface", service
        assert endpoint["PrivateDnsEnabled"] is True, service
        assert sorted(endpoint["SubnetIds"]) == app_subnets, service
        assert [g["GroupId"] for g in endpoint["Groups"]] == [endpoint_group], service


def test_flow_logs_capture_all_vpc_traffic_into_their_log_group(local: Core) -> None:
    flow_logs = local.client("ec2").describe_flow_logs(
        Filters=[{"Name": "resource-id", "Values": [local.out["VpcId"]]}])["FlowLogs"]
    observability = local.resources["ObservabilityStack"]
    assert [(f["TrafficType"], f["LogDestinationType"], f["LogGroupName"]) for f in flow_logs] == [
        ("ALL", "cloud-watch-logs", observability["FlowLogGroup"])]
    assert flow_logs[0]["DeliverLogsPermissionArn"].endswith(f"/{observability['FlowLogRole']}")


def test_security_groups_admit_exactly_the_intended_paths(local: Core) -> None:
    # GIVEN every group of the security stack, and the NAT's public address
    groups = local.outputs["SecurityStack"]
    alb, backend = groups["LoadBalancerSecurityGroupId"], groups["BackendServiceSecurityGroupId"]
    frontend, migrate = groups["FrontendServiceSecurityGroupId"], groups["MigrateTaskSecurityGroupId"]
    database, cache = groups["DatabaseSecurityGroupId"], groups["CacheSecurityGroupId"]
    ops, verifier = groups["OpsFunctionSecurityGroupId"], groups["RestoreVerifierSecurityGroupId"]
    restore_target = groups["RestoreTargetSecurityGroupId"]
    endpoints = local.outputs["NetworkStack"]["EndpointSecurityGroupId"]
    nat_ip = _nat_gateways(local)[0]["NatGatewayAddresses"][0]["PublicIp"]
    # WHEN their ingress rules are read back from EC2
    # THEN the internet reaches the ALB on 443 and 80 only, and the test listener only from the VPC's NAT address
    assert _ingress(local, alb) == {("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 80, 80, "0.0.0.0/0"),
                                    ("tcp", TEST_LISTENER_PORT, TEST_LISTENER_PORT, f"{nat_ip}/32")}
    # AND the tasks take 8000 from the ALB only
    assert _ingress(local, backend) == {("tcp", APP_PORT, APP_PORT, alb)}
    assert _ingress(local, frontend) == {("tcp", APP_PORT, APP_PORT, alb)}
    # AND PostgreSQL admits the backend and migrate tasks; the cache, the backend; the throwaway restored
    # instance, the restore verifier only
    assert _ingress(local, database) == {("tcp", 5432, 5432, backend), ("tcp", 5432, 5432, migrate)}
    assert _ingress(local, cache) == {("tcp", 6379, 6379, backend)}
    assert _ingress(local, restore_target) == {("tcp", 5432, 5432, verifier)}
    # AND the interface endpoints take HTTPS from every workload in the VPC, and nothing reaches the others
    assert _ingress(local, endpoints) == {("tcp", 443, 443, source)
                                          for source in (backend, frontend, migrate, ops, verifier)}
    for silent in (migrate, ops, verifier):
        assert _ingress(local, silent) == set()


# -------------------------------------------------------------------------------------------------------------- compute
def test_cluster_runs_blue_green_service_pairs_with_the_live_color_scaled(local: Core) -> None:
    # GIVEN the cluster and its four services
    ecs = local.client("ecs")
    cluster = ecs.describe_clusters(clusters=[local.out["ClusterName"]])["clusters"][0]
    names = [local.out[f"{app}{color}ServiceName"] for app in ("Backend", "Frontend") for color in ("Blue", "Green")]
    services = {s["serviceName"]: s for s in ecs.describe_services(cluster=cluster["clusterArn"],
                                                                    services=names)["services"]}
    compute = local.resources["ComputeStack"]
    # THEN blue (LiveColor) runs the desired count, green none, each on its app's task definition, ECS-controlled.
    # (moto reports FARGATE as EC2 and drops the load balancers, network configuration, circuit breaker and
    # service registries: what it keeps is asserted here; test_moto_still_drops_... pins the rest.)
    assert cluster["status"] == "ACTIVE"
    assert cluster["clusterName"] == "safejob-local"
    assert {name: s["desiredCount"] for name, s in services.items()} == {
        "safejob-local-backend-blue": 2, "safejob-local-backend-green": 0,
        "safejob-local-frontend-blue": 2, "safejob-local-frontend-green": 0}
    for name, service in services.items():
        app = "Backend" if "-backend-" in name else "Frontend"
        assert service["taskDefinition"] == compute[f"{app}TaskDefinition"]
        assert service["deploymentController"] == {"type": "ECS"}
        assert service["status"] == "ACTIVE"
    assert sorted(s["serviceArn"] for s in services.values()) == sorted(
        compute[f"{app}{color}Service"] for app in ("Backend", "Frontend") for color in ("Blue", "Green"))


def test_task_definitions_run_by_digest_as_non_root_with_read_only_roots(local: Core) -> None:
    # GIVEN the three task definitions CloudFormation registered
    definitions = {name: _task_definition(local, f"{name}TaskDefinition")
                   for name in ("Backend", "Frontend", "Migrate")}
    # THEN they are the stack's families, every container runs by digest, as a non-root user, on a read-only root
    # with every capability dropped (apps) and a writable /tmp volume
    assert {n: d["family"] for n, d in definitions.items()} == {
        "Backend": local.out["BackendTaskFamilyName"], "Frontend": local.out["FrontendTaskFamilyName"],
        "Migrate": local.out["MigrateTaskFamilyName"]}
    assert definitions["Migrate"]["taskDefinitionArn"] == local.out["MigrateTaskDefinitionArn"]
    for name, definition in definitions.items():
        assert definition["volumes"] == [{"name": "tmp"}], name
        for container in definition["containerDefinitions"]:
            where = f"{name}/{container['name']}"
            assert DIGEST_REFERENCE.match(container["image"]), where
            assert container["readonlyRootFilesystem"] is True, where
            assert not container["user"].startswith(("0", "root")), where
        app = _containers(definition)["app"]
        assert app["user"] == "1000:1000"
        assert app["linuxParameters"] == {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True}
        assert app["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp"}]
    # AND the images are exactly the parameters (the live digests), the migrate task running the backend's
    apps = {name: _containers(d)["app"]["image"] for name, d in definitions.items()}
    assert apps == {"Backend": LOCAL_PARAMETERS["BackendImage"], "Frontend": LOCAL_PARAMETERS["FrontendImage"],
                    "Migrate": LOCAL_PARAMETERS["BackendImage"]}


def test_backend_and_migrate_get_secrets_from_secrets_manager_a_python_health_check_and_xray(local: Core) -> None:
    backend = _containers(_task_definition(local, "BackendTaskDefinition"))
    migrate = _containers(_task_definition(local, "MigrateTaskDefinition"))
    django_key, db_secret = local.out["DjangoSecretKeySecretArn"], local.out["DbSecretArn"]
    cache_token = local.outputs["SecurityStack"]["CacheAuthTokenSecretArn"]
    # THEN credentials arrive as Secrets Manager references (JSON keys), never as plain environment values
    assert {s["name"]: s["valueFrom"] for s in backend["app"]["secrets"]} == {
        "DJANGO_SECRET_KEY": f"{django_key}:secret_key::", "DATABASE_USER": f"{db_secret}:username::",
        "DATABASE_PASSWORD": f"{db_secret}:password::", "REDIS_AUTH_TOKEN": f"{cache_token}:token::"}
    assert {s["name"] for s in migrate["app"]["secrets"]} == {"DJANGO_SECRET_KEY", "DATABASE_USER",
                                                              "DATABASE_PASSWORD"}
    for app in (backend["app"], migrate["app"]):
        environment = {e["name"]: e["value"] for e in app["environment"]}
        assert not {n for n in environment if re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL", n)}
        assert environment["DATABASE_HOST"] == f"{local.out['DbInstanceId']}.aaaaaaaaaa.us-east-1.rds.amazonaws.com"
        assert environment["DATABASE_SSLMODE"] == "require"
        assert environment["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2000"
        # AND an X-Ray daemon sidecar starts first, not essential, on UDP 2000
        assert app["dependsOn"] == [{"containerName": "xray-daemon", "condition": "START"}]
    for sidecar in (backend["xray-daemon"], migrate["xray-daemon"]):
        assert sidecar["essential"] is False
        assert sidecar["portMappings"] == [{"containerPort": 2000, "protocol": "udp"}]
        assert sidecar["image"] == LOCAL_PARAMETERS["XrayDaemonImage"]
    # AND the backend's health check runs the image's own Python against /health/: no curl needed
    check = backend["app"]["healthCheck"]
    assert check["command"][:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{APP_PORT}/health/" in check["command"][3]
    assert "curl" not in json.dumps(check)
    assert backend["app"]["portMappings"] == [{"containerPort": APP_PORT, "protocol": "tcp"}]
    # AND migrate is a one-off command with no port, its stop timeout long enough for a migration to finish
    assert migrate["app"]["command"] == ["python", "manage.py", "migrate", "--check"]
    assert migrate["app"]["portMappings"] == []
    assert migrate["app"]["stopTimeout"] == 120


def test_containers_log_to_their_own_groups(local: Core) -> None:
    compute = local.resources["ComputeStack"]
    for name, group in (("Backend", "BackendLogGroup"), ("Frontend", "FrontendLogGroup"),
                        ("Migrate", "MigrateLogGroup")):
        for container in _task_definition(local, f"{name}TaskDefinition")["containerDefinitions"]:
            log = container["logConfiguration"]
            assert log["logDriver"] == "awslogs"
            assert log["options"]["awslogs-group"] == compute[group]
            assert log["options"]["mode"] == "non-blocking"
    assert local.out["BackendLogGroupName"] == compute["BackendLogGroup"]
    assert local.out["MigrateLogGroupName"] == compute["MigrateLogGroup"]


# ----------------------------------------------------------------------------------------------------------------- edge
def test_load_balancer_is_internet_facing_in_the_public_subnets(local: Core) -> None:
    elb = local.client("elbv2")
    balancer = elb.describe_load_balancers(LoadBalancerArns=[local.out["LoadBalancerArn"]])["LoadBalancers"][0]
    assert (balancer["LoadBalancerName"], balancer["Type"], balancer["Scheme"]) == (
        "safejob-local", "application", "internet-facing")
    assert sorted(z["SubnetId"] for z in balancer["AvailabilityZones"]) == sorted(
        local.out["PublicSubnetIds"].split(","))
    assert balancer["SecurityGroups"] == [local.outputs["SecurityStack"]["LoadBalancerSecurityGroupId"]]
    assert balancer["DNSName"] == local.out["LoadBalancerDnsName"]


def test_target_groups_check_health_on_the_app_port(local: Core) -> None:
    elb = local.client("elbv2")
    arns = {k: local.out[f"{k}TargetGroupArn"] for k in ("BackendBlue", "BackendGreen", "FrontendBlue",
                                                         "FrontendGreen")}
    groups = {g["TargetGroupArn"]: g for g in elb.describe_target_groups(TargetGroupArns=list(arns.values()))
              ["TargetGroups"]}
    for key, arn in arns.items():
        group = groups[arn]
        assert (group["Protocol"], group["Port"], group["TargetType"], group["VpcId"]) == (
            "HTTP", APP_PORT, "ip", local.out["VpcId"]), key
        assert (group["HealthCheckPath"], group["Matcher"], group["HealthCheckIntervalSeconds"]) == (
            "/health/", {"HttpCode": "200"}, 15), key
        assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (2, 3), key
        # (moto repeats the load balancer once per listener that forwards to the group)
        assert set(group["LoadBalancerArns"]) == {local.out["LoadBalancerArn"]}, key
        # The metric dimension output is the ARN's resource part (moto has no GetAtt TargetGroupFullName).
        assert local.out[f"{key}TargetGroupFullName"] == arn.split(":", 5)[5], key


def test_listeners_redirect_80_serve_tls13_on_443_and_the_idle_color_on_the_test_port(local: Core) -> None:
    elb = local.client("elbv2")
    listeners = {li["Port"]: li for li in elb.describe_listeners(LoadBalancerArn=local.out["LoadBalancerArn"])
                 ["Listeners"]}
    blue, green = local.out["FrontendBlueTargetGroupArn"], local.out["FrontendGreenTargetGroupArn"]
    # THEN exactly 80, 443 and the test port exist
    assert set(listeners) == {80, 443, TEST_LISTENER_PORT}
    assert str(TEST_LISTENER_PORT) == local.out["TestListenerPort"]
    # AND 80 only answers with a permanent redirect to HTTPS
    assert listeners[80]["Protocol"] == "HTTP"
    assert listeners[80]["DefaultActions"] == [{"Type": "redirect", "RedirectConfig": {
        "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
        "StatusCode": "HTTP_301"}}]
    # AND 443 and the test listener speak TLS 1.3 with the given certificate
    acm = local.client("acm")
    certificates = {c["CertificateArn"] for page in acm.get_paginator("list_certificates").paginate()
                    for c in page["CertificateSummaryList"]}
    for port in (443, TEST_LISTENER_PORT):
        assert listeners[port]["Protocol"] == "HTTPS"
        assert listeners[port]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        assert listeners[port]["Certificates"][0]["CertificateArn"] in certificates
    # AND production forwards with weights, all to the live (blue) frontend; the test listener serves green
    assert listeners[443]["ListenerArn"] == local.out["ProdListenerArn"]
    (forward,) = listeners[443]["DefaultActions"]
    assert forward["Type"] == "forward"
    assert {t["TargetGroupArn"]: t["Weight"] for t in forward["ForwardConfig"]["TargetGroups"]} == {
        blue: 100, green: 0}
    assert listeners[TEST_LISTENER_PORT]["ListenerArn"] == local.out["TestListenerArn"]
    assert listeners[TEST_LISTENER_PORT]["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": green}]


def test_listener_rules_send_backend_paths_to_the_backend_pair(local: Core) -> None:
    elb = local.client("elbv2")
    blue, green = local.out["BackendBlueTargetGroupArn"], local.out["BackendGreenTargetGroupArn"]
    paths = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/admin/*", "/health/*",
                                                                        "/static/*"]}}]
    prod = [r for r in elb.describe_rules(ListenerArn=local.out["ProdListenerArn"])["Rules"] if not r["IsDefault"]]
    test = [r for r in elb.describe_rules(ListenerArn=local.out["TestListenerArn"])["Rules"] if not r["IsDefault"]]
    assert [(r["RuleArn"], r["Priority"], r["Conditions"]) for r in prod] == [
        (local.out["BackendProdRuleArn"], "10", paths)]
    assert {t["TargetGroupArn"]: t["Weight"] for t in prod[0]["Actions"][0]["ForwardConfig"]["TargetGroups"]} == {
        blue: 100, green: 0}
    assert [(r["RuleArn"], r["Priority"], r["Conditions"]) for r in test] == [
        (local.out["BackendTestRuleArn"], "10", paths)]
    assert test[0]["Actions"] == [{"Type": "forward", "TargetGroupArn": green}]


# ----------------------------------------------------------------------------------------------------------------- data
def test_database_is_encrypted_gp3_postgres_with_minor_upgrades_in_the_data_subnets(local: Core) -> None:
    db = _db(local, local.out["DbInstanceId"])
    assert (db["Engine"], db["EngineVersion"], db["DBInstanceClass"]) == ("postgres", "16", "db.t4g.medium")
    assert (db["StorageType"], db["AllocatedStorage"], db["StorageEncrypted"]) == ("gp3", 20, True)
    assert db["KmsKeyId"] == local.out["DatabaseKmsKeyArn"]
    assert db["AutoMinorVersionUpgrade"] is True
    assert db["PubliclyAccessible"] is False
    assert (db["MultiAZ"], db["BackupRetentionPeriod"], db["ReadReplicaDBInstanceIdentifiers"]) == (False, 7, [])
    assert (db["PreferredBackupWindow"], db["PreferredMaintenanceWindow"]) == ("02:00-03:00", "sun:03:30-sun:04:30")
    assert db["CopyTagsToSnapshot"] is True
    assert (db["DBName"], db["MasterUsername"]) == ("safejob", "safejob_admin")
    assert _tags({"Tags": db["TagList"]})["safejob:backup"] == "safejob-local"  # what AWS Backup selects
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == local.out["DbSubnetGroupName"] == "safejob-local-data"
    assert sorted(s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]) == sorted(
        local.out["DataSubnetIds"].split(","))
    assert [g["DBParameterGroupName"] for g in db["DBParameterGroups"]] == [local.out["DbParameterGroupName"]]
    assert local.out["DbReplicaId"] == ""


def test_parameter_group_logs_ddl_and_slow_statements_and_forces_tls(local: Core) -> None:
    rds = local.client("rds")
    name = local.out["DbParameterGroupName"]
    group = rds.describe_db_parameter_groups(DBParameterGroupName=name)["DBParameterGroups"][0]
    parameters = {p["ParameterName"]: p["ParameterValue"]
                  for p in rds.describe_db_parameters(DBParameterGroupName=name)["Parameters"]}
    assert group["DBParameterGroupFamily"] == "postgres16"
    assert parameters == {"log_statement": "ddl", "log_min_duration_statement": "1000", "rds.force_ssl": "1",
                          "shared_preload_libraries": "pg_stat_statements"}


def test_buckets_are_encrypted_media_with_the_general_key(local: Core) -> None:
    s3 = local.client("s3")

    def default_encryption(bucket: str) -> dict[str, Any]:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        return dict(rules[0]["ApplyServerSideEncryptionByDefault"])

    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    media, static, logs = (local.out[f"{k}BucketName"] for k in ("Media", "Static", "Log"))
    assert {media, static, logs} <= existing
    assert default_encryption(media) == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": local.out["GeneralKmsKeyArn"]}
    # SSE-S3 where the writer cannot use a KMS key (ALB/S3 access logs) or the content is public (the SPA)
    assert default_encryption(static) == {"SSEAlgorithm": "AES256"}
    assert default_encryption(logs) == {"SSEAlgorithm": "AES256"}
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=media)["TagSet"]} == {
        "safejob:backup": "safejob-local"}


# ------------------------------------------------------------------------------------------------------------- security
def test_kms_keys_rotate_and_answer_describe_key(local: Core) -> None:
    kms = local.client("kms")
    aliases = {a["AliasName"]: a.get("TargetKeyId")
               for page in kms.get_paginator("list_aliases").paginate() for a in page["Aliases"]}
    for output, alias in (("GeneralKmsKeyArn", "alias/safejob-local-general"),
                          ("DatabaseKmsKeyArn", "alias/safejob-local-database")):
        metadata = kms.describe_key(KeyId=local.out[output])["KeyMetadata"]
        assert (metadata["KeyState"], metadata["KeyManager"], metadata["KeySpec"], metadata["KeyUsage"]) == (
            "Enabled", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), output
        assert kms.get_key_rotation_status(KeyId=metadata["KeyId"])["KeyRotationEnabled"] is True, output
        policy = json.loads(kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"])
        assert policy["Statement"][0]["Sid"] == "AccountAdministers", output
        assert aliases[alias] == metadata["KeyId"], output


def test_each_consumer_has_its_own_role_trusting_only_its_service(local: Core) -> None:
    same_account = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    trusted = {
        ("ComputeStack", "BackendExecutionRole"): ("ecs-tasks.amazonaws.com", same_account),
        ("ComputeStack", "FrontendExecutionRole"): ("ecs-tasks.amazonaws.com", same_account),
        ("ComputeStack", "BackendTaskRole"): ("ecs-tasks.amazonaws.com", same_account),
        ("ComputeStack", "MigrateTaskRole"): ("ecs-tasks.amazonaws.com", same_account),
        ("DataStack", "MonitoringRole"): ("monitoring.rds.amazonaws.com", same_account),
        ("ObservabilityStack", "FlowLogRole"): ("vpc-flow-logs.amazonaws.com", same_account),
        ("ObservabilityStack", "CanaryRole"): ("lambda.amazonaws.com", None),
        ("BackupStack", "BackupRole"): ("backup.amazonaws.com", same_account),
    }
    for (nested, logical_id), (service, condition) in trusted.items():
        (statement,) = _role(local, nested, logical_id)["AssumeRolePolicyDocument"]["Statement"]
        assert (statement["Principal"], statement["Action"]) == ({"Service": service}, "sts:AssumeRole"), logical_id
        assert statement.get("Condition") == condition, logical_id
    assert local.out["BackendTaskRoleArn"].endswith("/" + local.resources["ComputeStack"]["BackendTaskRole"])
    assert local.out["BackendExecutionRoleArn"].endswith(
        "/" + local.resources["ComputeStack"]["BackendExecutionRole"])


def test_backend_task_role_reaches_the_deployed_media_bucket_and_key_only(local: Core) -> None:
    role = local.resources["ComputeStack"]["BackendTaskRole"]
    statements = {s["Sid"]: s for s in _inline_policy(local, role, "media-email-traces")["Statement"]}
    media = f"arn:aws:s3:::{local.out['MediaBucketName']}"
    assert statements["ListMedia"]["Resource"] == media
    assert statements["ReadWriteMedia"]["Resource"] == f"{media}/*"
    assert statements["MediaKey"]["Resource"] == local.out["GeneralKmsKeyArn"]
    assert statements["MediaKey"]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_github_deploy_role_trusts_only_its_repository_environment(local: Core) -> None:
    (statement,) = _role(local, "DeliveryStack", "GitHubDeployRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # The OIDC provider is a type moto ignores: the principal is its placeholder, in an account the provider ARN.
    assert statement["Principal"] == {"Federated": "githuboidcprovider-emulated"}
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": f"repo:{LOCAL_PARAMETERS['GitHubRepository']}:environment:local"}}
    assert local.out["GitHubDeployRoleArn"].endswith("/" + local.resources["DeliveryStack"]["GitHubDeployRole"])


def test_ops_workflows_get_managed_policies_scoped_to_the_deployed_resources(local: Core) -> None:
    iam = local.client("iam")
    policy = iam.get_policy(PolicyArn=local.out["DeployOpsPolicyArn"])["Policy"]
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"]["Document"]
    resources = json.dumps(document)
    compute = local.resources["ComputeStack"]
    for service in ("BackendBlueService", "BackendGreenService", "FrontendBlueService", "FrontendGreenService"):
        assert compute[service] in resources
    for workflow in ("Deploy", "Migrate", "RestoreVerify", "CostGuard", "AlarmRoute"):
        assert iam.get_policy(PolicyArn=local.out[f"{workflow}OpsPolicyArn"])["Policy"]["IsAttachable"]


# ------------------------------------------------------------------------------------------------------------- delivery
def test_ecr_repositories_are_per_environment_with_immutable_tags(local: Core) -> None:
    ecr = local.client("ecr")
    names = [local.out["BackendRepositoryName"], local.out["FrontendRepositoryName"]]
    repositories = {r["repositoryName"]: r for r in ecr.describe_repositories(repositoryNames=names)["repositories"]}
    assert set(repositories) == {"safejob/local/backend", "safejob/local/frontend"}
    for name, repository in repositories.items():
        assert repository["imageTagMutability"] == "IMMUTABLE", name
    assert repositories["safejob/local/backend"]["repositoryUri"] == local.out["BackendRepositoryUri"]
    assert repositories["safejob/local/frontend"]["repositoryUri"] == local.out["FrontendRepositoryUri"]


# -------------------------------------------------------------------------------------------------------- observability
def test_log_groups_keep_the_environments_retention(local: Core) -> None:
    groups = _core_log_groups(local)
    retention = {logical_id: g.get("retentionInDays") for logical_id, g in groups.items()}
    # Every group follows the environment: 7 days outside production.
    assert retention == {"BackendLogGroup": 7, "FrontendLogGroup": 7, "MigrateLogGroup": 7, "FlowLogGroup": 7,
                         "WafLogGroup": 7, "CacheSlowLogGroup": 7}
    assert local.resources["SecurityStack"]["WafLogGroup"] == "aws-waf-logs-safejob-local"  # WAF's required prefix


def test_dashboard_body_is_json_with_the_deployed_names(local: Core) -> None:
    cloudwatch = local.client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName=local.out["DashboardName"])["DashboardBody"])
    titles = [w["properties"].get("title") for w in body["widgets"] if w["type"] == "metric"]
    text = json.dumps(body)
    assert len(titles) >= 10
    assert {"Requests and 5xx", "Latency p50 / p95 / p99 (s)", "Running tasks"} <= set(titles)
    for deployed in (local.out["ClusterName"], local.out["DbInstanceId"], local.out["BackendBlueServiceName"]):
        assert deployed in text
    assert "${" not in text


def test_topics_are_encrypted_with_the_general_key(local: Core) -> None:
    sns = local.client("sns")
    for output in ("AlarmTopicArn", "NotificationTopicArn"):
        attributes = sns.get_topic_attributes(TopicArn=local.out[output])["Attributes"]
        assert attributes["KmsMasterKeyId"] == local.out["GeneralKmsKeyArn"], output


def test_only_the_documented_outputs_carry_emulated_placeholders(local: Core) -> None:
    emulated = {key for key, value in local.out.items() if "emulated" in value}
    assert emulated == EMULATED_OUTPUTS


# ----------------------------------------------------------------------------------------------------------- production
def test_production_database_is_multi_az_with_a_read_replica(local: Core, production: Core) -> None:
    primary = _db(production, production.out["DbInstanceId"])
    replica = _db(production, production.out["DbReplicaId"])
    assert (primary["DBInstanceIdentifier"], replica["DBInstanceIdentifier"]) == (
        "safejob-production-db", "safejob-production-db-replica")
    assert primary["MultiAZ"] is True
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == primary["DBInstanceIdentifier"]
    assert primary["ReadReplicaDBInstanceIdentifiers"] == [replica["DBInstanceIdentifier"]]
    # The replica upgrades minor versions like its primary, and keeps its storage, key and parameters
    assert replica["AutoMinorVersionUpgrade"] is True
    assert (replica["StorageType"], replica["KmsKeyId"]) == ("gp3", production.out["DatabaseKmsKeyArn"])
    assert replica["DBParameterGroups"] == primary["DBParameterGroups"]
    assert (primary["BackupRetentionPeriod"], _db(local, local.out["DbInstanceId"])["BackupRetentionPeriod"]) == (
        30, 7)
    # Staging and local: neither Multi-AZ nor a replica
    assert not local.client("rds").describe_db_instances(
        Filters=[{"Name": "db-instance-id", "Values": ["safejob-local-db-replica"]}])["DBInstances"]


def test_production_runs_a_nat_gateway_per_az_and_each_app_table_uses_its_own(production: Core) -> None:
    ec2 = production.client("ec2")
    nats = _nat_gateways(production)
    public = production.out["PublicSubnetIds"].split(",")
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [production.out["VpcId"]]}])["Subnets"]}
    tables = _route_tables(production)
    assert len(subnets) == 9  # AvailabilityZoneCount=3: three tiers in three AZs
    assert sorted(n["SubnetId"] for n in nats) == sorted(public)
    nat_by_az = {subnets[n["SubnetId"]]["AvailabilityZone"]: n["NatGatewayId"] for n in nats}
    assert len(nat_by_az) == 3
    app_subnets = production.out["AppSubnetIds"].split(",")
    for index, subnet in enumerate(app_subnets, start=1):
        route = _default_route(tables[f"AppRouteTable{index}"])
        assert route is not None
        assert route["NatGatewayId"] == nat_by_az[subnets[subnet]["AvailabilityZone"]], subnet
    # AND the test listener admits each NAT address, and no other
    alb = production.outputs["SecurityStack"]["LoadBalancerSecurityGroupId"]
    test_port = {rule for rule in _ingress(production, alb) if rule[1] == TEST_LISTENER_PORT}
    nat_addresses = {f"{n['NatGatewayAddresses'][0]['PublicIp']}/32" for n in nats}
    assert test_port == {("tcp", TEST_LISTENER_PORT, TEST_LISTENER_PORT, cidr) for cidr in nat_addresses}


def test_production_keeps_logs_30_days(production: Core) -> None:
    retention = {logical_id: g.get("retentionInDays") for logical_id, g in _core_log_groups(production).items()}
    assert set(retention.values()) == {30}
    assert len(retention) == 6
    ops_group = production.stack.resources["AlarmRouteStateMachineLogGroup"]
    assert production.client("logs").describe_log_groups(logGroupNamePrefix=ops_group)["logGroups"][0][
        "retentionInDays"] == 30


def test_production_replicates_media_to_the_dr_region_and_uses_its_domain(local: Core, production: Core) -> None:
    # With the DR parameters, S3 gets a replication role trusting S3 only (moto drops the bucket's replication
    # configuration, and ignores the separate AWS::IAM::RolePolicy that grants it the replica bucket).
    role = _role(production, "DataStack", "MediaReplicationRole")
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert "MediaReplicationRole" not in local.resources["DataStack"]
    # With a domain (and a CloudFront certificate issued in us-east-1) the public URL is the domain
    assert production.out["PublicUrl"] == "https://safejob.example.com"
    assert production.out["ClusterName"] == "safejob-production"
    assert production.out["BackendRepositoryName"] == "safejob/production/backend"


# ------------------------------------------------------------------------------------------------------------ moto gaps
def test_moto_still_drops_these_core_properties_which_static_checks_cover(production: Core) -> None:
    """moto's CloudFormation creates these resources but drops the properties below; cfn-lint, checkov and
    tests/unit/core check them in the templates instead (docs/local-aws.md lists which). If an assertion here
    fails, moto (or a new bridge in moto_gaps.py) now keeps that property: assert the real value in the tests
    above and remove the line here. (Read from this module's production stack, which no other test changes.)"""
    core = production
    ec2, ecs, elb = core.client("ec2"), core.client("ecs"), core.client("elbv2")
    # EC2: EnableDnsHostnames; subnet-route-table associations (moto stores them out of DescribeRouteTables' sight);
    # every egress rule (inline SecurityGroupEgress and AWS::EC2::SecurityGroupEgress): moto keeps allow-all.
    vpc = core.out["VpcId"]
    assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")["EnableDnsHostnames"] == {
        "Value": False}
    assert all(t["Associations"] == [] for name, t in _route_tables(core).items() if name != "main")
    backend_group = core.outputs["SecurityStack"]["BackendServiceSecurityGroupId"]
    egress = ec2.describe_security_groups(GroupIds=[backend_group])["SecurityGroups"][0]["IpPermissionsEgress"]
    assert [(e["IpProtocol"], [r["CidrIp"] for r in e["IpRanges"]]) for e in egress] == [("-1", ["0.0.0.0/0"])]
    # ECS: cluster settings and capacity providers; the services' launch type, capacity provider strategy,
    # network configuration and circuit breaker; the task definitions' arm64 platform, awsvpc mode,
    # FARGATE compatibility, task CPU and both roles.
    cluster = ecs.describe_clusters(clusters=[core.out["ClusterName"]], include=["SETTINGS"])["clusters"][0]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    service = ecs.describe_services(cluster=core.out["ClusterName"],
                                    services=[core.out["BackendBlueServiceName"]])["services"][0]
    assert (service["launchType"], service["networkConfiguration"]) == ("EC2", {})
    assert "capacityProviderStrategy" not in service
    assert "deploymentConfiguration" not in service
    backend = _task_definition(core, "BackendTaskDefinition")
    assert (backend["networkMode"], backend["compatibilities"]) == ("bridge", ["EC2"])
    assert not {"runtimePlatform", "cpu", "executionRoleArn", "taskRoleArn", "requiresCompatibilities"} & set(backend)
    # ELBv2: every load balancer and target group attribute (access logs, drop invalid headers, deletion
    # protection, deregistration delay 30), and target group tags; LoadBalancerFullName is a placeholder.
    attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
        LoadBalancerArn=core.out["LoadBalancerArn"])["Attributes"]}
    assert (attributes["access_logs.s3.bucket"], attributes["deletion_protection.enabled"]) == ("", "false")
    assert "routing.http.drop_invalid_header_fields.enabled" not in attributes
    group = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
        TargetGroupArn=core.out["BackendBlueTargetGroupArn"])["Attributes"]}
    assert group["deregistration_delay.timeout_seconds"] == "300"
    # RDS: deletion protection, Performance Insights, enhanced monitoring, IAM auth, log exports, the VPC security
    # group (moto reads VpcSecurityGroupIds, not VPCSecurityGroups) and the port (3306).
    primary = _db(core, core.out["DbInstanceId"])
    assert (primary["DeletionProtection"], primary["MonitoringInterval"]) == (False, 0)
    assert (primary["IAMDatabaseAuthenticationEnabled"], primary["EnabledCloudwatchLogsExports"]) == (False, [])
    assert "PerformanceInsightsEnabled" not in primary
    assert primary["Endpoint"]["Port"] == 3306
    assert [g["VpcSecurityGroupId"] for g in primary["VpcSecurityGroups"]] != [
        core.outputs["SecurityStack"]["DatabaseSecurityGroupId"]]
    # S3: only encryption and tags are kept; versioning, public access block, lifecycle, logging, ownership and
    # replication are dropped (and BucketKeyEnabled).
    s3 = core.client("s3")
    media = core.out["MediaBucketName"]
    assert "Status" not in s3.get_bucket_versioning(Bucket=media)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchPublicAccessBlockConfiguration"):
        s3.get_public_access_block(Bucket=media)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchLifecycleConfiguration"):
        s3.get_bucket_lifecycle_configuration(Bucket=media)
    with pytest.raises(s3.exceptions.ClientError, match="ReplicationConfigurationNotFoundError"):
        s3.get_bucket_replication(Bucket=media)
    # ECR: scan on push, KMS encryption, lifecycle policy. Logs: the KMS key. IAM: managed policy ARNs on roles.
    ecr = core.client("ecr")
    repository = ecr.describe_repositories(repositoryNames=[core.out["BackendRepositoryName"]])["repositories"][0]
    assert (repository["imageScanningConfiguration"], repository["encryptionConfiguration"]) == ({}, {})
    with pytest.raises(ecr.exceptions.LifecyclePolicyNotFoundException):
        ecr.get_lifecycle_policy(repositoryName=core.out["BackendRepositoryName"])
    assert not any("kmsKeyId" in g for g in _core_log_groups(core).values())
    monitoring = core.resources["DataStack"]["MonitoringRole"]
    assert core.client("iam").list_attached_role_policies(RoleName=monitoring)["AttachedPolicies"] == []
