"""The benchmark report as rich tables (what `make bench` prints) and as JSON (`.bench/results.json`)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from safejob_tools.bench.deploy_model import DeployModelReport, ScenarioResult
from safejob_tools.bench.results import (
    BenchReport,
    ColdStartReport,
    DeployTransitionsReport,
    E2EReport,
    RoutingReport,
    Spread,
)

PASS = Text("pass", style="bold green")
MISSED = Text("MISSED", style="bold red")


def _verdict(ok: bool) -> Text:
    return PASS if ok else MISSED


def _range(spread: Spread, fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(spread.min)}-{fmt.format(spread.max)}"


def coldstart_table(report: ColdStartReport) -> Group:
    table = Table(title=f"Cold start: fresh process, handler imported (median of {report.runs}), "
                        f"against {report.baseline_command}", title_justify="left")
    for column in ("function", "median ms", "min-max", "in-process import ms", "baseline median ms",
                   "ratio (min-max)", "target", "result"):
        table.add_column(column, justify="left" if column in ("function", "result") else "right")
    for f in report.functions:
        table.add_row(f.function, f"{f.wall_ms.median:.0f}", _range(f.wall_ms), f"{f.import_ms.median:.0f}",
                      f"{f.baseline_wall_ms.median:.0f}",
                      f"{f.ratio.median:.2f}x ({_range(f.ratio, '{:.2f}')})", f"≤ {f.target}x", _verdict(f.passed))
    parts: list[Table] = [table]
    for f in report.functions:
        if f.passed or not f.top_costs:
            continue
        costs = Table(title=f"Where the cold start of {f.function} goes (imports: -X importtime, cumulative; "
                            "init: cProfile, inflated by the profiler)", title_justify="left")
        for column in ("kind", "what", "ms", "detail"):
            costs.add_column(column, justify="right" if column == "ms" else "left")
        for cost in f.top_costs:
            costs.add_row(cost.kind, cost.what, f"{cost.ms:.0f}", cost.detail)
        parts.append(costs)
    return Group(*parts)


def routing_table(report: RoutingReport) -> Table:
    table = Table(title=f"Routing engine: {report.events:,} events over {report.alarms} alarms, normalise + "
                        f"match_routes, one thread ({report.runs} runs)", title_justify="left")
    for column in ("figure", "best", "median", "worst", "target", "result"):
        table.add_column(column, justify="left" if column in ("figure", "result") else "right")
    a = report.alerts_per_second
    table.add_row("alerts/s", f"{a.max:,.0f}", f"{a.median:,.0f}", f"{a.min:,.0f}",
                  f"≥ {report.target_alerts_per_second:,.0f}", _verdict(report.passed))
    f = report.floor_events_per_second
    table.add_row("floor: JSON round trips/s", f"{f.max:,.0f}", f"{f.median:,.0f}", f"{f.min:,.0f}", "", "")
    r = report.ratio_to_floor
    table.add_row("time / floor time", f"{r.min:.2f}x", f"{r.median:.2f}x", f"{r.max:.2f}x", "", "")
    table.add_row("route matches per alert", "", f"{report.route_matches / max(report.alerts, 1):.2f}", "", "", "")
    return table


def routing_hot_spots(report: RoutingReport) -> Table | None:
    if not report.hot_spots:
        return None
    table = Table(title="Routing hot spots (cProfile, one run, by own time)", title_justify="left")
    for column in ("function", "calls", "own ms", "cumulative ms"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for spot in report.hot_spots:
        table.add_row(spot.function, f"{spot.calls:,}", f"{spot.own_ms:.1f}", f"{spot.cumulative_ms:.1f}")
    return table


def e2e_table(r: E2EReport) -> Group:
    table = Table(title=f"End to end in the emulator: {r.storm_events} state changes of {r.alarms} alarms, "
                        f"{r.threads} threads", title_justify="left")
    for column in ("figure", "value", "expected", "result"):
        table.add_column(column, justify="right" if column == "value" else "left")

    def row(figure: str, value: object, expected: str = "", ok: bool | None = None) -> None:
        table.add_row(figure, str(value), expected, "" if ok is None else _verdict(ok))

    row("events sent (state changes + redeliveries + resolves)",
        f"{r.storm_events} + {r.redeliveries} + {r.resolve_events}")
    row("ingest errors", r.ingest_errors, "0", r.ingest_errors == 0)
    row("redeliveries ignored as stale", r.stale_ignored, str(r.redeliveries), r.stale_ignored == r.redeliveries)
    row("storm / drain / total seconds", f"{r.storm_seconds:.0f} / {r.drain_seconds:.0f} / {r.total_seconds:.0f}")
    row("ingest rate (events/s, emulator)", f"{r.ingest_events_per_second:.1f}")
    row("ingest latency ms (min / median / max)",
        f"{r.ingest_latency_ms.min:.0f} / {r.ingest_latency_ms.median:.0f} / {r.ingest_latency_ms.max:.0f}")
    row("group episodes started / distinct groups", f"{r.groups_created} / {r.distinct_groups}")
    row("group executions by status", ", ".join(f"{k} {v}" for k, v in r.executions.items()),
        "all SUCCEEDED or IDLE", not r.executions.get("RUNNING"))
    row("notifications (log)", r.notifications)
    row("  by receiver", ", ".join(f"{k} {v}" for k, v in r.notifications_by_receiver.items()))
    row("distinct groups notified", r.distinct_groups_notified)
    row("max notifications per group per group_interval", r.max_notifications_per_group_interval, "≤ 1",
        r.max_notifications_per_group_interval <= 1)
    row("  the same, by delivery time (log)", r.max_deliveries_per_group_interval, "informative: delivery delays")
    row("sink requests / requests logged", f"{sum(r.sink_requests.values())} / {r.requests_logged}", "equal",
        r.duplicate_sink_requests == 0 and r.missing_sink_requests == 0)
    row("(alert, receiver) pairs that fired", r.alerts_expected)
    row("  notified", r.alerts_notified)
    row("  excused: shorter than group_wait / inhibited / time-muted",
        f"{r.excused_short} / {r.excused_inhibited} / {r.excused_time_muted}")
    row("  lost", r.lost_alerts, "0", r.lost_alerts == 0)
    row("duplicate notification ids (log)", r.duplicate_notification_ids, "0", r.duplicate_notification_ids == 0)
    row("duplicate requests at the sink", r.duplicate_sink_requests, "0", r.duplicate_sink_requests == 0)
    parts: list[Table | Text] = [table]
    for problem in r.problems:
        parts.append(Text(f"  inconsistent: {problem}", style="red"))
    if r.window_violations:
        across = sum(1 for v in r.window_violations if v.across_executions)
        parts.append(Text(f"  {len(r.window_violations)} group_interval windows with more than one notification "
                          f"(listed in the JSON; {across} of them span two executions of the group)", style="red"))
    for lost in r.lost[:5]:
        parts.append(Text(f"  lost: {lost.alarm} ({lost.region}) -> {lost.receiver}, episodes "
                          f"{', '.join(f'{s:.1f}s' for s in lost.episodes_seconds)}", style="red"))
    return Group(*parts)


def _clock(seconds: float) -> str:
    """m:ss, e.g. 1615.8 -> 26:56."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


