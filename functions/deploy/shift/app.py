"""deploy Shift: the next traffic step's listener weights, and the maintenance windows of its bake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.deploy_fleet import ElbForwarding
from safejob_ops.adapters.maintenance import LambdaMaintenanceWindows
from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.service import max_extensions, shift
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings, config_file


class ShiftSettings(Settings):
    deploy_config_file: str = "deploy.yaml"
    alarm_route_admin_function_name: str


settings = ShiftSettings.from_env()
config = load_deploy_config(config_file(settings.deploy_config_file))
forwarding = ElbForwarding()
maintenance = LambdaMaintenanceWindows(settings.alarm_route_admin_function_name)
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    traffic = shift(parse(event=event, model=StateRequest).state, forwarding, maintenance, datetime.now(UTC),
                    max_extensions(config.canary))
    logger.info("shifted", extra={"step": traffic.index, "weight": traffic.weight})
    return traffic.model_dump(mode="json")
