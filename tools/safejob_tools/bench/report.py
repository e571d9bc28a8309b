"""The benchmark report as rich tables (what `make bench` prints) and as JSON (`.bench/results.json`)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from safejob_tools.bench.results import BenchReport, ColdStartReport, E2EReport, RoutingReport, Spread

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
