"""`python -m safejob_tools.bench [--quick] [--only coldstart,routing,e2e] [--json PATH]` (`make bench`).

Prints the tables and writes the JSON report; exits 0 even when a target is missed (it prints MISSED): the figures
are for people to read, machines here are shared and noisy. Exits 2 on unusable arguments, and 1 when a benchmark
could not run at all (it prints ERROR; the others still run and are reported).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from safejob_tools.bench.report import render, write_json
from safejob_tools.bench.suite import BENCHMARKS, FULL, QUICK, run_all

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_JSON = ROOT / ".bench" / "results.json"


def _only(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(BENCHMARKS)} (got {value!r})")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safejob_tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs and storms (about a minute)")
    parser.add_argument("--only", type=_only, default=list(BENCHMARKS),
                        help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the report ({DEFAULT_JSON})")
    args = parser.parse_args(argv)
    # Bound to the real stdout now: the end-to-end run discards what the handlers print.
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 132)
    report = run_all(QUICK if args.quick else FULL, only=args.only, quick=args.quick,
                     progress=lambda message: console.print(f"[dim]{message}[/dim]"))
    render(report, console)
    path = write_json(report, args.json)
    console.print(f"[dim]report: {path}[/dim]")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
