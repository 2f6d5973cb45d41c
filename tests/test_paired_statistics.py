"""The pilot review's paired before/after figures (mecc_volunteer.evaluation.statistics) against numbers worked
out by hand here: the t formula, the order-statistic interval for a median, the Wilcoxon signed-rank null
distribution by enumerating sign flips, and R's normal approximation; then properties over any scores."""

import itertools
import math
import re
import statistics
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mecc_volunteer.evaluation.statistics import METHOD, Interval, PairedChange, paired_change

# Student's t, 97.5th percentile, 7 degrees of freedom (tables; scipy.stats.t.ppf(0.975, 7)).
T_975_DF7 = 2.364624251592785

# Eight people. Changes (after - before): +1, +2, 0, +3, -1, +2, +2, +4.
BEFORE = [3, 4, 5, 2, 6, 5, 4, 3]
AFTER = [4, 6, 5, 5, 5, 7, 6, 7]
EIGHT = list(zip(BEFORE, AFTER, strict=True))


def signed_rank_exact_p(changes: Sequence[float]) -> float:
    """Two-sided p-value of the signed-rank sum, by enumerating every way of flipping the signs of the
    non-zero changes (average ranks for ties): the exact conditional null distribution."""
    nonzero = [c for c in changes if c != 0]
    magnitudes = sorted(abs(c) for c in nonzero)
    ranks = {m: statistics.fmean(i + 1 for i, v in enumerate(magnitudes) if v == m) for m in magnitudes}
    observed = sum(ranks[abs(c)] for c in nonzero if c > 0)
    sums = [
        sum(ranks[abs(c)] for c, positive in zip(nonzero, signs, strict=True) if positive)
        for signs in itertools.product([True, False], repeat=len(nonzero))
    ]
    upper = sum(s >= observed for s in sums) / len(sums)
    lower = sum(s <= observed for s in sums) / len(sums)
    return min(1.0, 2 * min(upper, lower))


def test_a_hand_computed_example_of_eight_people():
    change = paired_change(EIGHT)
    changes = [a - b for b, a in EIGHT]
    assert changes == [1, 2, 0, 3, -1, 2, 2, 4]

    assert change.n == 8
    assert change.mean_before == 4.0  # 32 / 8
    assert change.mean_after == 5.6  # 45 / 8 = 5.625
    assert change.mean_change == 1.6  # 13 / 8 = 1.625

    # t-interval: 1.625 ± t(0.975, 7) * s / √8, s = 1.5980...
    half_width = T_975_DF7 * statistics.stdev(changes) / math.sqrt(8)
    assert round(1.625 - half_width, 3) == 0.289
    assert round(1.625 + half_width, 3) == 2.961
    assert change.mean_change_ci == Interval(0.3, 3.0)

    # Sorted -1, 0, 1, 2, 2, 2, 3, 4: the middle two are 2 and 2. With n = 8, P(Binomial(8, 1/2) < 1) =
    # 1/256 <= 2.5% but P(< 2) = 9/256 > 2.5%, so the interval runs from the smallest to the largest change.
    assert change.median_change == 2.0
    assert sum(math.comb(8, i) for i in range(1)) / 2**8 <= 0.025 < sum(math.comb(8, i) for i in range(2)) / 2**8
    assert change.median_change_ci == Interval(-1.0, 4.0)

    assert (change.improved, change.unchanged, change.declined) == (6, 1, 1)
    assert (change.improved_share, change.unchanged_share, change.declined_share) == (75.0, 12.5, 12.5)

    # The zero is dropped; |changes| 1,2,3,1,2,2,4 rank 1.5,4,6,1.5,4,4,7; the one fall has rank 1.5, so
    # the rank sum of the falls is 1.5 and only 3 of the 2**7 sign patterns are as extreme on that side:
    # p = 2 * 3/128 = 0.046875 (scipy's exact permutation distribution; R would warn about the ties and zero
    # and use its normal approximation instead, p = 0.041).
    assert signed_rank_exact_p(changes) == 0.046875
    assert change.wilcoxon_p == pytest.approx(0.046875, abs=1e-12)
    assert change.p_value_text() == "p = 0.047"
    assert change.explanation() == (
        "The test compares each person's score after the training with their own score before it. "
        "A change this large would be unlikely (p = 0.047) if the training made no difference, "
        "so it is unlikely to be chance alone."
    )


