"""The modeled deploy time (safejob_tools.bench.deploy_model): the totals add up, a longer bake or one more step
costs exactly what it adds, the stack's values are read from the templates, and the default scenarios have the
phases the deploy state machine runs. Expected values are derived from the assumptions, never copied from output.
"""

from __future__ import annotations

import doctest
import io
import json
import math
from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from safejob_tools.bench import deploy_model
from safejob_tools.bench.__main__ import main
from safejob_tools.bench.deploy_model import (
    COMPUTE,
    DEPLOY_CONFIG,
    EDGE,
    Assumptions,
    DeployModelError,
    Scenario,
    ScenarioResult,
    canary,
    default_assumptions,
    default_scenarios,
    green_ready_seconds,
    levers,
    model_deploy,
    read_stack_timings,
    read_workflow_timings,
)
from safejob_tools.bench.report import render
from safejob_tools.bench.results import BenchReport
from safejob_tools.bench.suite import missed, run_all

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)
A = default_assumptions()  # read once: the repository's stack and config


def _phase(result: ScenarioResult, name: str) -> float:
    [seconds] = [p.seconds for p in result.phases if p.name == name]
    return seconds


def _warm_step(a: Assumptions, bake: int) -> float:
    """One more analysed canary step, every function already warm: shift, bake, the last minute, analyse."""
    state, invoke, call = a.sfn_state.value, a.lambda_invoke.value, a.aws_call.value
    shift = state + invoke + 6 * call + state  # weights, close the last window, open one (x2 services); Analysed?
    settle = state + a.metric_period_alignment.value + a.metric_publication.value
    analyse = state + invoke + 4 * call + state  # GetMetricData and DescribeAlarms per service, then the Choice
    return shift + (state + bake) + settle + analyse


def _edited(tmp_path: Path, source: Path, old: str, new: str, count: int = -1) -> Path:
    text = source.read_text()
    assert old in text
    path = tmp_path / source.name
    path.write_text(text.replace(old, new, count))
    return path


def test_docstring_examples() -> None:
    result = doctest.testmod(deploy_model)
    assert result.failed == 0
    assert result.attempted > 0


# ------------------------------------------------------------------------------------------------ the totals
@pytest.mark.parametrize("scenario", default_scenarios(), ids=lambda s: s.scenario)
def test_the_total_is_the_sum_of_the_phases_and_is_judged_against_the_target_and_the_plan(scenario: Scenario) -> None:
    # WHEN a default scenario is modeled
    result = model_deploy(scenario, A)
    # THEN its total is the sum of its phases, the cumulative column accumulates them, and the verdicts follow
    assert result.total_seconds == math.fsum(p.seconds for p in result.phases)
    assert result.pessimistic_total_seconds == math.fsum(p.pessimistic_seconds for p in result.phases)
    assert [p.cumulative_seconds for p in result.phases] == pytest.approx(list(accumulate(p.seconds
                                                                                         for p in result.phases)))
    assert result.phases[-1].cumulative_seconds == result.total_seconds
    assert all(p.pessimistic_seconds >= p.seconds for p in result.phases)
    assert result.ratio_to_plan == result.total_seconds / 900
    assert result.passed == (result.total_seconds <= 600)
    assert result.pessimistic_passed == (result.pessimistic_total_seconds <= 600)
    assert [m.seconds for m in result.milestones] == sorted(m.seconds for m in result.milestones)
    assert result.milestones[-1].seconds == result.total_seconds


@PROPERTY_SETTINGS
@given(weights=st.sets(st.integers(1, 99), max_size=5), bake=st.integers(1, 900), more=st.integers(1, 900))
def test_a_longer_bake_costs_exactly_the_extra_bake_of_each_step(weights: set[int], bake: int, more: int) -> None:
    # GIVEN a canary with any steps, baked `bake` then `bake + more` seconds
    steps = (*sorted(weights), 100)
    shorter, longer = model_deploy(canary(steps, bake), A), model_deploy(canary(steps, bake + more), A)
    # THEN the longer one takes `more` seconds longer per step, nominal and pessimistic alike
    assert longer.total_seconds - shorter.total_seconds == pytest.approx(len(steps) * more)
    assert longer.pessimistic_total_seconds - shorter.pessimistic_total_seconds == pytest.approx(len(steps) * more)
    assert longer.bake_seconds == len(steps) * (bake + more)


