"""`safejob-ops canary analyze`, through cli.main with captured output: the shipped fixtures, the exit codes, the
JSON format, and bad input named down to the field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from canary_support import CHECK_ORDER, DEPLOY_CONFIG, FIXTURES, ROOT

from safejob_ops.deploy.canary import CanaryPolicy
from safejob_tools import cli
from safejob_tools.commands import canary

BACKEND = ["--config", str(DEPLOY_CONFIG), "--service", "backend", "--environment", "staging"]


@pytest.fixture(autouse=True)
def canary_group_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `canary` group in the CLI's registry (cli.py lists it once the lead wires it in; until then, here)."""
    if canary.register not in cli.COMMAND_GROUPS:
        monkeypatch.setattr(cli, "COMMAND_GROUPS", [*cli.COMMAND_GROUPS, canary.register])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["canary", "analyze", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def metrics_file(tmp_path: Path, body: Any) -> Path:
    path = tmp_path / "metrics.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


GOOD_SAMPLE = {"request_count": 100, "http_5xx_count": 0, "p95_latency_ms": 150.0}


# --- the shipped fixtures ------------------------------------------------------------------------------------------

FIXTURE_CASES = [
    ("promote.json", 0, "promote", "promote: all 6 checks passed or did not apply"),
    ("rollback_errors.json", 3, "rollback", "rollback: error_rate: green 2.00% 5xx (20 of 1000) is above the 1.00%"),
    ("extend_low_traffic.json", 4, "extend", "extend (1 of 3): min_requests: green served 40 requests; 100 are"),
]


@pytest.mark.parametrize(("name", "code", "verdict", "summary"), FIXTURE_CASES, ids=[c[0] for c in FIXTURE_CASES])
def test_fixtures_with_the_backend_policy(capsys: pytest.CaptureFixture[str], name: str, code: int, verdict: str,
                                          summary: str) -> None:
    # GIVEN a shipped metrics file and the versioned config / WHEN analysed for the backend in staging
    exit_code, out, err = run(capsys, "--metrics", str(FIXTURES / name), *BACKEND)
    # THEN the exit code is the verdict's, and stdout is the verdict as JSON (indent 2, keys sorted)
    assert (exit_code, err) == (code, "")
    result = json.loads(out)
    assert out == json.dumps(result, indent=2, sort_keys=True) + "\n"
    assert result["verdict"] == verdict
    assert result["summary"].startswith(summary)
    assert [r["check"] for r in result["reasons"]] == CHECK_ORDER
    assert list(result) == ["extensions_so_far", "policy", "reasons", "statistics", "summary", "verdict"]
    assert result["policy"]["alarms"][0] == "safejob-staging-alb-5xx-rate"


def test_every_fixture_is_a_valid_metrics_file() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        observation, problems = canary.read_observation(path)
        assert observation is not None, (path, problems)


def test_without_a_config_the_built_in_defaults_apply(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN no --config: no alarms are configured, so the fixture's alarm states do not count
    code, out, _ = run(capsys, "--metrics", str(FIXTURES / "promote.json"))
    result = json.loads(out)
    assert code == 0
    assert result["reasons"][0]["outcome"] == "not_applicable"
    assert result["policy"]["min_requests"] == 100


def test_extensions_lead_to_the_fail_safe(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the low-traffic fixture after the last allowed extension / WHEN analysed / THEN the fail-safe: rollback
    code, out, _ = run(capsys, "--metrics", str(FIXTURES / "extend_low_traffic.json"), *BACKEND, "--extensions", "3")
    assert code == 3
    assert json.loads(out)["summary"].startswith("rollback (on_insufficient_data after 3 extensions)")
    assert json.loads(out)["extensions_so_far"] == 3


def test_a_missing_alarm_rolls_back(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the promote fixture, judged as production: the fixture only holds staging's alarms
    code, out, _ = run(capsys, "--metrics", str(FIXTURES / "promote.json"), "--config", str(DEPLOY_CONFIG),
                       "--service", "backend", "--environment", "production")
    # THEN rollback: an alarm the config names but the input lacks is not taken as OK
    assert code == 3
    assert "not found (check the name in the deploy config): safejob-production-alb-5xx-rate" in json.loads(out)[
        "summary"]


# --- bad input: exit 2, and the problem names the field ------------------------------------------------------------

BAD_FILES: list[tuple[str, Any, list[str]]] = [
    ("negative count", {"baseline": [GOOD_SAMPLE], "canary": [GOOD_SAMPLE, GOOD_SAMPLE,
                                                              {**GOOD_SAMPLE, "request_count": -1}]},
     ["canary[2].request_count: must be >= 0"]),
    ("more errors than requests", {"baseline": [{**GOOD_SAMPLE, "http_5xx_count": 101}], "canary": []},
     ["baseline[0]: http_5xx_count (101) cannot exceed request_count (100)"]),
    ("missing count", {"baseline": [{"request_count": 5}], "canary": []}, ["baseline[0].http_5xx_count: required"]),
    ("fractional count", {"baseline": [{**GOOD_SAMPLE, "request_count": 1.5}], "canary": []},
     ["baseline[0].request_count: must be an integer"]),
    ("boolean count", {"baseline": [{**GOOD_SAMPLE, "http_5xx_count": True}], "canary": []},
     ["baseline[0].http_5xx_count: must be an integer"]),
    ("a typo", {"baseline": [{**GOOD_SAMPLE, "p95_ms": 3}], "canary": []}, ["baseline[0].p95_ms: unknown field"]),
    ("negative latency", {"baseline": [], "canary": [{**GOOD_SAMPLE, "p95_latency_ms": -3}]},
     ["canary[0].p95_latency_ms: must be >= 0"]),
    ("naive time", {"baseline": [{**GOOD_SAMPLE, "start": "2026-03-01T12:00:00"}], "canary": []},
     ["baseline[0].start: Input should have timezone info"]),
    ("no canary", {"baseline": []}, ["canary: required"]),
    ("not a list", {"baseline": {}, "canary": []}, ["baseline: must be a list"]),
    ("unknown alarm state", {"baseline": [], "canary": [], "alarms": {"x": "FIRING"}},
     ["alarms.x: must be one of 'OK', 'ALARM' or 'INSUFFICIENT_DATA'"]),
    ("unknown key", {"baseline": [], "canary": [], "windows": 3}, ["windows: unknown field"]),
    ("not an object", [1, 2], ["expected a JSON object with baseline, canary and alarms, got list"]),
    ("invalid JSON", '{"baseline": [', ["invalid JSON: Expecting value (line 1, column 15)"]),
    ("NaN", '{"baseline": [{"request_count": 1, "http_5xx_count": 0, "p95_latency_ms": NaN}], "canary": []}',
     ["invalid JSON: NaN is not a number"]),
]


@pytest.mark.parametrize(("case", "body", "messages"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_metrics_files_exit_2_naming_the_field(capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str,
                                                   body: Any, messages: list[str]) -> None:
    # GIVEN a malformed metrics file / WHEN analysed
    path = metrics_file(tmp_path, body)
    code, out, err = run(capsys, "--metrics", str(path))
    # THEN exit 2, nothing on stdout, and each problem on stderr as FILE: path: message
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"{path}: {message}" for message in messages]


def test_an_unreadable_metrics_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--metrics", str(tmp_path / "nope.json"))
    assert code == 2
    assert err == f"{tmp_path / 'nope.json'}: cannot read: No such file or directory\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--service", "worker", "--config", str(DEPLOY_CONFIG), "--environment", "x"],
         "services: unknown service 'worker'; known: backend, frontend"),
        (["--service", "backend", "--config", str(DEPLOY_CONFIG)],
         "alarms: 'safejob-{environment}-alb-5xx-rate' uses {environment}: give the environment (--environment in "
         "the CLI)"),
    ],
)
def test_config_problems_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "--metrics", str(FIXTURES / "promote.json"), *argv)
    assert (code, out) == (2, "")
    assert message in err


