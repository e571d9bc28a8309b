"""`safejob-ops alerts ...`: dry-run routing and config checks for the alarm_route workflow.

`alerts route --config FILE --events FILE.jsonl [--until ISO]` prints one compact JSON object per notification
(keys sorted): {"alerts": [{"fingerprint", "labels", "status"}], "at", "group_key", "receiver", "status"}.
`alerts check-config FILE` prints "ok: ..." or the problems with their paths.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from safejob_ops.alerting.config import ConfigError, load_config
from safejob_ops.alerting.models import Notification
from safejob_ops.alerting.simulate import SimulationError, TimedInput, simulate
from safejob_tools.commands import live

if TYPE_CHECKING:
    from safejob_tools.cli import Subparsers

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_INPUT = 2


def register(subparsers: Subparsers) -> None:
    """Add the `alerts` command group."""
    group = subparsers.add_parser("alerts", help="alert routing: dry runs and config checks")
    commands = group.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND", required=True)

    route = commands.add_parser(
        "route",
        help="simulate routing of timed events and print the notifications",
        description="Run JSON lines {'at': ISO-8601, 'event'|'silence'|'maintenance': {...}} through routing, "
        "grouping, silences, inhibition and time intervals in simulated time; print one JSON line per notification.",
    )
    route.add_argument("--config", required=True, type=Path, help="the alerting config (YAML)")
    route.add_argument("--events", required=True, type=Path, help="timed inputs, one JSON object per line")
    route.add_argument(
        "--until",
        type=_aware_datetime,
        default=None,
        help="simulate until this ISO-8601 time (default: last input + max group_wait + group_interval)",
    )
    route.set_defaults(func=route_command)

    check = commands.add_parser("check-config", help="validate an alerting config")
    check.add_argument("file", type=Path, help="the alerting config (YAML)")
    check.set_defaults(func=check_config_command)

    # Operations on a deployed stack: replay, silence, maintenance.
    live.register_alert_commands(commands)


def route_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`alerts route`: exit 0, 1 for an invalid config, 2 for invalid input lines."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=err)
        return EXIT_CONFIG
    try:
        text = Path(args.events).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"cannot read {args.events}: {exc.strerror}", file=err)
        return EXIT_INPUT
    inputs, problems = parse_inputs(text)
    if problems:
        print("\n".join(f"{args.events}: {p}" for p in problems), file=err)
        return EXIT_INPUT
    try:
        for notification in simulate(config, inputs, args.until):
            print(format_notification(notification), file=out)
    except SimulationError as exc:
        print(f"{args.events}: {exc}", file=err)
        return EXIT_INPUT
    return EXIT_OK


def check_config_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`alerts check-config`: "ok: ..." and exit 0, or the problems and exit 1."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=err)
        return EXIT_CONFIG
    print(
        f"ok: {len(config.routes())} routes, {len(config.receivers)} receivers, "
        f"{len(config.inhibit_rules)} inhibit rules, {len(config.time_intervals)} time intervals",
        file=out,
    )
    return EXIT_OK


def parse_inputs(text: str) -> tuple[list[TimedInput], list[str]]:
    """Parse JSON lines into TimedInputs; problems name the line number and the field."""
    inputs: list[TimedInput] = []
    problems: list[str] = []
    for number, raw in _lines(text):
        try:
            data: Any = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(data, dict):
            problems.append(f"line {number}: expected a JSON object, got {type(data).__name__}")
            continue
        try:
            inputs.append(TimedInput.model_validate({**data, "line": number}))
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"]) or "(line)"
                problems.append(f"line {number}: {where}: {error['msg'].removeprefix('Value error, ')}")
    return inputs, problems


def format_notification(notification: Notification) -> str:
    """One notification as compact JSON with sorted keys (the dry-run output format)."""
    body = {
        "at": _iso(notification.at),
        "receiver": notification.receiver,
        "group_key": notification.group_key,
        "status": notification.status.value,
        "alerts": [
            {"fingerprint": a.fingerprint, "status": a.status.value, "labels": a.labels} for a in notification.alerts
        ],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield number, raw


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _aware_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. {text}Z): {text!r}")
    return value
