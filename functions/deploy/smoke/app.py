"""deploy Smoke: each service's smoke tests through the test listener (SmokeTestsFailedError lists the failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.smoke_http import UrllibSmokeHttp
from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.service import smoke
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings, config_file


class SmokeSettings(Settings):
    deploy_config_file: str = "deploy.yaml"


settings = SmokeSettings.from_env()
config = load_deploy_config(config_file(settings.deploy_config_file))
http = UrllibSmokeHttp()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reports = smoke(parse(event=event, model=StateRequest).state, config, http)
    logger.info("smoke tests passed", extra={"checks": sum(len(r.results) for r in reports)})
    return {"passed": True, "checks": sum(len(r.results) for r in reports)}