@PROPERTY_SETTINGS
@given(weights=st.sets(st.integers(1, 98), min_size=1, max_size=5), bake=st.integers(0, 600), data=st.data())
def test_one_more_step_costs_exactly_a_warm_shift_bake_last_minute_and_analysis(weights: set[int], bake: int,
                                                                                 data: st.DataObject) -> None:
    # GIVEN a canary, and the same with one more step anywhere before 100%
    extra = data.draw(st.integers(1, 99).filter(lambda w: w not in weights))
    steps = (*sorted(weights), 100)
    more_steps = (*sorted({*weights, extra}), 100)
    # WHEN both are modeled
    fewer, more = model_deploy(canary(steps, bake), A), model_deploy(canary(more_steps, bake), A)
    # THEN the difference is one step with every function already warm (the first step pays the cold starts)
    expected = _warm_step(A, bake) - (0 if bake else A.sfn_state.value)  # no Wait state without a bake
    assert more.total_seconds - fewer.total_seconds == pytest.approx(expected)
    assert len(more.phases) - len(fewer.phases) == (4 if bake else 3)


def test_each_function_starts_cold_once_per_execution() -> None:
    # WHEN the default canary is modeled
    result = model_deploy(canary(), A)
    # THEN the first shift and analysis pay a cold start, the later ones do not
    cold = A.lambda_cold_start.value
    assert _phase(result, "Step 1 (10%): shift") - _phase(result, "Step 2 (50%): shift") == pytest.approx(cold)
    assert _phase(result, "Step 1 (10%): analyse") - _phase(result, "Step 3 (100%): analyse") == pytest.approx(cold)


def test_an_extension_bakes_waits_for_the_last_minute_and_analyses_again() -> None:
    # WHEN the first step extends once
    plain, extended = model_deploy(canary(), A), model_deploy(canary(extensions=(1,)), A)
    # THEN the deploy is longer by one more warm bake, last minute and analysis (no new shift)
    shift = 2 * A.sfn_state.value + A.lambda_invoke.value + 6 * A.aws_call.value
    assert extended.total_seconds - plain.total_seconds == pytest.approx(_warm_step(A, 120) - shift)
    assert "Step 1 (10%) extension 1: bake" in [p.name for p in extended.phases]


# ------------------------------------------------------------------------------------------------ the stack
def test_the_stack_values_are_read_from_edge_and_compute() -> None:
    # WHEN the repository's templates are read
    stack = read_stack_timings()
    # THEN the target groups' settings are edge.yaml's (not AWS's defaults: 30 s, 5, 300 s), the services' compute's
    assert (stack.health_check_interval_seconds, stack.healthy_threshold_count) == (15, 2)
    assert stack.deregistration_delay_seconds == 30
    assert stack.maximum_percent == 200
    assert stack.health_check_grace_period_seconds == 60
    assert "stacks/edge.yaml HealthCheckIntervalSeconds: all 4" in stack.sources["health_check_interval_seconds"]
    assert "stacks/compute.yaml" in stack.sources["maximum_percent"]


def test_a_longer_health_check_interval_makes_green_ready_later_by_exactly_the_difference(tmp_path: Path) -> None:
    # GIVEN edge.yaml with a 30 s health check interval instead of 15 s
    edge = _edited(tmp_path, EDGE, "HealthCheckIntervalSeconds: 15", "HealthCheckIntervalSeconds: 30")
    # WHEN the model reads it
    stack = read_stack_timings(edge, COMPUTE)
    slower = default_assumptions(stack, smoke_checks=3)
    # THEN green is healthy 15 s later (one check), and 15 s x the healthy threshold later in the pessimistic case
    assert stack.health_check_interval_seconds == 30
    assert green_ready_seconds(slower) - green_ready_seconds(A) == 15
    assert green_ready_seconds(slower, "pessimistic") - green_ready_seconds(A, "pessimistic") \
        == 15 * stack.healthy_threshold_count
    assert model_deploy(canary(), slower).total_seconds > model_deploy(canary(), A).total_seconds


