"""In-memory twins of the alarm_route ports, for unit tests of the service and for dry runs.

They honour the same contracts as the DynamoDB and Step Functions adapters: conditional writes raise
GroupConflictError on a stale version, an older alert state never overwrites a newer one, and a second start
of the same execution name is a no-op.
"""

from __future__ import annotations

from datetime import datetime

from safejob_ops.alerting.dispatch import GroupState
from safejob_ops.alerting.models import Alert, AlertStatus, Notification
from safejob_ops.alerting.ports import GroupConflictError, StoredGroup
from safejob_ops.alerting.silences import Silence


def _updated(alert: Alert) -> datetime:
    return alert.updated_at or alert.ends_at or alert.starts_at


class MemoryAlertStore:
    def __init__(self) -> None:
        self.groups: dict[str, StoredGroup] = {}
        self.alerts: dict[str, Alert] = {}
        self.inhibitors: set[str] = set()
        self.silences: dict[str, Silence] = {}
        self.log: list[tuple[Notification, str, datetime]] = []

    def get_group(self, group_key: str) -> StoredGroup | None:
        return self.groups.get(group_key)

    def create_group(self, state: GroupState) -> bool:
        if state.group_key in self.groups:
            return False
        self.groups[state.group_key] = StoredGroup(state=state, started=False)
        return True

    def _check(self, group_key: str, expected_version: int) -> StoredGroup:
        stored = self.groups.get(group_key)
        if stored is None or stored.state.version != expected_version:
            raise GroupConflictError(f"group {group_key} changed since version {expected_version}")
        return stored

    def update_group(self, state: GroupState, expected_version: int, started: bool | None = None) -> None:
        stored = self._check(state.group_key, expected_version)
        self.groups[state.group_key] = StoredGroup(state=state, started=stored.started if started is None else started)

    def mark_started(self, group_key: str) -> None:
        if group_key in self.groups:
            self.groups[group_key] = StoredGroup(state=self.groups[group_key].state, started=True)

    def put_alert(self, alert: Alert, inhibitor: bool = False) -> bool:
        current = self.alerts.get(alert.fingerprint)
        if current is not None and _updated(current) > _updated(alert):
            return False
        self.alerts[alert.fingerprint] = alert
        (self.inhibitors.add if inhibitor else self.inhibitors.discard)(alert.fingerprint)
        return True

    def firing_inhibitors(self) -> list[Alert]:
        return [a for fp, a in self.alerts.items() if a.status is AlertStatus.FIRING and fp in self.inhibitors]

    def list_silences(self) -> list[Silence]:
        return list(self.silences.values())

    def put_silence(self, silence: Silence) -> None:
        self.silences[silence.id] = silence

    def log_notification(self, notification: Notification, detail: str, at: datetime) -> None:
        self.log.append((notification, detail, at))


class MemoryScheduler:
    def __init__(self, fail_times: int = 0) -> None:
        self.started: dict[str, tuple[str, int]] = {}  # execution name -> (group key, wait seconds)
        self.fail_times = fail_times

    def start(self, group_key: str, execution_name: str, wait_seconds: int) -> None:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError("StartExecution: connection reset")
        self.started.setdefault(execution_name, (group_key, wait_seconds))
