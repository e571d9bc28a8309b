"""migrate Lock: the environment's migrate lock, taken with a conditional write (LockHeldError if held)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.locks import DynamoLocks
from safejob_ops.migrate.models import StateRequest
from safejob_ops.migrate.service import acquire_lock
from safejob_ops.settings import Settings


class LockSettings(Settings):
    lock_table_name: str


settings = LockSettings.from_env()
locks = DynamoLocks(settings.lock_table_name)
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=StateRequest)
    holder = acquire_lock(request.state, locks, datetime.now(UTC))
    logger.info("locked", extra={"lock": holder.name, "expires_at": holder.expires_at.isoformat()})
    return holder.model_dump(mode="json")