def test_one_slower_target_group_sets_the_interval_and_is_named(tmp_path: Path) -> None:
    # GIVEN only the first target group (backend blue) checked every 20 s
    edge = _edited(tmp_path, EDGE, "HealthCheckIntervalSeconds: 15", "HealthCheckIntervalSeconds: 20", count=1)
    # THEN the worst one counts, since each colour is the target in turn, and the source names it
    stack = read_stack_timings(edge, COMPUTE)
    assert stack.health_check_interval_seconds == 20
    assert stack.sources["health_check_interval_seconds"].endswith("BackendBlueTargetGroup (of 4)")


def test_a_target_group_without_a_setting_gets_the_aws_default(tmp_path: Path) -> None:
    # GIVEN edge.yaml without any HealthyThresholdCount
    edge = _edited(tmp_path, EDGE, "      HealthyThresholdCount: 2\n", "")
    # THEN the model uses AWS's default threshold, 5
    assert read_stack_timings(edge, COMPUTE).healthy_threshold_count == 5


def test_a_deregistration_delay_longer_than_the_grace_is_flagged_and_priced(tmp_path: Path) -> None:
    # GIVEN a deregistration delay (600 s) longer than the configured retire grace
    edge = _edited(tmp_path, EDGE, 'Value: "30"', 'Value: "600"')
    a = default_assumptions(read_stack_timings(edge, COMPUTE), smoke_checks=3)
    # WHEN the model is built from it
    result = model_deploy(canary(), a)
    # THEN the machine still waits the configured grace, which the model flags, and the lever prices the delay
    grace = read_workflow_timings().retire_grace_seconds
    assert grace < 600
    assert _phase(result, "Retire grace (old colour drains)") == pytest.approx(grace + a.sfn_state.value)
    assert "BELOW the deregistration delay (600 s)" in a.retire_grace.source
    [lever] = [lever for lever in levers(canary(), a) if lever.what.startswith("retire grace")]
    assert lever.saved_seconds == pytest.approx(grace - 600)
    assert "BELOW" not in A.retire_grace.source


def test_a_smaller_maximum_percent_starts_green_in_waves(tmp_path: Path) -> None:
    # GIVEN services that may only run half their desired count during a deployment
    compute = _edited(tmp_path, COMPUTE, "MaximumPercent: 200", "MaximumPercent: 50")
    a = default_assumptions(read_stack_timings(EDGE, compute), smoke_checks=3)
    # THEN green starts in two waves: twice the task start, boot and first check
    per_wave = A.fargate_task_start.value + A.app_boot.value + A.first_healthy_check.value
    assert a.launch_waves.value == 2
    assert green_ready_seconds(a) - green_ready_seconds(A) == per_wave


def test_a_number_the_model_cannot_resolve_is_refused(tmp_path: Path) -> None:
    # GIVEN an interval that is a Ref to a parameter: with a default it is read, without one it is refused
    parameter = "Parameters:\n  Interval:\n    Type: Number\n    Default: 10\n"
    edge = _edited(tmp_path, EDGE, "HealthCheckIntervalSeconds: 15", "HealthCheckIntervalSeconds: !Ref Interval")
    edge.write_text(edge.read_text().replace("Parameters:\n", parameter, 1))
    assert read_stack_timings(edge, COMPUTE).health_check_interval_seconds == 10
    edge.write_text(edge.read_text().replace("    Default: 10\n", "", 1))
    with pytest.raises(DeployModelError, match="Ref Interval has no default"):
        read_stack_timings(edge, COMPUTE)


