"""Network reachability, computed from the security groups of the rendered templates.

A path (source, destination, port) exists when the source's egress and the destination's ingress both allow
it. "internet" is any address outside the VPC (0.0.0.0/0). "nat" is the VPC's own NAT addresses: a workload
in the VPC whose egress reaches the internet on a port arrives at a public listener from those addresses, so
an ingress rule from them admits exactly those workloads. Any path not listed below fails the test, and so
does any CIDR that is neither of those two or the no-egress placeholder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from cfn_eval import RenderedStack, walk

TASKS_AND_FUNCTIONS = [
    "BackendServiceSecurityGroup",
    "FrontendServiceSecurityGroup",
    "MigrateTaskSecurityGroup",
    "OpsFunctionSecurityGroup",
    "RestoreVerifierSecurityGroup",
]
EXPECTED_PATHS: dict[tuple[str, str, int], str] = {
    ("internet", "LoadBalancerSecurityGroup", 443): "HTTPS to the ALB",
    ("internet", "LoadBalancerSecurityGroup", 80): "HTTP to the ALB, answered with a redirect",
    ("LoadBalancerSecurityGroup", "BackendServiceSecurityGroup", 8000): "ALB to backend tasks",
    ("LoadBalancerSecurityGroup", "FrontendServiceSecurityGroup", 8000): "ALB to frontend tasks",
    ("BackendServiceSecurityGroup", "DatabaseSecurityGroup", 5432): "backend to PostgreSQL",
    ("MigrateTaskSecurityGroup", "DatabaseSecurityGroup", 5432): "migrate task to PostgreSQL",
    ("BackendServiceSecurityGroup", "CacheSecurityGroup", 6379): "backend to Redis/Valkey",
    ("RestoreVerifierSecurityGroup", "RestoreTargetSecurityGroup", 5432): "verifier to the throwaway restore",
    ("OpsFunctionSecurityGroup", "LoadBalancerSecurityGroup", 8443): "smoke tests to the test listener via NAT",
    ("OpsFunctionSecurityGroup", "internet", 8443): "the test listener's public address",
    **{(g, "EndpointSecurityGroup", 443): "AWS APIs through interface endpoints" for g in TASKS_AND_FUNCTIONS},
    **{
        (g, "internet", 443): "AWS APIs without endpoints, S3 and third-party HTTPS via NAT"
        for g in TASKS_AND_FUNCTIONS
    },
}
EXPECTED_ATTACHMENTS = {
    ("EdgeStack", "LoadBalancer"): ["LoadBalancerSecurityGroup"],
    ("ComputeStack", "BackendBlueService"): ["BackendServiceSecurityGroup"],
    ("ComputeStack", "BackendGreenService"): ["BackendServiceSecurityGroup"],
    ("ComputeStack", "FrontendBlueService"): ["FrontendServiceSecurityGroup"],
    ("ComputeStack", "FrontendGreenService"): ["FrontendServiceSecurityGroup"],
    ("DataStack", "DatabaseInstance"): ["DatabaseSecurityGroup"],
    ("DataStack", "CacheReplicationGroup"): ["CacheSecurityGroup"],
    ("Root", "DeploySmokeFunction"): ["OpsFunctionSecurityGroup"],
}
SG_PROPERTIES = ("SecurityGroups", "SecurityGroupIds", "VPCSecurityGroups")


class UnexpectedRuleError(Exception):
    """A security group rule the model does not accept (unknown CIDR, all ports...)."""


@dataclass(frozen=True)
class Rule:
    group: str
    direction: str  # ingress | egress
    peer: str
    port: int


def _name(placeholder: Any) -> str:
    # A group of the security stack, or one the root template reads from its outputs (`<Name>Id`).
    match = re.fullmatch(r"<(\w+)>", str(placeholder)) or re.fullmatch(
        r"<SecurityStack\.Outputs\.(\w+)Id>", str(placeholder))
    if not match:
        raise UnexpectedRuleError(f"security group reference {placeholder!r} is not a template resource")
    return match.group(1)


def _peer(props: dict[str, Any]) -> str | None:
    for key in ("SourceSecurityGroupId", "DestinationSecurityGroupId"):
        if key in props:
            return _name(props[key])
    cidr = str(props.get("CidrIp", ""))
    if cidr == "0.0.0.0/0":
        return "internet"
    if cidr == "127.0.0.1/32" and str(props.get("IpProtocol")) == "-1":
        return None  # the placeholder that removes the default allow-all egress
    if re.fullmatch(r"<NatGateway\dEip>/32", cidr):
        return "nat"
    raise UnexpectedRuleError(f"unexpected peer in {props}")


def _rules_from(group: str, direction: str, props: dict[str, Any]) -> list[Rule]:
    peer = _peer(props)
    if peer is None:
        return []
    if str(props.get("IpProtocol")) != "tcp":
        raise UnexpectedRuleError(f"{group} {direction} is not a TCP rule: {props}")
    low, high = int(props["FromPort"]), int(props["ToPort"])
    if low != high:
        raise UnexpectedRuleError(f"{group} {direction} opens a port range: {props}")
    return [Rule(group, direction, peer, low)]


def security_rules(stacks: dict[str, RenderedStack]) -> list[Rule]:
    """Every ingress and egress rule, inline or standalone, of every security group."""
    rules: list[Rule] = []
    for stack in stacks.values():
        for r in stack.of_type("AWS::EC2::SecurityGroup"):
            for direction in ("ingress", "egress"):
                for props in r.properties.get(f"SecurityGroup{direction.capitalize()}", []):
                    rules.extend(_rules_from(r.logical_id, direction, props))
        for kind, direction in (
            ("AWS::EC2::SecurityGroupIngress", "ingress"),
            ("AWS::EC2::SecurityGroupEgress", "egress"),
        ):
            for r in stack.of_type(kind):
                rules.extend(_rules_from(_name(r.properties["GroupId"]), direction, r.properties))
    return rules


def reachable(rules: list[Rule]) -> set[tuple[str, str, int]]:
    """Paths allowed by both ends."""
    ingress = {(r.group, r.peer, r.port) for r in rules if r.direction == "ingress"}
    egress = {(r.group, r.peer, r.port) for r in rules if r.direction == "egress"}
    paths = {("internet", g, p) for g, peer, p in ingress if peer == "internet"}
    paths |= {(g, "internet", p) for g, peer, p in egress if peer == "internet"}
    paths |= {(src, dst, p) for src, dst, p in egress if (dst, src, p) in ingress}
    paths |= {
        (src, dst, p)
        for dst, peer, p in ingress
        if peer == "nat"
        for src, out, q in egress
        if out == "internet" and q == p
    }
    return paths


def dangling(rules: list[Rule]) -> set[Rule]:
    """Group-to-group rules whose other half is missing (intent unclear, and usually a bug)."""
    groups = {r.group for r in rules}
    pairs = {(r.group, r.direction, r.peer, r.port) for r in rules}
    opposite = {"ingress": "egress", "egress": "ingress"}
    return {r for r in rules if r.peer in groups and (r.peer, opposite[r.direction], r.group, r.port) not in pairs}


def test_reachability_is_exactly_the_intended_paths(environment: dict[str, RenderedStack]) -> None:
    # GIVEN the security groups of a rendered environment
    rules = security_rules(environment)
    # WHEN we compute every path both ends allow
    paths = reachable(rules)
    # THEN the paths are exactly the intended ones: nothing missing, nothing extra
    assert sorted(paths - set(EXPECTED_PATHS)) == []
    assert sorted(set(EXPECTED_PATHS) - paths) == []
    assert dangling(rules) == set()


def test_each_workload_wears_its_own_group(environment: dict[str, RenderedStack]) -> None:
    # GIVEN the resources that take security groups
    # WHEN we read which groups they wear
    attached = {
        (stack, r.logical_id): [_name(g) for g in value]
        for stack, s in environment.items()
        for r in s.resources.values()
        for path, value in walk(r.properties)
        if path and path[-1] in SG_PROPERTIES
    }
    # THEN each wears exactly its own group, and interface endpoints wear the endpoint group
    for where, groups in EXPECTED_ATTACHMENTS.items():
        assert attached.pop(where) == groups
    if ("DataStack", "DatabaseReplica") in attached:
        assert attached.pop(("DataStack", "DatabaseReplica")) == ["DatabaseSecurityGroup"]
    assert {tuple(g) for g in attached.values()} == {("EndpointSecurityGroup",)}


def test_the_test_listener_admits_every_nat_address_and_nothing_else(production: dict[str, RenderedStack]) -> None:
    # GIVEN production with a NAT gateway per AZ
    rules = [r for r in security_rules(production) if r.port == 8443 and r.direction == "ingress"]
    nat_ingress = [
        r
        for s in production.values()
        for r in s.of_type("AWS::EC2::SecurityGroupIngress")
        if str(r.properties.get("CidrIp", "")).startswith("<NatGateway")
    ]
    # THEN the test port is open only from the three NAT addresses
    assert {r.peer for r in rules} == {"nat"}
    assert sorted(r.properties["CidrIp"] for r in nat_ingress) == [f"<NatGateway{i}Eip>/32" for i in (1, 2, 3)]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        (Rule("DatabaseSecurityGroup", "ingress", "internet", 5432), ("internet", "DatabaseSecurityGroup", 5432)),
        (
            Rule("FrontendServiceSecurityGroup", "egress", "internet", 22),
            ("FrontendServiceSecurityGroup", "internet", 22),
        ),
    ],
)
def test_the_model_reports_a_new_path(
    staging: dict[str, RenderedStack], extra: Rule, path: tuple[str, str, int]
) -> None:
    # GIVEN the staging rules plus one careless rule
    rules = [*security_rules(staging), extra]
    # WHEN paths are computed
    # THEN the new path shows up as unexpected
    assert path in reachable(rules) - set(EXPECTED_PATHS)


def test_the_model_rejects_unknown_cidrs_and_port_ranges() -> None:
    # GIVEN rules the model cannot reason about
    # THEN each is refused rather than silently ignored
    with pytest.raises(UnexpectedRuleError):
        _rules_from("G", "ingress", {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIp": "10.0.0.0/16"})
    with pytest.raises(UnexpectedRuleError):
        _rules_from("G", "egress", {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "CidrIp": "0.0.0.0/0"})
    with pytest.raises(UnexpectedRuleError):
        _rules_from("G", "egress", {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"})
