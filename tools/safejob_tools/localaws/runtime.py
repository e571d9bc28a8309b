"""An in-process Lambda runtime: runs our real handlers, with the environment variables the template gives them.

`sam local invoke` needs Docker, which these machines lack; this is its in-process twin. Each function's module is
imported once (its cold start) with that function's environment applied, so settings read at cold start see the
template's values; invocations then run concurrently, as Lambda would run several execution environments.
Limit: the process has one environment, so two functions that give one variable different values would see each
other's; the functions of our stack never do (they share values such as STATE_TABLE_NAME).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # "app.lambda_handler"
    code_dir: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: int = 30
    memory_mb: int = 512
    arn: str = ""


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools and our handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def __post_init__(self) -> None:
        self._deadline = _monotonic_ms() + self.timeout_seconds * 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline - _monotonic_ms()))


def _monotonic_ms() -> float:
    import time

    return time.monotonic() * 1000


@dataclass(frozen=True)
class InvokeResult:
    payload: Any
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_ENV_LOCK = threading.RLock()


@contextlib.contextmanager
def applied_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Apply environment variables for the duration of a cold start (process-wide, so serialised)."""
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


class InProcessRuntime:
    """Registry of deployed functions and the runner of their handlers."""

    def __init__(self, log_level: int = logging.WARNING) -> None:
        # In one process every function's Powertools Logger shares the service's Python logger, so INFO lines of
        # concurrent invocations would interleave with wrong context; tests and the demo keep WARNING and above.
        self.log_level = log_level
        self._specs: dict[str, FunctionSpec] = {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._lock = threading.RLock()
        self.invocations: list[tuple[str, bool]] = []  # (function name, ok), for assertions and the demo

    def register(self, spec: FunctionSpec) -> None:
        with self._lock:
            self._specs[spec.name] = spec
            self._handlers.pop(spec.name, None)

    def spec(self, name_or_arn: str) -> FunctionSpec:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"function {name!r} is not deployed (known: {sorted(self._specs)})") from None

    def names(self) -> list[str]:
        return sorted(self._specs)

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        with self._lock:
            handler = self._handlers.get(spec.name)
            if handler is None:
                handler = self._cold_start(spec)
                self._handlers[spec.name] = handler
                service = spec.environment.get("POWERTOOLS_SERVICE_NAME")
                if service:
                    for name in [service, *logging.root.manager.loggerDict]:
                        if name == service or name.startswith(f"{service}."):
                            logging.getLogger(name).setLevel(self.log_level)
            return handler

    @staticmethod
    def _cold_start(spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        module_name, _, attr = spec.handler.rpartition(".")
        source = spec.code_dir / f"{module_name.replace('.', '/')}.py"
        unique = f"_lambda_{spec.name.replace('-', '_')}_{module_name.replace('.', '_')}"
        import_spec = importlib.util.spec_from_file_location(unique, source)
        if import_spec is None or import_spec.loader is None:
            raise ImportError(f"cannot load handler {spec.handler} from {source}")
        module: ModuleType = importlib.util.module_from_spec(import_spec)
        with applied_environment({**spec.environment, "AWS_LAMBDA_FUNCTION_NAME": spec.name}):
            import_spec.loader.exec_module(module)
        handler: Callable[[Any, Any], Any] = getattr(module, attr)
        return handler

    @contextlib.contextmanager
    def failing(self, name_or_arn: str, *, delay_seconds: float = 0.0) -> Iterator[None]:
        """Fault injection: until the block ends, the function raises (as a crashed handler would); with
        `delay_seconds`, it first runs that long (to outlive its state's TimeoutSeconds), then raises as Lambda does
        when a function reaches its own timeout, which the template keeps below every state's timeout."""
        spec = self.spec(name_or_arn)
        handler = self._handler(spec)  # its cold start, then our stand-in in the handler table

        def raising(event: Any, context: Any) -> Any:
            if delay_seconds:
                threading.Event().wait(delay_seconds)
                raise TimeoutError(f"injected: {spec.name} ran out of time after {delay_seconds:g} s")
            raise RuntimeError(f"injected failure of {spec.name}")

        with self._lock:
            self._handlers[spec.name] = raising
        try:
            yield
        finally:
            with self._lock:
                self._handlers[spec.name] = handler

    def invoke(self, name_or_arn: str, event: Any) -> InvokeResult:
        """Run the handler with `event`; an exception becomes Lambda's error payload, as the Invoke API returns it."""
        spec = self.spec(name_or_arn)
        context = LambdaContext(
            function_name=spec.name,
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
        )
        # Handlers (and Powertools) may also read the environment at call time. The process has one environment;
        # functions of one stack agree on every variable they share, so applying a function's variables on top
        # (without restoring) is what each of them would see in its own execution environment.
        with _ENV_LOCK:
            os.environ.update(spec.environment)
        try:
            # A failing cold start (bad settings, an invalid config) is reported like any error, as Lambda does
            # with its init errors, and tried again on the next invocation.
            handler = self._handler(spec)
            payload = handler(event, context)
        except Exception as exc:
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-5:],
            }
            self.invocations.append((spec.name, False))
            return InvokeResult(payload=None, error=error)
        self.invocations.append((spec.name, True))
        # What Lambda returns is JSON: round-trip so callers never see Python-only objects.
        return InvokeResult(payload=json.loads(json.dumps(payload, default=str)))
