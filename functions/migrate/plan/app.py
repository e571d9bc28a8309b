"""migrate ReadPlan: the plan task's log stream, parsed and classified in the requested phase."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.task_logs import CloudWatchTaskLogs
from safejob_ops.migrate.models import StateRequest
from safejob_ops.migrate.service import LogLocation, read_plan
from safejob_ops.settings import Settings


class PlanSettings(Settings):
    migrate_log_group_name: str
    migrate_log_stream_prefix: str = "migrate"


settings = PlanSettings.from_env()
where = LogLocation(group=settings.migrate_log_group_name, prefix=settings.migrate_log_stream_prefix)
logs = CloudWatchTaskLogs()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=StateRequest)
    plan = read_plan(request.state, logs, where)
    logger.info("planned", extra={"allowed": plan.allowed, "migrations": plan.migrations, "counts": plan.counts})
    return plan.model_dump(mode="json")
