"""A moto server run in-process on a free loopback port: our AWS on machines without an account."""

from __future__ import annotations

import logging
import os
import socket
import warnings
from types import TracebackType
from typing import Any, Self

import boto3
from botocore.config import Config

from safejob_tools.localaws import moto_gaps
from safejob_tools.localaws.runtime import InProcessRuntime

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


def _not_unsupported_type_notes(record: logging.LogRecord) -> bool:
    """moto's notes on types and attributes it ignores (bridged or covered by static checks: docs/local-aws.md)."""
    message = record.getMessage()
    return "No Moto CloudFormation support" not in message and not message.startswith('"Fn::GetAtt" :')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalAws:
    """Start with `with LocalAws() as aws:`; clients from `aws.client("sqs")` (or any boto3 client created while it
    runs: the process environment points every SDK call at the emulator)."""

    def __init__(self, region: str = REGION) -> None:
        self.region = region
        self.port = 0
        self.runtime = InProcessRuntime()
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # moto's Step Functions interpreter calls back into the server on this port.
            "MOTO_PORT": str(self.port),
            # No X-Ray daemon and no CloudWatch agent here: tracing off, metrics still validated but not printed.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }

    def start(self) -> Self:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        for key, value in self._environment().items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        moto_gaps.apply_all(self.runtime)
        # The server's per-request lines and moto's "not supported by CloudFormation" notes would drown the
        # output; the unsupported types are listed in docs/local-aws.md instead.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("moto").addFilter(_not_unsupported_type_notes)
        # The ASL interpreter logs every failed state with a traceback; executions report failures themselves.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        for key, old in self._saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        self._saved_env.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )
