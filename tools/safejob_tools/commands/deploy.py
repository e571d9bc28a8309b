"""`safejob-ops deploy ...`: the deploy ledger, read from a deployed stack.

`deploy history --stack-name S [--environment E] [--limit N]` prints the latest deploy records, newest first, one
JSON object per line (a `DeployRecord`). The table is the stack output `DeployLedgerTableName`. Without
`--environment`, every environment's history is merged by start time. Exit codes: 0 listed (possibly nothing),
2 the stack or its output cannot be found.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TextIO, get_args

from safejob_ops.deploy.ledger import DeployLedger
from safejob_ops.deploy.models import DeployRecord, Environment
from safejob_tools.commands.live import StackLookupError, stack_outputs

if TYPE_CHECKING:
    from safejob_tools.cli import Subparsers

TABLE_OUTPUT = "DeployLedgerTableName"
ENVIRONMENTS: tuple[str, ...] = get_args(Environment)
EXIT_OK = 0
EXIT_LOOKUP = 2
MAX_LIMIT = 1000


def register(subparsers: Subparsers) -> None:
    """Add the `deploy` command group."""
    group = subparsers.add_parser("deploy", help="the deploy workflow: its ledger")
    commands = group.add_subparsers(dest="deploy_command", metavar="SUBCOMMAND", required=True)
    history = commands.add_parser(
        "history",
        help="the latest deploys, newest first, as JSON lines",
        description="Print the latest deploy records of the ledger (stack output DeployLedgerTableName), newest "
        "first, one JSON object per line.",
    )
    history.add_argument("--stack-name", required=True, help="the platform stack (e.g. safejob-staging)")
    history.add_argument("--environment", choices=ENVIRONMENTS, default=None,
                         help="only this environment (default: all, merged by start time)")
    history.add_argument("--limit", type=_limit, default=20, metavar="N",
                         help=f"at most N records (1..{MAX_LIMIT}, default 20)")
    history.set_defaults(func=history_command)


def _boto_ledger(stack_name: str) -> DeployLedger:
    import boto3

    from safejob_ops.adapters.deploy_ledger import DynamoDeployLedger

    outputs = stack_outputs(boto3.client("cloudformation"), stack_name)
    if TABLE_OUTPUT not in outputs:
        raise StackLookupError(f"--stack-name {stack_name}: no output {TABLE_OUTPUT}; fix: deploy a stack version "
                               "with the deploy ledger, or pass the right stack")
    return DynamoDeployLedger(outputs[TABLE_OUTPUT])


def history_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None,
                    ledger_for: Callable[[str], DeployLedger] | None = None) -> int:
    """`deploy history`: JSON lines, newest first; exit 2 when the stack or its table cannot be found."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        ledger = (ledger_for or _boto_ledger)(args.stack_name)
    except StackLookupError as exc:
        print(exc, file=err)
        return EXIT_LOOKUP
    for record in history(ledger, args.environment, args.limit):
        print(record.model_dump_json(), file=out)
    return EXIT_OK


def history(ledger: DeployLedger, environment: str | None, limit: int) -> list[DeployRecord]:
    """One environment's history, or every environment's merged by start time (newest first), at most `limit`."""
    environments = [environment] if environment else list(ENVIRONMENTS)
    records: list[DeployRecord] = []
    for name in environments:
        records += ledger.history(name, limit)
    records.sort(key=_newest_first_key, reverse=True)
    return records[:limit]


def _newest_first_key(record: DeployRecord) -> tuple[datetime, str]:
    return (record.started_at, record.execution_id)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT}, got {value}")
    return value
