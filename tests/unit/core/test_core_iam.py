"""IAM least privilege across every policy the core creates, in every environment rendering.

Fails on Action "*" (or "service:*"), on Resource "*" except for the APIs that accept nothing else (listed
below, each with its reason and, where one exists, the condition key that must narrow it), on iam:PassRole
without an iam:PassedToService condition, and on resource policies that allow anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from cfn_eval import RenderedStack

# Actions that only accept Resource "*": reason, and the condition key that must narrow them (if any).
STAR_ONLY_ACTIONS: dict[str, tuple[str, str | None]] = {
    "ecr:GetAuthorizationToken": ("registry login token; no resource-level permissions", None),
    "xray:PutTraceSegments": ("X-Ray ingestion has no resource-level permissions", None),
    "xray:PutTelemetryRecords": ("X-Ray ingestion has no resource-level permissions", None),
    "xray:GetSamplingRules": ("X-Ray sampling has no resource-level permissions", None),
    "xray:GetSamplingTargets": ("X-Ray sampling has no resource-level permissions", None),
    "s3:ListAllMyBuckets": ("account-level listing, required by Synthetics canaries", None),
    "cloudwatch:PutMetricData": ("no resource-level permissions", "cloudwatch:namespace"),
    "cloudwatch:GetMetricData": ("metric reads have no resource-level permissions", None),
    "cloudwatch:GetMetricStatistics": ("metric reads have no resource-level permissions", None),
    "cloudwatch:GetMetricWidgetImage": ("metric graphs have no resource-level permissions", None),
    "ecs:RegisterTaskDefinition": ("task definitions cannot be scoped before they exist", None),
    "ecs:DescribeTaskDefinition": ("no resource-level permissions", None),
    "ecs:ListTasks": ("no resource-level permissions", "ecs:cluster"),
    "elasticloadbalancing:DescribeListeners": ("Describe* calls accept only *", None),
    "elasticloadbalancing:DescribeRules": ("Describe* calls accept only *", None),
    "elasticloadbalancing:DescribeTargetGroups": ("Describe* calls accept only *", None),
    "elasticloadbalancing:DescribeTargetHealth": ("Describe* calls accept only *", None),
    "application-autoscaling:DescribeScalableTargets": ("no resource-level permissions", None),
    "application-autoscaling:RegisterScalableTarget": ("scalable target ARNs are random and unknown in advance", None),
    "ce:GetCostAndUsage": ("Cost Explorer accepts only *", None),
    "ce:GetCostForecast": ("Cost Explorer accepts only *", None),
    "ce:GetAnomalies": ("Cost Explorer accepts only *", None),
    "tag:GetResources": ("the Resource Groups Tagging API accepts only *", None),
}
# AWS-managed policies we attach, each to the one service principal it is written for.
ALLOWED_MANAGED_POLICIES = {
    "service-role/AmazonRDSEnhancedMonitoringRole": "RDS enhanced monitoring, maintained by AWS",
    "service-role/AWSBackupServiceRolePolicyForBackup": "AWS Backup, maintained by AWS",
    "service-role/AWSBackupServiceRolePolicyForRestores": "AWS Backup, maintained by AWS",
    "AWSBackupServiceRolePolicyForS3Backup": "AWS Backup of S3, maintained by AWS",
    "AWSBackupServiceRolePolicyForS3Restore": "AWS Backup of S3, maintained by AWS",
}


@dataclass(frozen=True)
class Document:
    """One policy document and where it came from."""

    where: str
    kind: str  # identity | resource | key | trust
    document: dict[str, Any]


def documents(stacks: dict[str, RenderedStack]) -> list[Document]:
    """Every policy document in a rendered environment."""
    found: list[Document] = []
    for stack in stacks.values():
        for r in stack.resources.values():
            where = f"{stack.name}.{r.logical_id}"
            p = r.properties
            if r.type == "AWS::IAM::Role":
                found.append(Document(where, "trust", p["AssumeRolePolicyDocument"]))
                found.extend(
                    Document(f"{where}.{x['PolicyName']}", "identity", x["PolicyDocument"])
                    for x in p.get("Policies", [])
                )
            elif r.type in ("AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy", "AWS::IAM::Policy"):
                found.append(Document(where, "identity", p["PolicyDocument"]))
            elif r.type in ("AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"):
                found.append(Document(where, "resource", p["PolicyDocument"]))
            elif r.type == "AWS::KMS::Key":
                found.append(Document(where, "key", p["KeyPolicy"]))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def violations(doc: Document) -> list[str]:
    """Least-privilege violations in one policy document."""
    problems: list[str] = []
    for index, statement in enumerate(doc.document["Statement"]):
        at = f"{doc.where}#{statement.get('Sid', index)}"
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{at}: NotAction/NotResource")
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        condition = statement.get("Condition", {})
        condition_keys = {k for op in condition.values() for k in op}
        allow = statement["Effect"] == "Allow"
        if doc.kind == "trust":
            federated = statement.get("Principal", {}).get("Federated")
            if federated and not {
                "token.actions.githubusercontent.com:aud",
                "token.actions.githubusercontent.com:sub",
            } <= set(condition.get("StringEquals", {})):
                problems.append(f"{at}: OIDC trust without exact aud and sub")
            continue
        for action in actions if allow else []:  # a Deny may be as broad as it likes
            if action == "*" or (action.endswith(":*") and not (doc.kind == "key" and _is_account_root(statement))):
                problems.append(f"{at}: wildcard action {action}")
        if allow and doc.kind == "resource" and statement.get("Principal") in ("*", {"AWS": "*"}):
            problems.append(f"{at}: allows any principal")
        if "*" in resources and doc.kind != "key" and allow:
            for action in actions:
                if action not in STAR_ONLY_ACTIONS:
                    problems.append(f"{at}: {action} on Resource *")
                elif STAR_ONLY_ACTIONS[action][1] and STAR_ONLY_ACTIONS[action][1] not in condition_keys:
                    problems.append(f"{at}: {action} on Resource * without {STAR_ONLY_ACTIONS[action][1]}")
        if "iam:PassRole" in actions and (
            "*" in resources or "iam:PassedToService" not in condition.get("StringEquals", {})
        ):
            problems.append(f"{at}: iam:PassRole without iam:PassedToService or with Resource *")
    return problems


def _is_account_root(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal", {})
    return isinstance(principal, dict) and str(principal.get("AWS", "")).endswith(":root")


def test_no_policy_grants_more_than_it_needs(environment: dict[str, RenderedStack]) -> None:
    # GIVEN every policy document of a rendered environment
    docs = documents(environment)
    # WHEN each is checked for wildcards, unconstrained PassRole and open principals
    problems = [p for d in docs for p in violations(d)]
    # THEN there is nothing to report
    assert problems == []
    assert len(docs) > 20


def test_only_listed_aws_managed_policies_are_attached(environment: dict[str, RenderedStack]) -> None:
    # GIVEN every role
    roles = [r for s in environment.values() for r in s.of_type("AWS::IAM::Role")]
    # WHEN we collect their AWS-managed policy attachments
    attached = {arn.split(":policy/", 1)[1] for r in roles for arn in r.properties.get("ManagedPolicyArns", [])}
    # THEN each is on the reviewed list
    assert attached <= set(ALLOWED_MANAGED_POLICIES)


def test_pass_role_is_granted_only_to_ecs_for_our_task_roles(production: dict[str, RenderedStack]) -> None:
    # GIVEN the ops policies
    statements = [
        s
        for d in documents(production)
        for s in d.document["Statement"]
        if "iam:PassRole" in _as_list(s.get("Action", []))
    ]
    # THEN every PassRole names roles from the compute stack and passes them to ECS tasks only
    assert statements
    for statement in statements:
        assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs-tasks.amazonaws.com"
        assert all(str(r).startswith("<") and "Role" in str(r) for r in _as_list(statement["Resource"]))


def test_github_can_assume_the_deploy_role_only_from_its_environment(staging: dict[str, RenderedStack]) -> None:
    # GIVEN the deploy role's trust policy
    role = staging["DeliveryStack"].resources["GitHubDeployRole"]
    condition = role.properties["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
    # THEN only the named repository's staging environment, with the STS audience, may assume it
    assert condition == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:safejob/safejob-app:environment:staging",
    }


@pytest.mark.parametrize(
    ("statement", "kind", "expected"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"}, "identity", "wildcard action *"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}, "identity", "wildcard action s3:*"),
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, "identity", "s3:GetObject on Resource *"),
        (
            {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
            "identity",
            "without cloudwatch:namespace",
        ),
        (
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/r"},
            "identity",
            "iam:PassRole without iam:PassedToService",
        ),
        (
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            "resource",
            "allows any principal",
        ),
        (
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:user/u"}, "Action": "kms:*", "Resource": "*"},
            "key",
            "wildcard action kms:*",
        ),
    ],
)
def test_the_checker_catches_each_kind_of_excess(statement: dict[str, Any], kind: str, expected: str) -> None:
    # GIVEN a policy with one over-broad statement
    doc = Document("T", kind, {"Statement": [statement]})
    # WHEN it is checked
    problems = violations(doc)
    # THEN the excess is reported
    assert any(expected in p for p in problems), problems
