"""Helpers for the alerting unit tests: configs from tests/fixtures/alerting, sample events, alert builders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from safejob_ops.alerting.config import AlertingConfig, load_config
from safejob_ops.alerting.models import Alert, AlertStatus, Annotations, Labels, Source

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "alerting"
EVENTS = ROOT / "events" / "alarm_route"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def config_of(name: str) -> AlertingConfig:
    return load_config(FIXTURES / f"{name}.yaml")


def sample_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


def make_alert(
    alertname: str = "HighErrorRate",
    *,
    service: str = "api",
    severity: str = "warning",
    team: str = "platform",
    status: AlertStatus = AlertStatus.FIRING,
    at: datetime = T0,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    source: Source = Source.CLOUDWATCH,
    summary: str = "",
    **extra: str,
) -> Alert:
    """An alert whose version (updated_at) is `at`; a resolved one ends at `at`."""
    if status is AlertStatus.RESOLVED and ends_at is None:
        ends_at = at
    return Alert(
        labels=Labels(
            alertname=alertname,
            service=service,
            severity=severity,
            team=team,
            source=source,  # type: ignore[arg-type]
            environment="test",
            **extra,
        ),
        annotations=Annotations(summary=summary or alertname),
        status=status,
        starts_at=starts_at or at,
        ends_at=ends_at,
        updated_at=at,
    )


def alarm_event(name: str, state: str, at: datetime, description: str = "", **detail: Any) -> dict[str, Any]:
    """A minimal EventBridge CloudWatch Alarm State Change event."""
    return {
        "version": "0",
        "id": f"{name}-{state}-{at.isoformat()}",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "111122223333",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1",
        "resources": [f"arn:aws:cloudwatch:eu-west-1:111122223333:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": state, "reason": f"{name} is {state}", "timestamp": at.isoformat()},
            "previousState": {
                "value": "OK" if state == "ALARM" else "ALARM",
                "reason": "",
                "timestamp": (at - timedelta(minutes=10)).isoformat(),
            },
            "configuration": {"description": description, "metrics": []},
            **detail,
        },
    }
