"""The paired before/after change the pilot review shows for confidence and knowledge (self-rated 0-10).

Pure: no database, no Flask. Each pair is one person's (before, after) score. The figures come from
scipy.stats, so an evaluator can rebuild them from the downloaded CSV with the same calls (or with R), and
every figure is rounded in one place (`_round`), half away from zero as a spreadsheet's ROUND does.
`METHOD` says in plain English how each figure is computed, for the evaluator pack's method note.
"""

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

CONFIDENCE_LEVEL = 0.95
SIGNIFICANCE_LEVEL = 0.05
# scipy.stats.wilcoxon(method="auto") tests ties or zeros exactly, by sign flips, up to this many changes.
WILCOXON_PERMUTATION_MAX = 13

METHOD = (
    (
        "Pairs: a person counts once, and only when they gave both a before score and an after score to the "
        "same question; n is the number of such people."
    ),
    "Each person's change is their after score minus their own before score.",
    "Means of the before scores, of the after scores and of the changes are plain arithmetic means.",
    (
        "Improved, unchanged and declined count the people whose after score is higher than, equal to or lower "
        "than their before score; each share is that count as a percentage of n."
    ),
    (
        "The 95% interval for the mean change is the t-interval: the mean change plus or minus the 97.5th "
        "percentile of Student's t distribution with n - 1 degrees of freedom times the standard error (the "
        "sample standard deviation of the changes, with n - 1 below the line, over the square root of n), from "
        "scipy.stats.ttest_1samp(changes, 0).confidence_interval(0.95). It needs at least 2 people; when every "
        "change is the same the interval is that single value."
    ),
    "The median change is the median of the changes (the mean of the middle two when n is even).",
    (
        "The 95% interval for the median change is distribution-free: from the k-th smallest to the k-th "
        "largest change, where k is the largest whole number for which the chance of a Binomial(n, 1/2) count "
        "being below k is at most 2.5%, so it covers the true median at least 95% of the time, from "
        "scipy.stats.quantile_test(changes, q=median, p=0.5).confidence_interval(0.95). With 5 or fewer "
        "people no such interval exists and none is shown."
    ),
    (
        "The p-value is from the two-sided Wilcoxon signed-rank test of the changes, "
        'scipy.stats.wilcoxon(changes, zero_method="wilcox", correction=True, method="auto"): people whose '
        "score did not change are left out, as R's wilcox.test does. With at most 50 people and no ties or "
        "unchanged scores the p-value is exact; with ties or unchanged scores and at most 13 people it is exact "
        "over every way of flipping the signs of the changes (worked out with scipy.stats.permutation_test, as "
        "wilcoxon does itself, only faster; the value is the same); otherwise it is the normal approximation "
        "with the tie correction and a continuity correction (as R's wilcox.test with correct = TRUE). There "
        "is no p-value with fewer than 2 people or when nobody's score changed."
    ),
    (
        "Rounding: means, medians, intervals and shares are rounded to 1 decimal place, and p-values to 3 "
        "decimal places (shown as p < 0.001 below that), half away from zero as a spreadsheet's ROUND does, "
        "after all the calculation is done on unrounded scores."
    ),
    (
        "The words beside a p-value call a change unlikely to be chance alone when the p-value, as shown to "
        "3 decimal places, is below 0.05."
    ),
)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class PairedChange:
    n: int
    mean_before: float | None
    mean_after: float | None
    mean_change: float | None
    mean_change_ci: Interval | None
    median_change: float | None
    median_change_ci: Interval | None
    improved: int
    unchanged: int
    declined: int
    wilcoxon_p: float | None

    def share(self, count: int) -> float:
        """`count` as a percentage of n, 1 dp; 0.0 when nobody is paired."""
        return _round(100 * count / self.n) if self.n else 0.0

    @property
    def improved_share(self) -> float:
        return self.share(self.improved)

    @property
    def unchanged_share(self) -> float:
        return self.share(self.unchanged)

    @property
    def declined_share(self) -> float:
        return self.share(self.declined)

    def p_value_text(self) -> str:
        if self.wilcoxon_p is None:
            return ""
        shown = _round(self.wilcoxon_p, 3)
        return "p < 0.001" if shown < 0.001 else f"p = {shown:.3f}"

    def explanation(self) -> str:
        if self.n < 2:
            return "Too few people to test the change."
        if self.wilcoxon_p is None:
            return "Nobody's score changed, so there is no change to test."
        compares = "The test compares each person's score after the training with their own score before it."
        if _round(self.wilcoxon_p, 3) < SIGNIFICANCE_LEVEL:
            verdict = (
                f"A change this large would be unlikely ({self.p_value_text()}) if the training made no "
                "difference, so it is unlikely to be chance alone."
            )
        else:
            verdict = (
                f"A change like this could easily happen by chance ({self.p_value_text()}), so these "
                "figures alone do not show that the training made a difference."
            )
        return f"{compares} {verdict}"


