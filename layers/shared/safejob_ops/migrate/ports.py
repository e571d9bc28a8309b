"""What the migrate service needs from the outside world, as ports.

Adapters (boto3, in safejob_ops.adapters): `locks.DynamoLocks`, `ecs_task_definitions.EcsTaskDefinitions`,
`task_logs.CloudWatchTaskLogs`, `rds_snapshots.RdsSnapshots`, and `sns.SnsPublisher` for notifications.
`safejob_ops.migrate.memory` holds their in-memory twins for unit tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from safejob_ops.migrate.models import LockHolder


class LockHeldError(RuntimeError):
    """Another owner holds the lock; nothing was changed. The message names the holder."""

    def __init__(self, holder: LockHolder) -> None:
        super().__init__(
            f"lock {holder.name!r} is held by {holder.owner} (requested by {holder.requested_by or 'unknown'}, "
            f"since {holder.acquired_at.isoformat()}, until {holder.expires_at.isoformat()}); nothing was changed. "
            "Fix: wait for that execution to end, or stop it (its lock is released on every path)"
        )
        self.holder = holder


class Locks(Protocol):
    def acquire(self, name: str, owner: str, now: datetime, expires_at: datetime, requested_by: str) -> LockHolder:
        """Take the lock with a conditional write: free, expired, or already ours (a retried acquire).
        Raises LockHeldError with the holder otherwise."""
        ...

    def release(self, name: str, owner: str) -> bool:
        """Release the lock if `owner` holds it (conditional delete); False when it does not (nothing changed)."""
        ...

    def holder(self, name: str) -> LockHolder | None: ...


class TaskDefinitions(Protocol):
    def derive(self, source: str, container: str, image: str, tags: Mapping[str, str],
               environment: Mapping[str, str] | None = None) -> str:
        """Register a revision of `source`'s family identical to it but for `container`'s image (and the
        `environment` variables set on it); return its ARN."""
        ...


class TaskLogs(Protocol):
    def lines(self, group: str, stream: str) -> list[str]:
        """Every line of a log stream, oldest first (empty when the stream does not exist)."""
        ...


class SnapshotNotFoundError(LookupError):
    pass


class Snapshots(Protocol):
    def create(self, instance_id: str, snapshot_id: str, tags: Mapping[str, str]) -> str:
        """Start a manual snapshot; idempotent for the same id and instance. Returns its status."""
        ...

    def status(self, snapshot_id: str) -> str:
        """'creating', 'available', 'failed'... Raises SnapshotNotFoundError."""
        ...


class Publisher(Protocol):
    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        """Publish one message; returns its id."""
        ...
