"""In-memory twins of the migrate ports, for unit tests of the service and for dry runs.

They keep the adapters' contracts: a lock is taken only if free, expired or already the caller's, and released
only by its owner; a snapshot id is created once; a derived task definition is a new revision.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from safejob_ops.migrate.models import LockHolder
from safejob_ops.migrate.ports import LockHeldError, SnapshotNotFoundError


class MemoryLocks:
    def __init__(self) -> None:
        self.locks: dict[str, LockHolder] = {}
        self.writes = 0  # every change, to assert that a refused acquire changed nothing

    def acquire(self, name: str, owner: str, now: datetime, expires_at: datetime, requested_by: str) -> LockHolder:
        current = self.locks.get(name)
        if current is not None and current.owner != owner and current.expires_at > now:
            raise LockHeldError(current)
        holder = LockHolder(name=name, owner=owner, acquired_at=now, expires_at=expires_at, requested_by=requested_by)
        self.locks[name] = holder
        self.writes += 1
        return holder

    def release(self, name: str, owner: str) -> bool:
        current = self.locks.get(name)
        if current is None or current.owner != owner:
            return False
        del self.locks[name]
        self.writes += 1
        return True

    def holder(self, name: str) -> LockHolder | None:
        return self.locks.get(name)


class MemoryTaskDefinitions:
    def __init__(self, fail: bool = False) -> None:
        self.revisions: list[tuple[str, str, str, dict[str, str]]] = []  # (arn, container, image, tags)
        self._numbers = itertools.count(2)
        self.fail = fail
        self.images: dict[str, str] = {}  # task definition ARN -> its image (seed the live ones in tests)
        self.environments: dict[str, dict[str, str]] = {}

    def derive(self, source: str, container: str, image: str, tags: Mapping[str, str],
               environment: Mapping[str, str] | None = None) -> str:
        if self.fail:
            raise ConnectionError("RegisterTaskDefinition: connection reset")
        family = source.rsplit("/", 1)[-1].split(":")[0]
        arn = f"arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{next(self._numbers)}"
        self.revisions.append((arn, container, image, dict(tags)))
        self.images[arn] = image
        self.environments[arn] = dict(environment or {})
        return arn

    def image(self, task_definition: str, container: str) -> str:
        return self.images[task_definition]


class MemoryTaskLogs:
    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], list[str]] = {}

    def write(self, group: str, stream: str, text: str) -> None:
        self.streams.setdefault((group, stream), []).extend(line for line in text.split("\n") if line.strip())

    def lines(self, group: str, stream: str) -> list[str]:
        return list(self.streams.get((group, stream), []))


@dataclass
class MemorySnapshots:
    statuses: list[str] = field(default_factory=lambda: ["creating", "available"])  # what successive polls see
    created: dict[str, str] = field(default_factory=dict)  # snapshot id -> instance id
    polls: int = 0

    def create(self, instance_id: str, snapshot_id: str, tags: Mapping[str, str]) -> str:
        existing = self.created.get(snapshot_id)
        if existing is not None and existing != instance_id:
            raise ValueError(f"DBSnapshotAlreadyExists: {snapshot_id} is a snapshot of {existing}")
        self.created[snapshot_id] = instance_id
        return "creating"

    def status(self, snapshot_id: str) -> str:
        if snapshot_id not in self.created:
            raise SnapshotNotFoundError(snapshot_id)
        status = self.statuses[min(self.polls, len(self.statuses) - 1)]
        self.polls += 1
        return status


class MemoryPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.messages: list[tuple[str, str, str]] = []  # (topic, subject, message)
        self.fail = fail

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        if self.fail:
            raise ConnectionError("Publish: connection reset")
        self.messages.append((topic_arn, subject, message))
        return f"message-{len(self.messages)}"
