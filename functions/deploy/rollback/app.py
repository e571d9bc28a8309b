"""deploy Rollback: from any failure, rejection, timeout or rollback verdict. 100% back on the live colour, the
target colour to 0, the windows closed; then the diagnostics, the ledger, the lock released, one notification."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.deploy_diagnostics import CloudWatchLogTail, CloudWatchMetricSums, EcsStoppedTasks
from safejob_ops.adapters.deploy_fleet import EcsServices, ElbForwarding
from safejob_ops.adapters.deploy_ledger import DynamoDeployLedger
from safejob_ops.adapters.deploy_preflight import CloudWatchAlarmStates
from safejob_ops.adapters.locks import DynamoLocks
from safejob_ops.adapters.maintenance import LambdaMaintenanceWindows
from safejob_ops.adapters.sns import SnsPublisher
from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.diagnostics import DiagnosticsPorts
from safejob_ops.deploy.service import Notify, RollbackPorts, rollback
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings, config_file


class RollbackSettings(Settings):
    deploy_config_file: str = "deploy.yaml"
    lock_table_name: str
    ledger_table_name: str
    notification_topic_arn: str
    alarm_route_admin_function_name: str
    runbook_url: str = "docs/workflows/deploy.md#runbook"


settings = RollbackSettings.from_env()
config = load_deploy_config(config_file(settings.deploy_config_file))
ports = RollbackPorts(
    forwarding=ElbForwarding(), services=EcsServices(),
    maintenance=LambdaMaintenanceWindows(settings.alarm_route_admin_function_name),
    diagnostics=DiagnosticsPorts(tasks=EcsStoppedTasks(), logs=CloudWatchLogTail(), alarms=CloudWatchAlarmStates(),
                                 metrics=CloudWatchMetricSums()),
    ledger=DynamoDeployLedger(settings.ledger_table_name), locks=DynamoLocks(settings.lock_table_name),
)
notify = Notify(publisher=SnsPublisher(), topic_arn=settings.notification_topic_arn, runbook_url=settings.runbook_url)
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = rollback(parse(event=event, model=StateRequest).state, ports, notify, config.canary, datetime.now(UTC))
    logger.warning("rolled back", extra={"reason": outcome.reason})
    return outcome.model_dump(mode="json")
