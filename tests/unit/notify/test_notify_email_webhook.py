"""Email (through SNS) and the Alertmanager webhook (version 4)."""

from __future__ import annotations

import json
from collections.abc import Callable

from safejob_ops.alerting.models import AlertStatus, Notification, NotificationAlert
from safejob_ops.alerting.notify.payloads import email_message, webhook_payload, without_resolved

AlertFactory = Callable[..., NotificationAlert]
NotificationFactory = Callable[..., Notification]


def test_email_subject_and_body(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a firing alert and a resolved one of the same service
    n = notification([alert(), alert(region="us-east-1", status=AlertStatus.RESOLVED)])

    # WHEN the email is built
    subject, body = email_message(n)

    # THEN the subject says what, how bad and where, and the body lists both alerts with their links
    assert subject == "[FIRING:1] CRITICAL HighErrorRate (api, production)"
    assert "1 firing, 1 resolved" in body
    assert "Runbook: https://runbooks.example/high-error-rate" in body
    assert body.index("FIRING  HighErrorRate") < body.index("RESOLVED  HighErrorRate")
    assert "Ended: 2026-03-01 13:00:00 UTC" in body
    assert f"Notification {n.id} to ops" in body


def test_email_subject_is_what_sns_accepts(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a name with line breaks, accents and emoji, far too long for a subject
    n = notification([alert("Disk\nfull é 🔥 " + "x" * 300)])

    # WHEN the email is built
    subject, _ = email_message(n)

    # THEN the subject is one line of printable ASCII, under 100 characters
    assert len(subject) < 100
    assert subject.isascii()
    assert subject.isprintable()
    assert subject.startswith("[FIRING:1] CRITICAL Disk full")
    assert subject.endswith("~")


def test_email_lists_at_most_100_alerts(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN 150 alerts
    n = notification([alert(service=f"s{i}") for i in range(150)])

    # WHEN the email is built
    _, body = email_message(n)

    # THEN 100 are listed and the rest counted
    assert body.count("FIRING  HighErrorRate") == 100
    assert "... and 50 more" in body


def test_email_stays_under_the_sns_size(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN 100 alerts with 4 kB descriptions of multi-byte characters (about 1.2 MB of UTF-8)
    n = notification([alert(service=f"s{i}", description="é" * 2000) for i in range(100)])

    # WHEN the email is built
    _, body = email_message(n)

    # THEN it fits in an SNS message and says it was cut
    assert len(body.encode()) <= 250_000
    assert body.endswith("... (truncated)")


def test_resolved_email_subject(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN everything resolved, WHEN the email is built, THEN the subject says resolved
    subject, _ = email_message(notification([alert(status=AlertStatus.RESOLVED)]))
    assert subject.startswith("[RESOLVED] ")


def test_webhook_has_the_alertmanager_v4_shape(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a firing and a resolved alert
    firing, resolved = alert(), alert(service="worker", status=AlertStatus.RESOLVED, metric_widget='{"m": 1}')
    n = notification([firing, resolved], receiver="hook")

    # WHEN the webhook payload is built
    payload = webhook_payload(n, 0, external_url="https://alerts.example")

    # THEN it has exactly Alertmanager's keys and is JSON
    json.dumps(payload)
    assert set(payload) == {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                            "commonLabels", "commonAnnotations", "externalURL", "alerts"}
    assert payload["version"] == "4"
    assert (payload["status"], payload["receiver"], payload["truncatedAlerts"]) == ("firing", "hook", 0)
    assert payload["groupLabels"] == {"alertname": "HighErrorRate"}
    assert payload["externalURL"] == "https://alerts.example"
    # AND common labels and annotations are those shared by every alert
    assert payload["commonLabels"]["environment"] == "production"
    assert "service" not in payload["commonLabels"]
    assert payload["commonAnnotations"]["summary"] == "5xx rate above 5%"
    assert "metric_widget" not in payload["commonAnnotations"]
    # AND each alert is complete, with Go's zero time as the end of a firing alert
    first, second = payload["alerts"]
    assert first == {"status": "firing", "labels": firing.labels, "annotations": {
        "summary": "5xx rate above 5%", "description": "The API returns 5xx for more than 5% of requests.",
        "runbook_url": "https://runbooks.example/high-error-rate",
        "dashboard_url": firing.annotations.dashboard_url},
        "startsAt": "2026-03-01T12:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": firing.annotations.dashboard_url, "fingerprint": firing.fingerprint}
    assert (second["status"], second["endsAt"]) == ("resolved", "2026-03-01T13:00:00Z")
    assert second["annotations"]["metric_widget"] == '{"m": 1}'


def test_webhook_max_alerts_truncates(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN five alerts and a receiver that takes at most two
    n = notification([alert(service=f"s{i}") for i in range(5)])

    # WHEN the payload is built
    payload = webhook_payload(n, 2)

    # THEN two are sent and three are counted as truncated
    assert [a["labels"]["service"] for a in payload["alerts"]] == ["s0", "s1"]
    assert payload["truncatedAlerts"] == 3


def test_without_resolved_keeps_only_firing(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a mixed notification, and an all-resolved one
    mixed = notification([alert(service="a", status=AlertStatus.RESOLVED), alert(service="b")])
    done = notification([alert(status=AlertStatus.RESOLVED)])

    # WHEN resolved alerts are dropped
    kept = without_resolved(mixed)

    # THEN only the firing alert stays, and nothing is left of the resolved notification
    assert kept is not None
    assert [a.labels["service"] for a in kept.alerts] == ["b"]
    assert kept.status is AlertStatus.FIRING
    assert without_resolved(done) is None