def paired_change(pairs: Sequence[tuple[float, float]]) -> PairedChange:
    """The change from before to after for the same people: `pairs` is one (before, after) per person."""
    n = len(pairs)
    if n == 0:
        return PairedChange(
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
    before = np.array([b for b, _ in pairs], dtype=float)
    after = np.array([a for _, a in pairs], dtype=float)
    changes = after - before
    median = float(np.median(changes))
    return PairedChange(
        n=n,
        mean_before=_round(float(np.mean(before))),
        mean_after=_round(float(np.mean(after))),
        mean_change=_round(float(np.mean(changes))),
        mean_change_ci=_mean_interval(changes),
        median_change=_round(median),
        median_change_ci=_median_interval(changes, median),
        improved=int(np.count_nonzero(changes > 0)),
        unchanged=int(np.count_nonzero(changes == 0)),
        declined=int(np.count_nonzero(changes < 0)),
        wilcoxon_p=_wilcoxon_p(changes),
    )


def _mean_interval(changes: np.ndarray) -> Interval | None:
    """The t-interval for the mean change. With every change the same there is no spread, so the interval
    is that value: scipy would warn about the zero variance (and could give nan), so it is not asked."""
    from scipy import stats  # loaded when first needed: scipy takes seconds to import

    if len(changes) < 2:
        return None
    if np.all(changes == changes[0]):
        value = _round(float(changes[0]))
        return Interval(value, value)
    with warnings.catch_warnings():
        # Changes that differ only by floating-point noise (0.1 + 0.2 against 0.3) warn; the interval is
        # still right, and as narrow as that noise.
        warnings.filterwarnings(
            "ignore", message="Precision loss occurred in moment calculation", category=RuntimeWarning
        )
        ci = stats.ttest_1samp(changes, 0.0).confidence_interval(CONFIDENCE_LEVEL)
    return Interval(_round(float(ci.low)), _round(float(ci.high)))


def _median_interval(changes: np.ndarray, median: float) -> Interval | None:
    """The distribution-free interval for the median change; scipy gives nan when n is too small (5 or
    fewer for 95%), and None stands for that."""
    from scipy import stats  # loaded when first needed: scipy takes seconds to import

    ci = stats.quantile_test(changes, q=median, p=0.5).confidence_interval(CONFIDENCE_LEVEL)
    low, high = float(ci.low), float(ci.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return Interval(_round(low), _round(high))


def _wilcoxon_p(changes: np.ndarray) -> float | None:
    """The two-sided Wilcoxon signed-rank p-value, unchanged scores dropped: the value
    scipy.stats.wilcoxon(changes, zero_method="wilcox", correction=True, method="auto") gives. None with fewer
    than 2 people (a single change tests nothing) or when nobody changed (scipy would divide by zero).

    With ties or zeros among at most 13 changes, wilcoxon's "auto" runs an exact sign-flip permutation test
    that calls its statistic once per sign pattern (2**13 calls, over a second for 13 people, for each
    question and each filter of the review). The same test is asked of scipy.stats.permutation_test here
    with the statistic vectorised: the ranks of |change| do not move when signs flip, so the statistic is
    the sum of the ranks of the rises, an unchanged score ranking 0 (dropped)."""
    from scipy import stats  # loaded when first needed: scipy takes seconds to import

    nonzero = changes != 0
    if len(changes) < 2 or not np.any(nonzero):
        return None
    ranks = np.zeros(len(changes))
    ranks[nonzero] = stats.rankdata(np.abs(changes[nonzero]))
    tied_or_zero = not np.all(nonzero) or len(np.unique(ranks)) < len(ranks)
    if tied_or_zero and len(changes) <= WILCOXON_PERMUTATION_MAX:

        def rank_sum_of_rises(signed: np.ndarray, axis: int) -> np.ndarray:
            return np.sum(ranks * (signed > 0), axis=axis)

        result = stats.permutation_test(
            (changes,),
            rank_sum_of_rises,
            permutation_type="samples",
            vectorized=True,
            n_resamples=np.inf,
            alternative="two-sided",
        )
    else:
        result = stats.wilcoxon(changes, zero_method="wilcox", correction=True, alternative="two-sided", method="auto")
    return float(result.pvalue)


def _round(value: float, places: int = 1) -> float:
    """Round half away from zero (2.25 -> 2.3, -2.25 -> -2.3), as a spreadsheet's ROUND does, on the
    shortest decimal form of the float (so 0.35 counts as 0.35, not 0.34999...). Python's round() goes
    half to even instead, and would give 2.2. Negative zero comes out as 0.0."""
    exact = Decimal(repr(float(value)))
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)) + 0.0
