"""deploy ScaleGreen: the test listener to the target colour, then the release there with the live counts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.deploy_fleet import EcsServices, ElbForwarding
from safejob_ops.deploy.service import scale_green
from safejob_ops.deploy.workflow import StateRequest

services = EcsServices()
forwarding = ElbForwarding()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse(event=event, model=StateRequest).state
    scale_green(state, services, forwarding)
    target = state.need_live().target
    logger.info("scaled", extra={"target": target})
    return {"target": target}
