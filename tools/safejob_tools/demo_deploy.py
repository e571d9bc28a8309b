"""The deploy part of `make demo`: two frontend releases through the deploy state machine in the emulator.

A `LocalFleet` plays the ECS tasks, the ALB and the traffic of the deployed stack. A good image goes through a
canary [10, 50, 100], each step baked and analysed, then promoted; a bad one (30% of its requests answer 5xx) is
rolled back by the analysis of its first step. Progress is read, as it happens, from the execution's history (each
state's output), and the outcome from the platform itself: the listener weights, the services' desired counts, the
ledger and the one notification.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from safejob_ops.deploy.workflow import Analysis, GreenHealth, LiveState, Outcome, Release, TrafficState
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.deploys import Deploys, Snapshot, deploys
from safejob_tools.localaws.driver import settle
from safejob_tools.localaws.fleet import Behaviour, LocalFleet

# The analysis wants `min_requests` green requests per service and step (config/deploy.local.yaml): at 200 requests
# a second per service, the 10% step gets about 60 in its 3 s bake, so no step needs an extension, even with the
# emulator busy.
FLEET_RPS = 200
FLEET_TICK_SECONDS = 0.5
CANARY: dict[str, Any] = {"type": "canary", "steps": [10, 50, 100], "bake_seconds": 3}
BAD = Behaviour(error_rate=0.3)
POLL_SECONDS = 0.25


@dataclass
class Progress:
    """Prints an execution's progress from its history: one line per state that says something."""

    console: Console
    started: float = field(default_factory=time.monotonic)
    seen: int = 0
    live: LiveState | None = None
    verdict: str | None = None  # the last Analyse's

    def follow(self, driver: Deploys, arn: str, timeout: float = 120.0) -> dict[str, Any]:
        """Print each new state's line until the execution ends; returns DescribeExecution's answer."""
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = driver.sfn.describe_execution(executionArn=arn)
            history = driver.history(arn)
            for event in history[self.seen:]:
                self.event(event)
            self.seen = len(history)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"deploy execution {arn} still running after {timeout:.0f} s")
            settle(POLL_SECONDS)

    def event(self, event: Mapping[str, Any]) -> None:
        details = event.get("stateExitedEventDetails")
        if details is None:
            entered = event.get("stateEnteredEventDetails") or {}
            if entered.get("name") == "Bake" and self.verdict == "extend":
                self.line("Bake", "[yellow]too few requests: the step bakes again[/]")
            return
        output: dict[str, Any] = json.loads(details.get("output") or "{}")
        text = self.describe(str(details["name"]), output)
        if text:
            self.line(str(details["name"]), text)

    def describe(self, state: str, output: dict[str, Any]) -> str | None:
        match state:
            case "Preflight":
                live = self.live = LiveState.model_validate(output["live"])
                passed = sum(check.passed for check in live.checks)
                return (f"{passed}/{len(live.checks)} checks passed; {live.live} is live, the release goes to "
                        f"{live.target}")
            case "Begin":
                return f"lock {output['lock']['name']} taken, ledger record in_progress"
            case "Register":
                release = Release.model_validate(output["release"])
                running = {s: r.task_definition for s, r in self.live.services.items()} if self.live else {}
                return ", ".join(f"{service}: {arn.rsplit('/', 1)[-1]}"
                                 + (" (its live one)" if running.get(service) == arn else " (new)")
                                 for service, arn in release.task_definitions.items())
            case "CheckGreen":
                green = GreenHealth.model_validate(output["green"])
                return f"{'healthy' if green.healthy else 'not yet'} (look {green.polls}): {escape(green.detail)}"
            case "Smoke":
                return "smoke tests passed through the test listener"
            case "Shift":
                traffic = TrafficState.model_validate(output["traffic"])
                steps = len(self.live.plan.steps) if self.live else "?"
                target = self.live.target if self.live else "the new colour"
                return (f"step {traffic.index + 1}/{steps}: [bold]{traffic.weight}%[/] on {target}"
                        f"{f', bake {traffic.bake_seconds} s' if traffic.analyse else ''}")
            case "Analyse":
                analysis = Analysis.model_validate(output["analysis"])
                self.verdict = analysis.verdict.value
                colour = {"promote": "green", "extend": "yellow", "rollback": "red"}[analysis.verdict.value]
                return f"[{colour}]{analysis.verdict.value}[/]: {escape(analysis.summary)}"
            case "Finalize":
                outcome = Outcome.model_validate(output["outcome"])
                return (f"[green]{outcome.outcome}[/]: {outcome.live} is live; ledger written"
                        f"{', people notified' if outcome.notified else ''}")
            case "Rollback":
                outcome = Outcome.model_validate(output["outcome"])
                other = self.live.target if self.live else "the release"
                return (f"[red]{outcome.outcome}[/]: 100% back on {outcome.live}, {other} to 0 tasks; ledger written"
                        f"{', people notified' if outcome.notified else ''}")
            case "Retire":
                retired = output.get("retired") or {}
                lock = "released" if retired.get("lock_released") else "already released"
                return f"after the grace period, {retired.get('retired')} scaled to 0 tasks; lock {lock}"
        return None

    def line(self, state: str, text: str) -> None:
        self.console.print(f"  [dim]{time.monotonic() - self.started:5.1f}s[/] [bold]{state:<10}[/] {text}")


