"""Realistic alarm events for tests, the demo and the benchmarks, built from the sample files in events/.

The sample (`events/alarm_route/cloudwatch_alarm_eventbridge_metric.json`) is the single source of the shape; this
only changes the names, states, labels and times in it.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

EVENTS = Path(__file__).resolve().parents[2] / "events"


@cache
def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / "alarm_route" / name).read_text())
    return data


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def alarm_event(
    name: str,
    state: Literal["ALARM", "OK"] = "ALARM",
    *,
    service: str = "api",
    severity: Literal["critical", "warning", "info"] = "warning",
    team: str = "platform",
    region: str = "eu-west-1",
    account: str = "123456789012",
    at: datetime | None = None,
    summary: str = "",
) -> dict[str, Any]:
    """An EventBridge "CloudWatch Alarm State Change" event for alarm `name`.

    >>> alarm_event("HighErrorRate", "OK", service="web")["detail"]["state"]["value"]
    'OK'
    """
    at = at or datetime.now(UTC)
    event = copy.deepcopy(_sample("cloudwatch_alarm_eventbridge_metric.json"))
    event["account"], event["region"] = account, region
    event["time"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["resources"] = [f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"]
    detail = event["detail"]
    detail["alarmName"] = name
    detail["state"]["value"] = state
    detail["state"]["timestamp"] = _stamp(at)
    detail["previousState"]["value"] = "OK" if state == "ALARM" else "ALARM"
    detail["configuration"]["description"] = (
        f"{summary or name + ' on ' + service}\nseverity={severity} team={team} service={service}"
    )
    return event
