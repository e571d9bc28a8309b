"""The deploy workflow's writes on boto3: ECS services (`EcsServices`), ALB forwarding (`ElbForwarding`) and target
health (`ElbTargetHealth`). Each client is created on first use, with `botoconfig.client_config()`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from safejob_ops.adapters.botoconfig import new_client
from safejob_ops.deploy.ports import ServiceState

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client


class EcsServices:
    """`EcsServices` on DescribeServices / UpdateService, and Application Auto Scaling: a service's scalable target
    (when it has one) gets the desired count as its minimum, so that target tracking cannot scale the release in
    during its bake, nor the old colour back out after it was retired."""

    def __init__(self, ecs: ECSClient | None = None, autoscaling: ApplicationAutoScalingClient | None = None,
                 session: boto3.Session | None = None) -> None:
        self._session = session
        self._ecs = ecs
        self._autoscaling = autoscaling

    @property
    def ecs(self) -> ECSClient:
        if self._ecs is None:
            self._ecs = new_client("ecs", self._session)
        return self._ecs

    @property
    def autoscaling(self) -> ApplicationAutoScalingClient:
        if self._autoscaling is None:
            self._autoscaling = new_client("application-autoscaling", self._session)
        return self._autoscaling

    def describe(self, cluster: str, service: str) -> ServiceState:
        found = self.ecs.describe_services(cluster=cluster, services=[service])
        if not found["services"]:
            reasons = "; ".join(f"{f.get('arn')}: {f.get('reason')}" for f in found.get("failures", []))
            raise LookupError(f"ECS service {service} not found in {cluster}: {reasons or 'no answer'}")
        described = found["services"][0]
        primary = next((d for d in described.get("deployments", []) if d.get("status") == "PRIMARY"), None)
        return ServiceState(
            desired_count=described.get("desiredCount", 0),
            running_count=(primary or described).get("runningCount", 0),
            task_definition=(primary or described).get("taskDefinition", described.get("taskDefinition", "")),
            rollout_state=primary.get("rolloutState") if primary else None,
            rollout_reason=primary.get("rolloutStateReason", "") if primary else "",
        )

    def update(self, cluster: str, service: str, desired_count: int, task_definition: str | None = None) -> None:
        cluster_name = cluster.rsplit("/", 1)[-1]
        resource_id = f"service/{cluster_name}/{service}"
        targets = self.autoscaling.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[resource_id],
            ScalableDimension="ecs:service:DesiredCount")["ScalableTargets"]
        for target in targets:
            if target["MinCapacity"] != desired_count:
                self.autoscaling.register_scalable_target(
                    ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension="ecs:service:DesiredCount",
                    MinCapacity=desired_count, MaxCapacity=max(target["MaxCapacity"], desired_count))
        extra: dict[str, Any] = {"taskDefinition": task_definition} if task_definition else {}
        self.ecs.update_service(cluster=cluster, service=service, desiredCount=desired_count, **extra)


class _Elbv2:
    def __init__(self, client: ElasticLoadBalancingv2Client | None = None,
                 session: boto3.Session | None = None) -> None:
        self._session = session
        self._client = client

    @property
    def client(self) -> ElasticLoadBalancingv2Client:
        if self._client is None:
            self._client = new_client("elbv2", self._session)
        return self._client


class ElbForwarding(_Elbv2):
    """`Forwarding` on the production and test listeners' default forward actions and their rules."""

    def weights(self, kind: str, arn: str) -> dict[str, int]:
        if kind == "listener":
            actions = self.client.describe_listeners(ListenerArns=[arn])["Listeners"][0].get("DefaultActions", [])
        else:
            actions = self.client.describe_rules(RuleArns=[arn])["Rules"][0].get("Actions", [])
        forward = next((a for a in actions if a.get("Type") == "forward"), None)
        if forward is None:
            raise LookupError(f"{kind} {arn} has no forward action")
        groups = forward.get("ForwardConfig", {}).get("TargetGroups", [])
        if groups:
            return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups if "TargetGroupArn" in g}
        return {forward["TargetGroupArn"]: 100} if "TargetGroupArn" in forward else {}

    def forward(self, kind: str, arn: str, weights: Mapping[str, int]) -> None:
        action: Any = {"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": group, "Weight": weight} for group, weight in weights.items()]}}
        if kind == "listener":
            self.client.modify_listener(ListenerArn=arn, DefaultActions=[action])
        else:
            self.client.modify_rule(RuleArn=arn, Actions=[action])


class ElbTargetHealth(_Elbv2):
    """`TargetHealth` on DescribeTargetHealth."""

    def states(self, target_group_arn: str) -> list[str]:
        described = self.client.describe_target_health(TargetGroupArn=target_group_arn)
        return [d.get("TargetHealth", {}).get("State", "unavailable") for d in described["TargetHealthDescriptions"]]
