"""Every stateful resource survives deletion and replacement: DeletionPolicy/UpdateReplacePolicy Snapshot|Retain.

The stateful types come from cfn-lint's own list (StatefulResources.json) plus ours, so a type added to a
template later is caught without anyone remembering to extend this test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cfnlint.data.AdditionalSpecs
import pytest

# Types cfn-lint does not list but that hold data we cannot regenerate.
EXTRA_STATEFUL_TYPES = {
    "AWS::ECR::Repository",  # released images, deployed by digest
    "AWS::Backup::BackupVault",  # recovery points
    "AWS::Logs::LogGroup",  # audit data (flow logs, WAF logs, app logs)
    "AWS::SecretsManager::Secret",  # the Django key signs sessions; losing it logs everyone out
    "AWS::KMS::Key",  # deleting a key makes everything encrypted under it unreadable
}
# Listed by cfn-lint, deliberately without a policy here, with the reason.
NOT_STATEFUL_HERE = {
    "AWS::CloudFormation::Stack": "a nested stack is a container; its stateful children carry their own policies",
}
SNAPSHOT_CAPABLE = {
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ElastiCache::CacheCluster",
    "AWS::EC2::Volume",
    "AWS::Redshift::Cluster",
    "AWS::Neptune::DBCluster",
    "AWS::DocDB::DBCluster",
}
PROTECTED = {"Snapshot", "Retain"}


def stateful_types() -> set[str]:
    """The stateful resource types this test guards."""
    spec_file = Path(cfnlint.data.AdditionalSpecs.__file__).parent / "StatefulResources.json"
    listed = set(json.loads(spec_file.read_text())["ResourceTypes"])
    return (listed | EXTRA_STATEFUL_TYPES) - set(NOT_STATEFUL_HERE)


def unprotected(template: dict[str, Any]) -> list[str]:
    """Stateful resources of one template that lack Snapshot/Retain policies, as readable strings."""
    problems = []
    for logical_id, resource in template.get("Resources", {}).items():
        resource_type = resource["Type"]
        if resource_type not in stateful_types():
            continue
        for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
            policy = resource.get(attribute)
            if policy not in PROTECTED:
                problems.append(f"{logical_id} ({resource_type}) {attribute}={policy}")
            elif policy == "Snapshot" and resource_type not in SNAPSHOT_CAPABLE:
                problems.append(f"{logical_id} ({resource_type}) {attribute}=Snapshot is not supported for its type")
    return problems


def test_every_stateful_resource_is_snapshotted_or_retained(templates: dict[str, dict[str, Any]]) -> None:
    # GIVEN every child template
    # WHEN we look for stateful resources without Snapshot/Retain policies
    problems = {name: unprotected(t) for name, t in templates.items()}
    # THEN there are none
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_guard_sees_the_resources_that_matter(templates: dict[str, dict[str, Any]]) -> None:
    # GIVEN the types the guard checks
    guarded = stateful_types()
    # WHEN we list the resource types our templates actually declare
    declared = {r["Type"] for t in templates.values() for r in t["Resources"].values()}
    # THEN databases, cache, buckets, vaults, keys, log groups, repositories and secrets are all guarded
    expected = {
        "AWS::RDS::DBInstance",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::S3::Bucket",
        "AWS::Backup::BackupVault",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::ECR::Repository",
        "AWS::SecretsManager::Secret",
    }
    assert expected <= declared & guarded


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            {"Type": "AWS::S3::Bucket"},
            ["B (AWS::S3::Bucket) DeletionPolicy=None", "B (AWS::S3::Bucket) UpdateReplacePolicy=None"],
        ),
        (
            {"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Delete"},
            ["B (AWS::RDS::DBInstance) UpdateReplacePolicy=Delete"],
        ),
        (
            {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Retain"},
            ["B (AWS::S3::Bucket) DeletionPolicy=Snapshot is not supported for its type"],
        ),
        (
            {"Type": "AWS::DynamoDB::Table"},
            ["B (AWS::DynamoDB::Table) DeletionPolicy=None", "B (AWS::DynamoDB::Table) UpdateReplacePolicy=None"],
        ),
        ({"Type": "AWS::SNS::Topic"}, []),
    ],
)
def test_the_guard_flags_unprotected_resources(resource: dict[str, Any], expected: list[str]) -> None:
    # GIVEN a template with one resource
    template = {"Resources": {"B": resource}}
    # WHEN the guard inspects it
    # THEN it reports exactly the missing or wrong policies
    assert unprotected(template) == expected
