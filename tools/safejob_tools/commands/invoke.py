"""`safejob-ops invoke FUNCTION --event FILE`: the Docker-free twin of `sam local invoke`.

Starts the local emulator, deploys template.yaml into it, and invokes the function through the Lambda API, so the
real handler runs in-process with the environment the template gives it. The same events/ files serve both.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safejob_tools.cli import Subparsers


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("invoke", help="run one Lambda handler in-process against the local emulator")
    parser.add_argument("function", help="the function's logical id in template.yaml, e.g. AlarmRouteIngestFunction")
    parser.add_argument("--event", "-e", required=True, type=Path, help="the event JSON (e.g. events/alarm_route/...)")
    parser.add_argument("--log-level", default="WARNING", help="the handlers' log level (default WARNING)")
    parser.set_defaults(func=invoke_command)


def invoke_command(args: argparse.Namespace) -> int:
    from safejob_tools.localaws.deploy import deploy
    from safejob_tools.localaws.seed import seed_receiver_secrets
    from safejob_tools.localaws.server import LocalAws
    from safejob_tools.localaws.sink import HttpSink

    try:
        event = json.loads(args.event.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: --event {args.event}: {exc}", file=sys.stderr)
        return 2
    with LocalAws() as aws, HttpSink() as sink:
        aws.runtime.log_level = logging.getLevelNamesMapping().get(args.log_level.upper(), logging.WARNING)
        stack = deploy(aws, parameters={"PagerDutyEventsUrl": sink.url("/pagerduty")})
        seed_receiver_secrets(aws, sink)
        if args.function not in stack.resources:
            functions = sorted(k for k, v in stack.resources.items() if v in aws.runtime.names())
            print(f"error: no function {args.function!r} in template.yaml; fix: one of {functions}", file=sys.stderr)
            return 2
        response = aws.client("lambda").invoke(
            FunctionName=stack.resources[args.function], Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
        print(json.dumps(payload, indent=2, sort_keys=True))
        return 1 if "FunctionError" in response else 0
