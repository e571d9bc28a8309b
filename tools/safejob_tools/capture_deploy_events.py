"""Capture the deploy handlers' sample events from real runs in the emulator: `events/deploy/<handler>.json` is the
payload that statemachines/deploy.asl.json handed the handler, for `sam local invoke DeployXFunction -e ...` and
`safejob-ops invoke`. It also prints the runs as the "Example execution" of docs/workflows/deploy.md.

    .venv/bin/python -m safejob_tools.capture_deploy_events          # print the example execution, write nothing
    .venv/bin/python -m safejob_tools.capture_deploy_events --write  # and (re)write events/deploy/<handler>.json

Run it again when the state the tasks carry changes (a new field of DeployState, a new handler): tests/unit/deploy/
test_deploy_events.py fails until the events parse again and every handler has one.

Two frontend deploys, canary [10, 50, 100], in a freshly deployed stack with a LocalFleet: first an image that
answers 30% of its requests with a 5xx (the analysis of its first step rolls it back: the `rollback` event), then a
good one, approved (every other event). Both start with blue live. The payloads are the `parameters` of the
TaskScheduled events of each execution's history. Then what only the emulator has is made stable and
production-like, consistently across every file and the printed example: the local fleet's 127.0.0.1 test listener
becomes the ALB's (https://<ALB DNS name>:8443, as template.yaml sets TEST_LISTENER_URL without a DomainName), and
the random ids (the ALB's, the listeners', the rules', the target groups', the execution names, the task token,
UUIDs, silence ids) fixed ones. The image digests are real (ECR's digest of each pushed manifest), and the times are
the run's. The environment stays `local` (us-east-1, moto's account): the local stack's Validate accepts only that.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safejob_tools.localaws.deploys import Deploys

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "deploy"
FUNCTIONS = ROOT / "functions" / "deploy"
FLEET_RPS = 200  # as the demo: ~60 green requests in a 3 s bake at 10%, so no step needs an extension
FLEET_TICK_SECONDS = 0.5
CANARY: dict[str, Any] = {"type": "canary", "steps": [10, 50, 100], "bake_seconds": 3}
REQUESTED_BY = "github:jane.doe"
APPROVER = "github:sam.lee"
GOOD_SHA, BAD_SHA = "4f2c9e1", "9b0d3e7"
TASK_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAeXampleDeployApprovalTaskToken"
ALB_ID = "50dc6c495c0c9188"
ALB_DNS_NUMBER = "1234567890"
TEST_LISTENER_PORT = 8443  # stacks/edge.yaml's default
# Which call of a handler is its sample, when it runs more than once: the second Shift (10% -> 50%) carries the
# analysis of the first Analyse (10%), which is the analyse sample. The rollback is the bad run's.
CALL = {"shift": 1}
RUN = {"rollback": "bad"}
# UUIDs (ECS task ids, SNS message ids) and alarm_route's silence ids
RANDOM_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\bmaint-[0-9a-f]{12}\b")


class CaptureError(RuntimeError):
    pass


@dataclass(frozen=True)
class Run:
    """One finished execution: what the doc's example and the events are made of."""

    label: str
    git_sha: str
    arn: str
    described: dict[str, Any]
    history: list[dict[str, Any]]
    notifications: list[tuple[str, str]]


def handler_of(logical_id: str) -> str:
    """The functions/deploy/<handler> directory of a deploy function's logical id.

    >>> handler_of("DeployScaleGreenFunction")
    'scale_green'
    """
    name = logical_id.removeprefix("Deploy").removesuffix("Function")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def scheduled_payloads(history: Sequence[Mapping[str, Any]], handlers: Mapping[str, str]) -> dict[str, list[Any]]:
    """Per handler, the payloads of its TaskScheduled events, in order. `handlers` maps a function's physical name to
    its handler; the migrate child (startExecution) and other resources are left out.

    >>> event = {"type": "TaskScheduled", "taskScheduledEventDetails": {"parameters": json.dumps(
    ...     {"FunctionName": "arn:aws:lambda:us-east-1:1:function:f-1", "Payload": {"state": {}}})}}
    >>> scheduled_payloads([event], {"f-1": "begin"})
    {'begin': [{'state': {}}]}
    """
    found: dict[str, list[Any]] = {}
    for event in history:
        if event.get("type") != "TaskScheduled":
            continue
        parameters = json.loads(event["taskScheduledEventDetails"]["parameters"])
        function = str(parameters.get("FunctionName", "")).rsplit(":function:", 1)[-1].split(":")[0]
        if function in handlers:
            found.setdefault(handlers[function], []).append(parameters["Payload"])
    return found


