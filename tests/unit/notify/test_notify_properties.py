"""Properties over any notification of up to 200 alerts: Slack limits always hold, PagerDuty gets one event per
alert keyed by its fingerprint, SNS accepts the subject, the webhook counts what it truncates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from safejob_ops.alerting.models import AlertStatus, Annotations, Notification, NotificationAlert
from safejob_ops.alerting.notify.payloads import (
    SLACK_MAX_LISTED_ALERTS,
    email_message,
    pagerduty_events,
    slack_message,
    webhook_payload,
)

ROUTING_KEY = "R0UTINGKEY0000000000000000000000"

# Short texts of any characters, or long runs of the characters that matter (escaped or multi-byte).
texts = st.one_of(
    st.text(max_size=40),
    st.builds(lambda c, k: c * k, st.sampled_from(["a", "<", "&", ">", "é", "🔥", "\n", "*"]),
              st.integers(0, 6000)),
)
urls = st.one_of(st.just(""), st.just("https://runbooks.example/x"), st.builds(lambda k: "https://x/" + "p" * k,
                                                                                st.integers(0, 4000)))
label_values = st.one_of(st.sampled_from(["api", "worker", "", "production", "critical", "warning", "info"]), texts)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))

notification_alerts = st.builds(
    NotificationAlert,
    fingerprint=st.text("0123456789abcdef", min_size=16, max_size=16),
    status=st.sampled_from(AlertStatus),
    labels=st.dictionaries(
        st.sampled_from(["alertname", "service", "environment", "severity", "team", "region", "account", "x"]),
        label_values, max_size=8),
    annotations=st.builds(Annotations, summary=texts, description=texts, runbook_url=urls, dashboard_url=urls,
                          metric_widget=st.just("")),
    starts_at=times,
    ends_at=st.none() | times,
)


@st.composite
def notifications(draw: Callable[..., Any]) -> Notification:
    # Draw the size first: plain lists rarely grow past a few dozen, and the limits matter most near 200.
    size = draw(st.one_of(st.integers(0, 12), st.integers(150, 200)))
    alerts: list[NotificationAlert] = draw(st.lists(notification_alerts, min_size=size, max_size=size))
    firing = any(a.status is AlertStatus.FIRING for a in alerts)
    return Notification(id="n", at=datetime(2026, 1, 1, tzinfo=UTC), receiver=draw(texts), group_key=draw(texts),
                        group_labels=draw(st.dictionaries(st.text(max_size=10), label_values, max_size=4)),
                        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED, alerts=alerts)


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY_SETTINGS
@given(n=notifications(), graph=st.none() | urls)
def test_slack_message_always_within_limits(check_block_kit: Callable[[dict[str, Any]], list[str]],
                                            n: Notification, graph: str | None) -> None:
    # WHEN any notification becomes a Slack message
    message = slack_message(n, graph or None, "#ops")

    # THEN it is valid Block Kit
    assert check_block_kit(message) == []
    event(f"alerts > 10: {len(n.alerts) > SLACK_MAX_LISTED_ALERTS}")
    # AND after the divider it lists at most ten alerts, then counts the others
    blocks = message["blocks"]
    divider = next((i for i, b in enumerate(blocks) if b["type"] == "divider"), len(blocks))
    end = divider + 1 + SLACK_MAX_LISTED_ALERTS
    listed, rest = blocks[divider + 1: end], blocks[end:]
    assert len(listed) == min(len(n.alerts), SLACK_MAX_LISTED_ALERTS)
    assert all(b["type"] == "section" for b in listed)
    if len(n.alerts) > SLACK_MAX_LISTED_ALERTS:
        assert rest == [{"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"and {len(n.alerts) - SLACK_MAX_LISTED_ALERTS} more"}]}]
    else:
        assert rest == []


@PROPERTY_SETTINGS
@given(n=notifications())
def test_pagerduty_one_event_per_alert_keyed_by_fingerprint(n: Notification) -> None:
    # WHEN any notification becomes PagerDuty events
    events = pagerduty_events(n, ROUTING_KEY)

    # THEN there is one per alert, in order, deduplicated on its fingerprint, and the action follows its status
    assert len(events) == len(n.alerts)
    for sent, alert in zip(events, n.alerts, strict=True):
        assert sent["dedup_key"] == alert.fingerprint
        assert sent["routing_key"] == ROUTING_KEY
        if alert.status is AlertStatus.FIRING:
            assert sent["event_action"] == "trigger"
            assert 1 <= len(sent["payload"]["summary"]) <= 1024
            assert sent["payload"]["severity"] in {"critical", "error", "warning", "info"}
        else:
            assert sent["event_action"] == "resolve"


@PROPERTY_SETTINGS
@given(n=notifications())
def test_email_subject_is_always_accepted_by_sns(n: Notification) -> None:
    # WHEN any notification becomes an email
    subject, body = email_message(n)

    # THEN the subject is non-empty printable ASCII under 100 characters, and the body fits in SNS
    assert 0 < len(subject) < 100
    assert subject.isascii()
    assert subject.isprintable()
    assert len(body.encode()) <= 250_000


@PROPERTY_SETTINGS
@given(n=notifications(), max_alerts=st.integers(0, 250))
def test_webhook_counts_what_it_truncates(n: Notification, max_alerts: int) -> None:
    # WHEN any notification becomes a webhook payload
    payload = webhook_payload(n, max_alerts)

    # THEN sent and truncated alerts add up to all of them, never more than the cap
    assert len(payload["alerts"]) + payload["truncatedAlerts"] == len(n.alerts)
    if max_alerts:
        assert len(payload["alerts"]) <= max_alerts
    assert [a["fingerprint"] for a in payload["alerts"]] == [a.fingerprint for a in n.alerts[: len(payload["alerts"])]]
