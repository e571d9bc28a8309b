"""Drive the alarm_route workflow in a deployed stack: fire and resolve alarms through EventBridge, and read what
happened (the notification log, the executions, the local sink). Used by the tests and the demo."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from safejob_ops.adapters.alert_store import DynamoAlertStore
from safejob_tools.eventgen import alarm_event
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.sink import HttpSink

# Generous: the emulator shares two cores with the rest of the suite. Waits end as soon as the condition holds.
DEADLINE = 30.0


def wait_until(condition: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy (returned), or fail the test after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        threading.Event().wait(0.1)


def settle(seconds: float) -> None:
    """Let the workflow run for a while, to assert that something does NOT happen in that time."""
    threading.Event().wait(seconds)


class AlarmDriver:
    """Fires and resolves uniquely named alarms through EventBridge, and reads what happened from the stack."""

    def __init__(self, stack: DeployedStack, sink: HttpSink) -> None:
        self.stack = stack
        self.sink = sink
        self.aws = stack.aws
        self.store = DynamoAlertStore(stack.output("AlarmRouteStateTableName"), client=self.aws.client("dynamodb"))
        self.fired: dict[str, dict[str, Any]] = {}

    def name(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def event(self, name: str, state: str = "ALARM", **labels: Any) -> dict[str, Any]:
        return alarm_event(name, state, **labels)  # type: ignore[arg-type]

    def put(self, event: dict[str, Any]) -> None:
        """Publish like CloudWatch does: to the default bus, where our rule routes it to the ingest function."""
        entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"]),
                 "Resources": event["resources"], "Time": datetime.now(UTC)}
        result = self.aws.client("events").put_events(Entries=[entry])
        assert result["FailedEntryCount"] == 0

    def ingest(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the ingest function directly with a whole event, as a cross-region rule or an alarm action does
        (the emulator's one bus would stamp every event with its own region and account)."""
        payload, ok = self.invoke("AlarmRouteIngestFunctionArn", event)
        if not ok:
            raise RuntimeError(f"ingest failed: {payload}")
        return payload

    def fire(self, name: str, **labels: Any) -> None:
        self.fired[name] = labels
        self.put(self.event(name, "ALARM", **labels))

    def resolve(self, name: str) -> None:
        labels = self.fired.pop(name, {})
        self.put(self.event(name, "OK", **labels))

    def invoke(self, output: str, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        response = self.aws.client("lambda").invoke(FunctionName=self.stack.output(output),
                                                    Payload=json.dumps(payload).encode())
        return json.loads(response["Payload"].read()), "FunctionError" not in response

    def log(self, name: str, receiver: str | None = None) -> list[dict[str, Any]]:
        """The notification log entries of groups whose key names `name` (oldest first)."""
        entries = [
            {**e, "fingerprints": json.loads(e["fingerprints"])}
            for e in self.store.notification_log()
            if f'"{name}"' in e["group_key"] or f"={name}" in e["group_key"]
        ]
        return [e for e in entries if receiver is None or e["receiver"] == receiver]

    def wait_log(self, name: str, count: int, receiver: str | None = None) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            got = self.log(name, receiver)
            return got if len(got) >= count else None

        found: list[dict[str, Any]] = wait_until(
            enough, what=f"{count} notification(s) for {name} to {receiver or 'any receiver'}"
        )
        return found

    def executions(self, name: str) -> list[dict[str, Any]]:
        """The group executions whose group is about `name` (by their flush input)."""
        sfn = self.aws.client("stepfunctions")
        arn = self.stack.output("AlarmRouteStateMachineArn")
        found = []
        for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if name in described.get("input", ""):
                found.append(described)
        return found

    def cleanup(self) -> None:
        for name in list(self.fired):
            self.resolve(name)


class Inbox:
    """An SQS queue subscribed to an SNS topic: what the topic published, read back in order as (subject, message),
    as a person subscribed to the topic would read it. `close()` unsubscribes and deletes the queue."""

    def __init__(self, stack: DeployedStack, topic_output: str = "NotificationTopicArn") -> None:
        self.sqs, self.sns = stack.aws.client("sqs"), stack.aws.client("sns")
        self.queue = self.sqs.create_queue(QueueName=f"inbox-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue,
                                                  AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.subscription = self.sns.subscribe(TopicArn=stack.output(topic_output), Protocol="sqs",
                                               Endpoint=queue_arn, ReturnSubscriptionArn=True)["SubscriptionArn"]
        self.messages: list[tuple[str, str]] = []

    def read(self) -> list[tuple[str, str]]:
        """Every message received so far, oldest first."""
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return list(self.messages)
            for message in got:
                envelope = json.loads(message["Body"])
                self.messages.append((envelope.get("Subject", ""), envelope.get("Message", "")))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def close(self) -> None:
        self.sns.unsubscribe(SubscriptionArn=self.subscription)
        self.sqs.delete_queue(QueueUrl=self.queue)
