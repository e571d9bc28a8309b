"""The transitions benchmark's counting (safejob_tools.bench.deploy_transitions) on canned execution histories: the
histories are walks of statemachines/deploy.asl.json (checked against it), with the events Step Functions records
for each state type. The emulator run itself is `python -m safejob_tools.bench --only deploy_transitions`.
"""

from __future__ import annotations

import doctest
import io
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from safejob_tools.bench import deploy_transitions
from safejob_tools.bench.deploy_transitions import (
    EXTENSION_STATES,
    HEALTH_LOOK_STATES,
    PRICE_PER_TRANSITION_USD,
    TARGET_TRANSITIONS,
    Scenario,
    count_transitions,
)
from safejob_tools.bench.report import render
from safejob_tools.bench.results import BenchReport, DeployTransitionsReport, Machine
from safejob_tools.bench.suite import missed

ASL = json.loads((Path(__file__).resolve().parents[3] / "statemachines" / "deploy.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]


def canary_path(steps: int, extensions: int = 0, looks: int = 1) -> list[str]:
    """The states a successful frontend canary enters: `looks` CheckGreen looks, `extensions` at the first step."""
    path = ["Validate", "Preflight", "Begin", "Register", "HasMigrations", "ScaleGreen"]
    path += list(HEALTH_LOOK_STATES) * looks + ["Smoke", "ApprovalRequired?"]
    for step in range(steps):
        path += ["Shift", "Analysed?", "Bake", "Analyse", "Verdict?"]
        path += list(EXTENSION_STATES) * (extensions if step == 0 else 0)
    return [*path, "Finalize", "RetireGrace", "Retire", "Deployed"]


def successors(name: str) -> set[str]:
    state = STATES[name]
    found = {state["Next"]} if "Next" in state else set()
    found |= {choice["Next"] for choice in state.get("Choices", [])}
    found |= {state["Default"]} if "Default" in state else set()
    return found | {catch["Next"] for catch in state.get("Catch", [])}


def history(path: list[str], retried: dict[int, int] | None = None) -> list[dict[str, Any]]:
    """The events of an execution entering `path` in order; `retried[i]`: failed attempts of the i-th state's task."""
    retried = retried or {}
    events: list[dict[str, Any]] = [{"type": "ExecutionStarted"}]
    for index, name in enumerate(path):
        kind = STATES[name]["Type"]
        events.append({"type": f"{kind}StateEntered", "stateEnteredEventDetails": {"name": name}})
        if kind == "Task":
            for _ in range(retried.get(index, 0)):
                events += [{"type": "TaskScheduled"}, {"type": "TaskStarted"}, {"type": "TaskFailed"}]
            events += [{"type": "TaskScheduled"}, {"type": "TaskStarted"}, {"type": "TaskSucceeded"}]
        events.append({"type": f"{kind}StateExited", "stateExitedEventDetails": {"name": name, "output": "{}"}})
    return [*events, {"type": "ExecutionSucceeded"}]


@pytest.mark.parametrize(("steps", "extensions", "looks"), [(3, 0, 1), (3, 2, 1), (3, 0, 9), (2, 1, 4)])
def test_the_canned_paths_are_walks_of_the_deploy_state_machine(steps: int, extensions: int, looks: int) -> None:
    path = canary_path(steps, extensions, looks)
    assert path[0] == ASL["StartAt"]
    assert all(after in successors(before) for before, after in itertools.pairwise(path))
    assert STATES[path[-1]]["Type"] == "Succeed"


def test_each_state_entered_is_one_transition_and_only_those_count() -> None:
    # GIVEN the history of a 3-step canary without extension, green healthy at the first look
    path = canary_path(3)
    # WHEN its transitions are counted
    count = count_transitions(history(path))
    # THEN there is one per state entered (scheduled, started, succeeded and exited events are not transitions)
    assert count.entered == count.transitions == len(path) == 30
    assert count.retries == 0
    assert count.by_state == {name: path.count(name) for name in dict.fromkeys(path)}
    assert list(count.by_state) == list(dict.fromkeys(path))  # in first-entry order
    assert (count.by_state["Shift"], count.by_state["Analyse"], count.by_state["Verdict?"]) == (3, 3, 3)


def test_extensions_and_health_looks_cost_three_transitions_each() -> None:
    base = count_transitions(history(canary_path(3))).transitions
    assert count_transitions(history(canary_path(3, extensions=2))).transitions == base + 2 * len(EXTENSION_STATES)
    assert count_transitions(history(canary_path(3, looks=9))).transitions == base + 8 * len(HEALTH_LOOK_STATES)


def test_a_retried_task_is_one_more_transition_of_its_state() -> None:
    # GIVEN a canary whose Preflight (the 2nd state) failed twice before it succeeded, and whose Shift failed once
    path = canary_path(3)
    shift = path.index("Shift")
    count = count_transitions(history(path, retried={1: 2, shift: 1}))
    # THEN the retries are billed: as many transitions more, in their states
    assert count.entered == len(path)
    assert count.retries == 3
    assert count.transitions == len(path) + 3
    assert count.by_state["Preflight"] == 3
    assert count.by_state["Shift"] == 3 + 1


def test_events_before_the_first_state_and_unknown_events_are_ignored() -> None:
    count = count_transitions([{"type": "ExecutionStarted"}, {"type": "TaskScheduled"}, {"type": "MapRunStarted"}])
    assert (count.entered, count.retries, count.by_state) == (0, 0, {})


def test_a_scenario_is_judged_on_the_measured_count_and_projected_with_production_health_looks() -> None:
    # GIVEN a 3-step canary's history in the emulator: one CheckGreen look
    events = history(canary_path(3))
    count = count_transitions(events)
    # WHEN it is judged with 9 production looks (pessimistic 16)
    result = deploy_transitions._judge(Scenario("canary", "t", {}, judged=True), count, "SUCCEEDED", "succeeded",
                                       12.0, events, looks=(9, 16))
    # THEN the cost, the ratio and the projection follow from the count
    assert result.cost_usd == pytest.approx(30 * PRICE_PER_TRANSITION_USD)
    assert result.ratio_to_target == pytest.approx(30 / TARGET_TRANSITIONS)
    assert result.health_looks == 1
    assert result.projected_transitions == count_transitions(history(canary_path(3, looks=9))).transitions
    assert result.projected_pessimistic_transitions == count_transitions(history(canary_path(3, looks=16))).transitions
    assert result.passed
    # AND a failed deploy never passes, whatever its count
    failed = deploy_transitions._judge(Scenario("canary", "t", {}, judged=True), count, "FAILED", "rolled_back",
                                       1.0, events, looks=(9, 16))
    assert not failed.passed


def test_weights_and_extensions_are_read_from_the_states_outputs() -> None:
    events = history(["Shift", "Analyse", "Analyse", "Shift", "Analyse"])
    outputs = iter([{"traffic": {"weight": 10}}, {"analysis": {"verdict": "extend"}},
                    {"analysis": {"verdict": "promote"}}, {"traffic": {"weight": 100}},
                    {"analysis": {"verdict": "promote"}}])
    for event in events:
        if "stateExitedEventDetails" in event:
            event["stateExitedEventDetails"]["output"] = json.dumps(next(outputs))
    assert deploy_transitions._weights(events) == [10, 100]
    assert deploy_transitions._extensions(events) == 1


def test_the_report_prints_each_scenario_and_names_a_missed_target() -> None:
    # GIVEN a report whose judged canary took more than the target
    over = canary_path(3, extensions=9, looks=10)
    report = _report({"canary": over, "all_at_once": canary_path(0)})
    assert report.deploy_transitions is not None
    [canary, _] = report.deploy_transitions.scenarios
    assert canary.count.transitions > TARGET_TRANSITIONS
    # THEN missed() names it, and the tables show the counts per scenario and per state
    report.missed = missed(report)
    assert report.missed == [f"state transitions, canary: {canary.count.transitions} (target <= 80)"]
    out = io.StringIO()
    render(report, Console(file=out, width=200))
    text = out.getvalue()
    assert "State transitions per frontend deploy" in text
    assert "Transitions by state" in text
    assert f"MISSED  state transitions, canary: {canary.count.transitions}" in text
    # AND the JSON report parses back
    assert BenchReport.model_validate_json(report.model_dump_json()) == report


def test_module_docstrings() -> None:
    result = doctest.testmod(deploy_transitions)
    assert result.failed == 0
    assert result.attempted > 0


def _report(paths: dict[str, list[str]]) -> BenchReport:
    scenarios = []
    for name, path in paths.items():
        events = history(path)
        scenarios.append(deploy_transitions._judge(Scenario(name, name, {}, judged=name == "canary"),
                                                   count_transitions(events), "SUCCEEDED", "succeeded", 1.0, events,
                                                   looks=(9, 16)))
    transitions = DeployTransitionsReport(
        price_per_transition_usd=PRICE_PER_TRANSITION_USD, price_source="test", target_transitions=TARGET_TRANSITIONS,
        target_cost_usd=0.002, transitions_per_health_look=3, transitions_per_extension=3, production_health_looks=9,
        production_pessimistic_health_looks=16, scenarios=scenarios, passed=all(s.passed for s in scenarios))
    return BenchReport(started_at=datetime(2026, 1, 1, tzinfo=UTC), seconds=1.0, quick=True,
                       machine=Machine(python="3.12", platform="linux", cpus=2), deploy_transitions=transitions)