def deploy_phase_table(result: ScenarioResult) -> Table:
    table = Table(title=f"Modeled deploy time, {result.scenario}: {result.title}", title_justify="left")
    for column in ("phase", "s", "cumulative", "pessimistic s", "how (nominal)"):
        table.add_column(column, justify="right" if column in ("s", "cumulative", "pessimistic s") else "left")
    for phase in result.phases:
        table.add_row(phase.name, f"{phase.seconds:.1f}", _clock(phase.cumulative_seconds),
                      f"{phase.pessimistic_seconds:.1f}", phase.how)
    table.add_row(Text("total", style="bold"), Text(f"{result.total_seconds:.0f}", style="bold"),
                  Text(_clock(result.total_seconds), style="bold"), f"{result.pessimistic_total_seconds:.0f}",
                  "; ".join(f"{m.name} at {_clock(m.seconds)}" for m in result.milestones))
    return table


def deploy_summary_table(report: DeployModelReport) -> Table:
    table = Table(title=f"Modeled deploy time against the target ({report.target_seconds / 60:g} min) and the "
                        f"plan ({report.plan_seconds / 60:g} min)", title_justify="left")
    for column in ("scenario", "total", "pessimistic", "promoted at", "bakes", "total / plan", "target", "result",
                   "pessimistic result"):
        table.add_column(column, justify="left" if column in ("scenario", "result", "pessimistic result") else "right")
    for r in report.scenarios:
        promoted = next((m.seconds for m in r.milestones if m.name.startswith("promoted")), None)
        table.add_row(r.scenario, f"{_clock(r.total_seconds)} ({r.total_seconds:.0f} s)",
                      f"{_clock(r.pessimistic_total_seconds)} ({r.pessimistic_total_seconds:.0f} s)",
                      "" if promoted is None else _clock(promoted), _clock(r.bake_seconds),
                      f"{r.ratio_to_plan:.2f}", f"≤ {_clock(r.target_seconds)}", _verdict(r.passed),
                      _verdict(r.pessimistic_passed))
    return table


def deploy_levers_table(report: DeployModelReport) -> Table:
    first = report.scenarios[0]
    table = Table(title=f"What moves the figure ({first.scenario}: {_clock(first.total_seconds)}), one change at a "
                        "time", title_justify="left")
    for column in ("change", "total", "saved s", "target"):
        table.add_column(column, justify="left" if column in ("change", "target") else "right")
    for lever in report.levers:
        table.add_row(lever.what, _clock(lever.total_seconds), f"{lever.saved_seconds:+.0f}", _verdict(lever.passed))
    return table


