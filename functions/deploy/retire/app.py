"""deploy Retire: after the grace period, the old colour to 0 tasks, then the deploy lock released."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.deploy_fleet import EcsServices
from safejob_ops.adapters.locks import DynamoLocks
from safejob_ops.deploy.service import retire
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings


class RetireSettings(Settings):
    lock_table_name: str


settings = RetireSettings.from_env()
services = EcsServices()
locks = DynamoLocks(settings.lock_table_name)
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse(event=event, model=StateRequest).state
    released = retire(state, services, locks)
    logger.info("retired", extra={"colour": state.need_live().live, "lock_released": released})
    return {"retired": state.need_live().live, "lock_released": released}
