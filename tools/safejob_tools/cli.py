"""`safejob-ops`: the operator CLI.

Commands are grouped (`safejob-ops alerts route ...`). To add a group, write a module in safejob_tools/commands/
with a `register(subparsers)` function that adds its parser and sets `func` (a function taking the parsed
arguments and returning the exit code) on each command, then list it in COMMAND_GROUPS.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from safejob_tools.commands import alerts, canary, deploy, invoke

type Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
type Command = Callable[[argparse.Namespace], int]

# The registry: each entry adds one command group to the top-level subparsers.
COMMAND_GROUPS: list[Callable[[Subparsers], None]] = [
    alerts.register,
    invoke.register,
    canary.register,
    deploy.register,
]


class OpsParser(argparse.ArgumentParser):
    """The top-level parser; `subparsers` is the registry that command groups add themselves to."""

    subparsers: Subparsers


def build_parser() -> OpsParser:
    """The full parser, every registered command group included."""
    parser = OpsParser(prog="safejob-ops", description="Safe Job platform operations.")
    parser.subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=argparse.ArgumentParser
    )
    for register in COMMAND_GROUPS:
        register(parser.subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
