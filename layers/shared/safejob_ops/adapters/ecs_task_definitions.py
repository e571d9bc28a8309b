"""`TaskDefinitions` on ECS: a new revision of a task definition with one container's image replaced.

ECS cannot override an image at RunTask (containerOverrides has no image), so a release image runs from a revision
of its own, identical to the source but for the image (the deploy workflow derives its revisions the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from safejob_ops.adapters.botoconfig import new_client

if TYPE_CHECKING:  # boto3 loads on first use: cold start matters
    import boto3
    from mypy_boto3_ecs.client import ECSClient

# DescribeTaskDefinition returns these, RegisterTaskDefinition refuses them.
_READ_ONLY = frozenset({"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
                        "registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt"})


class UnknownContainerError(LookupError):
    pass


class EcsTaskDefinitions:
    def __init__(self, client: ECSClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> ECSClient:
        if self._client is None:
            self._client = new_client("ecs", self._session, read_timeout=10, max_attempts=5)
        return self._client

    def derive(self, source: str, container: str, image: str, tags: Mapping[str, str],
               environment: Mapping[str, str] | None = None) -> str:
        described = self.client.describe_task_definition(taskDefinition=source, include=["TAGS"])
        definition: dict[str, Any] = {k: v for k, v in described["taskDefinition"].items() if k not in _READ_ONLY}
        containers = definition.get("containerDefinitions", [])
        if not any(c.get("name") == container for c in containers):
            raise UnknownContainerError(f"task definition {source} has no container {container!r}")
        definition["containerDefinitions"] = [_with(c, image, environment or {}) if c.get("name") == container else c
                                              for c in containers]
        merged = {t["key"]: t["value"] for t in described.get("tags", []) if "key" in t and "value" in t}
        merged.update(tags)
        if merged:
            definition["tags"] = [{"key": k, "value": v} for k, v in merged.items()]
        registered = self.client.register_task_definition(**definition)
        return registered["taskDefinition"]["taskDefinitionArn"]

    def image(self, task_definition: str, container: str) -> str:
        """The image of one container of a task definition (UnknownContainerError if it has none by that name)."""
        described = self.client.describe_task_definition(taskDefinition=task_definition)
        for definition in described["taskDefinition"].get("containerDefinitions", []):
            if definition.get("name") == container:
                return str(definition.get("image", ""))
        raise UnknownContainerError(f"task definition {task_definition} has no container {container!r}")


def _with(container: dict[str, Any], image: str, environment: Mapping[str, str]) -> dict[str, Any]:
    """The container with its image replaced and `environment` set (other variables kept, in order)."""
    kept = [e for e in container.get("environment", []) if e.get("name") not in environment]
    added = [{"name": name, "value": value} for name, value in environment.items()]
    return {**container, "image": image, **({"environment": kept + added} if environment else {})}
