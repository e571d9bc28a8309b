"""alarm_route deliver: sends one notification to one receiver; at most once per notification id."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.alert_store import DynamoAlertStore
from safejob_ops.adapters.notifier_ports import default_ports
from safejob_ops.alerting.config import load_config
from safejob_ops.alerting.service import DeliverInput, deliver_notification
from safejob_ops.settings import Settings, config_file


class DeliverSettings(Settings):
    state_table_name: str
    idempotency_table_name: str
    graphs_bucket_name: str
    alerting_config_file: str


settings = DeliverSettings.from_env()
config = load_config(config_file(settings.alerting_config_file))
store = DynamoAlertStore(settings.state_table_name)
ports = default_ports(graphs_bucket=settings.graphs_bucket_name)
logger = Logger()
_send: Callable[..., dict[str, Any]] | None = None
_idempotency: Any = None  # its IdempotencyConfig, which learns each invocation's remaining time


def send(request: dict[str, Any]) -> dict[str, Any]:
    result = deliver_notification(DeliverInput.model_validate(request), config, ports, store, os.environ,
                                  datetime.now(UTC))
    return result.model_dump(mode="json")


def idempotent_send(context: LambdaContext) -> Callable[..., dict[str, Any]]:
    """`send`, at most once per notification id. Built on first use, like every AWS client here: Powertools
    Idempotency imports boto3 and creates its DynamoDB client when set up (~250 ms off the cold start)."""
    global _send, _idempotency
    if _send is None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        _idempotency = IdempotencyConfig(event_key_jmespath="notification.id", expires_after_seconds=7 * 24 * 3600)
        persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name)
        _send = idempotent_function(data_keyword_argument="request", config=_idempotency,
                                    persistence_store=persistence)(send)
    _idempotency.register_lambda_context(context)
    return _send


@logger.inject_lambda_context(correlation_id_path="execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=DeliverInput)  # a malformed event fails here, before any side effect
    result = idempotent_send(context)(request=request.model_dump(mode="json"))
    logger.info("delivered", extra={"notification_id": request.notification.id, "receiver": result["receiver"]})
    return result