def deploy_assumptions_table(report: DeployModelReport) -> Table:
    table = Table(title="Assumptions (sources in the JSON report and docs/benchmarks.md)", title_justify="left")
    for column in ("assumption", "value", "range", "from", "what"):
        table.add_column(column, justify="right" if column in ("value", "range") else "left")
    for a in report.assumptions:
        value = f"{a.value:g}" + (" s" if a.unit == "s" else "")
        table.add_row(a.key, value, a.range_text, a.kind, a.what)
    return table


def deploy_model_tables(report: DeployModelReport) -> Group:
    parts: list[Table | Text] = [deploy_phase_table(result) for result in report.scenarios]
    parts += [deploy_summary_table(report), deploy_levers_table(report), deploy_assumptions_table(report)]
    parts += [Text(f"  not modeled: {line}", style="dim") for line in report.excluded]
    return Group(*parts)


def transitions_table(report: DeployTransitionsReport) -> Table:
    table = Table(title=f"State transitions per frontend deploy in the emulator (GetExecutionHistory: *StateEntered "
                        f"+ retries), against the target ({report.target_transitions}: "
                        f"${report.target_cost_usd:g} at ${report.price_per_transition_usd * 1000:g} per 1,000)",
                  title_justify="left")
    for column in ("scenario", "outcome", "transitions", "cost $", "/ target", "shifts %", "extended", "looks",
                   "projected", "target", "result"):
        table.add_column(column, justify="left" if column in ("scenario", "outcome", "shifts %", "result")
                         else "right", no_wrap=True)
    for r in report.scenarios:
        retries = f" ({r.count.retries} retr{'y' if r.count.retries == 1 else 'ies'})" if r.count.retries else ""
        table.add_row(r.scenario, r.outcome or r.status, f"{r.count.transitions}{retries}", f"{r.cost_usd:.5f}",
                      f"{r.ratio_to_target:.2f}", " → ".join(str(w) for w in r.weights), str(r.extensions),
                      str(r.health_looks), f"{r.projected_transitions} ({r.projected_pessimistic_transitions})",
                      f"≤ {report.target_transitions}" if r.judged else "", _verdict(r.passed))
    return table


def transitions_by_state_table(report: DeployTransitionsReport) -> Table:
    table = Table(title="Transitions by state (retries included)", title_justify="left")
    table.add_column("state")
    for r in report.scenarios:
        table.add_column(r.scenario, justify="right")
    states: dict[str, None] = {}
    for r in report.scenarios:
        states.update(dict.fromkeys(r.count.by_state))
    for state in states:
        table.add_row(state, *(str(r.count.by_state.get(state, "")) for r in report.scenarios))
    table.add_row(Text("total", style="bold"), *(Text(str(r.count.transitions), style="bold")
                                                 for r in report.scenarios))
    return table


def transitions_tables(report: DeployTransitionsReport) -> Group:
    notes = [f"  {r.scenario}: {r.title}, {r.seconds:.0f} s" for r in report.scenarios]
    notes += [
        "  extended: Analyse verdicts 'extend'; looks: CheckGreen looks until green was healthy",
        f"  each extension costs {report.transitions_per_extension} transitions (Bake, Analyse, Verdict?), each "
        f"CheckGreen look {report.transitions_per_health_look} (WaitForGreen, CheckGreen, GreenHealthy?)",
        f"  projected: in AWS; the emulator's green is healthy at the first look; in production after "
        f"{report.production_health_looks} looks, pessimistic {report.production_pessimistic_health_looks} (in "
        "brackets): the deploy model's ready time / health_poll_seconds",
        f"  price: {report.price_source}",
    ]
    return Group(transitions_table(report), transitions_by_state_table(report),
                 *(Text(line, style="dim") for line in notes))


def render(report: BenchReport, console: Console) -> None:
    console.rule(f"Safe Job benchmarks{' (quick)' if report.quick else ''}: {report.machine.cpus} CPUs, "
                 f"Python {report.machine.python}, {report.seconds:.0f} s")
    if report.coldstart is not None:
        console.print(coldstart_table(report.coldstart))
    if report.routing is not None:
        console.print(routing_table(report.routing))
        spots = routing_hot_spots(report.routing)
        if spots is not None:
            console.print(spots)
    if report.e2e is not None:
        console.print(e2e_table(report.e2e))
    if report.deploy_model is not None:
        console.print(deploy_model_tables(report.deploy_model))
    if report.deploy_transitions is not None:
        console.print(transitions_tables(report.deploy_transitions))
    for name, error in report.errors.items():
        console.print(Text(f"ERROR   {name} could not run: {error}", style="bold red"))
    for line in report.missed:
        console.print(Text(f"MISSED  {line}", style="bold red"))
    if not report.missed and not report.errors:
        console.print(Text("Every target met.", style="bold green"))


def write_json(report: BenchReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path
