"""Fixtures of the notification delivery tests: moto as AWS, the local HTTP sink as Slack/PagerDuty/webhooks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from safejob_ops.alerting.models import (
    Alert,
    AlertStatus,
    Annotations,
    Labels,
    Notification,
    NotificationAlert,
    notification_id,
)
from safejob_tools.localaws.sink import HttpSink

REGION = "eu-west-1"
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as started:
        yield started


def make_alert(service: str = "api", *, status: AlertStatus = AlertStatus.FIRING, metric_widget: str = "",
               severity: str = "critical") -> NotificationAlert:
    labels = Labels.model_validate({"alertname": "HighErrorRate", "service": service, "environment": "staging",
                                    "severity": severity, "region": REGION, "account": "123456789012"})
    return NotificationAlert.of(Alert(
        labels=labels, status=status, starts_at=AT,
        ends_at=AT + timedelta(minutes=30) if status is AlertStatus.RESOLVED else None,
        annotations=Annotations(summary=f"5xx rate above 5% on {service}", runbook_url="https://runbooks.example/5xx",
                                dashboard_url="https://dashboards.example/api", metric_widget=metric_widget)))


def make_notification(alerts: list[NotificationAlert], receiver: str = "ops") -> Notification:
    group_labels = {"alertname": "HighErrorRate"}
    group_key = "{}:" + json.dumps(group_labels)
    firing = [a.fingerprint for a in alerts if a.status is AlertStatus.FIRING]
    resolved = [a.fingerprint for a in alerts if a.status is AlertStatus.RESOLVED]
    return Notification(id=notification_id(group_key, firing, resolved), at=AT, receiver=receiver,
                        group_key=group_key, group_labels=group_labels,
                        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED, alerts=alerts)


@pytest.fixture(scope="session")
def alert() -> Callable[..., NotificationAlert]:
    return make_alert


@pytest.fixture(scope="session")
def notification() -> Callable[..., Notification]:
    return make_notification
