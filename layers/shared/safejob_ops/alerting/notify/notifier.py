"""Delivery of one notification to one receiver: resolve the secret, build the payload, send it, check the answer.

Every failure becomes a `DeliveryError` whose message names the receiver but never carries a secret (webhook URL,
routing key): the values are redacted from any underlying error text, and the original exception is not chained,
so that a logged traceback cannot leak them either. A `DeliveryRejectedError` (HTTP 4xx other than 408/429) will
fail the same way on retry: the state machine should send it to the dead-letter queue without retrying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict

from safejob_ops.alerting.models import Notification
from safejob_ops.alerting.notify.payloads import (
    email_message,
    pagerduty_events,
    slack_message,
    webhook_payload,
    without_resolved,
)
from safejob_ops.alerting.notify.ports import GraphPort, HttpPort, SecretsPort, SnsPort
from safejob_ops.alerting.receivers import (
    EmailReceiver,
    PagerDutyReceiver,
    Receiver,
    SecretRef,
    SlackReceiver,
    WebhookReceiver,
)

logger = Logger(child=True)

REDACTED = "[REDACTED]"
_RETRYABLE_4XX = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """A notification could not be delivered. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, receiver: str, status: int | None = None, sent: int = 0,
                 retryable: bool = True) -> None:
        super().__init__(message)
        self.receiver = receiver
        self.status = status
        self.sent = sent
        self.retryable = retryable


class DeliveryRejectedError(DeliveryError):
    """The receiver refused the request (HTTP 4xx): retrying the same request will not help."""

    def __init__(self, message: str, *, receiver: str, status: int | None = None, sent: int = 0) -> None:
        super().__init__(message, receiver=receiver, status=status, sent=sent, retryable=False)


@dataclass(frozen=True, slots=True)
class NotifierPorts:
    """The outside world the notifier talks to. `graphs` is optional: without it, no graph is ever drawn."""

    http: HttpPort
    secrets: SecretsPort
    sns: SnsPort
    graphs: GraphPort | None = None


class DeliveryResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    notification_id: str
    receiver: str
    type: Literal["slack", "pagerduty", "email", "webhook"]
    requests_sent: int
    graph_included: bool = False


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret, and the path, query and credentials of every secret URL, replaced.

    >>> redact("POST https://hooks.example/services/T1/B2/xyz failed", ["https://hooks.example/services/T1/B2/xyz"])
    'POST [REDACTED] failed'
    >>> redact("404 for /services/T1/B2/xyz", ["https://hooks.example/services/T1/B2/xyz"])
    '404 for [REDACTED]'
    """
    parts: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        parts.add(secret)
        if "://" in secret:
            url = urlsplit(secret)
            parts.update(p for p in (url.path, url.query, url.fragment, url.password or "")
                         if len(p) > 1)
            if url.path and url.query:
                parts.add(f"{url.path}?{url.query}")
    # Longest first, so that a URL is replaced whole before its path is.
    for part in sorted(parts, key=len, reverse=True):
        text = text.replace(part, REDACTED)
    return text


class _Delivery:
    """The state of one delivery attempt: what secrets to redact and how many requests went out."""

    def __init__(self, n: Notification, receiver: Receiver, ports: NotifierPorts) -> None:
        self.n = n
        self.receiver = receiver
        self.ports = ports
        self.secrets: list[str] = []
        self.sent = 0

    def fail(self, what: str, *, status: int | None = None, error: BaseException | None = None) -> DeliveryError:
        detail = f": {type(error).__name__}: {redact(str(error), self.secrets)}" if error is not None else ""
        message = f"{self.receiver.type} receiver {self.receiver.name!r}: {what}{detail}"
        if status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX:
            return DeliveryRejectedError(message, receiver=self.receiver.name, status=status, sent=self.sent)
        return DeliveryError(message, receiver=self.receiver.name, status=status, sent=self.sent)

    def secret(self, ref: SecretRef) -> str:
        try:
            value = self.ports.secrets.resolve(ref)
        except Exception as exc:
            raise self.fail(f"cannot resolve its secret ({_describe(ref)})", error=exc) from None
        if not value:
            raise self.fail(f"its secret ({_describe(ref)}) is empty")
        self.secrets.append(value)
        return value

    def post(self, url: str, body: dict[str, object]) -> None:
        try:
            status = self.ports.http.post_json(url, body)
        except Exception as exc:
            raise self.fail(f"request {self.sent + 1} failed", error=exc) from None
        if not 200 <= status < 300:
            raise self.fail(f"request {self.sent + 1} answered HTTP {status}", status=status)
        self.sent += 1


def _describe(ref: SecretRef) -> str:
    where = f"secret {ref.secret}" if ref.secret is not None else f"ssm {ref.ssm}"
    return where + (f" key {ref.key}" if ref.key else "")


def _graph_url(n: Notification, graphs: GraphPort | None, receiver: str) -> str | None:
    """The graph of the first alert's metric, or None. Never raises: a missing graph must not fail a page."""
    if graphs is None or not n.alerts or not n.alerts[0].annotations.metric_widget:
        return None
    try:
        return graphs.render(n.alerts[0].annotations.metric_widget)
    except Exception as exc:
        logger.warning("graph unavailable, sending without it", extra={
            "receiver": receiver, "notification_id": n.id, "error": type(exc).__name__})
        return None