def test_the_workflow_timings_come_from_the_deploy_config(tmp_path: Path) -> None:
    # GIVEN a deploy config that polls green every 5 s and keeps the old colour 60 s
    config = _edited(tmp_path, DEPLOY_CONFIG, "health_poll_seconds: 10", "health_poll_seconds: 5")
    config.write_text(config.read_text().replace("retire_grace_seconds: 300", "retire_grace_seconds: 60"))
    # WHEN the benchmark runs with it
    report = deploy_model.run(config=config)
    # THEN its poll interval and grace are the ones used
    assert read_workflow_timings(config).health_poll_seconds == 5
    result = report.scenarios[0]
    assert _phase(result, "Retire grace (old colour drains)") == pytest.approx(60 + A.sfn_state.value)
    assert "Wait 5 " in next(p.how for p in result.phases if p.name == "Green healthy (poll loop)")


# ------------------------------------------------------------------------------------------------ the scenarios
def test_the_default_canary_runs_every_phase_of_the_state_machine_in_order() -> None:
    # WHEN the issue's scenario is modeled: production, [10, 50, 100], bake 120 s, both services, new migrations
    result = model_deploy(canary(), A)
    names = [p.name for p in result.phases]
    # THEN the phases are the state machine's, the migrate child with its snapshot, three steps of four phases
    steps = [f"Step {i} ({w}%): {what}" for i, w in ((1, 10), (2, 50), (3, 100))
             for what in ("shift", "bake", "last minute published", "analyse")]
    assert names == [
        "Validate", "Preflight", "Begin (lock, ledger)", "Register task definitions",
        "Migrate: child starts (Validate, Lock, Register)", "Migrate: plan task", "Migrate: read the plan",
        "Migrate: RDS snapshot", "Migrate: apply task", "Migrate: verify task", "Migrate: finish, child ends",
        "ScaleGreen (test listener, UpdateService)", "Green healthy (poll loop)", "Smoke tests", *steps,
        "Finalize (windows, ledger, notification)", "Retire grace (old colour drains)",
        "Retire (old colour to 0, unlock)"]
    # AND each bake is its Wait, each last minute the minute's end plus the publication delay
    state = A.sfn_state.value
    for i in (1, 2, 3):
        weight = (10, 50, 100)[i - 1]
        assert _phase(result, f"Step {i} ({weight}%): bake") == pytest.approx(state + 120)
        assert _phase(result, f"Step {i} ({weight}%): last minute published") == pytest.approx(
            state + A.metric_period_alignment.value + A.metric_publication.value)
    assert result.bake_seconds == 3 * 120
    # AND each one-off task is a start, its command, a stop and the .sync notice
    plan = A.fargate_task_start.value + A.migrate_plan_command.value + A.task_stop.value + A.sync_completion.value
    assert _phase(result, "Migrate: plan task") == pytest.approx(state + plan)
    # AND the grace is the configured one
    grace = read_workflow_timings().retire_grace_seconds
    assert _phase(result, "Retire grace (old colour drains)") == pytest.approx(state + grace)


def test_green_is_seen_healthy_by_the_first_look_after_it_is_ready() -> None:
    # WHEN the default canary is modeled
    result = model_deploy(canary(), A)
    loop = _phase(result, "Green healthy (poll loop)")
    # THEN the loop lasts at least until green is ready, and less than one more look beyond it
    ready = green_ready_seconds(A)
    # one look: WaitForGreen, CheckGreen (DescribeServices and DescribeTargetHealth per service), GreenHealthy?
    look = 3 * A.sfn_state.value + A.health_poll.value + A.lambda_invoke.value + 4 * A.aws_call.value
    assert ready <= loop < ready + look + A.lambda_cold_start.value


def test_without_a_new_migration_the_child_runs_its_plan_task_only() -> None:
    with_migrations, without = (model_deploy(s, A) for s in default_scenarios()[:2])
    names = [p.name for p in without.phases]
    assert "Migrate: plan task" in names
    assert not {"Migrate: RDS snapshot", "Migrate: apply task", "Migrate: verify task"} & set(names)
    saved = sum(_phase(with_migrations, n) for n in ("Migrate: RDS snapshot", "Migrate: apply task",
                                                     "Migrate: verify task"))
    assert with_migrations.total_seconds - without.total_seconds == pytest.approx(saved)


