"""migrate Validate: the execution input, checked before any side effect and resolved into the run (`$.run`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.migrate.models import ValidateRequest
from safejob_ops.migrate.service import RunConfig, validate_input
from safejob_ops.settings import Settings


class ValidateSettings(Settings):
    environment_name: str
    cluster_arn: str
    app_subnet_ids: str
    migrate_task_security_group_id: str
    migrate_container_name: str = "app"
    snapshot_required: bool = False


settings = ValidateSettings.from_env()
config = RunConfig.model_validate({
    "environment_name": settings.environment_name, "cluster_arn": settings.cluster_arn,
    "subnets": [subnet for subnet in settings.app_subnet_ids.split(",") if subnet],
    "security_groups": [settings.migrate_task_security_group_id],
    "container": settings.migrate_container_name, "snapshot_required": settings.snapshot_required,
})
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = validate_input(parse(event=event, model=ValidateRequest), config)
    logger.info("validated", extra={"image": run.input.image, "phase": run.input.phase, "snapshot": run.snapshot})
    return run.model_dump(mode="json")
