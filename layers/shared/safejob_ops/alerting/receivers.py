"""Receiver configuration: where notifications go. Secrets (webhook URLs, routing keys) are never in config,
only references to Secrets Manager or SSM Parameter Store, resolved at delivery time and never logged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SecretRef(BaseModel):
    """A reference to a secret value: exactly one of `secret` (Secrets Manager id or ARN) or `ssm` (a
    SecureString parameter name). An optional `key` selects a field when the secret is a JSON object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: str | None = None
    ssm: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.secret is None) == (self.ssm is None):
            raise ValueError("give exactly one of 'secret' (Secrets Manager) or 'ssm' (Parameter Store)")
        return self


class _ReceiverBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)


class SlackReceiver(_ReceiverBase):
    type: Literal["slack"] = "slack"
    webhook_url: SecretRef
    channel: str | None = None
    # Alertmanager's default for Slack is false; ours is true so that people see recoveries.
    send_resolved: bool = True
    include_graph: bool = True


class PagerDutyReceiver(_ReceiverBase):
    type: Literal["pagerduty"] = "pagerduty"
    routing_key: SecretRef
    # Overridable for tests and for EU-hosted accounts (https://events.eu.pagerduty.com/v2/enqueue).
    events_url: str = "https://events.pagerduty.com/v2/enqueue"
    send_resolved: bool = True


class EmailReceiver(_ReceiverBase):
    """Email through an SNS topic with email subscriptions."""

    type: Literal["email"] = "email"
    topic_arn: str = Field(min_length=1)
    send_resolved: bool = False


class WebhookReceiver(_ReceiverBase):
    """A generic webhook that receives an Alertmanager-compatible (version 4) JSON payload."""

    type: Literal["webhook"] = "webhook"
    url: SecretRef
    send_resolved: bool = True
    max_alerts: int = Field(default=0, ge=0)


Receiver = Annotated[
    SlackReceiver | PagerDutyReceiver | EmailReceiver | WebhookReceiver, Field(discriminator="type")
]


ENV_PREFIX = "env:"


class ReceiverEnvError(ValueError):
    pass


type AnyReceiver = SlackReceiver | PagerDutyReceiver | EmailReceiver | WebhookReceiver


def resolve_env_refs(receiver: AnyReceiver, environ: Mapping[str, str]) -> AnyReceiver:
    """Replace string fields written `env:NAME` by the value of environment variable NAME.

    Values that differ per stack (the email topic's ARN, a regional PagerDuty endpoint) come from the template
    through the function's environment, so that one config file serves every environment.

    >>> r = EmailReceiver(name="mail", topic_arn="env:TOPIC")
    >>> resolve_env_refs(r, {"TOPIC": "arn:aws:sns:eu-west-1:1:t"}).topic_arn
    'arn:aws:sns:eu-west-1:1:t'
    """
    updates: dict[str, str] = {}
    for field_name, value in receiver:
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            variable = value[len(ENV_PREFIX):]
            if variable not in environ:
                raise ReceiverEnvError(
                    f"receivers[{receiver.name}].{field_name}: environment variable {variable} is not set; "
                    "fix: pass it to the function in template.yaml"
                )
            updates[field_name] = environ[variable]
    return receiver.model_copy(update=updates) if updates else receiver
