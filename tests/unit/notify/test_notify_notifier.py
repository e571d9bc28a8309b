"""The notifier against fake ports: dispatch, graphs, errors, redaction and send_resolved."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from safejob_ops.alerting.models import AlertStatus, Notification, NotificationAlert
from safejob_ops.alerting.notify import (
    DeliveryError,
    DeliveryRejectedError,
    NotifierPorts,
    deliver,
)
from safejob_ops.alerting.receivers import (
    EmailReceiver,
    PagerDutyReceiver,
    SecretRef,
    SlackReceiver,
    WebhookReceiver,
)

AlertFactory = Callable[..., NotificationAlert]
NotificationFactory = Callable[..., Notification]

SLACK_URL = "https://hooks.slack.com/services/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"
ROUTING_KEY = "pdkey0123456789abcdef0123456789a"
HOOK_URL = "https://user:hunter2pass@hooks.example/in/tok3n-abcdef?sig=zzz999"
SLACK_REF = SecretRef(secret="alerting/slack-ops", key="url")
PD_REF = SecretRef(ssm="/alerting/pagerduty/routing-key")
HOOK_REF = SecretRef(secret="alerting/hook")
WIDGET = '{"metrics": [["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"]], "period": 60}'


@dataclass
class FakeHttp:
    statuses: list[int] = field(default_factory=list)  # answered in turn; 200 once exhausted
    error: Exception | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def post_json(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None,
                  timeout: float = 5.0) -> int:
        self.calls.append((url, body))
        if self.error is not None:
            raise self.error
        return self.statuses.pop(0) if self.statuses else 200


@dataclass
class FakeSecrets:
    values: dict[SecretRef, str] = field(default_factory=lambda: {
        SLACK_REF: SLACK_URL, PD_REF: ROUTING_KEY, HOOK_REF: HOOK_URL})

    def resolve(self, ref: SecretRef) -> str:
        if ref not in self.values:
            raise LookupError(f"no secret {ref.secret or ref.ssm}")
        return self.values[ref]


@dataclass
class FakeSns:
    error: Exception | None = None
    published: list[tuple[str, str, str]] = field(default_factory=list)

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        if self.error is not None:
            raise self.error
        self.published.append((topic_arn, subject, message))
        return f"msg-{len(self.published)}"


@dataclass
class FakeGraphs:
    url: str | None = "https://graphs.example/graphs/abc.png"
    error: Exception | None = None
    widgets: list[str] = field(default_factory=list)

    def render(self, widget_json: str) -> str | None:
        self.widgets.append(widget_json)
        if self.error is not None:
            raise self.error
        return self.url


@dataclass
class World:
    http: FakeHttp = field(default_factory=FakeHttp)
    secrets: FakeSecrets = field(default_factory=FakeSecrets)
    sns: FakeSns = field(default_factory=FakeSns)
    graphs: FakeGraphs = field(default_factory=FakeGraphs)

    @property
    def ports(self) -> NotifierPorts:
        return NotifierPorts(http=self.http, secrets=self.secrets, sns=self.sns, graphs=self.graphs)


SLACK = SlackReceiver(name="ops-slack", webhook_url=SLACK_REF, channel="#ops")
PAGERDUTY = PagerDutyReceiver(name="oncall", routing_key=PD_REF, events_url="https://events.example/v2/enqueue")
WEBHOOK = WebhookReceiver(name="hook", url=HOOK_REF, max_alerts=1)
EMAIL = EmailReceiver(name="mail", topic_arn="arn:aws:sns:eu-west-1:123456789012:ops-email")
SECRETS = (SLACK_URL, ROUTING_KEY, HOOK_URL, "hunter2pass", "tok3n-abcdef", "s3cr3tS3cr3tS3cr3tS3cr3t")


def _assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert leaked == [], f"secrets leaked: {leaked}"


def test_slack_posts_block_kit_to_the_resolved_url(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a Slack receiver and a firing alert without a metric
    world = World()
    n = notification([alert()])

    # WHEN it is delivered
    result = deliver(n, SLACK, world.ports)

    # THEN one message went to the secret URL, to the receiver's channel, and no graph was asked for
    assert [url for url, _ in world.http.calls] == [SLACK_URL]
    body = world.http.calls[0][1]
    assert body["channel"] == "#ops"
    assert body["blocks"][0]["type"] == "header"
    assert world.graphs.widgets == []
    assert result.model_dump() == {"notification_id": n.id, "receiver": "ops-slack", "type": "slack",
                                   "requests_sent": 1, "graph_included": False}
    # AND neither the body nor the result holds the secret
    _assert_no_secret(json.dumps(body) + result.model_dump_json())


def test_slack_includes_the_graph_of_the_first_alert(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN an alert with a metric widget
    world = World()
    n = notification([alert(metric_widget=WIDGET), alert(service="other", metric_widget='{"other": 1}')])

    # WHEN it is delivered to Slack
    result = deliver(n, SLACK, world.ports)

    # THEN the first alert's widget was drawn and its image is in the message
    assert world.graphs.widgets == [WIDGET]
    images = [b for b in world.http.calls[0][1]["blocks"] if b["type"] == "image"]
    assert [i["image_url"] for i in images] == ["https://graphs.example/graphs/abc.png"]
    assert result.graph_included is True


def test_a_failing_graph_never_fails_the_delivery(alert: AlertFactory, notification: NotificationFactory,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a graph port that breaks
    world = World(graphs=FakeGraphs(error=RuntimeError("throttled")))

    # WHEN an alert with a metric is delivered to Slack
    with caplog.at_level(logging.WARNING):
        result = deliver(notification([alert(metric_widget=WIDGET)]), SLACK, world.ports)

    # THEN the message went without an image, and the failure was logged
    assert result.requests_sent == 1
    assert result.graph_included is False
    assert not [b for b in world.http.calls[0][1]["blocks"] if b["type"] == "image"]
    assert "graph unavailable" in caplog.text


@pytest.mark.parametrize("case", ["no graph available", "graphs disabled", "no graph port"])
def test_slack_without_a_graph(alert: AlertFactory, notification: NotificationFactory, case: str) -> None:
    # GIVEN an alert with a metric, and a graph that is unavailable, disabled, or has no port
    world = World(graphs=FakeGraphs(url=None))
    receiver = SLACK.model_copy(update={"include_graph": False}) if case == "graphs disabled" else SLACK
    ports = world.ports
    if case == "no graph port":
        ports = NotifierPorts(http=world.http, secrets=world.secrets, sns=world.sns)

    # WHEN it is delivered
    result = deliver(notification([alert(metric_widget=WIDGET)]), receiver, ports)

    # THEN no image is sent; a disabled graph is not even drawn
    assert result.graph_included is False
    assert not [b for b in world.http.calls[0][1]["blocks"] if b["type"] == "image"]
    assert world.graphs.widgets == ([] if case != "no graph available" else [WIDGET])


def test_pagerduty_sends_one_event_per_alert(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN two firing alerts and a resolved one, and PagerDuty answering 202
    world = World(http=FakeHttp(statuses=[202, 202, 202]))
    alerts = [alert(service="a"), alert(service="b"), alert(service="c", status=AlertStatus.RESOLVED)]

    # WHEN they are delivered
    result = deliver(notification(alerts), PAGERDUTY, world.ports)

    # THEN three events went to the events URL, keyed by fingerprint
    assert [url for url, _ in world.http.calls] == [PAGERDUTY.events_url] * 3
    assert [(b["dedup_key"], b["event_action"]) for _, b in world.http.calls] == [
        (alerts[0].fingerprint, "trigger"), (alerts[1].fingerprint, "trigger"), (alerts[2].fingerprint, "resolve")]
    assert all(b["routing_key"] == ROUTING_KEY for _, b in world.http.calls)
    assert (result.type, result.requests_sent) == ("pagerduty", 3)


def test_pagerduty_failure_midway_reports_what_was_sent(alert: AlertFactory,
                                                        notification: NotificationFactory) -> None:
    # GIVEN PagerDuty failing on the second event
    world = World(http=FakeHttp(statuses=[202, 503]))
    alerts = [alert(service="a"), alert(service="b"), alert(service="c")]

    # WHEN they are delivered
    with pytest.raises(DeliveryError) as caught:
        deliver(notification(alerts), PAGERDUTY, world.ports)

    # THEN it stops there, is retryable (PagerDuty dedups a resend) and leaks no routing key
    assert len(world.http.calls) == 2
    assert (caught.value.sent, caught.value.status, caught.value.retryable) == (1, 503, True)
    assert str(caught.value) == "pagerduty receiver 'oncall': request 2 answered HTTP 503"
    _assert_no_secret(str(caught.value) + repr(caught.value))


@pytest.mark.parametrize(("status", "rejected"), [(400, True), (403, True), (404, True), (429, False),
                                                  (500, False), (302, False), (199, False)])
def test_non_2xx_is_a_delivery_error(alert: AlertFactory, notification: NotificationFactory, status: int,
                                     rejected: bool) -> None:
    # GIVEN a webhook answering `status`
    world = World(http=FakeHttp(statuses=[status]))

    # WHEN a notification is delivered
    with pytest.raises(DeliveryError) as caught:
        deliver(notification([alert()]), WEBHOOK, world.ports)

    # THEN it fails; 4xx other than 429 is rejected (not worth a retry), the rest may be retried
    assert isinstance(caught.value, DeliveryRejectedError) is rejected
    assert caught.value.retryable is not rejected
    assert caught.value.status == status
    _assert_no_secret(str(caught.value))


def test_an_exception_is_redacted_and_not_chained(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN an HTTP port whose error repeats the secret URL, in full and in parts
    error = OSError(f"cannot reach {HOOK_URL} (path /in/tok3n-abcdef, auth user:hunter2pass)")
    world = World(http=FakeHttp(error=error))

    # WHEN a notification is delivered to the webhook
    with pytest.raises(DeliveryError) as caught:
        deliver(notification([alert()]), WEBHOOK, world.ports)

    # THEN the error names the receiver and the cause, without any part of the secret
    message = str(caught.value)
    assert message.startswith("webhook receiver 'hook': request 1 failed: OSError: cannot reach [REDACTED]")
    _assert_no_secret(message)
    # AND the original exception is not chained, so that a logged traceback cannot leak it either
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_a_secret_that_cannot_be_resolved(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a receiver whose secret does not exist
    receiver = SlackReceiver(name="lost", webhook_url=SecretRef(secret="alerting/missing"))

    # WHEN it is delivered to
    with pytest.raises(DeliveryError, match=r"cannot resolve its secret \(secret alerting/missing\)"):
        deliver(notification([alert()]), receiver, World().ports)


def test_an_empty_secret_is_an_error(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a secret resolving to an empty string
    world = World(secrets=FakeSecrets(values={SLACK_REF: ""}))

    # WHEN it is delivered to, THEN nothing is sent
    with pytest.raises(DeliveryError, match="is empty"):
        deliver(notification([alert()]), SLACK, world.ports)
    assert world.http.calls == []


def test_webhook_gets_the_v4_payload_capped(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a webhook taking one alert, and two alerts
    world = World()

    # WHEN they are delivered
    deliver(notification([alert(service="a"), alert(service="b")]), WEBHOOK, world.ports)

    # THEN the secret URL got the Alertmanager payload, with one alert truncated
    [(url, body)] = world.http.calls
    assert url == HOOK_URL
    assert (body["version"], len(body["alerts"]), body["truncatedAlerts"]) == ("4", 1, 1)


def test_email_is_published_to_the_topic(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN an email receiver
    world = World()

    # WHEN a firing alert is delivered
    result = deliver(notification([alert()]), EMAIL, world.ports)

    # THEN one message went to the topic
    [(topic, subject, body)] = world.sns.published
    assert topic == EMAIL.topic_arn
    assert subject.startswith("[FIRING:1] CRITICAL HighErrorRate")
    assert "5xx rate above 5%" in body
    assert (result.type, result.requests_sent) == ("email", 1)


def test_sns_failure_is_a_delivery_error(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN SNS failing
    world = World(sns=FakeSns(error=RuntimeError("AuthorizationError")))

    # WHEN an email is delivered, THEN it is a retryable delivery error
    with pytest.raises(DeliveryError, match="SNS publish failed: RuntimeError: AuthorizationError") as caught:
        deliver(notification([alert()]), EMAIL, world.ports)
    assert caught.value.retryable


def test_resolved_only_is_not_sent_without_send_resolved(alert: AlertFactory,
                                                         notification: NotificationFactory) -> None:
    # GIVEN an email receiver (send_resolved is false by default) and an all-resolved notification
    world = World()

    # WHEN it is delivered
    result = deliver(notification([alert(status=AlertStatus.RESOLVED)]), EMAIL, world.ports)

    # THEN nothing is sent, and that is a success
    assert world.sns.published == []
    assert result.requests_sent == 0


def test_send_resolved_false_drops_resolved_alerts(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a PagerDuty receiver without send_resolved and a mixed notification
    world = World()
    receiver = PAGERDUTY.model_copy(update={"send_resolved": False})
    alerts = [alert(service="a"), alert(service="b", status=AlertStatus.RESOLVED)]

    # WHEN it is delivered
    result = deliver(notification(alerts), receiver, world.ports)

    # THEN only the firing alert is triggered; the incident of the resolved one is left to people
    assert [b["event_action"] for _, b in world.http.calls] == ["trigger"]
    assert result.requests_sent == 1
