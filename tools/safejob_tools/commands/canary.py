"""`safejob-ops canary ...`: the canary analysis of a deploy step, offline.

`canary analyze --metrics FILE [--config FILE] [--service NAME] [--environment NAME] [--extensions N]` reads
`{"baseline": [samples], "canary": [samples], "alarms": {name: state}}` and prints the verdict, its reasons and the
statistics as JSON (indent 2, keys sorted). Exit codes: 0 promote, 3 rollback, 4 extend, 2 bad input (each problem
on stderr as `FILE: path: message`). docs/workflows/canary-analysis.md documents the format and the output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from safejob_ops.deploy.canary import (
    CanaryConfig,
    CanaryConfigError,
    CanaryObservation,
    Verdict,
    analyze,
    load_canary_config,
    validation_problems,
)

if TYPE_CHECKING:
    from safejob_tools.cli import Subparsers

EXIT_PROMOTE = 0
EXIT_INPUT = 2
EXIT_ROLLBACK = 3
EXIT_EXTEND = 4
EXIT_CODES = {Verdict.PROMOTE: EXIT_PROMOTE, Verdict.ROLLBACK: EXIT_ROLLBACK, Verdict.EXTEND: EXIT_EXTEND}


def register(subparsers: Subparsers) -> None:
    """Add the `canary` command group."""
    group = subparsers.add_parser("canary", help="canary analysis: judge green against blue")
    commands = group.add_subparsers(dest="canary_command", metavar="SUBCOMMAND", required=True)

    analyze_parser = commands.add_parser(
        "analyze",
        help="judge a metrics file: promote (exit 0), rollback (3) or extend (4)",
        description="Judge green (canary) against blue (baseline) from a metrics file, as the deploy workflow does "
        "after each traffic step, and print the verdict with every check's reason as JSON. Exit codes: 0 promote, "
        "3 rollback, 4 extend, 2 bad input.",
    )
    analyze_parser.add_argument("--metrics", required=True, type=Path, metavar="FILE",
                                help='JSON: {"baseline": [samples], "canary": [samples], "alarms": {name: state}}')
    analyze_parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                                help="deploy config (YAML) with a canary: section (default: the built-in defaults)")
    analyze_parser.add_argument("--service", default=None, metavar="NAME",
                                help="apply this service's overrides (default: the defaults section)")
    analyze_parser.add_argument("--environment", default=None, metavar="NAME",
                                help="fills {environment} in the configured alarm names")
    analyze_parser.add_argument("--extensions", type=_extensions, default=0, metavar="N",
                                help="bake extensions already granted in this step (default 0)")
    analyze_parser.set_defaults(func=analyze_command)


def analyze_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`canary analyze`: exit 0 promote, 3 rollback, 4 extend, 2 bad input."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        config = load_canary_config(args.config) if args.config is not None else CanaryConfig()
        policy = config.policy_for(args.service, args.environment)
    except CanaryConfigError as exc:
        print(exc, file=err)
        return EXIT_INPUT
    observation, problems = read_observation(args.metrics)
    if observation is None:
        print("\n".join(f"{args.metrics}: {p}" for p in problems), file=err)
        return EXIT_INPUT
    result = analyze(observation.baseline, observation.canary, observation.alarms, policy, args.extensions)
    print(json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True), file=out)
    return EXIT_CODES[result.verdict]


def read_observation(path: Path) -> tuple[CanaryObservation | None, list[str]]:
    """The metrics file as a CanaryObservation, or None and the problems (`canary[2].request_count: ...`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, [f"cannot read: {exc.strerror}"]
    try:
        data: Any = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return None, [f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
    except ValueError as exc:
        return None, [str(exc)]
    if not isinstance(data, dict):
        return None, [f"expected a JSON object with baseline, canary and alarms, got {type(data).__name__}"]
    try:
        return CanaryObservation.model_validate(data), []
    except ValidationError as exc:
        return None, [f"{where}: {message}" if where else message for where, message in validation_problems(exc)]


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid JSON: {name} is not a number")


def _extensions(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
