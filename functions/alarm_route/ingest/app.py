"""alarm_route ingest: EventBridge rules, SNS and alarm actions invoke this with raw events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.alert_store import DynamoAlertStore
from safejob_ops.adapters.scheduler import StepFunctionsScheduler
from safejob_ops.alerting.config import load_config
from safejob_ops.alerting.service import ingest
from safejob_ops.settings import Settings, config_file


class IngestSettings(Settings):
    state_table_name: str
    state_machine_arn: str
    alerting_config_file: str


settings = IngestSettings.from_env()
config = load_config(config_file(settings.alerting_config_file))
store = DynamoAlertStore(settings.state_table_name)
scheduler = StepFunctionsScheduler(settings.state_machine_arn)
logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = ingest(event, config, store, scheduler, datetime.now(UTC))
    metrics.add_metric(name="AlertsIngested", unit=MetricUnit.Count, value=len(result.alerts))
    if result.unrecognised:
        logger.warning("unrecognised event sent to the fallback receiver", extra={"reason": result.unrecognised})
    logger.info("ingested", extra=result.model_dump(mode="json", exclude={"unrecognised"}))
    return result.model_dump(mode="json")
