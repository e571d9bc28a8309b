"""`analyze`: every verdict path and every threshold, as tables. Pure domain: no AWS, no moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from canary_support import CHECK_ORDER, judge, outcomes, sample, windows

from safejob_ops.deploy.canary import (
    CanaryConfig,
    CanaryConfigError,
    CanaryInputError,
    CanarySample,
    Outcome,
    Verdict,
    analyze,
)

BLUE = windows(9000, 9, 180.0)  # a 10% step: blue 0.1% 5xx, p95 180 ms
GREEN = windows(1000, 1, 185.0)  # green 0.1% 5xx, p95 185 ms
FEW = windows(40, 0, 190.0, count=4)  # fewer than the default min_requests (100)


# --- alarms: any configured alarm in ALARM (or not found) rolls back, whatever else --------------------------------

ALARM_CASES: list[tuple[str, tuple[str, ...], dict[str, str], list[Any], Verdict, Outcome]] = [
    # (case, configured alarms, states, green, verdict, alarms outcome)
    ("none configured", (), {"x": "ALARM"}, GREEN, Verdict.PROMOTE, Outcome.NOT_APPLICABLE),
    ("all OK", ("a", "b"), {"a": "OK", "b": "OK"}, GREEN, Verdict.PROMOTE, Outcome.PASS),
    ("no data is not an alarm", ("a",), {"a": "INSUFFICIENT_DATA"}, GREEN, Verdict.PROMOTE, Outcome.PASS),
    ("an unconfigured alarm is ignored", ("a",), {"a": "OK", "x": "ALARM"}, GREEN, Verdict.PROMOTE, Outcome.PASS),
    ("one in ALARM", ("a", "b"), {"a": "OK", "b": "ALARM"}, GREEN, Verdict.ROLLBACK, Outcome.FAIL),
    ("one not found", ("a", "b"), {"a": "OK"}, GREEN, Verdict.ROLLBACK, Outcome.FAIL),
    ("in ALARM at low traffic", ("a",), {"a": "ALARM"}, FEW, Verdict.ROLLBACK, Outcome.FAIL),
    ("in ALARM without green traffic", ("a",), {"a": "ALARM"}, [], Verdict.ROLLBACK, Outcome.FAIL),
]


@pytest.mark.parametrize(("case", "configured", "states", "green", "verdict", "outcome"), ALARM_CASES,
                         ids=[c[0] for c in ALARM_CASES])
def test_alarms(case: str, configured: tuple[str, ...], states: dict[str, str], green: list[CanarySample],
                verdict: Verdict, outcome: Outcome) -> None:
    # GIVEN healthy metrics (or little traffic) and the alarm states of the case / WHEN analysed
    result = judge(BLUE, green, states=states, alarms=configured)
    # THEN the alarms check decides first, and reports every configured alarm's state
    assert result.verdict is verdict, result.summary
    check = result.reasons[0]
    assert check.outcome is outcome
    assert check.observed == {name: states.get(name, "MISSING") for name in configured}


def test_an_alarm_rollback_names_the_alarm_and_the_missing_one() -> None:
    result = judge(BLUE, GREEN, states={"a": "ALARM"}, alarms=("a", "b"))
    assert result.summary == (
        "rollback: alarms: in ALARM: a; not found (check the name in the deploy config): b")


# --- traffic, extensions and the fail-safe -------------------------------------------------------------------------

TRAFFIC_CASES: list[tuple[str, list[Any], dict[str, Any], Verdict, str]] = [
    # (case, green, judge arguments, verdict, summary prefix)
    ("below min_requests", FEW, {}, Verdict.EXTEND, "extend (1 of 3): min_requests: green served 40 requests"),
    ("exactly min_requests", windows(100, 0, 185.0), {}, Verdict.PROMOTE, "promote"),
    ("no green traffic", [], {}, Verdict.EXTEND, "extend (1 of 3)"),
    ("third extension", FEW, {"extensions": 2}, Verdict.EXTEND, "extend (3 of 3)"),
    ("extensions exhausted: fail-safe rollback", FEW, {"extensions": 3}, Verdict.ROLLBACK,
     "rollback (on_insufficient_data after 3 extensions): min_requests"),
    ("more extensions than allowed", FEW, {"extensions": 7}, Verdict.ROLLBACK, "rollback (on_insufficient_data"),
    ("fail-safe promote", FEW, {"extensions": 3, "on_insufficient_data": "promote"}, Verdict.PROMOTE,
     "promote (on_insufficient_data after 3 extensions)"),
    ("fail-safe promote, but a check failed", windows(40, 0, 2500.0, count=4),
     {"extensions": 3, "on_insufficient_data": "promote"}, Verdict.ROLLBACK,
     "rollback (insufficient data after 3 extensions, and a check failed): latency_p95"),
    ("no extensions allowed", FEW, {"max_extensions": 0}, Verdict.ROLLBACK,
     "rollback (on_insufficient_data after 0 extensions)"),
    ("one extension allowed", FEW, {"max_extensions": 1, "extensions": 1}, Verdict.ROLLBACK,
     "rollback (on_insufficient_data after 1 extension)"),
    ("enough traffic but no green p95", windows(1000, 1, None), {}, Verdict.EXTEND,
     "extend (1 of 3): latency_p95: no p95 latency for green"),
    ("low traffic never rolls back on the numbers while extensions remain", windows(40, 20, 5000.0, count=4), {},
     Verdict.EXTEND, "extend (1 of 3)"),
]


@pytest.mark.parametrize(("case", "green", "kwargs", "verdict", "prefix"), TRAFFIC_CASES,
                         ids=[c[0] for c in TRAFFIC_CASES])
def test_traffic_and_extensions(case: str, green: list[CanarySample], kwargs: dict[str, Any], verdict: Verdict,
                                prefix: str) -> None:
    # GIVEN a healthy blue and green's traffic of the case / WHEN analysed after some extensions
    result = judge(BLUE, green, **kwargs)
    # THEN extend while data is short and extensions remain, then the fail-safe
    assert result.verdict is verdict, result.summary
    assert result.summary.startswith(prefix), result.summary


def test_no_green_traffic_leaves_every_green_check_without_data() -> None:
    result = judge(BLUE, [])
    assert outcomes(result) == {
        "alarms": "not_applicable", "min_requests": "insufficient_data", "error_rate": "insufficient_data",
        "error_rate_vs_baseline": "insufficient_data", "latency_p95": "insufficient_data",
        "latency_p95_vs_baseline": "insufficient_data"}


def test_negative_extensions_are_refused() -> None:
    with pytest.raises(CanaryInputError, match="extensions_so_far must be >= 0"):
        judge(BLUE, GREEN, extensions=-1)


def test_an_unknown_alarm_state_is_refused() -> None:
    with pytest.raises(CanaryInputError, match="alarm 'a': unknown state 'FIRING'"):
        judge(BLUE, GREEN, states={"a": "FIRING"}, alarms=("a",))


# --- error rate: the ceiling (exact binomial test) -----------------------------------------------------------------

CEILING_CASES = [
    # (green requests, green 5xx, max_error_rate, outcome): blue fails at green's rate, so only the ceiling differs
    (1000, 10, 0.01, Outcome.PASS),  # at the ceiling
    (1000, 15, 0.01, Outcome.PASS),  # 1.5%, but not significantly above 1% on 1000 requests (p = 0.08)
    (5000, 75, 0.01, Outcome.FAIL),  # 1.5% on 5000 requests is (p = 0.0005)
    (1000, 20, 0.01, Outcome.FAIL),  # 2% on 1000 (p = 0.003)
    (100, 4, 0.01, Outcome.PASS),  # p = 0.018: not below the 1% significance level
    (100, 5, 0.01, Outcome.FAIL),  # p = 0.0034
    (10, 1, 0.01, Outcome.PASS),  # 1 error in 10 requests: p = 0.096
    (1000, 1, 0.0, Outcome.FAIL),  # a zero ceiling: any error
    (1000, 1000, 1.0, Outcome.PASS),  # a ceiling of 100% never fails
    (1000, 0, 0.0, Outcome.PASS),
]


@pytest.mark.parametrize(("requests", "errors", "ceiling", "outcome"), CEILING_CASES)
def test_error_rate_ceiling(requests: int, errors: int, ceiling: float, outcome: Outcome) -> None:
    # GIVEN green at some 5xx ratio, and blue failing at the same ratio on 9x the traffic
    blue = windows(requests * 9, errors * 9, 180.0)
    green = windows(requests, errors, 180.0)
    # WHEN analysed against the ceiling (min_requests low enough to judge every row)
    result = judge(blue, green, max_error_rate=ceiling, min_requests=10)
    # THEN only a significant excess over the ceiling fails; the comparison with blue passes
    check = result.reasons[2]
    assert (check.check, check.outcome) == ("error_rate", outcome), check.detail
    assert outcomes(result)["error_rate_vs_baseline"] == "pass"
    assert result.verdict is (Verdict.ROLLBACK if outcome is Outcome.FAIL else Verdict.PROMOTE)


def test_ceiling_reasons_show_the_numbers() -> None:
    result = judge(windows(9000, 90), windows(1000, 20), max_error_rate=0.01)
    check = result.reasons[2]
    assert check.observed == {"canary_errors": 20, "canary_requests": 1000, "canary_error_rate": 0.02,
                              "p_value": 0.00328836}
    assert check.threshold == {"max_error_rate": 0.01, "significance": 0.01}
    assert check.detail == "green 2.00% 5xx (20 of 1000) is above the 1.00% ceiling (binomial p=0.0033 < 0.01)"


# --- error rate: against blue (one-sided Fisher exact test, plus a tolerance) --------------------------------------

BASELINE_CASES: list[tuple[str, tuple[int, int], tuple[int, int], Outcome, str]] = [
    # (case, blue (requests, 5xx), green (requests, 5xx), outcome, words): the ceiling is lifted to isolate the check
    ("20 in 1000 against 2 in 1000", (1000, 2), (1000, 20), Outcome.FAIL, "significantly higher (Fisher p=5.6e-05"),
    ("1 in 10 against 0 in 90", (90, 0), (10, 1), Outcome.PASS, "not significantly higher (Fisher p=0.1 >= 0.01)"),
    ("1 in 100 against 0 in 100", (100, 0), (100, 1), Outcome.PASS, "not significantly higher"),
    ("same ratio", (9000, 9), (1000, 1), Outcome.PASS, "not significantly higher"),
    ("0.05% to 0.2%", (10000, 5), (10000, 20), Outcome.FAIL, "above the 0.15% tolerance"),
    ("0.05% to 0.15%: 3x, not significant on 10000 requests", (10000, 5), (10000, 15), Outcome.PASS,
     "not significantly higher (Fisher p=0.021 >= 0.01)"),
    ("0.05% to 0.14%: significant, within the absolute tolerance", (100000, 50), (100000, 140), Outcome.PASS,
     "significant (Fisher p=2.3e-11 < 0.01) but within the 0.15% tolerance"),
    ("5% to 5.8%: significant, within the relative tolerance", (100000, 5000), (100000, 5800), Outcome.PASS,
     "significant (Fisher p=1.3e-15 < 0.01) but within the 10.00% tolerance"),
    ("5% to 10.5%: beyond twice blue's ratio", (100000, 5000), (100000, 10500), Outcome.FAIL, "10.00% tolerance"),
    ("blue served nothing (the 100% step)", (0, 0), (1000, 20), Outcome.NOT_APPLICABLE, "blue served no requests"),
    ("green better than blue", (1000, 20), (1000, 2), Outcome.PASS, "not significantly higher (Fisher p=1"),
]


@pytest.mark.parametrize(("case", "blue", "green", "outcome", "words"), BASELINE_CASES,
                         ids=[c[0] for c in BASELINE_CASES])
def test_error_rate_against_blue(case: str, blue: tuple[int, int], green: tuple[int, int], outcome: Outcome,
                                 words: str) -> None:
    # GIVEN blue's and green's counts / WHEN analysed with the default tolerances
    result = judge(windows(*blue), windows(*green), max_error_rate=1.0, min_requests=10)
    # THEN green fails only when it is significantly and materially worse
    check = result.reasons[3]
    assert (check.check, check.outcome) == ("error_rate_vs_baseline", outcome), check.detail
    assert words in check.detail
    assert result.verdict is (Verdict.ROLLBACK if outcome is Outcome.FAIL else Verdict.PROMOTE)


def test_one_error_in_ten_requests_does_not_roll_back() -> None:
    # GIVEN a canary that has seen 10 requests, one of them a 5xx, against a clean blue
    blue, green = windows(1000, 0), windows(10, 1)
    # WHEN analysed with the default policy / THEN the bake is extended, not rolled back
    assert judge(blue, green).verdict is Verdict.EXTEND
    # and when that traffic is the whole window at 10%, the tests themselves do not call it a regression
    assert judge(windows(90, 0), green, min_requests=10).verdict is Verdict.PROMOTE


def test_twenty_in_a_thousand_against_two_in_a_thousand_rolls_back() -> None:
    result = judge(windows(1000, 2), windows(1000, 20))
    assert result.verdict is Verdict.ROLLBACK
    assert [r.check for r in result.reasons if not r.passed] == ["error_rate", "error_rate_vs_baseline"]


def test_tolerance_is_the_larger_of_the_absolute_and_relative_allowance() -> None:
    # blue 0.05%: +0.1 point (0.15%) beats 2x (0.1%); blue 2%: 2x (4%) beats +0.1 point (2.1%)
    assert judge(windows(10000, 5), GREEN).statistics.error_rate_tolerance == 0.0015
    assert judge(windows(10000, 200), GREEN, max_error_rate=1.0).statistics.error_rate_tolerance == 0.04
    assert judge(windows(10000, 200), GREEN, max_error_rate_ratio=3.0).statistics.error_rate_tolerance == 0.06
    assert judge(windows(10000, 5), GREEN, max_error_rate_increase=0.01).statistics.error_rate_tolerance == 0.0105


def test_a_stricter_significance_needs_more_evidence() -> None:
    # GIVEN 0.05% -> 0.2% on 10000 requests each (Fisher p = 0.0021)
    blue, green = windows(10000, 5), windows(10000, 20)
    # WHEN judged at 1% (the default) and at 0.1% / THEN only the first rolls back
    assert judge(blue, green).verdict is Verdict.ROLLBACK
    assert judge(blue, green, significance=0.001).verdict is Verdict.PROMOTE


def test_error_ratio_is_null_when_blue_had_no_errors() -> None:
    result = judge(windows(9000, 0), windows(1000, 3))
    assert result.statistics.error_rate_ratio is None
    assert result.reasons[3].observed["ratio"] is None
    json.dumps(result.model_dump(mode="json"), allow_nan=False)


# --- latency p95 ---------------------------------------------------------------------------------------------------

LATENCY_CASES: list[tuple[str, float | None, float | None, str, str]] = [
    # (case, blue p95, green p95, latency_p95 outcome, latency_p95_vs_baseline outcome)
    ("same", 180.0, 185.0, "pass", "pass"),
    ("above the 2 s ceiling", 1900.0, 2500.0, "fail", "pass"),
    ("at the ceiling", 1900.0, 2000.0, "pass", "pass"),
    ("1.55x and +110 ms", 200.0, 310.0, "pass", "fail"),
    ("exactly 1.5x", 200.0, 300.0, "pass", "pass"),
    ("3x but under the noise floor", 20.0, 60.0, "pass", "pass"),
    ("+100 ms exactly (the floor) at 2x", 100.0, 200.0, "pass", "pass"),
    ("blue has no p95", None, 185.0, "pass", "not_applicable"),
    ("blue at 0 ms", 0.0, 150.0, "pass", "fail"),
    ("green has no p95", 180.0, None, "insufficient_data", "insufficient_data"),
]


@pytest.mark.parametrize(("case", "blue_p95", "green_p95", "ceiling", "relative"), LATENCY_CASES,
                         ids=[c[0] for c in LATENCY_CASES])
def test_latency(case: str, blue_p95: float | None, green_p95: float | None, ceiling: str, relative: str) -> None:
    # GIVEN blue and green with the p95 latencies of the case / WHEN analysed
    result = judge(windows(9000, 9, blue_p95), windows(1000, 1, green_p95))
    # THEN the ceiling and the ratio (above the noise floor) decide
    assert (outcomes(result)["latency_p95"], outcomes(result)["latency_p95_vs_baseline"]) == (ceiling, relative)
    expected = Verdict.EXTEND if "insufficient_data" in ceiling else (
        Verdict.ROLLBACK if "fail" in (ceiling, relative) else Verdict.PROMOTE)
    assert result.verdict is expected, result.summary


def test_latency_thresholds_are_configurable() -> None:
    blue, green = windows(9000, 9, 200.0), windows(1000, 1, 450.0)
    assert judge(blue, green).verdict is Verdict.ROLLBACK
    assert judge(blue, green, max_p95_latency_ratio=2.5).verdict is Verdict.PROMOTE
    assert judge(blue, green, p95_latency_noise_floor_ms=300).verdict is Verdict.PROMOTE
    assert judge(blue, green, max_p95_latency_ms=400, max_p95_latency_ratio=3).verdict is Verdict.ROLLBACK


def test_p95_is_the_request_weighted_mean_of_the_windows() -> None:
    # GIVEN windows of different traffic; a window without requests or without p95 carries no weight
    blue = [sample(100, 0, 100.0), sample(300, 0, 200.0), sample(0, 0, None), sample(50, 0, None)]
    # WHEN pooled / THEN (100*100 + 300*200) / 400
    stats = judge(blue, GREEN).statistics
    assert stats.baseline.p95_latency_ms == 175.0
    assert (stats.baseline.requests, stats.baseline.windows) == (450, 4)


# --- the report ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("green", [GREEN, FEW, [], windows(1000, 100, 3000.0)], ids=["ok", "few", "none", "bad"])
def test_reasons_list_every_check_in_order(green: list[CanarySample]) -> None:
    result = judge(BLUE, green, states={"a": "OK"}, alarms=("a",))
    assert [r.check for r in result.reasons] == CHECK_ORDER
    for reason in result.reasons:
        assert reason.passed == (reason.outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE))
        assert reason.detail
    json.dumps(result.model_dump(mode="json"), allow_nan=False)


def test_the_verdict_carries_the_policy_and_the_statistics() -> None:
    result = judge(BLUE, GREEN, min_requests=500)
    assert result.policy.min_requests == 500
    assert result.statistics.model_dump() == {
        "baseline": {"windows": 5, "requests": 9000, "errors": 9, "error_rate": 0.001, "p95_latency_ms": 180.0},
        "canary": {"windows": 5, "requests": 1000, "errors": 1, "error_rate": 0.001, "p95_latency_ms": 185.0},
        "error_rate_increase": 0.0, "error_rate_ratio": 1.0, "error_rate_tolerance": 0.002,
        "error_rate_p_value": 0.651496, "error_rate_ceiling_p_value": 0.999957,
        "latency_p95_ratio": 1.02778, "latency_p95_increase_ms": 5.0,
    }


# --- the config as analyze takes it --------------------------------------------------------------------------------

CONFIG = CanaryConfig.model_validate({
    "defaults": {"alarms": ["safejob-{environment}-alb-5xx-rate"]},
    "services": {"frontend": {"max_p95_latency_ms": 150, "alarms": ["safejob-{environment}-{service}-down"]}},
})


def test_analyze_resolves_the_service_policy_and_alarm_names() -> None:
    states = {"safejob-staging-frontend-down": "ALARM", "safejob-staging-alb-5xx-rate": "OK"}
    # the defaults: one alarm, OK; p95 185 ms is fine
    assert analyze(BLUE, GREEN, states, CONFIG, environment="staging").verdict is Verdict.PROMOTE
    # the frontend: its own alarm is in ALARM and its ceiling is 150 ms
    result = analyze(BLUE, GREEN, states, CONFIG, service="frontend", environment="staging")
    assert result.verdict is Verdict.ROLLBACK
    assert [r.check for r in result.reasons if not r.passed] == ["alarms", "latency_p95"]
    assert result.policy.alarms == ("safejob-staging-frontend-down",)


def test_analyze_refuses_an_unknown_service_or_a_missing_environment() -> None:
    with pytest.raises(CanaryConfigError, match="unknown service 'worker'; known: frontend"):
        analyze(BLUE, GREEN, {}, CONFIG, service="worker", environment="staging")
    with pytest.raises(CanaryConfigError, match=r"uses \{environment\}: give the environment"):
        analyze(BLUE, GREEN, {}, CONFIG)
