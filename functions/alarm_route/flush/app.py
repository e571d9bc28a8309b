"""alarm_route flush: the state machine calls this once per group tick (after group_wait, then every group_interval)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.alert_store import DynamoAlertStore
from safejob_ops.alerting.config import load_config
from safejob_ops.alerting.service import FlushInput, flush_group
from safejob_ops.settings import Settings, config_file


class FlushSettings(Settings):
    state_table_name: str
    alerting_config_file: str


settings = FlushSettings.from_env()
config = load_config(config_file(settings.alerting_config_file))
store = DynamoAlertStore(settings.state_table_name)
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="execution_id")
@event_parser(model=FlushInput)
def lambda_handler(event: FlushInput, context: LambdaContext) -> dict[str, Any]:
    result = flush_group(event, config, store, datetime.now(UTC))
    logger.info("flushed", extra={"group_key": event.group_key, "tick": event.tick, "done": result.done,
                                  "notifications": [n.id for n in result.notifications]})
    return result.model_dump(mode="json")
