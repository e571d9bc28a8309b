"""deploy RequestApproval (waitForTaskToken): publish the approval request with the commands that answer it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.sns import SnsPublisher
from safejob_ops.deploy.service import request_approval
from safejob_ops.deploy.workflow import StateRequest
from safejob_ops.settings import Settings


class ApprovalSettings(Settings):
    notification_topic_arn: str


settings = ApprovalSettings.from_env()
publisher = SnsPublisher()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=StateRequest)
    if not request.task_token:
        raise ValueError("task_token: missing; fix: invoke with arn:aws:states:::lambda:invoke.waitForTaskToken")
    message_id = request_approval(request.state, request.task_token, publisher, settings.notification_topic_arn)
    logger.info("approval requested", extra={"message_id": message_id})
    return {"message_id": message_id}
