"""The benchmarks in one run, at the sizes of `make bench` or of `--quick`, into one `BenchReport`.

`deploy_model` is a model, not a measurement: it runs in milliseconds and is the same in `--quick`.
`deploy_transitions` deploys in the emulator (about a minute; `--quick` leaves out the extended canary)."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from safejob_tools.bench import coldstart, deploy_model, deploy_transitions, e2e, routing
from safejob_tools.bench.results import BenchReport, Machine
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.sink import HttpSink

BENCHMARKS = ("coldstart", "routing", "e2e", "deploy_model", "deploy_transitions")



@dataclass(frozen=True)
class Sizes:
    coldstart_runs: int
    routing_events: int
    routing_alarms: int
    routing_runs: int
    e2e: e2e.E2EParams = field(default_factory=e2e.E2EParams)
    transitions: deploy_transitions.TransitionParams = field(default_factory=deploy_transitions.TransitionParams)


# `make bench`: about 4 minutes on 2 cores, most of it the end-to-end storm (docs/benchmarks.md says why it is
# smaller than the routing storm).
FULL = Sizes(coldstart_runs=7, routing_events=10_000, routing_alarms=200, routing_runs=7, e2e=e2e.FULL,
             transitions=deploy_transitions.FULL)
QUICK = Sizes(coldstart_runs=3, routing_events=2_000, routing_alarms=200, routing_runs=3, e2e=e2e.QUICK,
              transitions=deploy_transitions.QUICK)


def missed(report: BenchReport) -> list[str]:
    """Every target the report misses, in words."""
    out: list[str] = []
    if report.coldstart is not None:
        out += [f"cold start of {f.function}: {f.ratio.median:.2f}x the baseline (target <= {f.target}x)"
                for f in report.coldstart.functions if not f.passed]
    if report.routing is not None and not report.routing.passed:
        out.append(f"routing: {report.routing.alerts_per_second.max:,.0f} alerts/s at best "
                   f"(target >= {report.routing.target_alerts_per_second:,.0f})")
    if report.e2e is not None and not report.e2e.passed:
        r = report.e2e
        why = [text for bad, text in (
            (r.lost_alerts > 0, f"{r.lost_alerts} lost alerts"),
            (r.max_notifications_per_group_interval > 1,
             f"up to {r.max_notifications_per_group_interval} notifications of one group within one group_interval"),
            (r.duplicate_notification_ids > 0, f"{r.duplicate_notification_ids} notification ids sent twice"),
            (r.duplicate_sink_requests > 0, f"{r.duplicate_sink_requests} duplicate requests at the receivers"),
            (not r.consistent, "; ".join(r.problems)),
        ) if bad]
        out.append("end to end: " + "; ".join(why))
    if report.deploy_model is not None:
        out += [f"modeled deploy time, {s.scenario}: {s.total_seconds / 60:.1f} min "
                f"(target <= {s.target_seconds / 60:g} min; pessimistic {s.pessimistic_total_seconds / 60:.1f} min)"
                for s in report.deploy_model.scenarios if not s.passed]
    if report.deploy_transitions is not None:
        t = report.deploy_transitions
        out += [f"state transitions, {s.scenario}: {s.count.transitions} (target <= {t.target_transitions})"
                if s.status == "SUCCEEDED" else f"state transitions, {s.scenario}: the deploy ended {s.status}"
                for s in t.scenarios if not s.passed]
    return out


class _SharedEmulator:
    """One emulator for every benchmark that deploys the stack: moto's state lives in the process, so a second
    emulator would find the first one's stack (CreateStack: AlreadyExists)."""

    def __init__(self, exits: contextlib.ExitStack) -> None:
        self._exits = exits
        self._emulator: tuple[DeployedStack, HttpSink] | None = None
        self._error: Exception | None = None

    def get(self) -> tuple[DeployedStack, HttpSink]:
        if self._error is not None:
            raise self._error
        if self._emulator is None:
            try:
                self._emulator = self._exits.enter_context(e2e.emulator())
            except Exception as error:
                self._error = error
                raise
        return self._emulator


def _run_one(name: str, sizes: Sizes, report: BenchReport, progress: Callable[[str], None] | None,
             emulator: _SharedEmulator) -> None:
    match name:
        case "coldstart":
            report.coldstart = coldstart.run(runs=sizes.coldstart_runs, progress=progress)
        case "routing":
            report.routing = routing.run(events=sizes.routing_events, alarms=sizes.routing_alarms,
                                         runs=sizes.routing_runs, progress=progress)
        case "e2e":
            stack, sink = emulator.get()
            report.e2e = e2e.run(sizes.e2e, stack=stack, sink=sink, progress=progress)
        case "deploy_model":
            report.deploy_model = deploy_model.run(progress=progress)
        case "deploy_transitions":
            report.deploy_transitions = deploy_transitions.run(sizes.transitions, stack=emulator.get()[0],
                                                               progress=progress)


def run_all(sizes: Sizes = FULL, only: Collection[str] = BENCHMARKS, quick: bool = False,
            progress: Callable[[str], None] | None = None) -> BenchReport:
    """Run the chosen benchmarks (cold start first: it wants a quiet process) and report them together."""
    started_at, started = datetime.now(UTC), time.monotonic()
    report = BenchReport(
        started_at=started_at,
        seconds=0.0,
        quick=quick,
        machine=Machine(python=sys.version.split()[0], platform=platform.platform(), cpus=os.cpu_count() or 1),
    )
    with contextlib.ExitStack() as exits:
        emulator = _SharedEmulator(exits)
        for name in BENCHMARKS:
            if name not in only:
                continue
            try:
                _run_one(name, sizes, report, progress, emulator)
            except Exception as error:  # one benchmark that cannot run must not lose the others' figures
                report.errors[name] = "".join(traceback.format_exception_only(error)).strip()
    report.missed = missed(report)
    report.seconds = round(time.monotonic() - started, 1)
    return report
