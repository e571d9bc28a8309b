"""Smoke tests of the benchmarks (`make bench`): each runs at a tiny size and its report has the right shape, and the
end-to-end counts agree with each other. No timing is asserted: the machines are shared and noisy, and the figures
are for people to read (docs/benchmarks.md).
"""

from __future__ import annotations

import doctest
import importlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from safejob_tools.bench import coldstart, e2e, routing
from safejob_tools.bench.__main__ import main
from safejob_tools.bench.report import render
from safejob_tools.bench.results import BenchReport, E2EReport, Machine
from safejob_tools.bench.storm import event_counts, make_alarms
from safejob_tools.bench.suite import Sizes, missed, run_all

TINY_E2E = e2e.E2EParams(alarms=6, events=24, threads=3, drain_timeout_seconds=60.0)


@pytest.mark.parametrize("name", ["storm", "results", "coldstart", "routing"])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"safejob_tools.bench.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0
    assert result.attempted > 0


def test_the_storm_has_distinct_alarms_an_inhibiting_pair_and_exactly_the_events_asked_for() -> None:
    # GIVEN a storm of 40 events over 8 alarms
    alarms = make_alarms(8)
    counts = event_counts(40, 8)
    # THEN every alarm is distinct, one name is a critical/warning pair with one service, and the counts add up
    assert len({(a.name, a.region) for a in alarms}) == 8
    pairs = [[a for a in alarms if a.name == name] for name in {a.name for a in alarms}]
    [pair] = [p for p in pairs if len(p) == 2]
    assert sorted(a.severity for a in pair) == ["critical", "warning"]
    assert pair[0].service == pair[1].service
    assert sum(counts) == 40
    assert all(c >= 1 for c in counts)


def test_cold_start_of_one_function_is_measured_against_the_baseline() -> None:
    # WHEN the ingest function's cold start is measured once
    report = coldstart.run(runs=1, functions={"ingest": coldstart.FUNCTIONS["ingest"]})
    # THEN it has its figures, a ratio to the baseline, a verdict against the target and where the time goes
    [result] = report.functions
    assert result.function == "ingest"
    assert result.runs == 1
    assert result.wall_ms.median > 0
    assert result.baseline_wall_ms.median > 0
    assert result.ratio.median == pytest.approx(result.wall_ms.median / result.baseline_wall_ms.median)
    assert result.passed == (result.ratio.median <= report.target)
    kinds = {cost.kind for cost in result.top_costs}
    assert kinds == {"import", "init"}
    assert any(cost.what == "load_config" for cost in result.top_costs)  # the ingest handler loads its config


def test_importtime_output_is_attributed_to_the_module_that_imported_it() -> None:
    # GIVEN `python -X importtime` lines: c and b imported while a was, c by b
    text = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        100 |     c",
        "import time:       200 |        300 |   b",
        "import time:       400 |        700 | a",
    ])
    # WHEN they are parsed
    parsed = {i.name: i for i in coldstart.parse_importtime(text)}
    # THEN each knows its importer and its cumulative time
    assert (parsed["c"].parent, parsed["b"].parent, parsed["a"].parent) == ("b", "a", "")
    assert parsed["a"].cumulative_us == 700


def test_routing_counts_one_alert_per_event_and_reports_rates_and_the_floor_ratio() -> None:
    # WHEN a small storm is routed twice
    report = routing.run(events=300, alarms=30, runs=2, profile=True)
    # THEN every event became one alert, each routed somewhere, and the rates and the ratio are reported
    assert report.alerts == 300
    assert report.route_matches >= report.alerts
    assert report.runs == 2
    assert report.alerts_per_second.min > 0
    assert report.floor_events_per_second.min > 0
    assert report.ratio_to_floor.median > 0
    assert report.passed == (report.alerts_per_second.max >= report.target_alerts_per_second)
    assert report.hot_spots  # asked for (which functions lead depends on the machine's noise: not asserted)
    assert all(spot.function for spot in report.hot_spots)


def test_the_command_line_writes_the_json_report_and_exits_0(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the routing benchmark runs from the command line, quick
    out = tmp_path / "bench" / "results.json"
    code = main(["--quick", "--only", "routing", "--json", str(out)])
    # THEN it exits 0, prints the table, and the JSON report parses back with only that benchmark in it
    assert code == 0
    assert "Routing engine" in capsys.readouterr().out
    report = BenchReport.model_validate(json.loads(out.read_text()))
    assert report.quick
    assert report.routing is not None
    assert report.coldstart is None
    assert report.e2e is None
    assert report.missed == missed(report)


def test_a_benchmark_that_cannot_run_is_reported_as_an_error_and_the_others_still_run() -> None:
    # GIVEN a routing storm with no events (which cannot be built) and a cold start of one run
    sizes = Sizes(coldstart_runs=1, routing_events=0, routing_alarms=5, routing_runs=1)
    # WHEN both run
    report = run_all(sizes, only=["routing", "coldstart"])
    # THEN routing is an error with its reason, the cold start is still measured, and the report prints both
    assert list(report.errors) == ["routing"]
    assert report.errors["routing"].startswith("ValueError: need at least one alarm")
    assert report.routing is None
    assert report.coldstart is not None
    out = io.StringIO()
    render(report, Console(file=out, width=200))
    assert "ERROR   routing could not run: ValueError" in out.getvalue()


def test_an_unknown_benchmark_is_refused() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--only", "nope"])
    assert exit_info.value.code == 2


def test_a_missed_end_to_end_figure_is_named() -> None:
    # GIVEN an end-to-end report with a lost alert and a group that notified twice within its group_interval
    e2e_report = _e2e_report(lost_alerts=1, max_notifications_per_group_interval=2, passed=False)
    report = BenchReport(started_at=datetime(2026, 1, 1, tzinfo=UTC), seconds=1.0, quick=True,
                         machine=Machine(python="3.12", platform="linux", cpus=2), e2e=e2e_report)
    # THEN both are named among the missed targets, and nothing else is
    [line] = missed(report)
    assert line == ("end to end: 1 lost alerts; "
                    "up to 2 notifications of one group within one group_interval")


def _e2e_report(**changes: object) -> E2EReport:
    """A passing end-to-end report, with `changes`."""
    counts = dict.fromkeys(
        ("alarms", "storm_events", "redeliveries", "resolve_events", "threads", "ingest_errors", "stale_ignored",
         "groups_created", "distinct_groups", "notifications", "distinct_groups_notified", "requests_logged",
         "alerts_expected", "alerts_notified", "excused_short", "excused_inhibited", "excused_time_muted",
         "lost_alerts", "duplicate_notification_ids", "duplicate_sink_requests", "missing_sink_requests"), 0)
    values: dict[str, object] = {
        **counts, "storm_seconds": 1.0, "ingest_events_per_second": 1.0, "drain_seconds": 1.0, "total_seconds": 2.0,
        "ingest_latency_ms": {"min": 1.0, "median": 1.0, "max": 1.0}, "executions": {},
        "notifications_by_receiver": {}, "sink_requests": {}, "max_notifications_per_group_interval": 1,
        "max_deliveries_per_group_interval": 1, "consistent": True, "passed": True,
    }
    return E2EReport.model_validate({**values, **changes})
