"""The error metric filter matches our JSON logs (the plan's space-delimited pattern matched none)."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

from aws_lambda_powertools import Logger

_TERM = re.compile(r'\(\$\.(\w+) = "([^"]+)"\)')


def matches(pattern: str, event: dict[str, Any]) -> bool:
    """Evaluate a CloudWatch Logs JSON filter of the form { ($.k = "v") || ($.k2 = "v2") ... }."""
    body = pattern.strip()
    assert body.startswith("{"), pattern
    assert body.endswith("}"), pattern
    terms = _TERM.findall(body)
    assert _TERM.sub("T", body[1:-1]).replace("||", "").replace("T", "").strip() == "", "only ORed equalities"
    return any(str(event.get(key)) == value for key, value in terms)


def _powertools_line(level: int) -> dict[str, Any]:
    stream = io.StringIO()
    # A fresh service name per call: Powertools reuses a named logger and its first handler.
    logger = Logger(
        service=f"backend-{logging.getLevelName(level).lower()}", logger_handler=logging.StreamHandler(stream)
    )
    emit = {
        logging.ERROR: logger.error,
        logging.CRITICAL: logger.critical,
        logging.WARNING: logger.warning,
        logging.INFO: logger.info,
    }[level]
    emit("something happened", extra={"order_id": "o-1"})
    parsed: dict[str, Any] = json.loads(stream.getvalue().splitlines()[-1])
    return parsed


def test_filter_counts_error_and_critical_lines_only(templates: dict[str, dict[str, Any]]) -> None:
    # GIVEN the metric filter of the backend log group
    pattern = templates["observability"]["Resources"]["ErrorLogMetricFilter"]["Properties"]["FilterPattern"]
    # WHEN real Powertools JSON lines and Django JSON-formatter lines are evaluated against it
    # THEN ERROR and CRITICAL match, INFO and WARNING do not
    assert matches(pattern, _powertools_line(logging.ERROR))
    assert matches(pattern, _powertools_line(logging.CRITICAL))
    assert not matches(pattern, _powertools_line(logging.INFO))
    assert not matches(pattern, _powertools_line(logging.WARNING))
    assert matches(pattern, {"levelname": "ERROR", "message": "boom", "name": "django.request"})
    assert not matches(pattern, {"levelname": "INFO", "message": "ok"})
