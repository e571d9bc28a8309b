"""Matchers: Alertmanager syntax and semantics (anchored regexes, a missing label is "")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safejob_ops.alerting.matchers import Matcher, MatcherError, MatchType, matches_all, parse_matchers

LABELS = {"alertname": "HighCPU", "severity": "critical", "service": "api", "note": 'say "hi"'}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="critical"', True),
        ("severity=critical", True),
        ('severity!="critical"', False),
        ('severity=~"crit.*"', True),
        ('severity=~"crit"', False),  # anchored: a prefix is not a match
        ('severity=~"ritical"', False),  # anchored at the start too
        ('severity!~"warn.*|info"', True),
        ('team=""', True),  # absent label equals ""
        ('team!=""', False),
        ('team=~".*"', True),
        ('team=~".+"', False),
        ('note="say \\"hi\\""', True),  # escaped quotes
        ('  service  =  "api"  ', True),  # whitespace around
        ('alertname=~"High(CPU|Memory)"', True),
    ],
)
def test_matcher_table(text: str, expected: bool) -> None:
    # GIVEN a matcher string WHEN it is parsed and applied to the labels THEN it matches as Alertmanager would
    assert Matcher.parse(text).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sev=~(", "bad regular expression"),
        ('a="b', "unterminated quoted value"),
        ('a="b" c', "text after the closing quote"),
        ("a", "expected an operator"),
        ("1a=b", "expected a label name"),
        ('a=b"c', "stray double quote"),
        ('a="\\q"', "bad escape"),
    ],
)
def test_invalid_matchers_say_why_and_how_to_fix(text: str, reason: str) -> None:
    # GIVEN an invalid matcher WHEN parsed THEN the error names the text, the reason and a fix
    with pytest.raises(MatcherError) as exc:
        Matcher.parse(text)
    message = str(exc.value)
    assert repr(text) in message
    assert reason in message
    assert "fix:" in message


def test_operators_are_parsed_longest_first() -> None:
    assert Matcher.parse('a=~"x"').type is MatchType.REGEX
    assert Matcher.parse('a!~"x"').type is MatchType.NOT_REGEX
    assert Matcher.parse('a!="x"').type is MatchType.NOT_EQUAL
    assert Matcher.parse('a="~x"') == Matcher("a", MatchType.EQUAL, "~x")


def test_matches_all_and_parse_matchers() -> None:
    matchers = parse_matchers(['severity="critical"', 'service=~"api|web"'])
    assert matches_all(matchers, LABELS)
    assert not matches_all([*matchers, Matcher.parse('team="data"')], LABELS)
    assert matches_all([], {})


names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True)
values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
safe_regexes = st.sampled_from(["", ".*", "a|b", "crit.*", "[0-9]+", "x?y{2}", r"\d+\.\d+", "(a|b)c"])


@given(name=names, value=values, op=st.sampled_from([MatchType.EQUAL, MatchType.NOT_EQUAL]))
def test_equality_matcher_string_round_trips(name: str, value: str, op: MatchType) -> None:
    # GIVEN any equality matcher WHEN rendered and parsed again THEN it is the same matcher
    matcher = Matcher(name, op, value)
    assert Matcher.parse(str(matcher)) == matcher
    assert matcher.matches({name: value}) is (op is MatchType.EQUAL)


@given(name=names, regex=safe_regexes, op=st.sampled_from([MatchType.REGEX, MatchType.NOT_REGEX]))
def test_regex_matcher_string_round_trips(name: str, regex: str, op: MatchType) -> None:
    matcher = Matcher(name, op, regex)
    assert Matcher.parse(str(matcher)) == matcher


@given(value=values)
def test_regex_is_fully_anchored(value: str) -> None:
    # GIVEN a literal regex of a value WHEN matched against the value with a suffix THEN it does not match
    import re

    matcher = Matcher("x", MatchType.REGEX, re.escape(value))
    assert matcher.matches({"x": value})
    assert not matcher.matches({"x": value + "!"})
