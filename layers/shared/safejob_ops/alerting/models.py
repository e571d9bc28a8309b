"""The alert model every source is normalised into, and the notification model every receiver gets.

These are the shared contract between normalisers, the routing engine, the state store and the notifiers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Labels that identify an alert: the fingerprint is computed over these, so a change of severity or team for the
# same alarm updates the alert rather than creating a new one.
IDENTITY_LABELS: tuple[str, ...] = ("alertname", "service", "environment", "source", "region", "account")


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Source(StrEnum):
    CLOUDWATCH = "cloudwatch"
    ECS = "ecs"
    BACKUP = "backup"
    STEPFUNCTIONS = "stepfunctions"
    HEALTH = "health"
    UNKNOWN = "unknown"


class Labels(BaseModel):
    """The fixed label set of an alert. Extra labels are allowed (Alertmanager matchers may use them)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    alertname: str = Field(min_length=1)
    service: str = "unknown"
    environment: str = "unknown"
    severity: Literal["critical", "warning", "info"] = "warning"
    team: str = "platform"
    source: Source = Source.UNKNOWN
    region: str = ""
    account: str = ""

    def as_dict(self) -> dict[str, str]:
        """All labels, extras included, as plain strings: what matchers and group_by see."""
        return {k: str(v) for k, v in self.model_dump(mode="json").items()}


class Annotations(BaseModel):
    model_config = ConfigDict(frozen=True)

    summary: str = ""
    description: str = ""
    runbook_url: str = ""
    dashboard_url: str = ""
    # Where a graph of the metric can be drawn from (a CloudWatch GetMetricWidgetImage widget, JSON), if any.
    metric_widget: str = ""


class Alert(BaseModel):
    """One normalised alert.

    >>> a = Alert(labels=Labels(alertname="HighErrorRate", service="api"), starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> a.fingerprint == Alert.fingerprint_of(a.labels)
    True
    """

    model_config = ConfigDict(frozen=True)

    labels: Labels
    annotations: Annotations = Annotations()
    status: AlertStatus = AlertStatus.FIRING
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    # When the source says the state changed: orders out-of-order redeliveries (an older event never wins).
    updated_at: AwareDatetime | None = None

    @property
    def fingerprint(self) -> str:
        return self.fingerprint_of(self.labels)

    @staticmethod
    def fingerprint_of(labels: Labels) -> str:
        """A stable 16-hex-digit id over the identity labels (sorted), independent of dict ordering."""
        values = labels.as_dict()
        raw = "\x1f".join(f"{k}={values.get(k, '')}" for k in sorted(IDENTITY_LABELS))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


class NotificationAlert(BaseModel):
    """An alert as sent in a notification: the alert plus its fingerprint."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: Annotations
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None

    @classmethod
    def of(cls, alert: Alert) -> NotificationAlert:
        return cls(
            fingerprint=alert.fingerprint,
            status=alert.status,
            labels=alert.labels.as_dict(),
            annotations=alert.annotations,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
        )


class Notification(BaseModel):
    """One message for one receiver about one group. `id` is the idempotency key of its delivery."""

    model_config = ConfigDict(frozen=True)

    id: str
    at: AwareDatetime
    receiver: str
    group_key: str
    group_labels: dict[str, str]
    status: AlertStatus  # firing if any alert in it fires, else resolved
    alerts: list[NotificationAlert]

    @property
    def firing(self) -> list[NotificationAlert]:
        return [a for a in self.alerts if a.status is AlertStatus.FIRING]

    @property
    def resolved(self) -> list[NotificationAlert]:
        return [a for a in self.alerts if a.status is AlertStatus.RESOLVED]


def notification_id(group_key: str, firing: list[str], resolved: list[str], repeat_of: datetime | None = None) -> str:
    """Deterministic id of a notification: the same group state always yields the same id, so a redelivered
    event or a retried flush can never produce a second page."""
    repeat = repeat_of.isoformat() if repeat_of else ""
    parts = [group_key, ",".join(sorted(firing)), ",".join(sorted(resolved)), repeat]
    raw = "|".join(parts)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