def test_all_at_once_in_staging_shifts_once_without_bake_analysis_or_snapshot() -> None:
    result = model_deploy(default_scenarios()[2], A)
    names = [p.name for p in result.phases]
    assert [n for n in names if n.startswith("Step")] == ["Step 1 (100%): shift"]
    assert "Migrate: RDS snapshot" not in names
    assert "Migrate: apply task" in names
    assert result.bake_seconds == 0


def test_a_frontend_only_deploy_runs_no_migrate_child_and_approval_is_never_modeled() -> None:
    result = model_deploy(canary(services=("frontend",), approval_required=True), A)
    names = [p.name for p in result.phases]
    assert not [n for n in names if n.startswith("Migrate")]
    assert _phase(result, "Approval (a human: not modeled)") == 0


def test_each_lever_saves_what_its_changed_model_says() -> None:
    # WHEN the levers of the default canary are computed
    base = model_deploy(canary(), A)
    found = {lever.what: lever for lever in levers(canary(), A)}
    # THEN each saving is the difference of the totals, and analysing right after the bake saves three last minutes
    assert all(lever.saved_seconds == pytest.approx(base.total_seconds - lever.total_seconds)
               for lever in found.values())
    [no_wait] = [lever for what, lever in found.items() if what.startswith("analyse right after the bake")]
    settle = A.sfn_state.value + A.metric_period_alignment.value + A.metric_publication.value
    assert no_wait.saved_seconds == pytest.approx(3 * settle)
    assert all(lever.passed == (lever.total_seconds <= 600) for lever in found.values())


# ------------------------------------------------------------------------------------------------ the suite
def test_the_suite_runs_the_model_and_names_each_missed_scenario() -> None:
    # WHEN only the deploy model runs
    report = run_all(only=["deploy_model"], quick=True)
    # THEN it is in the report, nothing else ran, and every scenario over the target is a MISSED line
    assert isinstance(report, BenchReport)
    assert report.errors == {}
    assert report.deploy_model is not None
    assert report.coldstart is None
    assert report.routing is None
    over = [s.scenario for s in report.deploy_model.scenarios if not s.passed]
    assert [line.split(":")[0] for line in report.missed] == [f"modeled deploy time, {name}" for name in over]
    out = io.StringIO()
    render(report, Console(file=out, width=200))
    text = out.getvalue()
    assert "Modeled deploy time, canary" in text
    assert "What moves the figure" in text
    assert all(f"MISSED  {line}" in text for line in missed(report))


def test_the_command_line_prints_the_model_and_writes_it_to_the_json(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "deploy_model", "--json", str(out)]) == 0
    assert "Modeled deploy time" in capsys.readouterr().out
    report = BenchReport.model_validate(json.loads(out.read_text()))
    assert report.deploy_model is not None
    assert [s.scenario for s in report.deploy_model.scenarios] == ["canary", "no_new_migration", "all_at_once",
                                                                   "issue_definition"]
    assert {a.key for a in report.deploy_model.assumptions} == set(Assumptions.model_fields)


def test_the_issue_definition_counts_the_drain_not_the_retire_grace() -> None:
    # GIVEN the issue's definition (task start, health checks, bakes, deregistration delay; no migrate child)
    issue = default_scenarios()[3]
    assert issue.scenario == "issue_definition"
    assert not issue.runs_migrate
    assert issue.wait_for_last_minute is False
    # WHEN it is modeled with its grace, and with the config's retire grace instead
    drained = model_deploy(issue, A)
    graced = model_deploy(issue.model_copy(update={"grace": "config"}), A)
    # THEN the two differ by exactly the retire grace less the deregistration delay
    assert graced.total_seconds - drained.total_seconds == pytest.approx(
        A.retire_grace.value - A.deregistration_delay.value)
