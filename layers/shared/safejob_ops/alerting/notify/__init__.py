"""Notification delivery: pure payload builders, the ports they are sent through, and the notifier.

Wiring (in the deliver Lambda):
    ports = NotifierPorts(http=UrllibHttp(), secrets=ParameterSecrets(), sns=SnsPublisher(),
                          graphs=CloudWatchGraphs(bucket=...))
    result = deliver(notification, receiver, ports)
"""

from safejob_ops.alerting.notify.notifier import (
    DeliveryError,
    DeliveryRejectedError,
    DeliveryResult,
    NotifierPorts,
    deliver,
    redact,
)
from safejob_ops.alerting.notify.payloads import (
    email_message,
    pagerduty_events,
    slack_message,
    webhook_payload,
    without_resolved,
)
from safejob_ops.alerting.notify.ports import GraphPort, HttpPort, SecretsPort, SnsPort

__all__ = [
    "DeliveryError",
    "DeliveryRejectedError",
    "DeliveryResult",
    "GraphPort",
    "HttpPort",
    "NotifierPorts",
    "SecretsPort",
    "SnsPort",
    "deliver",
    "email_message",
    "pagerduty_events",
    "redact",
    "slack_message",
    "webhook_payload",
    "without_resolved",
]