class DeployStory:
    """The two deploys of the demo, told: `good()` and `bad()` each return the summary's one-line result."""

    def __init__(self, console: Console, driver: Deploys, fleet: LocalFleet) -> None:
        self.console = console
        self.driver = driver
        self.fleet = fleet

    def good(self) -> str:
        image = self.driver.push("frontend", "demo-good")
        self._announce("9f1c2ab", image, "a healthy image")
        before = self.driver.snapshot()
        arn = self.driver.start(self.driver.request({"frontend": image}, strategy=CANARY, requested_by="demo",
                                                    git_sha="9f1c2ab"))
        described = Progress(self.console).follow(self.driver, arn)
        after = self.driver.snapshot()
        record = self.driver.record(arn)
        notes = self.driver.notifications(arn)
        table = self._outcome_table("Outcome of the good release", before, after)
        if record is not None:
            table.add_row("ledger", f"{record.outcome}; steps: " + ", ".join(
                f"{s.weight}% {s.verdict}" + (f" (+{s.extensions} ext.)" if s.extensions else "")
                for s in record.steps))
        table.add_row("notifications", "; ".join(escape(subject) for subject, _ in notes) or "none")
        self.console.print(table)
        if described["status"] != "SUCCEEDED":
            raise RuntimeError(f"the good release was not deployed: {described.get('error')}: "
                               f"{described.get('cause')}")
        steps = record.steps if record else ()
        verdicts = {str(s.verdict) for s in steps}
        judged = "promoted at each step" if verdicts == {"promote"} else ", ".join(
            f"{s.weight}% {s.verdict}" for s in steps)
        return (f"{' → '.join(f'{s.weight}%' for s in steps)}, {judged}; {after.live()} live, {before.live()} at 0 "
                f"tasks; {len(notes)} notification")

    def bad(self) -> str:
        image = self.driver.push("frontend", "demo-bad")
        self.fleet.behave(image, BAD)
        self._announce("b4d0e11", image, f"the fleet answers 5xx to {BAD.error_rate:.0%} of this image's requests")
        before = self.driver.snapshot()
        arn = self.driver.start(self.driver.request({"frontend": image}, strategy=CANARY, requested_by="demo",
                                                    git_sha="b4d0e11"))
        described = Progress(self.console).follow(self.driver, arn)
        if before.live() != "blue":
            self.console.print("  [dim](the analysis calls the canary green and the live colour blue, whatever their "
                               "colours)[/]")
        after = self.driver.snapshot()
        record = self.driver.record(arn)
        notes = self.driver.notifications(arn)
        table = self._outcome_table("Outcome of the bad release", before, after)
        reasons: tuple[str, ...] = record.steps[-1].reasons if record and record.steps else ()
        table.add_row("verdict's reasons", escape("\n".join(reasons)) or "none")
        if record is not None and record.rollback is not None:
            table.add_row("ledger", f"{record.outcome} at step {record.rollback.failed_step}: "
                                    f"{escape(record.rollback.reason)}")
        for subject, body in notes:
            traffic = next((line for line in body.splitlines() if line.startswith("Traffic:")), "")
            table.add_row("notification", escape(subject) + (f"\n[dim]{escape(traffic)}[/]" if traffic else ""))
        self.console.print(table)
        if described["status"] != "FAILED" or record is None or record.outcome != "rolled_back":
            raise RuntimeError(f"the bad release was not rolled back: {described['status']}")
        weight = record.steps[-1].weight if record.steps else 0
        return (f"rolled back at {weight}% by the analysis ({len(reasons)} failed check"
                f"{'' if len(reasons) == 1 else 's'}); 100% back on {after.live()}, {len(notes)} notification")

    def _announce(self, git_sha: str, image: str, behaviour: str) -> None:
        repository, digest = image.rsplit("/", 1)[-1].split("@", 1)
        steps = escape(str(CANARY["steps"]))
        self.console.print(f"[bold]deploy {git_sha}[/]: frontend {escape(repository)}@{digest[:19]}…, canary {steps}, "
                           f"bake {CANARY['bake_seconds']} s [dim]({behaviour}; the fleet sends {FLEET_RPS} requests/s "
                           "per service)[/]")

    def _outcome_table(self, title: str, before: Snapshot, after: Snapshot) -> Table:
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("what", style="bold")
        table.add_column("value")
        live_before, live_after = before.live(), after.live()
        table.add_row("live colour", f"{live_before} → {live_after}" if live_after != live_before
                      else f"{live_after} (unchanged)")
        table.add_row("traffic", "; ".join(
            f"{service}: " + ", ".join(f"{colour} {weight}%" for colour, weight in weights.items())
            for service, weights in sorted(after.weights.items())))
        table.add_row("tasks (desired)", "; ".join(
            f"{service}: " + ", ".join(f"{colour} {count}" for colour, count in counts.items())
            for service, counts in sorted(after.desired.items())))
        table.add_row("lock", escape(after.lock_owner) if after.lock_owner else "released")
        return table


@contextmanager
def story(console: Console, stack: DeployedStack) -> Iterator[DeployStory]:
    """A started fleet and a deploy driver on `stack`; the handlers log errors only meanwhile (the rollback's
    WARNING is what the story shows)."""
    runtime = stack.aws.runtime
    level, runtime.log_level = runtime.log_level, logging.ERROR
    try:
        with LocalFleet(stack, rps=FLEET_RPS, tick_seconds=FLEET_TICK_SECONDS) as fleet, deploys(stack) as driver:
            yield DeployStory(console, driver, fleet)
    finally:
        runtime.log_level = level
