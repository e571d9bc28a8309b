"""The original plan's defects, each with a check that would catch it coming back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cfn_eval import STACKS_DIR, RenderedStack, walk

DIGEST_PATTERN = r"^.+@sha256:[a-f0-9]{64}$"


def _all(env: dict[str, RenderedStack], resource_type: str) -> list[Any]:
    return [r for s in env.values() for r in s.of_type(resource_type)]


def _containers(env: dict[str, RenderedStack]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (td.logical_id, c)
        for td in _all(env, "AWS::ECS::TaskDefinition")
        for c in td.properties["ContainerDefinitions"]
    ]


# ---------------------------------------------------------------- invalid configuration
def test_no_waf_rule_has_both_action_and_override_action(production: dict[str, RenderedStack]) -> None:
    # GIVEN the web ACL rules
    rules = [rule for acl in _all(production, "AWS::WAFv2::WebACL") for rule in acl.properties["Rules"]]
    # THEN each has exactly one of Action (plain rules) or OverrideAction (managed rule groups)
    for rule in rules:
        assert ("Action" in rule) != ("OverrideAction" in rule), rule["Name"]
        managed = "ManagedRuleGroupStatement" in rule["Statement"]
        assert ("OverrideAction" in rule) == managed, rule["Name"]
    # AND the rate rule blocks an IP over 2000 requests per 5 minutes, next to the four AWS managed groups
    rate = next(r for r in rules if "RateBasedStatement" in r["Statement"])
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {
        "Limit": "2000",
        "EvaluationWindowSec": 300,
        "AggregateKeyType": "IP",
    }
    assert {r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in rules if "OverrideAction" in r} == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }


def test_services_use_real_deployment_settings_and_no_launch_type(staging: dict[str, RenderedStack]) -> None:
    services = _all(staging, "AWS::ECS::Service")
    assert len(services) == 4
    for service in services:
        props = service.properties
        # a launch type alongside capacity providers is rejected by ECS
        assert "LaunchType" not in props
        assert props["CapacityProviderStrategy"]
        # DeploymentConfiguration carries only real keys, with the circuit breaker rolling back
        assert set(props["DeploymentConfiguration"]) <= {
            "MinimumHealthyPercent",
            "MaximumPercent",
            "DeploymentCircuitBreaker",
            "Alarms",
        }
        assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        assert not any(re.search(r"_|deployment_configuration", str(k)) for k in props)


def test_everything_the_plan_referenced_is_defined(production: dict[str, RenderedStack]) -> None:
    # GIVEN the plan referenced ECR, ALB, target groups, listeners, service discovery, the RDS monitoring role,
    # Redis and the media bucket without defining them
    declared = {(s.name, r.logical_id, r.type) for s in production.values() for r in s.resources.values()}
    needed = {
        ("DeliveryStack", "BackendRepository", "AWS::ECR::Repository"),
        ("EdgeStack", "LoadBalancer", "AWS::ElasticLoadBalancingV2::LoadBalancer"),
        ("EdgeStack", "BackendBlueTargetGroup", "AWS::ElasticLoadBalancingV2::TargetGroup"),
        ("EdgeStack", "HttpsListener", "AWS::ElasticLoadBalancingV2::Listener"),
        ("ComputeStack", "ServiceDiscoveryNamespace", "AWS::ServiceDiscovery::PrivateDnsNamespace"),
        ("DataStack", "MonitoringRole", "AWS::IAM::Role"),
        ("DataStack", "CacheReplicationGroup", "AWS::ElastiCache::ReplicationGroup"),
        ("DataStack", "MediaBucket", "AWS::S3::Bucket"),
    }
    # THEN each is defined here (and the renderer raised if any Ref pointed at something undefined)
    assert needed <= declared


# ---------------------------------------------------------------- security
def test_postgres_logs_ddl_not_every_statement(production: dict[str, RenderedStack]) -> None:
    params = production["DataStack"].resources["DatabaseParameterGroup"].properties["Parameters"]
    assert params["log_statement"] == "ddl"
    assert params["log_min_duration_statement"] == "1000"
    assert params["rds.force_ssl"] == "1"
    assert "pg_stat_statements" in params["shared_preload_libraries"]


def test_no_credentials_in_parameters_or_plain_environment(
    templates: dict[str, dict[str, Any]], root_wiring: dict[str, Any], production: dict[str, RenderedStack]
) -> None:
    # GIVEN every template parameter
    names = [n for t in [*templates.values(), root_wiring] for n in t.get("Parameters", {})]
    # THEN none carries a credential (ARNs of secrets are fine)
    suspicious = [
        n for n in names if re.search(r"password|secretkey|token|database_?url", n, re.I) and not n.endswith("Arn")
    ]
    assert suspicious == []
    # AND containers get credentials only through Secrets, never as plain environment values
    for _, container in _containers(production):
        for variable in container.get("Environment", []):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL", variable["Name"]), variable
            assert "://" not in str(variable["Value"]) or "@" not in str(variable["Value"]), variable
        for secret in container.get("Secrets", []):
            assert str(secret["ValueFrom"]).startswith("<"), secret  # a Secrets Manager ARN, from a stack output


def test_port_80_only_redirects_to_https(production: dict[str, RenderedStack]) -> None:
    listeners = _all(production, "AWS::ElasticLoadBalancingV2::Listener")
    http = [x.properties for x in listeners if x.properties["Protocol"] == "HTTP"]
    assert http == [{**http[0], "Port": 80}]
    assert http[0]["DefaultActions"] == [
        {
            "Type": "redirect",
            "RedirectConfig": {
                "Protocol": "HTTPS",
                "Port": "443",
                "Host": "#{host}",
                "Path": "/#{path}",
                "Query": "#{query}",
                "StatusCode": "HTTP_301",
            },
        }
    ]
    for listener in listeners:
        if listener.properties["Protocol"] == "HTTPS":
            assert listener.properties["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-")


def test_no_security_group_opens_all_egress(production: dict[str, RenderedStack]) -> None:
    # GIVEN every egress rule, inline or standalone
    rules = [
        e for sg in _all(production, "AWS::EC2::SecurityGroup") for e in sg.properties.get("SecurityGroupEgress", [])
    ]
    rules += [r.properties for r in _all(production, "AWS::EC2::SecurityGroupEgress")]
    # THEN none allows all protocols anywhere but the loopback placeholder, and none opens a port range
    for rule in rules:
        if str(rule["IpProtocol"]) == "-1":
            assert rule.get("CidrIp") == "127.0.0.1/32", rule
        else:
            assert rule["FromPort"] == rule["ToPort"], rule
    # AND every group replaces the default allow-all egress
    assert all(sg.properties.get("SecurityGroupEgress") for sg in _all(production, "AWS::EC2::SecurityGroup"))


def test_every_kms_key_rotates(environment: dict[str, RenderedStack], templates: dict[str, dict[str, Any]]) -> None:
    keys = [r.properties for r in _all(environment, "AWS::KMS::Key")]
    keys += [r["Properties"] for r in templates["dr"]["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    assert len(keys) >= 3
    assert all(k["EnableKeyRotation"] is True for k in keys)


# ---------------------------------------------------------------- reliability
def test_no_snapshot_identifier_that_changes_per_deploy(templates: dict[str, dict[str, Any]]) -> None:
    # GIVEN the database resources
    databases = [
        (n, r) for t in templates.values() for n, r in t["Resources"].items() if r["Type"] == "AWS::RDS::DBInstance"
    ]
    # THEN CloudFormation names the final snapshot (DeletionPolicy Snapshot); nothing builds one from a timestamp
    for name, resource in databases:
        assert resource["DeletionPolicy"] == "Snapshot", name
        assert not {"DBSnapshotIdentifier", "FinalDBSnapshotIdentifier"} & set(resource["Properties"]), name
    snapshot_names = [
        path
        for t in templates.values()
        for path, _ in walk(t["Resources"])
        if path and "SnapshotIdentifier" in str(path[-1])
    ]
    assert snapshot_names == []


def test_images_deploy_by_digest_never_by_tag(
    templates: dict[str, dict[str, Any]], root_wiring: dict[str, Any]
) -> None:
    # GIVEN every container image and the parameter it comes from
    compute = templates["compute"]
    images = [
        c["Image"]
        for td in compute["Resources"].values()
        if td["Type"] == "AWS::ECS::TaskDefinition"
        for c in td["Properties"]["ContainerDefinitions"]
    ]
    # THEN each is a parameter constrained to a digest reference, at the child and at the root
    for image in images:
        parameter = image["Ref"]
        assert compute["Parameters"][parameter]["AllowedPattern"] == DIGEST_PATTERN
        assert root_wiring["Parameters"][parameter]["AllowedPattern"] == DIGEST_PATTERN
    # AND the pattern accepts a digest and rejects tags, :latest included
    assert re.fullmatch(DIGEST_PATTERN, "123.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "ab" * 32)
    for tagged in ("app:latest", "app", "app:1.2.3", "app@sha256:short"):
        assert not re.fullmatch(DIGEST_PATTERN, tagged)
    assert ":latest" not in "\n".join(p.read_text() for p in STACKS_DIR.glob("*.yaml"))


def test_engine_version_is_major_only_and_minor_upgrades_match(
    templates: dict[str, dict[str, Any]], production: dict[str, RenderedStack]
) -> None:
    data = templates["data"]
    assert data["Resources"]["DatabaseInstance"]["Properties"]["EngineVersion"] == {"Ref": "DbEngineMajorVersion"}
    assert data["Parameters"]["DbEngineMajorVersion"]["AllowedPattern"] == r"^\d{2}$"
    primary = production["DataStack"].resources["DatabaseInstance"].properties
    replica = production["DataStack"].resources["DatabaseReplica"].properties
    assert primary["AutoMinorVersionUpgrade"] is True
    assert replica["AutoMinorVersionUpgrade"] == primary["AutoMinorVersionUpgrade"]
    assert replica["DBParameterGroupName"] == primary["DBParameterGroupName"]


def test_health_checks_need_no_curl(production: dict[str, RenderedStack]) -> None:
    checks = {name: c["HealthCheck"]["Command"] for name, c in _containers(production) if "HealthCheck" in c}
    assert "BackendTaskDefinition" in checks
    for command in checks.values():
        assert not any(re.search(r"\b(curl|wget)\b", str(part)) for part in command), command


def test_every_traced_task_ships_an_xray_daemon(production: dict[str, RenderedStack]) -> None:
    for td in _all(production, "AWS::ECS::TaskDefinition"):
        containers = {c["Name"]: c for c in td.properties["ContainerDefinitions"]}
        traced = any(
            v["Name"] == "AWS_XRAY_DAEMON_ADDRESS" for c in containers.values() for v in c.get("Environment", [])
        )
        if traced:
            daemon = containers["xray-daemon"]
            assert {"ContainerPort": 2000, "Protocol": "udp"} in daemon["PortMappings"]
            assert str(daemon["Image"]).endswith("@" + "sha256:" + "0" * 64)


def test_containers_are_arm64_non_root_and_read_only(production: dict[str, RenderedStack]) -> None:
    for td in _all(production, "AWS::ECS::TaskDefinition"):
        assert td.properties["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
        for container in td.properties["ContainerDefinitions"]:
            assert container["ReadonlyRootFilesystem"] is True, container["Name"]
            assert container["User"] not in ("0", "root", "0:0"), container["Name"]


# ---------------------------------------------------------------- cost
@pytest.mark.parametrize(("fixture", "expected"), [("staging", 1), ("production_2az", 2), ("production", 3)])
def test_nat_count_per_environment(request: pytest.FixtureRequest, fixture: str, expected: int) -> None:
    env: dict[str, RenderedStack] = request.getfixturevalue(fixture)
    assert len(_all(env, "AWS::EC2::NatGateway")) == expected


def test_no_rds_resource_pins_a_minor_version(environment: dict[str, RenderedStack]) -> None:
    versions = [r.properties.get("EngineVersion") for r in _all(environment, "AWS::RDS::DBInstance")]
    assert versions[0] == "16"
    assert all(v is None or "." not in str(v) for v in versions)
