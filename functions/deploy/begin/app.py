"""deploy Begin: the environment's deploy lock (conditional write; LockHeldError if held, nothing changed), then
the ledger's in-progress record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.deploy_ledger import DynamoDeployLedger
from safejob_ops.adapters.locks import DynamoLocks
from safejob_ops.deploy.service import begin
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings


class BeginSettings(Settings):
    lock_table_name: str
    ledger_table_name: str


settings = BeginSettings.from_env()
locks = DynamoLocks(settings.lock_table_name)
ledger = DynamoDeployLedger(settings.ledger_table_name)
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    holder = begin(parse(event=event, model=StateRequest).state, locks, ledger, datetime.now(UTC))
    logger.info("locked", extra={"lock": holder.name, "expires_at": holder.expires_at.isoformat()})
    return holder.model_dump(mode="json")
