"""deploy Preflight: every check (image, scan, cost gate, freeze, alarms, traffic, lock, services), then what is
live (`$.live`); PreflightRefusedError, listing each failed check and its fix, before any side effect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.deploy_fleet import EcsServices, ElbForwarding
from safejob_ops.adapters.deploy_preflight import CloudWatchAlarmStates, EcrImages, SsmParameters
from safejob_ops.adapters.ecs_task_definitions import EcsTaskDefinitions
from safejob_ops.adapters.locks import DynamoLocks
from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.service import PreflightPorts, preflight
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings, config_file


class PreflightSettings(Settings):
    deploy_config_file: str = "deploy.yaml"
    cost_gate_parameter_name: str
    lock_table_name: str


settings = PreflightSettings.from_env()
config = load_deploy_config(config_file(settings.deploy_config_file))
ports = PreflightPorts(registry=EcrImages(), parameters=SsmParameters(), alarms=CloudWatchAlarmStates(),
                       services=EcsServices(), forwarding=ElbForwarding(), images=EcsTaskDefinitions(),
                       locks=DynamoLocks(settings.lock_table_name))
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=StateRequest)
    live = preflight(request.state.run, config, settings.cost_gate_parameter_name, ports, datetime.now(UTC))
    logger.info("preflight passed", extra={"live": live.live, "checks": len(live.checks)})
    return live.model_dump(mode="json")
