"""Alertmanager-style label matchers: `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`.

Regexes are fully anchored, as in Alertmanager (`=~"crit.*"` matches "critical", not "subcritical"), and a label that
is absent matches as the empty string (so `team=""` selects alerts without a team).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

_NAME = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*")
_FIX = 'fix: write it as name<op>"value" with op one of =, !=, =~, !~ (e.g. severity=~"critical|warning")'


class MatcherError(ValueError):
    """A matcher string that cannot be parsed; the message says what is wrong and how to fix it."""


class MatchType(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


# Longest operators first so that "=~" is not read as "=" followed by "~...".
_OPS: tuple[MatchType, ...] = (MatchType.REGEX, MatchType.NOT_EQUAL, MatchType.NOT_REGEX, MatchType.EQUAL)
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher.

    >>> m = Matcher.parse('severity=~"crit.*"')
    >>> m.matches({"severity": "critical"}), m.matches({"severity": "warning"}), str(m)
    (True, False, 'severity=~"crit.*"')
    """

    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                compiled = re.compile(self.value)
            except re.error as exc:
                raise MatcherError(
                    f"invalid matcher {str(self)!r}: bad regular expression: {exc}; "
                    "fix: correct the regex (it is anchored at both ends, like Alertmanager's)"
                ) from exc
            object.__setattr__(self, "_regex", compiled)

    @staticmethod
    def parse(text: str) -> Matcher:
        """Parse `name<op>value`; the value may be double-quoted (with \\", \\\\ and \\n escapes) or bare."""
        return _parse_cached(text)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set satisfies this matcher (a missing label is "")."""
        actual = labels.get(self.name, "")
        match self.type:
            case MatchType.EQUAL:
                return actual == self.value
            case MatchType.NOT_EQUAL:
                return actual != self.value
            case MatchType.REGEX:
                return self._regex is not None and self._regex.fullmatch(actual) is not None
            case MatchType.NOT_REGEX:
                return self._regex is None or self._regex.fullmatch(actual) is None

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.type.value}"{escaped}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (an empty list matches everything).

    >>> matches_all(parse_matchers(['team="data"', 'service=~"db.*"']), {"team": "data", "service": "db-replica"})
    True
    """
    return all(m.matches(labels) for m in matchers)


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Parse several matcher strings, raising MatcherError on the first invalid one.

    >>> [str(m) for m in parse_matchers(["a=b", 'c!~"x|y"'])]
    ['a="b"', 'c!~"x|y"']
    """
    return tuple(Matcher.parse(t) for t in texts)


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Matcher:
    name_match = _NAME.match(text)
    if name_match is None:
        raise MatcherError(f"invalid matcher {text!r}: expected a label name ([a-zA-Z_][a-zA-Z0-9_]*) first; {_FIX}")
    name = name_match.group(1)
    rest = text[name_match.end() :]
    op = next((o for o in _OPS if rest.startswith(o.value)), None)
    if op is None:
        raise MatcherError(f"invalid matcher {text!r}: expected an operator after {name!r}; {_FIX}")
    raw = rest[len(op.value) :].strip()
    value = _unquote(text, raw) if raw.startswith('"') else raw
    if not raw.startswith('"') and '"' in raw:
        raise MatcherError(f"invalid matcher {text!r}: stray double quote in an unquoted value; {_FIX}")
    if op in (MatchType.REGEX, MatchType.NOT_REGEX):
        try:
            re.compile(value)
        except re.error as exc:
            raise MatcherError(
                f"invalid matcher {text!r}: bad regular expression: {exc}; "
                "fix: correct the regex (it is anchored at both ends, like Alertmanager's)"
            ) from exc
    return Matcher(name=name, type=op, value=value)


def _unquote(text: str, raw: str) -> str:
    out: list[str] = []
    i = 1
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            if i + 1 >= len(raw) or raw[i + 1] not in _UNESCAPE:
                raise MatcherError(
                    f'invalid matcher {text!r}: bad escape in quoted value (use \\", \\\\ or \\n); {_FIX}'
                )
            out.append(_UNESCAPE[raw[i + 1]])
            i += 2
            continue
        if ch == '"':
            if raw[i + 1 :].strip():
                raise MatcherError(f"invalid matcher {text!r}: text after the closing quote; {_FIX}")
            return "".join(out)
        out.append(ch)
        i += 1
    raise MatcherError(f"invalid matcher {text!r}: unterminated quoted value; {_FIX}")