def deliver(n: Notification, receiver: Receiver, ports: NotifierPorts) -> DeliveryResult:
    """Send `n` to `receiver`, or raise `DeliveryError`. Resolved alerts are left out for receivers with
    `send_resolved: false` (nothing is sent if none fires). Safe to retry: PagerDuty dedups on `dedup_key`.

    >>> from datetime import UTC, datetime
    >>> from safejob_ops.alerting.models import AlertStatus
    >>> class Sns:
    ...     def publish(self, topic_arn: str, subject: str, message: str) -> str:
    ...         return "msg-1"
    >>> n = Notification(id="n1", at=datetime(2026, 1, 1, tzinfo=UTC), receiver="ops", group_key="g",
    ...                  group_labels={}, status=AlertStatus.FIRING, alerts=[])
    >>> ports = NotifierPorts(http=None, secrets=None, sns=Sns())  # type: ignore[arg-type]
    >>> deliver(n, EmailReceiver(name="ops", topic_arn="arn:aws:sns:eu-west-1:1:ops", send_resolved=True),
    ...         ports).requests_sent
    1
    """
    if not receiver.send_resolved:
        filtered = without_resolved(n)
        if filtered is None:
            logger.info("nothing firing for a receiver without send_resolved",
                        extra={"receiver": receiver.name, "notification_id": n.id})
            return DeliveryResult(notification_id=n.id, receiver=receiver.name, type=receiver.type, requests_sent=0)
        n = filtered

    attempt = _Delivery(n, receiver, ports)
    graph_included = False
    match receiver:
        case SlackReceiver():
            url = attempt.secret(receiver.webhook_url)
            graph = _graph_url(n, ports.graphs, receiver.name) if receiver.include_graph else None
            attempt.post(url, slack_message(n, graph, receiver.channel))
            graph_included = graph is not None
        case PagerDutyReceiver():
            routing_key = attempt.secret(receiver.routing_key)
            for event in pagerduty_events(n, routing_key):
                attempt.post(receiver.events_url, event)
        case WebhookReceiver():
            url = attempt.secret(receiver.url)
            attempt.post(url, webhook_payload(n, receiver.max_alerts))
        case EmailReceiver():
            subject, body = email_message(n)
            try:
                ports.sns.publish(receiver.topic_arn, subject, body)
            except Exception as exc:
                raise attempt.fail("SNS publish failed", error=exc) from None
            attempt.sent = 1
    logger.info("notification delivered", extra={
        "receiver": receiver.name, "type": receiver.type, "notification_id": n.id, "requests": attempt.sent})
    return DeliveryResult(notification_id=n.id, receiver=receiver.name, type=receiver.type,
                          requests_sent=attempt.sent, graph_included=graph_included)
