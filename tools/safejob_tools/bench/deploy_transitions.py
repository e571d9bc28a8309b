"""State transitions per deploy (the issue: at most 80 per 3-step canary, so a deploy costs under $0.002), counted
from the execution history of real deploys in the emulator.

Standard workflows bill state transitions: "Step Functions counts a state transition each time a step of your
workflow is executed ... including retries", $0.025 per 1,000 in us-east-1 and eu-west-1
(https://aws.amazon.com/step-functions/pricing/). In an execution's history (GetExecutionHistory) each executed step
is one `*StateEntered` event (TaskStateEntered, ChoiceStateEntered, WaitStateEntered, SucceedStateEntered,
FailStateEntered, ...), and a retried task is one more `TaskScheduled` (or `LambdaFunctionScheduled`) inside the same
state, with no new StateEntered: `count_transitions` counts both.

The benchmark deploys the template into a local emulator (as the end-to-end one), starts a `LocalFleet` (the tasks,
the ALB and the traffic) and runs frontend deploys through `statemachines/deploy.asl.json` with the real handlers:

- `canary`: [10, 50, 100], 200 requests a second per service, so every step has its `min_requests` (of
  config/deploy.local.yaml) by the end of its bake: the issue's scenario, judged;
- `all_at_once`: one Shift, no bake nor analysis (staging and local only);
- `canary_extended`: the same canary for a quiet service (40 requests a second) and a shorter bake: the 10% step
  has too few green requests at its first analysis, and extends (how many times is measured, not set).

The emulator's green is healthy at the first CheckGreen; in AWS the loop looks until green's tasks have started,
booted and passed a health check. `projected_transitions` replaces the emulator's looks by the deploy model's
(`deploy_model.green_ready_seconds` over `health_poll_seconds` of config/deploy.yaml), three transitions each.

    >>> count_transitions([{"type": "ExecutionStarted"},
    ...                    {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Validate"}},
    ...                    {"type": "TaskScheduled"}, {"type": "TaskFailed"}, {"type": "TaskScheduled"},
    ...                    {"type": "TaskSucceeded"},
    ...                    {"type": "SucceedStateEntered", "stateEnteredEventDetails": {"name": "Done"}}]).by_state
    {'Validate': 2, 'Done': 1}
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from safejob_tools.bench import deploy_model
from safejob_tools.bench.results import DeployTransitionsReport, TransitionCount, TransitionScenario
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.deploys import Deploys, deploys
from safejob_tools.localaws.fleet import LocalFleet

PRICE_PER_TRANSITION_USD = 0.000025  # $0.025 per 1,000 state transitions
PRICE_SOURCE = ("https://aws.amazon.com/step-functions/pricing/: Standard workflows, $0.025 per 1,000 state "
                "transitions (us-east-1, eu-west-1; more in a few regions), retries included; free tier ignored")
TARGET_TRANSITIONS = 80
TARGET_COST_USD = 0.002
# The loops of deploy.asl.json: one more CheckGreen look, one more bake of a step.
HEALTH_LOOK_STATES = ("WaitForGreen", "CheckGreen", "GreenHealthy?")
EXTENSION_STATES = ("Bake", "Analyse", "Verdict?")
_SCHEDULED = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})


def count_transitions(history: Iterable[Mapping[str, Any]]) -> TransitionCount:
    """The state transitions AWS bills for an execution, from its history events in order: one per `*StateEntered`,
    plus one per task attempt after the first within the same state entry (a Retry).

    >>> count_transitions([{"type": "ChoiceStateEntered", "stateEnteredEventDetails": {"name": "Go?"}}]).transitions
    1
    """
    entered = retries = attempts = 0
    by_state: dict[str, int] = {}
    current: str | None = None
    for event in history:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            current = str(event["stateEnteredEventDetails"]["name"])
            entered, attempts = entered + 1, 0
            by_state[current] = by_state.get(current, 0) + 1
        elif kind in _SCHEDULED and current is not None:
            attempts += 1
            if attempts > 1:
                retries += 1
                by_state[current] += 1
    return TransitionCount(entered=entered, retries=retries, transitions=entered + retries, by_state=by_state)


@dataclass(frozen=True)
class Scenario:
    scenario: str
    title: str
    strategy: Mapping[str, Any]
    rps: int = 200  # the fleet's requests a second per service
    judged: bool = False


@dataclass(frozen=True)
class TransitionParams:
    """The fleets' traffic and the bakes. At 10% of 200 requests a second, a 4 s bake gives green about 80 requests
    (the emulator's ticks slow down when it is busy: half that is still plenty); at 10% of 40, a 2 s bake about 8."""

    rps: int = 200
    quiet_rps: int = 40
    tick_seconds: float = 0.5
    bake_seconds: int = 4
    short_bake_seconds: int = 2
    extended: bool = True
    scenarios: tuple[Scenario, ...] = field(default=())

    def chosen(self) -> tuple[Scenario, ...]:
        if self.scenarios:
            return self.scenarios
        canary = {"type": "canary", "steps": [10, 50, 100]}
        chosen = [
            Scenario("canary", f"canary [10, 50, 100], bake {self.bake_seconds} s, {self.rps} requests/s",
                     {**canary, "bake_seconds": self.bake_seconds}, rps=self.rps, judged=True),
            Scenario("all_at_once", "all at once: one shift, no bake, no analysis", {"type": "all_at_once"},
                     rps=self.rps),
        ]
        if self.extended:
            chosen.append(Scenario(
                "canary_extended", f"canary [10, 50, 100], bake {self.short_bake_seconds} s, {self.quiet_rps} "
                "requests/s: too few green requests at 10%", {**canary, "bake_seconds": self.short_bake_seconds},
                rps=self.quiet_rps))
        return tuple(chosen)


FULL = TransitionParams()
QUICK = TransitionParams(extended=False)


def production_health_looks() -> tuple[int, int]:
    """CheckGreen looks in production, nominal and pessimistic: green's ready time (the deploy model) over the poll
    interval of config/deploy.yaml, rounded up (the first look comes after one Wait).

    >>> nominal, pessimistic = production_health_looks()
    >>> 1 <= nominal <= pessimistic
    True
    """
    a = deploy_model.default_assumptions()
    poll = a.health_poll.value
    return (max(1, math.ceil(deploy_model.green_ready_seconds(a, "nominal") / poll)),
            max(1, math.ceil(deploy_model.green_ready_seconds(a, "pessimistic") / poll)))


def _judge(scenario: Scenario, count: TransitionCount, status: str, outcome: str | None, seconds: float,
           history: Sequence[Mapping[str, Any]], looks: tuple[int, int]) -> TransitionScenario:
    emulated_looks = count.by_state.get("CheckGreen", 0)
    per_look = len(HEALTH_LOOK_STATES)
    return TransitionScenario(
        scenario=scenario.scenario, title=scenario.title, status=status, outcome=outcome, seconds=round(seconds, 1),
        count=count, weights=_weights(history), extensions=_extensions(history), health_looks=emulated_looks,
        cost_usd=count.transitions * PRICE_PER_TRANSITION_USD,
        ratio_to_target=count.transitions / TARGET_TRANSITIONS,
        projected_transitions=count.transitions + per_look * (looks[0] - emulated_looks),
        projected_pessimistic_transitions=count.transitions + per_look * (looks[1] - emulated_looks),
        judged=scenario.judged,
        passed=status == "SUCCEEDED" and (not scenario.judged or count.transitions <= TARGET_TRANSITIONS),
    )


def _exits(history: Sequence[Mapping[str, Any]], state: str) -> Iterator[dict[str, Any]]:
    for event in history:
        details = event.get("stateExitedEventDetails")
        if details and details.get("name") == state:
            output: dict[str, Any] = json.loads(details.get("output") or "{}")
            yield output


def _weights(history: Sequence[Mapping[str, Any]]) -> list[int]:
    return [int(out["traffic"]["weight"]) for out in _exits(history, "Shift") if "traffic" in out]


def _extensions(history: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for out in _exits(history, "Analyse") if (out.get("analysis") or {}).get("verdict") == "extend")


def _deploy(driver: Deploys, scenario: Scenario, tag: str,
            looks: tuple[int, int]) -> TransitionScenario:
    image = driver.push("frontend", f"bench-transitions-{scenario.scenario}-{tag}")
    started = time.monotonic()
    arn = driver.start(driver.request({"frontend": image}, strategy=dict(scenario.strategy),
                                      requested_by="bench"))
    described = driver.wait(arn)
    seconds = time.monotonic() - started
    history = driver.history(arn)
    record = driver.record(arn)
    return _judge(scenario, count_transitions(history), str(described["status"]),
                  record.outcome if record is not None else None, seconds, history, looks)


def run(params: TransitionParams = FULL, stack: DeployedStack | None = None,
        progress: Callable[[str], None] | None = None) -> DeployTransitionsReport:
    """Deploy each scenario in `stack` (or a fresh emulator when None), each with its own `LocalFleet` (so no other
    fleet may be active in the emulator), and count.

    The handlers' standard output (their WARNING logs, as Lambda would send to CloudWatch Logs) is discarded."""
    say = progress or (lambda _: None)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.ExitStack() as stack_of:
        if stack is None:
            from safejob_tools.bench.e2e import emulator

            stack, _ = stack_of.enter_context(emulator())
        driver = stack_of.enter_context(deploys(stack))
        looks = production_health_looks()
        tag = os.urandom(3).hex()
        results = []
        for scenario in params.chosen():
            say(f"deploy_transitions: {scenario.scenario} ({scenario.title})")
            with LocalFleet(stack, rps=scenario.rps, tick_seconds=params.tick_seconds):
                results.append(_deploy(driver, scenario, tag, looks))
    return DeployTransitionsReport(
        price_per_transition_usd=PRICE_PER_TRANSITION_USD, price_source=PRICE_SOURCE,
        target_transitions=TARGET_TRANSITIONS, target_cost_usd=TARGET_COST_USD,
        transitions_per_health_look=len(HEALTH_LOOK_STATES), transitions_per_extension=len(EXTENSION_STATES),
        production_health_looks=looks[0], production_pessimistic_health_looks=looks[1],
        scenarios=results, passed=all(r.passed for r in results))
