"""What the notifier needs from the outside world. Adapters in `safejob_ops.adapters` implement these with boto3
and urllib; tests pass fakes. Every port may raise: the notifier turns failures into `DeliveryError`."""

from __future__ import annotations

from typing import Any, Protocol

from safejob_ops.alerting.receivers import SecretRef


class HttpPort(Protocol):
    def post_json(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None,
                  timeout: float = 5.0) -> int:
        """POST `body` as JSON and return the HTTP status code (4xx/5xx are returned, not raised).
        Connection errors and timeouts raise."""
        ...


class SecretsPort(Protocol):
    def resolve(self, ref: SecretRef) -> str:
        """The secret value behind `ref` (Secrets Manager or SSM SecureString, `key` selecting a JSON field)."""
        ...


class SnsPort(Protocol):
    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        """Publish to an SNS topic and return the message id."""
        ...


class GraphPort(Protocol):
    def render(self, widget_json: str) -> str | None:
        """A URL of a PNG image of the metric described by a GetMetricWidgetImage widget, or None if unavailable."""
        ...
