"""Operations against a deployed stack (a real account, or the local emulator): DLQ replay, silences, maintenance.

Everything goes through the stack's outputs and the Lambda API, so the same code path serves both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


class StackLookupError(RuntimeError):
    pass


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs by key (how every command finds the resources it needs)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # botocore's ClientError, or no credentials at all
        raise StackLookupError(f"--stack-name {stack_name}: {exc}; fix: deploy it, or pass the right name") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


class ReplayedMessage(BaseModel):
    notification_id: str
    receiver: str
    delivered: bool
    error: str = ""


@dataclass
class ReplayReport:
    replayed: list[ReplayedMessage] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(1 for r in self.replayed if r.delivered)

    @property
    def failed(self) -> int:
        return len(self.replayed) - self.delivered


def replay_dead_letters(sqs: Any, lambda_client: Any, outputs: dict[str, str], max_messages: int = 100) -> ReplayReport:
    """Redrive the delivery dead-letter queue: each message's notification is delivered again through the deliver
    function (idempotent by notification id, so a notification that did get through is not sent twice); a message
    is deleted only once its delivery succeeded, else it stays for the next replay."""
    queue_url = outputs["DeliveryDeadLetterQueueUrl"]
    function = outputs["AlarmRouteDeliverFunctionName"]
    report = ReplayReport()
    while len(report.replayed) < max_messages:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                    VisibilityTimeout=60).get("Messages", [])
        if not batch:
            break
        for message in batch:
            body = json.loads(message["Body"])
            notification = body["notification"]
            response = lambda_client.invoke(
                FunctionName=function,
                Payload=json.dumps({"notification": notification, "execution_id": "replay"}).encode(),
            )
            payload = json.loads(response["Payload"].read() or b"null")
            ok = "FunctionError" not in response
            report.replayed.append(ReplayedMessage(
                notification_id=notification["id"], receiver=notification["receiver"], delivered=ok,
                error="" if ok else f"{payload.get('errorType')}: {payload.get('errorMessage')}",
            ))
            if ok:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if len(report.replayed) >= max_messages:
                break
    return report


class AdminCallError(RuntimeError):
    pass


def call_admin(lambda_client: Any, outputs: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
    """Invoke the alarm_route admin API (silences, maintenance windows); errors name the bad field."""
    response = lambda_client.invoke(FunctionName=outputs["AlarmRouteAdminFunctionName"],
                                    Payload=json.dumps(request).encode())
    payload: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
    if "FunctionError" in response:
        raise AdminCallError(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
    return payload
