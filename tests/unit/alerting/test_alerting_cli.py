"""The `safejob-ops alerts` commands, through cli.main with captured output."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alerting_support import FIXTURES, ROOT, T0, alarm_event, sample_event

from safejob_tools.cli import build_parser, main

PRODUCTION = ROOT / "config" / "alerting.yaml"
S, M = timedelta(seconds=1), timedelta(minutes=1)


def jsonl(tmp_path: Path, *lines: dict[str, Any] | str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line, default=str) for line in lines) + "\n"
    )
    return path


def test_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "check-config", str(PRODUCTION)]) == 0
    assert capsys.readouterr().out == "ok: 7 routes, 5 receivers, 1 inhibit rules, 1 time intervals\n"


def test_check_config_lists_problems_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "check-config", str(FIXTURES / "invalid.yaml")]) == 1
    err = capsys.readouterr().err
    assert "(9 problems):" in err
    assert "  route.routes[0].matchers[0]: invalid matcher 'sev=~(':" in err
    assert "  route.routes[0].receiver: unknown receiver 'nobody'" in err


def test_route_prints_one_sorted_compact_json_line_per_notification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a critical alarm of the data team that fires and resolves, through the production config
    crit = "DB down severity=critical team=data service=db"
    events = jsonl(
        tmp_path,
        {"at": T0.isoformat(), "event": alarm_event("DbDown", "ALARM", T0, description=crit)},
        {"at": (T0 + 20 * M).isoformat(), "event": alarm_event("DbDown", "OK", T0 + 20 * M, description=crit)},
    )
    # WHEN routed
    assert main(["alerts", "route", "--config", str(PRODUCTION), "--events", str(events)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # THEN every line is compact JSON with exactly the documented keys, sorted
    records = [json.loads(line) for line in lines]
    for line, record in zip(lines, records, strict=True):
        assert list(record) == ["alerts", "at", "group_key", "receiver", "status"]
        assert line == json.dumps(record, sort_keys=True, separators=(",", ":"))
        assert all(list(a) == ["fingerprint", "labels", "status"] for a in record["alerts"])
    seen = [(r["at"], r["receiver"], r["status"]) for r in records]
    assert seen == [
        ("2026-03-02T10:00:00Z", "webhook-audit", "firing"),
        ("2026-03-02T10:00:10Z", "pagerduty-oncall", "firing"),
        ("2026-03-02T10:00:30Z", "slack-data", "firing"),
        # timers due at 10:20:00 fire before the input at 10:20:00: the audit route's next tick is 10:21
        ("2026-03-02T10:20:10Z", "pagerduty-oncall", "resolved"),
        ("2026-03-02T10:20:30Z", "slack-data", "resolved"),
        ("2026-03-02T10:21:00Z", "webhook-audit", "resolved"),
    ]
    first = records[2]
    assert first["group_key"] == '0.3:{alertname="DbDown",service="db"}'
    assert first["alerts"][0]["labels"]["severity"] == "critical"
    assert len(first["alerts"][0]["fingerprint"]) == 16


def test_route_output_format_is_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(tmp_path, {"at": "2026-03-02T10:00:00Z", "event": sample_event("stepfunctions_execution_failed")})
    assert (
        main(
            [
                "alerts",
                "route",
                "--config",
                str(FIXTURES / "minimal.yaml"),
                "--events",
                str(events),
                "--until",
                "2026-03-02T10:01:00Z",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    fingerprint = json.loads(out)["alerts"][0]["fingerprint"]
    assert out == (
        '{"alerts":[{"fingerprint":"' + fingerprint + '","labels":{"account":"123456789012",'
        '"alertname":"WorkflowExecutionFailed","environment":"unknown","region":"eu-west-1",'
        '"service":"safejob-production-deploy","severity":"warning","source":"stepfunctions","team":"platform"},'
        '"status":"firing"}],"at":"2026-03-02T10:00:30Z","group_key":"0:{}","receiver":"chat","status":"firing"}\n'
    )


def test_route_until_limits_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(tmp_path, {"at": T0.isoformat(), "event": alarm_event("X", "ALARM", T0)})
    assert (
        main(
            [
                "alerts",
                "route",
                "--config",
                str(FIXTURES / "minimal.yaml"),
                "--events",
                str(events),
                "--until",
                (T0 + 10 * S).isoformat(),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == ""


def test_route_accepts_silences_and_maintenance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(
        tmp_path,
        {"at": T0.isoformat(), "maintenance": {"service": "api", "action": "open", "duration": "30m"}},
        {"at": T0.isoformat(), "silence": {"matchers": ['service="db"'], "duration": "1h", "comment": "x"}},
        "",
        {"at": (T0 + M).isoformat(), "event": alarm_event("A", "ALARM", T0 + M, description="a service=api")},
        {"at": (T0 + M).isoformat(), "event": alarm_event("B", "ALARM", T0 + M, description="b service=db")},
    )
    assert (
        main(
            [
                "alerts",
                "route",
                "--config",
                str(FIXTURES / "simulation.yaml"),
                "--events",
                str(events),
                "--until",
                (T0 + 40 * M).isoformat(),
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["at"], r["group_key"]) for r in records] == [("2026-03-02T10:31:30Z", '0:{alertname="A",service="api"}')]


def test_route_reports_bad_lines_with_number_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(
        tmp_path,
        {"at": T0.isoformat(), "event": {}},
        "{not json",
        {"event": {}},
        {"at": "yesterday", "event": {}},
        {"at": T0.isoformat(), "silence": {"matchers": ["bad"], "duration": "1h"}},
        {"at": T0.isoformat(), "maintenance": {"service": "api", "action": "reopen"}},
        "[1, 2]",
        {"at": T0.isoformat(), "event": {}, "extra": 1},
    )
    assert main(["alerts", "route", "--config", str(FIXTURES / "minimal.yaml"), "--events", str(events)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 2)[1] for line in err] == [
        "line 2",
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
    ]
    assert err[0].endswith("line 2: invalid JSON: Expecting property name enclosed in double quotes (column 2)")
    assert err[1].endswith("line 3: at: Field required")
    assert "line 4: at: Input should be a valid datetime" in err[2]
    assert "line 5: silence.matchers.0: invalid matcher 'bad'" in err[3]
    assert "line 6: maintenance.action: Input should be 'open' or 'close'" in err[4]
    assert err[5].endswith("line 7: expected a JSON object, got list")
    assert err[6].endswith("line 8: extra: Extra inputs are not permitted")


def test_route_simulation_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(
        tmp_path, {"at": T0.isoformat(), "maintenance": {"service": "api", "action": "open", "duration": "5h"}}
    )
    assert main(["alerts", "route", "--config", str(FIXTURES / "simulation.yaml"), "--events", str(events)]) == 2
    assert "line 1: maintenance.duration:" in capsys.readouterr().err


def test_route_with_a_bad_config_or_missing_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(tmp_path, {"at": T0.isoformat(), "event": {}})
    assert main(["alerts", "route", "--config", str(FIXTURES / "invalid.yaml"), "--events", str(events)]) == 1
    assert "route.group_wait" in capsys.readouterr().err
    assert (
        main(["alerts", "route", "--config", str(FIXTURES / "minimal.yaml"), "--events", str(tmp_path / "nope.jsonl")])
        == 2
    )
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("until", ["tomorrow", "2026-03-02T10:00:00"])
def test_bad_until_is_a_usage_error(tmp_path: Path, until: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["alerts", "route", "--config", "c.yaml", "--events", "e.jsonl", "--until", until])
    assert exc.value.code == 2
    assert "--until" in capsys.readouterr().err


def test_the_parser_is_a_registry_other_commands_can_join(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the parser WHEN another command group registers itself on its subparsers THEN it runs through main's flow
    parser = build_parser()
    hello = parser.subparsers.add_parser("hello")
    hello.set_defaults(func=lambda args: 7)
    args = parser.parse_args(["hello"])
    assert args.func(args) == 7
    with pytest.raises(SystemExit):
        main([])
    assert "COMMAND" in capsys.readouterr().err
    assert isinstance(build_parser().subparsers, argparse._SubParsersAction)