def stable_replacements(found: Mapping[str, str], texts: Sequence[str]) -> dict[str, str]:
    """`found` (the emulator's values and their replacements), and the random ids of `texts` (UUIDs, alarm_route
    silences) numbered in order of appearance, so that a recapture gives the same ids.

    >>> found = stable_replacements({"127.0.0.1:1": "alb"}, ["0f8fad5b-d9cb-469f-a165-70867728950e maint-0123456789ab"])
    >>> found["0f8fad5b-d9cb-469f-a165-70867728950e"], found["maint-0123456789ab"], found["127.0.0.1:1"]
    ('eee5a946-1f54-5927-a725-c442ebe2f44d', 'maint-d7b1a013da2f', 'alb')
    """
    numbered: dict[str, str] = {}
    for text in texts:
        for match in RANDOM_ID.findall(text):
            if match not in numbered:
                n = len(numbered)
                numbered[match] = (f"maint-{_fake_hex(f'silence-{n}', 12)}" if match.startswith("maint-")
                                   else str(uuid.uuid5(uuid.NAMESPACE_URL, f"safejob/deploy-events/{n}")))
    return {**numbered, **found}


def normalise(value: Any, replacements: Mapping[str, str]) -> Any:
    """`value` (JSON) with every replacement made, longest first.

    >>> normalise({"url": "http://127.0.0.1:4242/x"}, {"http://127.0.0.1:4242": "https://alb:8443"})
    {'url': 'https://alb:8443/x'}
    """
    return json.loads(replace_all(json.dumps(value), replacements))


def replace_all(text: str, replacements: Mapping[str, str]) -> str:
    for old in sorted(replacements, key=len, reverse=True):
        text = text.replace(old, replacements[old])
    return text


def _fake_hex(label: str, length: int = 16) -> str:
    return hashlib.sha256(label.encode()).hexdigest()[:length]


def _fake_name(label: str) -> str:
    return "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[b % 36] for b in hashlib.sha256(label.encode()).digest()[:12])


def emulator_values(outputs: Mapping[str, str], fleet_url: str, runs: Sequence[Run],
                    task_tokens: Sequence[str]) -> dict[str, str]:
    """What only the emulator has, and its stable production-like replacement (see the module docstring)."""
    found: dict[str, str] = {}
    balancer = outputs["LoadBalancerArn"]
    region, name, balancer_id = balancer.split(":")[3], balancer.rsplit("/", 2)[-2], balancer.rsplit("/", 1)[-1]
    found[balancer_id] = ALB_ID
    # template.yaml without a DomainName: https://<the ALB's DNS name>:<TestListenerPort>
    found[fleet_url] = f"https://{name}-{ALB_DNS_NUMBER}.{region}.elb.amazonaws.com:{TEST_LISTENER_PORT}"
    for key in ("ProdListenerArn", "TestListenerArn", "BackendProdRuleArn", "BackendTestRuleArn"):
        found[outputs[key].rsplit("/", 1)[-1]] = _fake_hex(key)
    for service in ("Backend", "Frontend"):
        for colour in ("Blue", "Green"):
            key = f"{service}{colour}TargetGroupArn"
            group_name, group_id = outputs[key].rsplit("/", 2)[-2:]
            found[group_id] = _fake_hex(key)
            found[group_name] = f"{group_name.rsplit('-', 1)[0]}-{_fake_name(key)}"
    for n, run in enumerate(runs, start=1):
        found[run.arn.rsplit(":", 1)[-1]] = f"deploy-{run.git_sha}-{n}"
    for token in task_tokens:
        found[token] = TASK_TOKEN
    return found


def _capture() -> tuple[dict[str, Any], str, dict[str, str]]:
    """Deploy the stack, run the two deploys; the events, the example text and the replacements."""
    from safejob_tools.cli import main as cli
    from safejob_tools.localaws.deploy import deploy
    from safejob_tools.localaws.deploys import deploys
    from safejob_tools.localaws.fleet import Behaviour, LocalFleet
    from safejob_tools.localaws.seed import seed_receiver_secrets
    from safejob_tools.localaws.server import LocalAws
    from safejob_tools.localaws.sink import HttpSink

    with LocalAws() as aws, HttpSink() as sink:
        aws.runtime.log_level = logging.ERROR  # the handlers' warnings (a rollback's) would mix with the example
        stack = deploy(aws, parameters={"PagerDutyEventsUrl": sink.url("/pagerduty")})
        seed_receiver_secrets(aws, sink)
        handlers = {stack.resources[logical_id]: handler_of(logical_id) for logical_id in stack.resources
                    if logical_id.startswith("Deploy") and logical_id.endswith("Function")}
        with LocalFleet(stack, rps=FLEET_RPS, tick_seconds=FLEET_TICK_SECONDS) as fleet, deploys(stack) as driver:
            images = {"frontend/bad": driver.push("frontend", "bad-errors"),
                      "frontend/good": driver.push("frontend", "good")}
            fleet.behave(images["frontend/bad"], Behaviour(error_rate=0.3))
            runs: list[Run] = []
            bad = driver.start(driver.request({"frontend": images["frontend/bad"]}, git_sha=BAD_SHA,
                                              strategy=CANARY, requested_by=REQUESTED_BY))
            runs.append(_finished(driver, "bad", BAD_SHA, bad))
            good = driver.start(driver.request({"frontend": images["frontend/good"]}, git_sha=GOOD_SHA,
                                               strategy=CANARY, requested_by=REQUESTED_BY, approval_required=True))
            token = driver.approval_token(good)
            driver.sfn.send_task_success(taskToken=token, output=json.dumps(
                {"approved": True, "decided_by": APPROVER, "reason": "canary plan reviewed"}))
            runs.append(_finished(driver, "good", GOOD_SHA, good))
            listing = io.StringIO()
            with contextlib.redirect_stdout(listing):
                cli(["deploy", "history", "--stack-name", stack.name, "--environment", "local", "--limit", "2"])
            found = emulator_values(stack.outputs, fleet.test_listener_url, runs, [token])
    payloads = {run.label: scheduled_payloads(run.history, handlers) for run in runs}
    events: dict[str, Any] = {}
    for handler in sorted(set(handlers.values())):
        run, call = RUN.get(handler, "good"), CALL.get(handler, 0)
        calls = payloads[run].get(handler, [])
        if len(calls) <= call:
            raise CaptureError(f"{handler}: the {run} run called it {len(calls)} time(s), the sample is call "
                               f"#{call + 1}; fix: a run that calls it (see RUN and CALL)")
        events[handler] = calls[call]
    return events, example(runs, listing.getvalue()), found


