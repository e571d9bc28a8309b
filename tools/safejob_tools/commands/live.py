"""Operations against a deployed stack (a real account, or the local emulator): DLQ replay, silences, maintenance.

Everything goes through the stack's outputs and the Lambda API, so the same code path serves both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
        ).get("Messages", [])
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
            report.replayed.append(
                ReplayedMessage(
                    notification_id=notification["id"],
                    receiver=notification["receiver"],
                    delivered=ok,
                    error="" if ok else f"{payload.get('errorType')}: {payload.get('errorMessage')}",
                )
            )
            if ok:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if len(report.replayed) >= max_messages:
                break
    return report


class AdminCallError(RuntimeError):
    pass


def call_admin(lambda_client: Any, outputs: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
    """Invoke the alarm_route admin API (silences, maintenance windows); errors name the bad field."""
    response = lambda_client.invoke(
        FunctionName=outputs["AlarmRouteAdminFunctionName"], Payload=json.dumps(request).encode()
    )
    payload: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
    if "FunctionError" in response:
        raise AdminCallError(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
    return payload


# ------------------------------------------------------------------------------------------------ CLI wiring
DEFAULT_STACK_ENV = "AWS_SAM_STACK_NAME"


def _clients(args: argparse.Namespace) -> tuple[Any, Any, dict[str, str]]:
    import boto3

    stack = args.stack_name or os.environ.get(DEFAULT_STACK_ENV)
    if not stack:
        raise StackLookupError(f"no stack: pass --stack-name or set {DEFAULT_STACK_ENV}")
    outputs = stack_outputs(boto3.client("cloudformation"), stack)
    return boto3.client("sqs"), boto3.client("lambda"), outputs


def _add_stack_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack-name",
        default=None,
        help=f"the deployed stack (default: ${DEFAULT_STACK_ENV}); credentials and region from the "
        "usual AWS environment",
    )


def register_alert_commands(commands: Any) -> None:
    """Add the live `alerts` subcommands (replay, silence, maintenance) to the alerts group's subparsers."""
    replay = commands.add_parser("replay", help="redrive the delivery dead-letter queue through the deliver function")
    _add_stack_argument(replay)
    replay.add_argument("--max", type=int, default=100, help="replay at most this many messages (default 100)")
    replay.set_defaults(func=replay_command)

    silence = commands.add_parser("silence", help="create, expire and list silences")
    silence_commands = silence.add_subparsers(dest="silence_command", metavar="ACTION", required=True)
    add = silence_commands.add_parser("add", help="create a silence")
    _add_stack_argument(add)
    add.add_argument(
        "--matcher",
        action="append",
        required=True,
        dest="matchers",
        help="an Alertmanager matcher, e.g. 'alertname=\"HighCPU\"' (repeatable; all must match)",
    )
    add.add_argument("--duration-minutes", type=int, default=None, help="how long (default 60)")
    add.add_argument("--ends-at", default=None, help="or an ISO-8601 end time")
    add.add_argument("--expire-on-resolve", action="store_true", help="end it when a matching alert resolves")
    add.add_argument("--comment", required=True, help="why (shown to whoever wonders why nobody was paged)")
    add.add_argument("--created-by", default=os.environ.get("USER", "cli"))
    add.set_defaults(
        func=lambda a: _admin_command(
            a,
            {
                "action": "create_silence",
                "matchers": a.matchers,
                "duration_minutes": a.duration_minutes,
                "ends_at": a.ends_at,
                "expire_on_resolve": a.expire_on_resolve,
                "comment": a.comment,
                "created_by": a.created_by,
            },
        )
    )
    expire = silence_commands.add_parser("expire", help="end a silence now")
    _add_stack_argument(expire)
    expire.add_argument("silence_id")
    expire.set_defaults(func=lambda a: _admin_command(a, {"action": "expire_silence", "silence_id": a.silence_id}))
    listing = silence_commands.add_parser("list", help="list silences")
    _add_stack_argument(listing)
    listing.add_argument("--all", action="store_true", help="include expired ones")
    listing.set_defaults(func=lambda a: _admin_command(a, {"action": "list_silences", "include_expired": a.all}))

    maintenance = commands.add_parser("maintenance", help="open or close a service's maintenance window")
    maintenance_commands = maintenance.add_subparsers(dest="maintenance_command", metavar="ACTION", required=True)
    opening = maintenance_commands.add_parser("open", help="mute one service's alerts (e.g. during a bake)")
    _add_stack_argument(opening)
    opening.add_argument("--service", required=True)
    opening.add_argument("--opened-by", default=os.environ.get("USER", "cli"))
    opening.add_argument("--duration-minutes", type=int, default=None)
    opening.set_defaults(
        func=lambda a: _admin_command(
            a,
            {
                "action": "open_maintenance",
                "service": a.service,
                "opened_by": a.opened_by,
                "duration_minutes": a.duration_minutes,
            },
        )
    )
    closing = maintenance_commands.add_parser("close", help="close a maintenance window")
    _add_stack_argument(closing)
    closing.add_argument("silence_id")
    closing.set_defaults(func=lambda a: _admin_command(a, {"action": "close_maintenance", "silence_id": a.silence_id}))


def _drop_none(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if v is not None}


def _admin_command(args: argparse.Namespace, request: dict[str, Any]) -> int:
    try:
        _, lambda_client, outputs = _clients(args)
        payload = call_admin(lambda_client, outputs, _drop_none(request))
    except (StackLookupError, AdminCallError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(payload, indent=2, sort_keys=True))
    return 0


def replay_command(args: argparse.Namespace) -> int:
    try:
        sqs, lambda_client, outputs = _clients(args)
    except StackLookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = replay_dead_letters(sqs, lambda_client, outputs, args.max)
    for item in report.replayed:
        print(item.model_dump_json())
    print(
        f"replayed {len(report.replayed)}: {report.delivered} delivered, {report.failed} still failing", file=sys.stderr
    )
    return 0 if report.failed == 0 else 1