def test_no_ties_uses_the_exact_signed_rank_distribution():
    # Changes +1, -2, +3, +4, +5, +6: the falls' rank sum is 2, and 3 of the 64 subsets of ranks 1-6 sum
    # to 2 or less ({}, {1}, {2}): p = 2 * 3/64 = 0.09375.
    change = paired_change([(0, 1), (5, 3), (2, 5), (1, 5), (4, 9), (3, 9)])
    assert signed_rank_exact_p([1, -2, 3, 4, 5, 6]) == 0.09375
    assert change.wilcoxon_p == pytest.approx(0.09375, abs=1e-12)
    assert change.p_value_text() == "p = 0.094"
    assert change.explanation() == (
        "The test compares each person's score after the training with their own score before it. "
        "A change like this could easily happen by chance (p = 0.094), so these figures alone do not show "
        "that the training made a difference."
    )


def test_twenty_people_with_ties_use_the_normal_approximation_as_r_does():
    # 20 people: 12 up by 1, 4 up by 2, 2 unchanged, 2 down by 1. More than 13 people with ties, so scipy
    # uses R's normal approximation (wilcox.test(..., correct = TRUE)) on the 18 non-zero changes.
    changes = [1] * 12 + [2] * 4 + [0] * 2 + [-1] * 2
    change = paired_change([(5, 5 + c) for c in changes])
    # |changes| 1 (14 of them) rank 7.5 each; 2 (4 of them) rank 16.5 each.
    count = 18
    rank_sum_up = 12 * 7.5 + 4 * 16.5
    mean = count * (count + 1) / 4
    ties = (14**3 - 14) + (4**3 - 4)
    sd = math.sqrt(count * (count + 1) * (2 * count + 1) / 24 - ties / 48)
    z = (abs(rank_sum_up - mean) - 0.5) / sd
    expected = math.erfc(z / math.sqrt(2))  # two-sided normal tail, 2 * (1 - Φ(z))
    assert change.wilcoxon_p == pytest.approx(expected, rel=1e-9)
    assert round(expected, 5) == 0.00123
    assert change.p_value_text() == "p = 0.001"
    assert "unlikely (p = 0.001)" in change.explanation()
    assert (change.improved, change.unchanged, change.declined) == (16, 2, 2)
    assert paired_change([(5, 5 + c) for c in changes * 3]).p_value_text() == "p < 0.001"


def wilcoxon_auto_p(pairs: Sequence[tuple[float, float]]) -> float:
    changes = [a - b for b, a in pairs]
    return float(stats.wilcoxon(changes, zero_method="wilcox", correction=True, method="auto").pvalue)


@pytest.mark.parametrize("size", [13, 14])
def test_the_fast_sign_flip_test_gives_what_wilcoxon_gives(size):
    # Ties and a zero: exact sign flips up to 13 people (computed faster than scipy.stats.wilcoxon does it),
    # the normal approximation from 14.
    pairs = [(5, 5 + c) for c in ([3, 1, 1, 2, -1, 0, 2, 4, -2, 1, 1, 3, 2, 1][:size])]
    assert paired_change(pairs).wilcoxon_p == pytest.approx(wilcoxon_auto_p(pairs), rel=1e-12)


def test_no_pairs():
    change = paired_change([])
    assert change == PairedChange(
        n=0,
        mean_before=None,
        mean_after=None,
        mean_change=None,
        mean_change_ci=None,
        median_change=None,
        median_change_ci=None,
        improved=0,
        unchanged=0,
        declined=0,
        wilcoxon_p=None,
    )
    assert (change.improved_share, change.unchanged_share, change.declined_share) == (0.0, 0.0, 0.0)
    assert change.p_value_text() == ""
    assert change.explanation() == "Too few people to test the change."


