"""Smoke tests of the benchmarks (`make bench`): each runs at a tiny size and its report has the right shape, and the
end-to-end counts agree with each other. No timing is asserted: the machines are shared and noisy, and the figures
are for people to read (docs/benchmarks.md).
"""

from __future__ import annotations

import doctest
import importlib
import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from safejob_tools.bench import coldstart, e2e, routing
from safejob_tools.bench.__main__ import main
from safejob_tools.bench.report import render
from safejob_tools.bench.results import BenchReport, E2EReport, Machine
from safejob_tools.bench.storm import event_counts, make_alarms
from safejob_tools.bench.suite import Sizes, missed, run_all
from safejob_tools.localaws.template import TEMPLATE, load_template

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


def test_a_deploy_handler_is_measured_with_its_template_environment() -> None:
    # WHEN the rollback handler's cold start (the deploy handler with the most adapters) is measured once
    report = coldstart.run(runs=1, functions={"deploy_rollback": coldstart.FUNCTIONS["deploy_rollback"]})
    # THEN its settings validated (a bad environment fails the run) and its init loaded the deploy config
    [result] = report.functions
    assert result.function == "deploy_rollback"
    assert result.import_ms.median > 0
    assert any(cost.what == "load_deploy_config" for cost in result.top_costs)


def test_every_handler_of_alarm_route_and_deploy_is_measured_and_a_quick_run_measures_fewer() -> None:
    # GIVEN the handlers on disk
    on_disk = {path.relative_to(coldstart.ROOT).as_posix()
               for workflow in ("alarm_route", "deploy")
               for path in (coldstart.ROOT / "functions" / workflow).glob("*/app.py")}
    # THEN a full run measures every one, and a quick run alarm_route's and three deploy handlers
    assert set(coldstart.default_functions(coldstart.FULL_RUNS).values()) == on_disk
    assert set(coldstart.default_functions(3)) == {*coldstart.ALARM_ROUTE, "deploy_validate", "deploy_analyse",
                                                   "deploy_rollback"}


def _template_variables(template: dict[str, Any], handler: str) -> dict[str, Any]:
    """The environment the template gives the function whose code is the handler's directory (Globals + its own)."""
    code_uri = handler.removesuffix("app.py")
    [props] = [r["Properties"] for r in template["Resources"].values()
               if r.get("Type") == "AWS::Serverless::Function" and r["Properties"].get("CodeUri") == code_uri]
    own: dict[str, Any] = props.get("Environment", {}).get("Variables", {})
    return {**template["Globals"]["Function"]["Environment"]["Variables"], **own}


def test_the_benchmark_environment_sets_every_variable_the_template_gives_a_measured_function() -> None:
    # GIVEN the template
    template = load_template(TEMPLATE)
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
    for name, handler in coldstart.FUNCTIONS.items():
        # WHEN the function's variables are read from it
        variables = _template_variables(template, handler)
        # THEN the benchmark sets each, and a config file as the template's default parameter does
        missing = sorted(set(variables) - set(coldstart.ENVIRONMENT))
        assert not missing, f"{name}: the benchmark environment lacks {missing}"
        for variable, value in variables.items():
            if variable.endswith("_CONFIG_FILE"):
                assert coldstart.ENVIRONMENT[variable] == defaults[value["Ref"]], f"{name}: {variable}"


def test_every_measured_handler_initialises_with_the_benchmark_environment() -> None:
    # WHEN every handler is loaded, as the cold start loads it, in one fresh process with the benchmark's environment
    load_all = ("import importlib.util, sys\n"
                "for index, path in enumerate(sys.argv[1:]):\n"
                "    spec = importlib.util.spec_from_file_location(f'app{index}', path)\n"
                "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
                "    print(path)\n")
    paths = [str(coldstart.ROOT / handler) for handler in coldstart.FUNCTIONS.values()]
    done = subprocess.run([str(coldstart.ROOT / ".venv" / "bin" / "python"), "-c", load_all, *paths],
                          env=coldstart.environment(), cwd=coldstart.ROOT, capture_output=True, text=True, check=False)
    # THEN each validates its settings and loads its config (no SettingsError), without calling AWS
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == paths


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


def test_a_benchmark_that_cannot_run_is_reported_as_an_error_and_the_others_still_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a routing storm with no events (which cannot be built) and a cold start of one run, of one function
    sizes = Sizes(coldstart_runs=1, routing_events=0, routing_alarms=5, routing_runs=1)
    monkeypatch.setattr(coldstart, "QUICK_FUNCTIONS", {"ingest": coldstart.FUNCTIONS["ingest"]})
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
