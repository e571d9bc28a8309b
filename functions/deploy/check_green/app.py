"""deploy CheckGreen: one look at the target colour's tasks and targets (GreenUnhealthyError past the deadline)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.deploy_fleet import EcsServices, ElbTargetHealth
from safejob_ops.deploy.service import check_green
from safejob_ops.deploy.workflow import StateRequest

services = EcsServices()
health = ElbTargetHealth()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = check_green(parse(event=event, model=StateRequest).state, services, health, datetime.now(UTC))
    logger.info("green", extra={"healthy": result.healthy, "polls": result.polls, "detail": result.detail})
    return result.model_dump(mode="json")
