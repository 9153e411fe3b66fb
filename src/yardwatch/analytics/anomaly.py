"""Anomaly flags on a count time series: is today's number unprecedented?

Two rules, each judged against the *history* of a date: the earlier dates of the same site and class inside the
look-back window, leaving out counts that are only lower bounds (partial coverage would drag the history down).

- ``max``: the count is above the maximum of the history ("73 where five years never showed more than 20").
- ``zscore``: the robust z-score ``(count - median) / scale`` is at least ``z_threshold``, with
  ``scale = max(1.4826 * MAD, mad_floor, sqrt(median) if poisson_floor)``. The floors matter because histories
  are short: a handful of counts can have a MAD of zero or one (five dates of 6, 7, 6, 8, 7 railcars), and then
  one busy day would look like a five-sigma event. ``sqrt(median)`` is the spread a count of independent
  arrivals has by chance alone (Poisson noise), so a date must stand out from that as well.

Both look upwards only (a build-up is what an analyst is asked about). ``combine="all"`` flags a date when every
enabled rule fires, ``"any"`` when one does; the rules that fired are reported either way. A date with fewer than
``min_history`` earlier counts is never flagged: there is nothing yet to compare with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yardwatch.errors import ConfigError

RULES = ("max", "zscore")
COMBINE = ("all", "any")
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


@dataclass(frozen=True, slots=True)
class AnomalyRules:
    """How dates are flagged (see the module doc).

    Attributes:
        rules: enabled rules, a subset of ``("max", "zscore")``.
        combine: ``"all"`` (every enabled rule must fire) or ``"any"``.
        lookback_days: history window in days before the date; None for all earlier dates.
        min_history: earlier counts needed before a date can be flagged.
        z_threshold: robust z-score at or above which the ``zscore`` rule fires.
        mad_floor: smallest scale (in counts) used for the z-score.
        poisson_floor: also floor the scale at the square root of the history's median.
    """

    rules: tuple[str, ...] = RULES
    combine: str = "all"
    lookback_days: int | None = None
    min_history: int = 5
    z_threshold: float = 3.0
    mad_floor: float = 1.0
    poisson_floor: bool = True

    def __post_init__(self) -> None:
        unknown = [r for r in self.rules if r not in RULES]
        if unknown or not self.rules:
            raise ConfigError(f"anomaly.rules={list(self.rules)}: use one or both of {', '.join(RULES)}")
        if self.combine not in COMBINE:
            raise ConfigError(f"anomaly.combine={self.combine!r}: use one of {', '.join(COMBINE)}")
        if self.lookback_days is not None and self.lookback_days < 1:
            raise ConfigError(f"anomaly.lookback_days={self.lookback_days}: use a positive number of days or null")
        if self.min_history < 1:
            raise ConfigError(f"anomaly.min_history={self.min_history}: use 1 or more")
        if not self.z_threshold > 0 or not self.mad_floor > 0:
            raise ConfigError(f"anomaly.z_threshold={self.z_threshold}, anomaly.mad_floor={self.mad_floor}: "
                              "both must be positive")


@dataclass(frozen=True, slots=True)
class AnomalyCheck:
    """The verdict on one date.

    Attributes:
        flagged: whether the date is an anomaly under the rules.
        fired: the rules that fired (in :data:`RULES` order), whether or not that was enough to flag.
        history_n: earlier counts compared with (0 when too few).
        history_max: their maximum, or None.
        history_median: their median, or None.
        history_mad: their median absolute deviation, or None.
        zscore: the robust z-score, or None.
    """

    flagged: bool
    fired: tuple[str, ...]
    history_n: int
    history_max: float | None
    history_median: float | None
    history_mad: float | None
    zscore: float | None


def check_dates(dates: Sequence[dt.date], counts: Sequence[float], lower_bound: Sequence[bool],
                rules: AnomalyRules) -> list[AnomalyCheck]:
    """Judge every date of one site and class.

    Args:
        dates: ``(N,)`` acquisition dates, ascending, one count per date.
        counts: ``(N,)`` counts.
        lower_bound: ``(N,)`` True where the count is a lower bound (coverage below the threshold).
        rules: the rules.

    Returns:
        ``(N,)`` verdicts in the order of ``dates``.
    """
    ordinals = np.array([d.toordinal() for d in dates], dtype=np.int64)
    if len(ordinals) > 1 and np.any(np.diff(ordinals) <= 0):
        raise ValueError("dates must be strictly ascending")
    values = np.asarray(counts, dtype=np.float64)
    usable = ~np.asarray(lower_bound, dtype=bool)
    checks: list[AnomalyCheck] = []
    for i in range(len(values)):
        earlier = np.arange(len(values)) < i
        if rules.lookback_days is not None:
            earlier &= ordinals >= ordinals[i] - rules.lookback_days
        history = values[earlier & usable]
        if len(history) < rules.min_history:
            checks.append(AnomalyCheck(False, (), len(history), None, None, None, None))
            continue
        peak = float(history.max())
        median = float(np.median(history))
        mad = float(np.median(np.abs(history - median)))
        scale = max(MAD_TO_SIGMA * mad, rules.mad_floor, np.sqrt(median) if rules.poisson_floor else 0.0)
        zscore = (values[i] - median) / scale
        fired = tuple(rule for rule, hit in (("max", values[i] > peak), ("zscore", zscore >= rules.z_threshold))
                      if rule in rules.rules and hit)
        flagged = (len(fired) == len(rules.rules)) if rules.combine == "all" else bool(fired)
        checks.append(AnomalyCheck(flagged, fired, len(history), peak, median, mad, float(zscore)))
    return checks