def test_one_pair_gives_its_figures_but_no_interval_or_test():
    change = paired_change([(3, 7)])
    assert (change.n, change.mean_before, change.mean_after, change.mean_change) == (1, 3.0, 7.0, 4.0)
    assert change.median_change == 4.0
    assert change.mean_change_ci is None
    assert change.median_change_ci is None
    assert (change.improved, change.unchanged, change.declined) == (1, 0, 0)
    assert change.improved_share == 100.0
    assert change.wilcoxon_p is None
    assert change.p_value_text() == ""
    assert change.explanation() == "Too few people to test the change."


def test_nobody_changed():
    change = paired_change([(s, s) for s in [0, 3, 5, 5, 8, 10]])
    assert change.mean_change == 0.0
    assert change.mean_change_ci == Interval(0.0, 0.0)
    assert change.median_change_ci == Interval(0.0, 0.0)
    assert (change.improved, change.unchanged, change.declined) == (0, 6, 0)
    assert change.unchanged_share == 100.0
    assert change.wilcoxon_p is None
    assert change.p_value_text() == ""
    assert change.explanation() == "Nobody's score changed, so there is no change to test."


def test_everyone_changing_by_the_same_amount_has_an_interval_of_that_one_value():
    change = paired_change([(s, s + 1) for s in [1, 2, 3, 4, 5]])
    assert change.mean_change_ci == Interval(1.0, 1.0)
    assert change.median_change_ci is None  # 5 people: P(Binomial(5, 1/2) < 1) = 1/32 > 2.5%
    # All five up, tied: 1 of the 32 sign patterns on each side, p = 2/32.
    assert change.wilcoxon_p == pytest.approx(0.0625, abs=1e-12)
    assert change.p_value_text() == "p = 0.063"
    assert "could easily happen by chance (p = 0.063)" in change.explanation()


def test_rounding_is_half_away_from_zero_and_never_negative_zero():
    # Means of 2.25 and -0.25: Python's round() gives 2.2 and -0.2 (half to even); a spreadsheet gives 2.3
    # and -0.3.
    change = paired_change([(2, 2), (2, 2), (2, 2), (3, 2)])
    assert change.mean_before == 2.3
    assert change.mean_after == 2.0
    assert change.mean_change == -0.3
    # 0.35 is stored as 0.34999...: it still rounds as the 0.35 an evaluator sees.
    assert paired_change([(0, 0.35)]).mean_change == 0.4
    # -1/30 rounds to 0.0, not -0.0.
    tiny = paired_change([(1, 1)] * 29 + [(1, 0)])
    assert tiny.mean_change == 0.0
    assert math.copysign(1, tiny.mean_change) == 1
    assert PairedChange(3, None, None, None, None, None, None, 1, 1, 1, None).improved_share == 33.3
    assert PairedChange(8, None, None, None, None, None, None, 1, 7, 0, None).improved_share == 12.5


def test_p_value_text_and_the_words_agree_at_the_threshold():
    def with_p(p: float) -> PairedChange:
        return PairedChange(10, 5.0, 6.0, 1.0, Interval(0.0, 2.0), 1.0, None, 5, 3, 2, p)

    assert with_p(0.0004).p_value_text() == "p < 0.001"
    assert with_p(0.0012).p_value_text() == "p = 0.001"
    assert with_p(0.034).p_value_text() == "p = 0.034"
    assert with_p(1.0).p_value_text() == "p = 1.000"
    assert "unlikely to be chance alone" in with_p(0.0494).explanation()
    # Shown as 0.050, so the words must not call it below 0.05.
    assert with_p(0.0496).p_value_text() == "p = 0.050"
    assert "could easily happen by chance (p = 0.050)" in with_p(0.0496).explanation()