def test_an_invalid_config_file_exits_2_with_the_path_of_the_key(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    config = tmp_path / "deploy.yaml"
    config.write_text("canary:\n  defaults:\n    significance: 0\n")
    code, _, err = run(capsys, "--metrics", str(FIXTURES / "promote.json"), "--config", str(config))
    assert code == 2
    assert err == f"invalid {config} (1 problem):\n  canary.defaults.significance: must be > 0\n"


@pytest.mark.parametrize("value", ["-1", "two"])
def test_a_bad_extension_count_is_a_usage_error(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["canary", "analyze", "--metrics", "x.json", "--extensions", value])
    assert caught.value.code == 2
    assert "--extensions" in capsys.readouterr().err


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["canary", "analyze", "--help"])
    assert "0 promote, 3 rollback, 4 extend, 2 bad input" in " ".join(capsys.readouterr().out.split())


# --- the docs cannot drift -----------------------------------------------------------------------------------------

DOCS = ROOT / "docs" / "workflows" / "canary-analysis.md"


def test_the_documented_output_is_what_the_cli_prints(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the JSON block under the docs' canary-output marker, and the arguments the marker names
    text = DOCS.read_text()
    match = re.search(r"<!-- canary-output: (\S+) (.*?) -->\n```json\n(.*?)```", text, re.DOTALL)
    assert match, "the canary-output block is missing from the docs"
    fixture, options, documented = match.groups()
    # WHEN the CLI runs with them and the versioned config / THEN it prints exactly the documented block
    code, out, _ = run(capsys, "--metrics", str(FIXTURES / fixture), "--config", str(DEPLOY_CONFIG),
                       *options.split())
    assert code == 3
    assert out == documented


def test_the_config_reference_documents_every_key_with_its_default() -> None:
    section = DOCS.read_text().split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| `?([^|`]+?)`? \|", section, re.MULTILINE))
    defaults = CanaryPolicy().model_dump(mode="json")
    for key, value in defaults.items():
        assert key in rows, f"{key} is not in the docs' configuration reference"
        assert yaml.safe_load(rows[key]) == value, key
