"""migrate Register: a migrate task definition revision running the release image (ECS cannot override it)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.ecs_task_definitions import EcsTaskDefinitions
from safejob_ops.migrate.models import StateRequest
from safejob_ops.migrate.service import register_release
from safejob_ops.settings import Settings


class RegisterSettings(Settings):
    migrate_task_definition_arn: str


settings = RegisterSettings.from_env()
task_definitions = EcsTaskDefinitions()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=StateRequest)
    release = register_release(request.state, task_definitions, settings.migrate_task_definition_arn)
    logger.info("registered", extra={"task_definition": release.task_definition_arn})
    return release.model_dump(mode="json")
