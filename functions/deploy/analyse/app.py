"""deploy Analyse: the canary analysis of the current step (promote, extend or rollback), every service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.canary_cloudwatch import CloudWatchCanaryMetrics
from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.service import analyse
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings, config_file


class AnalyseSettings(Settings):
    deploy_config_file: str = "deploy.yaml"


settings = AnalyseSettings.from_env()
config = load_deploy_config(config_file(settings.deploy_config_file))
metrics = CloudWatchCanaryMetrics()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = analyse(parse(event=event, model=StateRequest).state, config.canary, metrics, datetime.now(UTC))
    logger.info("analysed", extra={"verdict": result.verdict.value, "summary": result.summary})
    return result.model_dump(mode="json")
