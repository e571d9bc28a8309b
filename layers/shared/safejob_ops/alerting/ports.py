"""What the alarm_route service needs from the outside world: state (DynamoDB) and group schedules (Step Functions).

Adapters: `safejob_ops.adapters.alert_store.DynamoAlertStore` and
`safejob_ops.adapters.scheduler.StepFunctionsScheduler`;
`safejob_ops.alerting.memory.MemoryAlertStore` is the in-memory twin used by unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from safejob_ops.alerting.dispatch import GroupState
from safejob_ops.alerting.models import Alert, Notification
from safejob_ops.alerting.silences import Silence


class GroupConflictError(RuntimeError):
    """A conditional write lost a race: someone else changed the group first. Re-read and retry."""


@dataclass(frozen=True)
class StoredGroup:
    state: GroupState
    # Whether the group's Step Functions execution is known to have started (see service.ingest).
    started: bool


class AlertStore(Protocol):
    def get_group(self, group_key: str) -> StoredGroup | None: ...

    def create_group(self, state: GroupState) -> bool:
        """Create the group; False when it already exists (a concurrent creator won)."""
        ...

    def update_group(self, state: GroupState, expected_version: int, started: bool | None = None) -> None:
        """Replace the group if its stored version is still `expected_version`; else raise GroupConflictError.
        `started` (when given) sets whether its execution is running. A group without alerts is kept (expiring
        after a day): a retried last flush finds its notification, and a new episode knows when it last paged."""
        ...

    def mark_started(self, group_key: str) -> None: ...

    def put_alert(self, alert: Alert, inhibitor: bool = False) -> bool:
        """Record the alert's latest state; False (and no write) when a newer state is already stored.
        `inhibitor`: it matches the source matchers of some inhibit rule."""
        ...

    def firing_inhibitors(self) -> list[Alert]:
        """The firing alerts recorded as inhibitors (the only ones inhibition needs)."""
        ...

    def list_silences(self) -> list[Silence]: ...

    def put_silence(self, silence: Silence) -> None: ...

    def log_notification(self, notification: Notification, detail: str, at: datetime) -> None:
        """Append to the notification log (kept with a TTL)."""
        ...


class GroupScheduler(Protocol):
    def start(self, group_key: str, execution_name: str, wait_seconds: int) -> None:
        """Start the group's flush loop; idempotent for the same execution name."""
        ...
