"""Seed the emulator with what operators create by hand in a real account: the receivers' secrets.

Each receiver of the local config gets its secret pointing at the local HTTP sink, at `/<type>/<receiver name>`,
so that what every receiver was sent can be read back from the sink.
"""

from __future__ import annotations

import json

from safejob_ops.alerting.config import load_config
from safejob_ops.alerting.receivers import PagerDutyReceiver, SecretRef, SlackReceiver, WebhookReceiver
from safejob_ops.settings import config_file
from safejob_tools.localaws.server import LocalAws
from safejob_tools.localaws.sink import HttpSink

LOCAL_CONFIG = "alerting.local.yaml"


def receiver_path(receiver_type: str, name: str) -> str:
    return f"/{receiver_type}/{name}"


def _put(aws: LocalAws, ref: SecretRef, value: str) -> None:
    if ref.key is not None:
        value = json.dumps({ref.key: value})
    if ref.secret is not None:
        sm = aws.client("secretsmanager")
        try:
            sm.create_secret(Name=ref.secret, SecretString=value)
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=ref.secret, SecretString=value)
    elif ref.ssm is not None:
        aws.client("ssm").put_parameter(Name=ref.ssm, Value=value, Type="SecureString", Overwrite=True)


def seed_receiver_secrets(aws: LocalAws, sink: HttpSink, config_name: str = LOCAL_CONFIG) -> dict[str, str]:
    """Create every receiver secret of the config; returns receiver name -> sink path."""
    config = load_config(config_file(config_name))
    paths: dict[str, str] = {}
    for receiver in config.receivers:
        path = receiver_path(receiver.type, receiver.name)
        if isinstance(receiver, SlackReceiver):
            _put(aws, receiver.webhook_url, sink.url(path))
        elif isinstance(receiver, WebhookReceiver):
            _put(aws, receiver.url, sink.url(path))
        elif isinstance(receiver, PagerDutyReceiver):
            _put(aws, receiver.routing_key, f"local-routing-key-{receiver.name}")
            path = "/pagerduty"
        else:
            path = "sns"
        paths[receiver.name] = path
    return paths
