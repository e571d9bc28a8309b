"""checkov suppressions are inline, explained, and reviewed: a new one fails here until it is listed."""

from __future__ import annotations

from typing import Any

REVIEWED = {
    ("data", "DatabaseInstance", "CKV_AWS_157"),  # Multi-AZ via the MultiAz knob (production only)
    ("data", "DatabaseReplica", "CKV_AWS_16"),  # a replica inherits encryption; StorageEncrypted is not allowed
    ("data", "DatabaseReplica", "CKV_AWS_157"),  # the replica is the second copy of a Multi-AZ primary
    ("data", "LogBucket", "CKV_AWS_18"),  # the access-log bucket does not log into itself
    ("dr", "ReplicaBucket", "CKV_AWS_18"),  # replica written only by S3 replication
    ("edge", "Distribution", "CKV_AWS_68"),  # WAF sits on the ALB; CloudFront ACLs live in us-east-1
    ("edge", "Distribution", "CKV_AWS_174"),  # TLSv1.2_2021 whenever a custom domain exists
    ("ops-access", "DeployOpsPolicy", "CKV_AWS_111"),  # APIs that accept only Resource "*"
    ("security", "LoadBalancerHttpIngress", "CKV_AWS_260"),  # port 80 only redirects
}


def test_suppressions_are_the_reviewed_ones_each_with_a_reason(templates: dict[str, dict[str, Any]]) -> None:
    # GIVEN every checkov skip in the templates' Metadata
    found = {}
    for name, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                found[(name, logical_id, skip["id"])] = skip.get("comment", "")
    # THEN each carries a real reason, and the set is exactly the reviewed one
    assert {k: v for k, v in found.items() if len(v) < 40} == {}
    assert set(found) == REVIEWED
