"""Staging and production differ only through parameters and conditions; render both and compare.

The root decides (IsProduction) and passes explicit knobs down; child stacks never branch on the name.
"""

from __future__ import annotations

from typing import Any

from cfn_eval import RenderedStack, walk


def _resource(env: dict[str, RenderedStack], stack: str, logical_id: str) -> dict[str, Any]:
    return env[stack].resources[logical_id].properties


def _count(env: dict[str, RenderedStack], resource_type: str) -> int:
    return sum(len(s.of_type(resource_type)) for s in env.values())


def _alb_attribute(env: dict[str, RenderedStack], key: str) -> str:
    attributes = _resource(env, "EdgeStack", "LoadBalancer")["LoadBalancerAttributes"]
    return str(next(a["Value"] for a in attributes if a["Key"] == key))


def test_database_is_multi_az_with_a_replica_only_in_production(
    staging: dict[str, RenderedStack], production: dict[str, RenderedStack]
) -> None:
    # GIVEN both renderings
    # THEN production is Multi-AZ with a replica and staging is neither
    assert _resource(production, "DataStack", "DatabaseInstance")["MultiAZ"] is True
    assert "DatabaseReplica" in production["DataStack"].resources
    assert _resource(staging, "DataStack", "DatabaseInstance")["MultiAZ"] is False
    assert "DatabaseReplica" not in staging["DataStack"].resources
    # AND the replica lag alarm exists only where the replica does
    assert "DbReplicaLagAlarm" in production["ObservabilityStack"].resources
    assert "DbReplicaLagAlarm" not in staging["ObservabilityStack"].resources


def test_nat_gateways_are_one_per_az_in_production_and_one_in_staging(
    staging: dict[str, RenderedStack],
    production: dict[str, RenderedStack],
    production_2az: dict[str, RenderedStack],
) -> None:
    # THEN staging shares one NAT gateway; production has one per AZ
    assert _count(staging, "AWS::EC2::NatGateway") == 1
    assert _count(production_2az, "AWS::EC2::NatGateway") == 2
    assert _count(production, "AWS::EC2::NatGateway") == 3
    # AND in production each app subnet routes through the NAT gateway of its own AZ
    routes = [
        r.properties for r in production["NetworkStack"].of_type("AWS::EC2::Route") if "NatGatewayId" in r.properties
    ]
    assert sorted((r["RouteTableId"], r["NatGatewayId"]) for r in routes) == [
        (f"<AppRouteTable{i}>", f"<NatGateway{i}>") for i in (1, 2, 3)
    ]


def test_retention_is_30_days_in_production_and_7_in_staging(
    staging: dict[str, RenderedStack], production: dict[str, RenderedStack]
) -> None:
    for env, days in ((staging, 7), (production, 30)):
        # GIVEN every log group, the RDS backups and the backup plan
        retention = {
            str(r.properties["RetentionInDays"]) for s in env.values() for r in s.of_type("AWS::Logs::LogGroup")
        }
        plan_rules = _resource(env, "BackupStack", "BackupPlan")["BackupPlan"]["BackupPlanRule"]
        # THEN each follows the environment
        assert retention == {str(days)}
        assert str(_resource(env, "DataStack", "DatabaseInstance")["BackupRetentionPeriod"]) == str(days)
        assert {str(r["Lifecycle"]["DeleteAfterDays"]) for r in plan_rules} == {str(days)}


def test_deletion_protection_only_in_production(
    staging: dict[str, RenderedStack], production: dict[str, RenderedStack]
) -> None:
    assert _resource(production, "DataStack", "DatabaseInstance")["DeletionProtection"] is True
    assert _resource(staging, "DataStack", "DatabaseInstance")["DeletionProtection"] is False
    assert _alb_attribute(production, "deletion_protection.enabled") == "true"
    assert _alb_attribute(staging, "deletion_protection.enabled") == "false"


def test_spot_capacity_only_in_staging(staging: dict[str, RenderedStack], production: dict[str, RenderedStack]) -> None:
    # GIVEN the cluster and the services of both renderings
    for env, providers in ((staging, ["FARGATE", "FARGATE_SPOT"]), (production, ["FARGATE"])):
        cluster = _resource(env, "ComputeStack", "Cluster")
        services = env["ComputeStack"].of_type("AWS::ECS::Service")
        # THEN Spot is offered to staging only, in the cluster and in every service's strategy
        assert cluster["CapacityProviders"] == providers
        for service in services:
            assert [s["CapacityProvider"] for s in service.properties["CapacityProviderStrategy"]] == providers
            # with at least one on-demand task so a Spot reclaim never empties a service
            assert service.properties["CapacityProviderStrategy"][0].get("Base", 0) >= (1 if len(providers) > 1 else 0)


def test_vault_lock_and_dr_copies_follow_parameters(
    staging: dict[str, RenderedStack], production: dict[str, RenderedStack]
) -> None:
    prod_vault = _resource(production, "BackupStack", "BackupVault")
    prod_rules = _resource(production, "BackupStack", "BackupPlan")["BackupPlan"]["BackupPlanRule"]
    staging_rules = _resource(staging, "BackupStack", "BackupPlan")["BackupPlan"]["BackupPlanRule"]
    assert "LockConfiguration" in prod_vault
    assert "LockConfiguration" not in _resource(staging, "BackupStack", "BackupVault")
    assert any("CopyActions" in r for r in prod_rules)
    assert not any("CopyActions" in r for r in staging_rules)
    assert any(r.get("EnableContinuousBackup") for r in prod_rules)
    assert "ReplicationConfiguration" in _resource(production, "DataStack", "MediaBucket")


def test_cost_guard_may_take_staging_off_hours_but_never_production(
    staging: dict[str, RenderedStack], production: dict[str, RenderedStack]
) -> None:
    def actions(env: dict[str, RenderedStack]) -> set[str]:
        doc = _resource(env, "OpsAccessStack", "CostGuardOpsPolicy")["PolicyDocument"]
        return {a for s in doc["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}

    assert {"rds:StopDBInstance", "ecs:UpdateService"} <= actions(staging)
    assert not {"rds:StopDBInstance", "ecs:UpdateService"} & actions(production)


def test_child_stacks_never_branch_on_the_environment_name(templates: dict[str, dict[str, Any]]) -> None:
    # GIVEN every child template's Conditions
    # WHEN we look for references to EnvironmentName inside them
    branching = {
        name: [
            c
            for c, expr in t.get("Conditions", {}).items()
            if any(v == {"Ref": "EnvironmentName"} for _, v in walk(expr))
        ]
        for name, t in templates.items()
    }
    # THEN none: the root turns the environment into explicit knobs
    assert {k: v for k, v in branching.items() if v} == {}
