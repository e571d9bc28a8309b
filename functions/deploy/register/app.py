"""deploy Register: per service, the task definition the target colour will run (the live one with only the image
and SAFEJOB_RELEASE changed; the live one itself for a service not in the request)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.ecs_task_definitions import EcsTaskDefinitions
from safejob_ops.deploy.service import register
from safejob_ops.deploy.workflow import StateRequest

task_definitions = EcsTaskDefinitions()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    release = register(parse(event=event, model=StateRequest).state, task_definitions)
    logger.info("registered", extra={"task_definitions": release.task_definitions})
    return release.model_dump(mode="json")
