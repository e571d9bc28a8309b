"""migrate Notify: the one notification of a failed execution (with the rollback options and their task token
when the database may have changed)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.sns import SnsPublisher
from safejob_ops.adapters.task_logs import CloudWatchTaskLogs
from safejob_ops.migrate.models import NotifyRequest
from safejob_ops.migrate.service import LogLocation, NotifyConfig, report_failure
from safejob_ops.settings import Settings


class NotifySettings(Settings):
    notification_topic_arn: str
    migrate_log_group_name: str
    migrate_log_stream_prefix: str = "migrate"
    runbook_url: str = "docs/workflows/migrate.md#runbook"


settings = NotifySettings.from_env()
where = LogLocation(group=settings.migrate_log_group_name, prefix=settings.migrate_log_stream_prefix)
config = NotifyConfig(topic_arn=settings.notification_topic_arn, runbook_url=settings.runbook_url, logs=where)
logs = CloudWatchTaskLogs()
publisher = SnsPublisher()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notice = report_failure(parse(event=event, model=NotifyRequest), logs, publisher, config)
    logger.info("notified", extra={"step": notice.step, "approval_requested": notice.approval_requested})
    return notice.model_dump(mode="json")
