"""The notifier with the real adapters: secrets from moto, HTTP to the local sink on loopback, email through moto
SNS. The graph is drawn by a fake GraphPort here (moto lacks GetMetricWidgetImage; the CloudWatch adapter has its
own stubbed test in test_notify_aws_adapters.py), except in one test that stubs the call with botocore's Stubber.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
import pytest
from botocore.stub import Stubber

from safejob_ops.adapters.graphs import CloudWatchGraphs
from safejob_ops.adapters.http import UrllibHttp
from safejob_ops.adapters.secrets import ParameterSecrets
from safejob_ops.adapters.sns import SnsPublisher
from safejob_ops.alerting.models import AlertStatus, Notification, NotificationAlert
from safejob_ops.alerting.notify import DeliveryError, DeliveryRejectedError, NotifierPorts, deliver
from safejob_ops.alerting.receivers import (
    EmailReceiver,
    PagerDutyReceiver,
    SecretRef,
    SlackReceiver,
    WebhookReceiver,
)
from safejob_tools.localaws.sink import HttpSink

pytestmark = pytest.mark.usefixtures("aws")

AlertFactory = Callable[..., NotificationAlert]
NotificationFactory = Callable[..., Notification]

SLACK_TOKEN = "T0AAAA/B0BBBB/xoxSl4ckT0k3n"
HOOK_TOKEN = "h00kT0k3n-9f8e7d"
ROUTING_KEY = "pd0123456789abcdef0123456789abcd"
WIDGET = '{"metrics": [["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"]], "period": 60}'


@dataclass
class FakeGraphs:
    """A GraphPort that 'draws' a fixed URL and remembers what it was asked."""

    widgets: list[str] = field(default_factory=list)

    def render(self, widget_json: str) -> str | None:
        self.widgets.append(widget_json)
        return "https://graphs.example/graphs/0123.png"


@dataclass
class Setup:
    sink: HttpSink
    ports: NotifierPorts
    slack: SlackReceiver
    pagerduty: PagerDutyReceiver
    webhook: WebhookReceiver
    email: EmailReceiver
    email_queue_url: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return (SLACK_TOKEN, HOOK_TOKEN, ROUTING_KEY, self.sink.url(f"/slack/{SLACK_TOKEN}"))


@pytest.fixture
def setup(sink: HttpSink) -> Setup:
    """Receivers of every type whose secrets live in moto, pointing at the sink; an SNS topic read through SQS."""
    sm, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
    sm.create_secret(Name="alerting/slack-ops", SecretString=json.dumps({"url": sink.url(f"/slack/{SLACK_TOKEN}")}))
    sm.create_secret(Name="alerting/audit-hook", SecretString=sink.url(f"/webhook/{HOOK_TOKEN}"))
    ssm.put_parameter(Name="/alerting/pagerduty/oncall", Value=ROUTING_KEY, Type="SecureString")
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="ops-email")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="ops-email-copy")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return Setup(
        sink=sink,
        ports=NotifierPorts(http=UrllibHttp(), secrets=ParameterSecrets(), sns=SnsPublisher(), graphs=FakeGraphs()),
        slack=SlackReceiver(name="ops-slack", webhook_url=SecretRef(secret="alerting/slack-ops", key="url"),
                            channel="#ops"),
        pagerduty=PagerDutyReceiver(name="oncall", routing_key=SecretRef(ssm="/alerting/pagerduty/oncall"),
                                    events_url=sink.url("/pagerduty/v2/enqueue")),
        webhook=WebhookReceiver(name="audit", url=SecretRef(secret="alerting/audit-hook"), max_alerts=2),
        email=EmailReceiver(name="ops-email", topic_arn=topic, send_resolved=True),
        email_queue_url=queue_url,
    )


def test_slack_gets_block_kit_with_the_graph(setup: Setup, alert: AlertFactory,
                                             notification: NotificationFactory) -> None:
    # GIVEN a firing alert with a metric
    n = notification([alert(metric_widget=WIDGET)])

    # WHEN it is delivered to Slack
    result = deliver(n, setup.slack, setup.ports)

    # THEN the sink got one Block Kit message at the secret URL, with the graph
    [request] = setup.sink.requests("/slack/")
    assert request.path == f"/slack/{SLACK_TOKEN}"
    assert request.body["channel"] == "#ops"
    assert request.body["blocks"][0]["text"]["text"] == ":rotating_light: [FIRING:1] CRITICAL · HighErrorRate"
    assert [b["image_url"] for b in request.body["blocks"] if b["type"] == "image"] == [
        "https://graphs.example/graphs/0123.png"]
    assert (result.requests_sent, result.graph_included) == (1, True)


def test_slack_graph_through_the_cloudwatch_adapter(setup: Setup, alert: AlertFactory,
                                                    notification: NotificationFactory) -> None:
    # GIVEN the real graphs adapter: moto S3, and GetMetricWidgetImage stubbed with botocore's Stubber
    s3, cloudwatch = boto3.client("s3"), boto3.client("cloudwatch")
    s3.create_bucket(Bucket="graphs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
    ports = NotifierPorts(http=setup.ports.http, secrets=setup.ports.secrets, sns=setup.ports.sns,
                          graphs=CloudWatchGraphs("graphs", cloudwatch=cloudwatch))

    # WHEN an alert with a metric is delivered to Slack
    with Stubber(cloudwatch) as stub:
        stub.add_response("get_metric_widget_image", {"MetricWidgetImage": png},
                          {"MetricWidget": WIDGET, "OutputFormat": "png"})
        result = deliver(notification([alert(metric_widget=WIDGET)]), setup.slack, ports)

    # THEN the image block points at the presigned PNG in the bucket
    [image] = [b for b in setup.sink.requests("/slack/")[0].body["blocks"] if b["type"] == "image"]
    assert "/graphs/" in image["image_url"]
    assert "X-Amz-Signature=" in image["image_url"]
    assert result.graph_included is True


def test_slack_delivery_survives_a_failing_graph(setup: Setup, alert: AlertFactory,
                                                 notification: NotificationFactory) -> None:
    # GIVEN the graphs adapter failing (CloudWatch throttles)
    cloudwatch = boto3.client("cloudwatch")
    ports = NotifierPorts(http=setup.ports.http, secrets=setup.ports.secrets, sns=setup.ports.sns,
                          graphs=CloudWatchGraphs("graphs", cloudwatch=cloudwatch))

    # WHEN an alert with a metric is delivered to Slack
    with Stubber(cloudwatch) as stub:
        stub.add_client_error("get_metric_widget_image", "Throttling", "Rate exceeded")
        result = deliver(notification([alert(metric_widget=WIDGET)]), setup.slack, ports)

    # THEN the message still went, without an image
    assert (result.requests_sent, result.graph_included) == (1, False)
    assert not [b for b in setup.sink.requests("/slack/")[0].body["blocks"] if b["type"] == "image"]


def test_pagerduty_gets_trigger_and_resolve_events(setup: Setup, alert: AlertFactory,
                                                   notification: NotificationFactory) -> None:
    # GIVEN one alert firing and one resolved
    firing, resolved = alert("api"), alert("worker", status=AlertStatus.RESOLVED)

    # WHEN they are delivered to PagerDuty
    result = deliver(notification([firing, resolved]), setup.pagerduty, setup.ports)

    # THEN the sink (answering 202 like PagerDuty) got one event each, keyed by fingerprint
    bodies = setup.sink.bodies("/pagerduty/")
    assert [(b["event_action"], b["dedup_key"], b["routing_key"]) for b in bodies] == [
        ("trigger", firing.fingerprint, ROUTING_KEY), ("resolve", resolved.fingerprint, ROUTING_KEY)]
    assert [r.status for r in setup.sink.requests("/pagerduty/")] == [202, 202]
    assert result.requests_sent == 2


def test_webhook_gets_the_alertmanager_payload(setup: Setup, alert: AlertFactory,
                                               notification: NotificationFactory) -> None:
    # GIVEN three alerts and a webhook capped at two
    n = notification([alert("a"), alert("b"), alert("c")], receiver="audit")

    # WHEN they are delivered
    deliver(n, setup.webhook, setup.ports)

    # THEN the secret URL got the version 4 payload, truncated
    [request] = setup.sink.requests("/webhook/")
    assert request.path == f"/webhook/{HOOK_TOKEN}"
    assert (request.body["version"], request.body["receiver"], request.body["truncatedAlerts"]) == ("4", "audit", 1)
    assert len(request.body["alerts"]) == 2


def test_email_goes_through_sns(setup: Setup, alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a firing alert
    # WHEN it is delivered to the email receiver
    result = deliver(notification([alert()]), setup.email, setup.ports)

    # THEN the topic's subscriber got the subject and the plain-text body
    [received] = boto3.client("sqs").receive_message(QueueUrl=setup.email_queue_url)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["Subject"] == "[FIRING:1] CRITICAL HighErrorRate (api, staging)"
    assert "5xx rate above 5% on api" in envelope["Message"]
    assert (result.type, result.requests_sent) == ("email", 1)


def test_a_failing_sink_is_a_delivery_error_without_secrets_then_a_retry_succeeds(
        setup: Setup, alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN Slack failing once with a 500
    setup.sink.fail("/slack/", times=1, status=500)
    n = notification([alert()])

    # WHEN it is delivered
    with pytest.raises(DeliveryError) as caught:
        deliver(n, setup.slack, setup.ports)

    # THEN the error is retryable and names the receiver and status, but no part of the URL
    assert str(caught.value) == "slack receiver 'ops-slack': request 1 answered HTTP 500"
    assert caught.value.retryable
    assert not [s for s in setup.secrets if s in str(caught.value) or s in repr(caught.value)]
    # AND the retry goes through
    assert deliver(n, setup.slack, setup.ports).requests_sent == 1
    assert [r.status for r in setup.sink.requests("/slack/")] == [500, 200]


def test_pagerduty_rejecting_an_event_is_not_retryable(setup: Setup, alert: AlertFactory,
                                                       notification: NotificationFactory) -> None:
    # GIVEN PagerDuty refusing the event (400: invalid event)
    setup.sink.fail("/pagerduty/", times=1, status=400)

    # WHEN it is delivered, THEN the error says rejected, with no routing key in it
    with pytest.raises(DeliveryRejectedError) as caught:
        deliver(notification([alert()]), setup.pagerduty, setup.ports)
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert ROUTING_KEY not in str(caught.value)


def test_an_unreachable_webhook_is_a_delivery_error_without_secrets(
        setup: Setup, alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN the sink stopped, so that the webhook's port refuses connections
    setup.sink.stop()

    # WHEN a notification is delivered there
    with pytest.raises(DeliveryError, match="webhook receiver 'audit': request 1 failed: URLError") as caught:
        deliver(notification([alert()]), setup.webhook, setup.ports)

    # THEN the error hides the URL
    assert HOOK_TOKEN not in str(caught.value)
    assert caught.value.retryable


def test_a_missing_secret_is_a_delivery_error(setup: Setup, alert: AlertFactory,
                                              notification: NotificationFactory) -> None:
    # GIVEN a receiver whose secret was never created
    receiver = SlackReceiver(name="lost", webhook_url=SecretRef(secret="alerting/missing"))

    # WHEN it is delivered to, THEN it fails naming the secret, and nothing is sent
    with pytest.raises(DeliveryError, match=r"cannot resolve its secret \(secret alerting/missing\)"):
        deliver(notification([alert()]), receiver, setup.ports)
    assert setup.sink.requests() == []
