"""The one place where moto 5.2.5's gaps are bridged. Templates and ASL stay exactly as real AWS needs them.

Each bridge is a small patch of moto (never of our code), named `bridge_<gap>`, with a comment that says what moto
lacks and what the bridge does, and a test in tests/integration/test_moto_gaps.py that fails if the bridge breaks
or moto starts doing it itself. docs/local-aws.md lists them.

Bridged here:
1. Lambda invoke runs handlers in Docker (absent here)  -> run our real handler in-process (runtime.py).
2. EventBridge rules never invoke Lambda targets         -> invoke them, with the rule's DLQ on failure.
3. Retry intervals run in real time                        -> compressed by a factor (semantics unchanged).
4. CloudWatch GetMetricWidgetImage is not implemented     -> return a 1x1 PNG.
5. CloudFormation state machines are not executable       -> deploy.py registers them through the Step Functions
   API with DefinitionSubstitutions applied (not a patch: see `register_state_machines`).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from safejob_tools.localaws.runtime import InProcessRuntime

log = logging.getLogger(__name__)

_applied: set[str] = set()
_lock = threading.Lock()

# A valid 1x1 transparent PNG.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _once(name: str, apply: Callable[[], None]) -> None:
    with _lock:
        if name not in _applied:
            apply()
            _applied.add(name)


# --------------------------------------------------------------------------- 1. Lambda in-process
_runtime: InProcessRuntime | None = None


def bridge_lambda_invoke(runtime: InProcessRuntime) -> None:
    """moto runs Lambda code in a Docker container; no Docker engine runs here. Replace the container run with
    our in-process runtime. moto still does everything around it (the Invoke API, FunctionError, log groups)."""
    global _runtime
    _runtime = runtime

    def apply() -> None:
        from moto.awslambda.models import LambdaFunction

        def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
            if _runtime is None:  # pragma: no cover - only when a bridge outlives its harness
                raise RuntimeError("no in-process Lambda runtime registered")
            result = _runtime.invoke(self.function_name, event if event is not None else {})
            if result.error is not None:
                return json.dumps(result.error), True, result.error["errorMessage"]
            return json.dumps(result.payload), False, ""

        setattr(LambdaFunction, "_invoke_lambda", _invoke_lambda)  # noqa: B010 - a monkeypatch, on purpose

    _once("lambda_invoke", apply)


# --------------------------------------------------------------------------- 2. EventBridge -> Lambda targets
def bridge_eventbridge_lambda_targets() -> None:
    """moto's EventBridge delivers to SQS, logs and buses, never to Lambda. Invoke Lambda targets (input
    transformers applied by moto as for other targets). Like EventBridge, a failed invocation goes to the target's
    DeadLetterConfig queue; it happens synchronously so that tests and the demo are deterministic."""

    def apply() -> None:
        from moto.events.models import Rule
        from moto.events.utils import EventTemplateParser
        from moto.sqs.models import sqs_backends
        from moto.utilities.arns import parse_arn

        original = Rule.send_to_targets

        targets_lock = threading.Lock()

        def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
            lambda_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
            with targets_lock:  # moto raises NotImplementedError on a Lambda target: hand it the others only
                all_targets, self.targets = self.targets, [t for t in self.targets if t not in lambda_targets]
                try:
                    original(self, original_event, transform_input)
                finally:
                    self.targets = all_targets
            if not self.event_pattern.matches_event(original_event) or _runtime is None:
                return
            for target in lambda_targets:
                transformer = target.get("InputTransformer", {})
                event = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
                if "Input" in target:
                    event = json.loads(target["Input"])
                result = _runtime.invoke(target["Arn"], event)
                dlq = target.get("DeadLetterConfig", {}).get("Arn")
                if not result.ok and dlq:
                    queue = parse_arn(dlq)
                    backend = sqs_backends[queue.account][queue.region]
                    backend.send_message(queue.resource_id, json.dumps(event), message_attributes={})

        setattr(Rule, "send_to_targets", send_to_targets)  # noqa: B010

    _once("eventbridge_lambda", apply)


# --------------------------------------------------------------------------- 3. Retry intervals
RETRY_TIME_SCALE = 0.02


def bridge_retry_intervals(scale: float = RETRY_TIME_SCALE) -> None:
    """moto's ASL interpreter sleeps Retry intervals in real time (5 s, 10 s, 20 s, ... here). Scale the sleep of the
    retrier only: the attempts, their order and the errors are unchanged, and Wait states keep real time."""

    def apply() -> None:
        import time as real_time

        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        class _ScaledTime:
            def __getattr__(self, name: str) -> Any:
                return getattr(real_time, name)

            @staticmethod
            def sleep(seconds: float) -> None:
                real_time.sleep(seconds * scale)

        setattr(retrier_decl, "time", _ScaledTime())  # noqa: B010

    _once("retry_intervals", apply)


# --------------------------------------------------------------------------- 4. GetMetricWidgetImage
def bridge_metric_widget_image() -> None:
    """moto does not implement CloudWatch GetMetricWidgetImage. Answer it with a 1x1 PNG after checking that
    the widget is JSON, so that graph code runs end to end."""

    def apply() -> None:
        from moto.cloudwatch.responses import CloudWatchResponse
        from moto.core.responses import ActionResult

        def get_metric_widget_image(self: Any) -> ActionResult:
            widget = self._get_param("MetricWidget")
            json.loads(widget)  # a malformed widget fails as the real API would (400)
            return ActionResult({"MetricWidgetImage": PNG_1X1})

        setattr(CloudWatchResponse, "get_metric_widget_image", get_metric_widget_image)  # noqa: B010

    _once("metric_widget_image", apply)


def apply_all(runtime: InProcessRuntime) -> None:
    bridge_lambda_invoke(runtime)
    bridge_eventbridge_lambda_targets()
    bridge_retry_intervals()
    bridge_metric_widget_image()