def _finished(driver: Deploys, label: str, git_sha: str, arn: str) -> Run:
    described: dict[str, Any] = driver.wait(arn)
    return Run(label=label, git_sha=git_sha, arn=arn, described=described, history=driver.history(arn),
               notifications=driver.notifications(arn))


def example(runs: Sequence[Run], listing: str) -> str:
    """The runs as text: the states entered (each Shift's weights, each Analyse's verdict and summary), the
    execution's end, the notifications; then the `deploy history` lines."""
    lines: list[str] = []
    for run in reversed(runs):  # the good one first, as the doc tells it
        lines += [f"## {run.label} run: {run.arn}", ""]
        for name, output in _entered(run.history):
            lines.append(f"{name}{_detail(name, output)}")
        described = run.described
        lines += ["", f"status: {described['status']}"]
        lines += [f"{key}: {described[key]}" for key in ("output", "error", "cause") if described.get(key)]
        for subject, message in run.notifications:
            lines += ["", f"Subject: {subject}", message]
        lines.append("")
    return "\n".join([*lines, "## safejob-ops deploy history --stack-name safejob-local --environment local", listing])


def _entered(history: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    """Each state entered, with its output (None for a state that never exited)."""
    states: list[tuple[str, Any]] = []
    for event in history:
        if "stateEnteredEventDetails" in event:
            states.append((event["stateEnteredEventDetails"]["name"], None))
        elif "stateExitedEventDetails" in event and states:
            states[-1] = (states[-1][0], json.loads(event["stateExitedEventDetails"].get("output") or "null"))
    return states


def _detail(name: str, output: Any) -> str:
    if not isinstance(output, dict):
        return ""
    if name == "Shift" and output.get("traffic") and output.get("live"):
        weight, live = output["traffic"]["weight"], output["live"]
        return f"  {live['live']} {100 - weight} / {live['target']} {weight} (step {output['traffic']['index'] + 1})"
    if name == "Analyse" and output.get("analysis"):
        return f"  {output['analysis']['verdict']}: {output['analysis']['summary']}"
    return ""


def check(events: Mapping[str, Any]) -> None:
    """Every event parses with its model, and no emulator value is left."""
    from safejob_ops.deploy.workflow import StateRequest, ValidateRequest

    for handler, event in events.items():
        (ValidateRequest if handler == "validate" else StateRequest).model_validate(event)
        left = [value for value in ("127.0.0.1", "localhost", ".emulated") if value in json.dumps(event)]
        if left:
            raise ValueError(f"{handler}: emulator values are left: {left}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="(re)write the events: <events-dir>/<handler>.json")
    parser.add_argument("--events-dir", type=Path, default=EVENTS, help="where --write writes (default events/deploy)")
    args = parser.parse_args(argv)
    events, text, found = _capture()
    replacements = stable_replacements(found, [json.dumps(events), text])
    events = normalise(events, replacements)
    check(events)
    expected = {path.name for path in FUNCTIONS.iterdir() if (path / "app.py").is_file()}
    if set(events) != expected:
        print(f"error: captured {sorted(events)}, but functions/deploy has {sorted(expected)}", file=sys.stderr)
        return 1
    print(replace_all(text, replacements))
    if args.write:
        for handler, event in events.items():
            (args.events_dir / f"{handler}.json").write_text(json.dumps(event, indent=2) + "\n")
        print(f"wrote {len(events)} events to {args.events_dir}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
