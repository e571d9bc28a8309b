"""alarm_route admin API: silences and maintenance windows (see docs/workflows/alarm_route.md, "Admin API")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.alert_store import DynamoAlertStore
from safejob_ops.alerting.config import load_config
from safejob_ops.alerting.service import AdminRequestModel, admin
from safejob_ops.settings import Settings, config_file


class AdminSettings(Settings):
    state_table_name: str
    alerting_config_file: str


settings = AdminSettings.from_env()
config = load_config(config_file(settings.alerting_config_file))
store = DynamoAlertStore(settings.state_table_name)
logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event={"request": event}, model=AdminRequestModel).request
    response = admin(request, config, store, datetime.now(UTC))
    logger.info("admin", extra={"action": request.action, "silences": [s.id for s in response.silences]})
    return response.model_dump(mode="json")
