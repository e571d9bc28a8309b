"""migrate Finish: releases the lock on every path, then returns the output (or the Error and Cause to fail with)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.locks import DynamoLocks
from safejob_ops.migrate.models import FinishRequest
from safejob_ops.migrate.service import finish
from safejob_ops.settings import Settings


class FinishSettings(Settings):
    lock_table_name: str


settings = FinishSettings.from_env()
locks = DynamoLocks(settings.lock_table_name)
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=FinishRequest)
    result = finish(request, locks, datetime.now(UTC))
    logger.info("finished", extra={"outcome": request.outcome})
    return result.model_dump(mode="json")
