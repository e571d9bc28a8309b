"""Builders of notifications and a Block Kit checker, shared by the payload and notifier unit tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from safejob_ops.alerting.models import (
    Alert,
    AlertStatus,
    Annotations,
    Labels,
    Notification,
    NotificationAlert,
    Source,
    notification_id,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_alert(alertname: str = "HighErrorRate", *, status: AlertStatus = AlertStatus.FIRING, service: str = "api",
               environment: str = "production", severity: str = "critical", team: str = "platform",
               region: str = "eu-west-1", account: str = "123456789012", summary: str = "5xx rate above 5%",
               description: str = "The API returns 5xx for more than 5% of requests.",
               runbook_url: str = "https://runbooks.example/high-error-rate",
               dashboard_url: str = "https://console.aws.amazon.com/cloudwatch/home#dashboards:name=api",
               metric_widget: str = "", starts_at: datetime = AT, ends_at: datetime | None = None,
               **extra_labels: str) -> NotificationAlert:
    labels = Labels.model_validate({"alertname": alertname, "service": service, "environment": environment,
                                    "severity": severity, "team": team, "source": Source.CLOUDWATCH,
                                    "region": region, "account": account, **extra_labels})
    if status is AlertStatus.RESOLVED and ends_at is None:
        ends_at = starts_at + timedelta(hours=1)
    alert = Alert(labels=labels, status=status, starts_at=starts_at, ends_at=ends_at,
                  annotations=Annotations(summary=summary, description=description, runbook_url=runbook_url,
                                          dashboard_url=dashboard_url, metric_widget=metric_widget))
    return NotificationAlert.of(alert)


def make_notification(alerts: list[NotificationAlert], *, receiver: str = "ops",
                      group_labels: dict[str, str] | None = None) -> Notification:
    if group_labels is None:
        group_labels = {"alertname": alerts[0].labels["alertname"]} if alerts else {}
    group_key = "{}:" + json.dumps(group_labels, sort_keys=True)
    firing = [a.fingerprint for a in alerts if a.status is AlertStatus.FIRING]
    resolved = [a.fingerprint for a in alerts if a.status is AlertStatus.RESOLVED]
    return Notification(id=notification_id(group_key, firing, resolved), at=AT, receiver=receiver,
                        group_key=group_key, group_labels=group_labels,
                        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED, alerts=alerts)


def _text_problems(where: str, text: Any, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> list[str]:
    if not isinstance(text, dict) or text.get("type") not in kinds:
        return [f"{where}: not a text object of {kinds}"]
    value = text.get("text")
    if not isinstance(value, str) or not value.strip():
        return [f"{where}: empty text"]
    problems = [f"{where}: {len(value)} > {limit} characters"] if len(value) > limit else []
    if text["type"] == "mrkdwn":
        # Every <, > and & must be escaped: an unescaped "<!channel>" would ping everyone.
        stripped = value.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
        if any(c in stripped for c in "<>&"):
            problems.append(f"{where}: unescaped mrkdwn control character")
    return problems


def _url_problems(where: str, url: Any) -> list[str]:
    ok = isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 3000
    return [] if ok else [f"{where}: bad url"]


def _block_problems(i: int, block: dict[str, Any]) -> list[str]:  # noqa: C901 - one branch per block type
    where = f"blocks[{i}]"
    kind = block.get("type")
    problems: list[str] = []
    if kind == "header":
        problems += _text_problems(where, block.get("text"), 150, ("plain_text",))
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{where}: section without text or fields")
        if "text" in block:
            problems += _text_problems(where, block["text"], 3000)
        fields = block.get("fields", [])
        if len(fields) > 10:
            problems.append(f"{where}: {len(fields)} fields")
        for j, f in enumerate(fields):
            problems += _text_problems(f"{where}.fields[{j}]", f, 2000)
    elif kind == "context":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= 10:
            problems.append(f"{where}: {len(elements)} context elements")
        for j, e in enumerate(elements):
            problems += _text_problems(f"{where}.elements[{j}]", e, 3000)
    elif kind == "actions":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= 25:
            problems.append(f"{where}: {len(elements)} actions")
        ids = [e.get("action_id") for e in elements]
        if len(set(ids)) != len(ids):
            problems.append(f"{where}: duplicate action_id")
        for j, e in enumerate(elements):
            if e.get("type") != "button":
                problems.append(f"{where}.elements[{j}]: not a button")
            problems += _text_problems(f"{where}.elements[{j}].text", e.get("text"), 75, ("plain_text",))
            problems += _url_problems(f"{where}.elements[{j}].url", e.get("url"))
    elif kind == "image":
        problems += _url_problems(f"{where}.image_url", block.get("image_url"))
        alt = block.get("alt_text")
        if not isinstance(alt, str) or not alt or len(alt) > 2000:
            problems.append(f"{where}: bad alt_text")
        if "title" in block:
            problems += _text_problems(f"{where}.title", block["title"], 2000, ("plain_text",))
    elif kind == "divider":
        if set(block) != {"type"}:
            problems.append(f"{where}: divider with content")
    else:
        problems.append(f"{where}: unknown block type {kind!r}")
    return problems


def block_kit_problems(message: dict[str, Any]) -> list[str]:
    """Every way `message` breaks Slack's documented Block Kit limits (empty when valid)."""
    json.dumps(message)  # must be JSON
    problems: list[str] = []
    text = message.get("text")
    if not isinstance(text, str) or not text or len(text) > 3000:
        problems.append("text: missing or longer than 3000")
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return [*problems, "blocks: missing or more than 50"]
    for i, block in enumerate(blocks):
        problems += _block_problems(i, block)
    return problems


@pytest.fixture(scope="session")
def alert() -> Callable[..., NotificationAlert]:
    return make_alert


@pytest.fixture(scope="session")
def notification() -> Callable[..., Notification]:
    return make_notification


@pytest.fixture(scope="session")
def check_block_kit() -> Callable[[dict[str, Any]], list[str]]:
    return block_kit_problems
