"""The two exact tests behind the error-rate checks, in pure Python: checked against exact rational arithmetic on
small tables, against published values, and against their own complements on large counts."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safejob_ops.deploy.canary import binomial_upper_tail, fisher_exact_greater


def exact_fisher(a: int, n1: int, b: int, n2: int) -> Fraction:
    """P(X >= a), X hypergeometric: the definition, in exact arithmetic."""
    errors, total = a + b, n1 + n2
    tail = sum(comb(errors, x) * comb(total - errors, n1 - x) for x in range(a, min(n1, errors) + 1))
    return Fraction(tail, comb(total, n1))


def exact_binomial(k: int, n: int, p: Fraction) -> Fraction:
    return sum((comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(max(k, 0), n + 1)), Fraction(0))


# --- published values ----------------------------------------------------------------------------------------------


def test_fisher_tea_tasting() -> None:
    # Fisher's lady tasting tea: 3 of 4 cups right, one-sided p = 17/70
    assert fisher_exact_greater(3, 4, 1, 4) == pytest.approx(17 / 70, rel=1e-12)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ((20, 1000, 2, 1000), 5.60066459865e-5),  # the example: rolls back
        ((1, 10, 0, 10), 0.5),  # 1 error in 10 against none in 10: a coin flip
        ((1, 10, 0, 90), 0.1),  # ... against none in 90 (a 10% step)
        ((1, 10, 0, 1000), 10 / 1010),  # ... against none in 1000: why min_requests matters
        ((5800, 100_000, 5000, 100_000), 1.30636533968e-15),
        ((5010, 1_000_000, 45_000, 9_000_000), 0.448696283927),  # mpmath, 40 digits
    ],
)
def test_fisher_known_values(table: tuple[int, int, int, int], expected: float) -> None:
    assert fisher_exact_greater(*table) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [
        (1, 10, 0.01, 1 - 0.99**10),
        (15, 1000, 0.01, 0.0824123195161),
        (75, 5000, 0.01, 0.000541479998753),
        (10_100, 1_000_000, 0.01, 0.158651232146),  # mpmath, 40 digits
        (9_900, 1_000_000, 0.01, 0.843776413754),
    ],
)
def test_binomial_known_values(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_upper_tail(k, n, p) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [(0, 10, 0.5, 1.0), (-1, 10, 0.5, 1.0), (11, 10, 0.5, 0.0), (1, 10, 0.0, 0.0), (0, 10, 0.0, 1.0),
     (10, 10, 1.0, 1.0), (1, 0, 0.5, 0.0), (0, 0, 0.5, 1.0)],
)
def test_binomial_edges(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_upper_tail(k, n, p) == expected


@pytest.mark.parametrize(
    ("table", "expected"),
    [((0, 10, 0, 10), 1.0), ((0, 10, 5, 10), 1.0), ((10, 10, 0, 0), 1.0), ((10, 10, 10, 10), 1.0),
     ((3, 3, 0, 3), 0.05)],
)
def test_fisher_edges(table: tuple[int, int, int, int], expected: float) -> None:
    assert fisher_exact_greater(*table) == pytest.approx(expected, rel=1e-12)


# --- against exact arithmetic --------------------------------------------------------------------------------------

tables = st.integers(0, 40).flatmap(lambda n1: st.integers(0, 40).flatmap(lambda n2: st.tuples(
    st.integers(0, n1), st.just(n1), st.integers(0, n2), st.just(n2))))


@settings(max_examples=300, deadline=None)
@given(tables)
def test_fisher_matches_the_definition(table: tuple[int, int, int, int]) -> None:
    assert fisher_exact_greater(*table) == pytest.approx(float(exact_fisher(*table)), rel=1e-9, abs=1e-15)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 60), data=st.data(), p=st.sampled_from([Fraction(1, 1000), Fraction(1, 100), Fraction(1, 20),
                                                                 Fraction(1, 3), Fraction(9, 10)]))
def test_binomial_matches_the_definition(n: int, data: st.DataObject, p: Fraction) -> None:
    k = data.draw(st.integers(0, n))
    assert binomial_upper_tail(k, n, float(p)) == pytest.approx(float(exact_binomial(k, n, p)), rel=1e-9, abs=1e-15)


# --- large counts: each tail against its complement (the two summation branches check each other) ------------------


@settings(max_examples=100, deadline=None)
@given(n1=st.integers(1, 2_000_000), n2=st.integers(1, 2_000_000), rate1=st.floats(0, 0.2), rate2=st.floats(0, 0.2))
def test_fisher_tails_add_up_on_large_counts(n1: int, n2: int, rate1: float, rate2: float) -> None:
    a, b = round(n1 * rate1), round(n2 * rate2)
    upper = fisher_exact_greater(a, n1, b, n2)
    # P(green >= a) + P(green <= a - 1) = 1, and green <= a - 1 is blue >= b + 1
    lower = fisher_exact_greater(b + 1, n2, a - 1, n1) if a > 0 else 0.0
    assert 0.0 <= upper <= 1.0
    assert upper + lower == pytest.approx(1.0, abs=1e-8)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 5_000_000), p=st.floats(0.0001, 0.5), shift=st.floats(-5, 5))
def test_binomial_tails_add_up_on_large_counts(n: int, p: float, shift: float) -> None:
    k = min(n, max(0, round(n * p + shift * (n * p * (1 - p)) ** 0.5)))
    upper = binomial_upper_tail(k, n, p)
    lower = binomial_upper_tail(n - k + 1, n, 1 - p)  # P(X <= k - 1) = P(n - X >= n - k + 1)
    assert upper + lower == pytest.approx(1.0, abs=1e-8)


# --- the direction of the evidence ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(tables)
def test_more_green_errors_never_weaken_the_evidence(table: tuple[int, int, int, int]) -> None:
    a, n1, b, n2 = table
    if a < n1:
        assert fisher_exact_greater(a + 1, n1, b, n2) <= fisher_exact_greater(a, n1, b, n2) * (1 + 1e-9)
    if b < n2:
        assert fisher_exact_greater(a, n1, b + 1, n2) >= fisher_exact_greater(a, n1, b, n2) * (1 - 1e-9)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 100_000), data=st.data(), p=st.floats(0, 1))
def test_binomial_tail_falls_with_k(n: int, data: st.DataObject, p: float) -> None:
    k = data.draw(st.integers(0, n - 1))
    assert binomial_upper_tail(k + 1, n, p) <= binomial_upper_tail(k, n, p) * (1 + 1e-9)
