"""`safejob-ops invoke FUNCTION --event FILE`: the Docker-free twin of `sam local invoke`.

Starts the local emulator, deploys template.yaml into it, and invokes the function through the Lambda API, so the
real handler runs in-process with the environment the template gives it. The same events/ files serve both.

A deploy handler's event (events/deploy/<handler>.json) carries `state.run.topology`: the load balancer's, the
listeners', the rules' and the target groups' ids of the run it was captured from, which moto draws anew on every
deploy. Unless `--as-is`, they are rebound to the freshly deployed stack's own (`rebind_topology`), and the
rebinding is printed on stderr.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safejob_tools.cli import Subparsers
    from safejob_tools.localaws.deploy import DeployedStack

# The deploy Validate payload's keys (safejob_ops.deploy.workflow.ValidateRequest): Validate resolves the topology
# from its own environment, which the template fills from the stack's outputs, so it has nothing to rebind.
VALIDATE_KEYS = frozenset({"input", "execution_id", "execution_name", "started_at"})


class RebindError(LookupError):
    pass


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("invoke", help="run one Lambda handler in-process against the local emulator")
    parser.add_argument("function", help="the function's logical id in template.yaml, e.g. AlarmRouteIngestFunction")
    parser.add_argument("--event", "-e", required=True, type=Path, help="the event JSON (e.g. events/alarm_route/...)")
    parser.add_argument("--log-level", default="WARNING", help="the handlers' log level (default WARNING)")
    parser.add_argument("--as-is", action="store_true",
                        help="send the event unchanged: do not rebind a deploy event's state.run.topology to the "
                             "deployed stack's load balancer, listeners, rules, services and target groups")
    parser.set_defaults(func=invoke_command)


def topology_sources(topology: Mapping[str, Any]) -> dict[tuple[str, ...], str]:
    """Where each value of a deploy `state.run.topology` comes from: the stack output DeployValidateFunction's
    environment takes it from in template.yaml (`test_listener_url` is not an output: see `rebind_topology`).
    A weight switch of kind `rule` is the service's `<Service><Prod|Test>RuleArn`, one of kind `listener` the
    `<Prod|Test>ListenerArn`, as the event's own `kind` says.

    >>> sources = topology_sources({"services": {"backend": {"prod": {"kind": "rule"}, "test": {"kind": "rule"}}}})
    >>> sources[("services", "backend", "prod", "arn")], sources[("services", "backend", "green", "target_group")]
    ('BackendProdRuleArn', 'BackendGreenTargetGroupFullName')
    """
    sources: dict[tuple[str, ...], str] = {("cluster",): "ClusterArn", ("load_balancer",): "LoadBalancerFullName"}
    for service, resources in topology["services"].items():
        name = service.capitalize()
        for colour in ("blue", "green"):
            prefix = f"{name}{colour.capitalize()}"
            sources[("services", service, colour, "service_name")] = f"{prefix}ServiceName"
            sources[("services", service, colour, "target_group_arn")] = f"{prefix}TargetGroupArn"
            sources[("services", service, colour, "target_group")] = f"{prefix}TargetGroupFullName"
        for listener in ("prod", "test"):
            rule = resources[listener]["kind"] == "rule"
            sources[("services", service, listener, "arn")] = (f"{name}{listener.capitalize()}RuleArn" if rule
                                                                else f"{listener.capitalize()}ListenerArn")
    return sources


def rebind_topology(event: Any, outputs: Mapping[str, str],
                    test_listener_url: str) -> tuple[Any, list[str]]:
    """The event with its `state.run.topology` pointing at the stack's own resources (from `outputs`, the stack's
    Outputs, and `test_listener_url`, its DeployValidateFunction's TEST_LISTENER_URL), and one line per value
    changed, `path <- source = value`. Anything else, and an event without a topology, is returned unchanged.
    RebindError when the topology does not parse or the stack lacks an output it needs.

    >>> run = {"topology": {"cluster": "c", "load_balancer": "app/lb/old", "test_listener_url": "https://lb:8443",
    ...                     "services": {"frontend": {"service": "frontend",
    ...                         "blue": {"service_name": "fb", "target_group_arn": "arn:fb", "target_group": "tg/fb"},
    ...                         "green": {"service_name": "fg", "target_group_arn": "arn:old", "target_group": "tg/fg"},
    ...                         "prod": {"kind": "listener", "arn": "arn:l1"},
    ...                         "test": {"kind": "listener", "arn": "arn:l2"}}}}}
    >>> outputs = {"ClusterArn": "c", "LoadBalancerFullName": "app/lb/new", "FrontendBlueServiceName": "fb",
    ...            "FrontendBlueTargetGroupArn": "arn:fb", "FrontendBlueTargetGroupFullName": "tg/fb",
    ...            "FrontendGreenServiceName": "fg", "FrontendGreenTargetGroupArn": "arn:new",
    ...            "FrontendGreenTargetGroupFullName": "tg/fg", "ProdListenerArn": "arn:l1",
    ...            "TestListenerArn": "arn:l2"}
    >>> rebound, changed = rebind_topology({"state": {"run": run}}, outputs, "https://lb:8443")
    >>> for line in changed: print(line)
    load_balancer <- LoadBalancerFullName = app/lb/new
    services.frontend.green.target_group_arn <- FrontendGreenTargetGroupArn = arn:new
    >>> rebound["state"]["run"]["topology"]["load_balancer"], run["topology"]["load_balancer"]
    ('app/lb/new', 'app/lb/old')
    """
    from pydantic import ValidationError

    from safejob_ops.deploy.workflow import Topology

    topology = _topology_of(event)
    if topology is None:
        return event, []
    try:
        Topology.model_validate(topology)
    except ValidationError as exc:
        raise RebindError(f"state.run.topology does not parse: {exc}") from None
    sources = topology_sources(topology)
    missing = sorted({output for output in sources.values() if output not in outputs})
    if missing:
        raise RebindError(f"the stack has no output {', '.join(missing)}")
    values = {path: (output, outputs[output]) for path, output in sources.items()}
    values[("test_listener_url",)] = ("DeployValidateFunction's TEST_LISTENER_URL", test_listener_url)
    rebound = copy.deepcopy(event)
    target = rebound["state"]["run"]["topology"]
    changed = []
    for path, (source, value) in values.items():
        holder = target
        for key in path[:-1]:
            holder = holder[key]
        if holder[path[-1]] != value:
            holder[path[-1]] = value
            changed.append(f"{'.'.join(path)} <- {source} = {value}")
    return rebound, changed


def _topology_of(event: Any) -> Any:
    state = event.get("state") if isinstance(event, dict) else None
    run = state.get("run") if isinstance(state, dict) else None
    return run.get("topology") if isinstance(run, dict) else None


def _rebound(event: Any, stack: DeployedStack, function: str) -> Any:
    """`rebind_topology` against the deployed stack, saying on stderr what it did."""
    from safejob_tools.localaws.moto_gaps import EMULATED

    if _topology_of(event) is None:
        if isinstance(event, dict) and event.keys() >= VALIDATE_KEYS:
            print(f"invoke: a deploy Validate payload: the topology comes from the function's environment, stack "
                  f"{stack.name}'s own; nothing to rebind", file=sys.stderr)
        return event
    validate = stack.aws.client("lambda").get_function_configuration(
        FunctionName=stack.resources["DeployValidateFunction"])
    url = validate["Environment"]["Variables"]["TEST_LISTENER_URL"]
    rebound, changed = rebind_topology(event, stack.outputs, url)
    print(f"invoke: state.run.topology rebound to stack {stack.name}'s resources ({len(changed)} values changed; "
          "--as-is sends the event's own)" + "".join(f"\n  {line}" for line in changed), file=sys.stderr)
    if function == "DeploySmokeFunction" and EMULATED in url:
        print("invoke: the emulated stack's TEST_LISTENER_URL is a placeholder and nothing answers a test listener "
              "outside the local fleet (docs/local-aws.md#the-local-fleet): Smoke cannot pass here", file=sys.stderr)
    return rebound


def invoke_command(args: argparse.Namespace) -> int:
    from safejob_tools.localaws.deploy import deploy
    from safejob_tools.localaws.seed import seed_receiver_secrets
    from safejob_tools.localaws.server import LocalAws
    from safejob_tools.localaws.sink import HttpSink

    try:
        event = json.loads(args.event.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: --event {args.event}: {exc}", file=sys.stderr)
        return 2
    with LocalAws() as aws, HttpSink() as sink:
        aws.runtime.log_level = logging.getLevelNamesMapping().get(args.log_level.upper(), logging.WARNING)
        stack = deploy(aws, parameters={"PagerDutyEventsUrl": sink.url("/pagerduty")})
        seed_receiver_secrets(aws, sink)
        if args.function not in stack.resources:
            functions = sorted(k for k, v in stack.resources.items() if v in aws.runtime.names())
            print(f"error: no function {args.function!r} in template.yaml; fix: one of {functions}", file=sys.stderr)
            return 2
        if not args.as_is:
            try:
                event = _rebound(event, stack, args.function)
            except RebindError as exc:
                print(f"error: --event {args.event}: cannot rebind its topology: {exc}; fix: --as-is to send it "
                      "unchanged", file=sys.stderr)
                return 2
        response = aws.client("lambda").invoke(
            FunctionName=stack.resources[args.function], Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
        print(json.dumps(payload, indent=2, sort_keys=True))
        return 1 if "FunctionError" in response else 0
