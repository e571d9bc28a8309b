"""deploy Finalize: the release is live. Windows closed, the ledger's success (the commit point), the notification."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.deploy_ledger import DynamoDeployLedger
from safejob_ops.adapters.maintenance import LambdaMaintenanceWindows
from safejob_ops.adapters.sns import SnsPublisher
from safejob_ops.deploy.service import Notify, finalize
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings


class FinalizeSettings(Settings):
    ledger_table_name: str
    notification_topic_arn: str
    alarm_route_admin_function_name: str
    runbook_url: str = "docs/workflows/deploy.md#runbook"


settings = FinalizeSettings.from_env()
ledger = DynamoDeployLedger(settings.ledger_table_name)
maintenance = LambdaMaintenanceWindows(settings.alarm_route_admin_function_name)
notify = Notify(publisher=SnsPublisher(), topic_arn=settings.notification_topic_arn, runbook_url=settings.runbook_url)
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = finalize(parse(event=event, model=StateRequest).state, maintenance, ledger, notify, datetime.now(UTC))
    if not outcome.notified:
        logger.error("the success notification could not be sent (the deploy succeeded)")
    logger.info("finalized", extra={"live": outcome.live})
    return outcome.model_dump(mode="json")