def test_the_method_note_names_what_the_code_calls():
    note = " ".join(METHOD)
    assert all(isinstance(sentence, str) and sentence.endswith(".") for sentence in METHOD)
    for part in ("ttest_1samp", "quantile_test", 'zero_method="wilcox"', "correction=True", "two-sided", "half away"):
        assert part in note


scores = st.integers(min_value=0, max_value=10)
tenths = st.integers(min_value=0, max_value=100).map(lambda t: t / 10)


def check_consistent(pairs: list[tuple[float, float]]) -> None:
    change = paired_change(pairs)
    n = len(pairs)
    assert change.n == n
    assert change.improved + change.unchanged + change.declined == n
    assert change.improved == sum(a > b for b, a in pairs)
    if n == 0:
        return
    assert change.mean_change is not None
    assert change.mean_before is not None
    assert change.mean_after is not None
    assert abs(change.mean_change - (change.mean_after - change.mean_before)) <= 0.1 + 1e-9
    assert abs(change.improved_share + change.unchanged_share + change.declined_share - 100) <= 0.15 + 1e-9
    if n >= 2:
        assert change.mean_change_ci is not None
        assert change.mean_change_ci.low <= change.mean_change <= change.mean_change_ci.high
    else:
        assert change.mean_change_ci is None
    if change.median_change_ci is not None:
        assert change.median_change is not None
        assert change.median_change_ci.low <= change.median_change <= change.median_change_ci.high
    assert (change.median_change_ci is None) == (n <= 5)
    if n < 2 or change.unchanged == n:
        assert change.wilcoxon_p is None
    else:
        assert change.wilcoxon_p is not None
        assert 0 <= change.wilcoxon_p <= 1
        assert isinstance(change.wilcoxon_p, float)
        assert re.fullmatch(r"p (< 0\.001|= [01]\.\d{3})", change.p_value_text())
        assert change.explanation().startswith("The test compares each person's score")

    # Swapping before and after mirrors every figure.
    mirror = paired_change([(a, b) for b, a in pairs])
    assert mirror.mean_change == -change.mean_change
    assert (mirror.improved, mirror.declined) == (change.declined, change.improved)
    if change.mean_change_ci is not None:
        assert mirror.mean_change_ci == Interval(-change.mean_change_ci.high, -change.mean_change_ci.low)
    if change.wilcoxon_p is not None:
        assert mirror.wilcoxon_p == pytest.approx(change.wilcoxon_p, rel=1e-9)


@given(st.lists(st.tuples(scores, scores), max_size=60))
def test_figures_are_consistent_for_any_whole_scores(pairs):
    check_consistent(pairs)


@given(st.lists(st.tuples(tenths, tenths), max_size=30))
def test_figures_are_consistent_for_scores_in_tenths(pairs):
    check_consistent(pairs)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(scores, scores), min_size=2, max_size=9))
def test_the_p_value_is_what_scipy_wilcoxon_gives(pairs):
    changes = [a - b for b, a in pairs]
    if not any(changes):
        assert paired_change(pairs).wilcoxon_p is None
    else:
        assert paired_change(pairs).wilcoxon_p == pytest.approx(wilcoxon_auto_p(pairs), rel=1e-12)


@pytest.mark.parametrize("n", range(1, 41))
def test_the_median_interval_is_the_binomial_order_statistics(n):
    # Changes -3, -2, ..., n - 4 (in a scrambled order): the k-th smallest to the k-th largest, k the largest
    # whole number with P(Binomial(n, 1/2) < k) <= 2.5%; none when k is 0.
    changes = [(7 * i) % n - 3 for i in range(n)] if n % 7 else [i - 3 for i in range(n)]
    ordered = sorted(changes)
    assert ordered == [i - 3 for i in range(n)]
    k = 0
    while sum(math.comb(n, i) for i in range(k + 1)) / 2**n <= 0.025:
        k += 1
    expected = Interval(float(ordered[k - 1]), float(ordered[n - k])) if k else None
    assert paired_change([(5, 5 + c) for c in changes]).median_change_ci == expected
