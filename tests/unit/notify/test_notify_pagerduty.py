"""PagerDuty Events API v2: one event per alert, dedup on the fingerprint, resolve on OK."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from safejob_ops.alerting.models import AlertStatus, Notification, NotificationAlert
from safejob_ops.alerting.notify.payloads import pagerduty_events

AlertFactory = Callable[..., NotificationAlert]
NotificationFactory = Callable[..., Notification]
KEY = "R0UTINGKEY0000000000000000000000"


def test_firing_alert_triggers_with_full_payload(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN one critical alert firing
    a = alert()
    n = notification([a])

    # WHEN the events are built
    [event] = pagerduty_events(n, KEY)

    # THEN it is a trigger deduplicated on the fingerprint
    assert event["routing_key"] == KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == a.fingerprint
    # AND the payload is complete
    assert event["payload"] == {
        "summary": "[production] HighErrorRate: 5xx rate above 5%",
        "source": "production/api@eu-west-1",
        "severity": "critical",
        "timestamp": "2026-03-01T12:00:00Z",
        "component": "api",
        "group": "alertname=HighErrorRate",
        "class": "HighErrorRate",
        "custom_details": {**a.labels, "description": "The API returns 5xx for more than 5% of requests."},
    }
    # AND it links the runbook and the dashboard, and names its client
    assert event["links"] == [{"href": "https://runbooks.example/high-error-rate", "text": "Runbook"},
                              {"href": a.annotations.dashboard_url, "text": "Dashboard"}]
    assert event["client"] == "Safe Job alarm_route"
    assert event["client_url"] == a.annotations.dashboard_url


def test_resolved_alert_resolves_its_incident(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN an alert that went back to OK
    a = alert(status=AlertStatus.RESOLVED)

    # WHEN the events are built
    [event] = pagerduty_events(notification([a]), KEY)

    # THEN it resolves the incident with the same dedup_key
    assert event == {"routing_key": KEY, "event_action": "resolve", "dedup_key": a.fingerprint}


def test_one_event_per_alert_in_order(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN firing and resolved alerts mixed
    alerts = [alert(service="a"), alert(service="b", status=AlertStatus.RESOLVED), alert(service="c")]

    # WHEN the events are built
    events = pagerduty_events(notification(alerts), KEY)

    # THEN there is one per alert, with the action of its status
    assert [(e["dedup_key"], e["event_action"]) for e in events] == [
        (alerts[0].fingerprint, "trigger"), (alerts[1].fingerprint, "resolve"), (alerts[2].fingerprint, "trigger")]
    assert len({e["dedup_key"] for e in events}) == 3


@pytest.mark.parametrize(("severity", "expected"), [("critical", "critical"), ("warning", "warning"),
                                                    ("info", "info")])
def test_severity_is_mapped(alert: AlertFactory, notification: NotificationFactory, severity: str,
                            expected: str) -> None:
    # GIVEN an alert of some severity, WHEN its event is built, THEN PagerDuty gets the matching severity
    [event] = pagerduty_events(notification([alert(severity=severity)]), KEY)
    assert event["payload"]["severity"] == expected


def test_unknown_severity_falls_back_to_warning(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN an alert whose severity label PagerDuty does not know
    a = alert().model_copy(update={"labels": {"alertname": "X", "severity": "page-me"}})

    # WHEN its event is built, THEN it is a warning, and defaults fill the source and component
    [event] = pagerduty_events(notification([a]), KEY)
    assert event["payload"]["severity"] == "warning"
    assert event["payload"]["source"] == "unknown"
    assert event["payload"]["component"] == "unknown"


def test_summary_is_cut_to_1024(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a very long summary
    [event] = pagerduty_events(notification([alert(summary="x" * 5000)]), KEY)

    # THEN PagerDuty's limit is respected
    assert len(event["payload"]["summary"]) == 1024


def test_no_links_without_annotations(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN an alert without runbook, dashboard, summary or description
    [event] = pagerduty_events(notification([alert(runbook_url="", dashboard_url="", summary="",
                                                   description="")]), KEY)

    # THEN there are no empty links, and the summary is made from the name and service
    assert "links" not in event
    assert "client_url" not in event
    assert "description" not in event["payload"]["custom_details"]
    assert event["payload"]["summary"] == "[production] HighErrorRate: HighErrorRate on api"
