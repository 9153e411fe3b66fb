"""The anomaly rules on hand-made series: which dates they flag, and which rule fired."""

from __future__ import annotations

import datetime as dt

import pytest

from yardwatch.analytics.anomaly import AnomalyRules, check_dates
from yardwatch.errors import ConfigError


def _dates(n: int, step_days: int = 30) -> list[dt.date]:
    return [dt.date(2019, 1, 1) + dt.timedelta(days=step_days * i) for i in range(n)]


def _flags(counts, rules=AnomalyRules(), lower=None, step_days=30):
    checks = check_dates(_dates(len(counts), step_days), counts, lower or [False] * len(counts), rules)
    return [i for i, c in enumerate(checks) if c.flagged], checks


def test_seventy_three_against_five_years_of_at_most_twenty():
    counts = [12, 15, 9, 20, 14, 11, 18, 16, 13, 17, 73]
    flagged, checks = _flags(counts)
    assert flagged == [10]
    last = checks[10]
    assert last.fired == ("max", "zscore") and last.history_max == 20 and last.history_n == 10
    assert last.history_median == 14.5 and last.history_mad == 2.5
    assert last.zscore == pytest.approx((73 - 14.5) / max(1.4826 * 2.5, 14.5 ** 0.5))


def test_a_new_maximum_alone_is_not_enough_with_combine_all():
    counts = [10, 11, 12, 10, 11, 13]  # 13 is a new maximum, z = 2 / max(1.48, sqrt 11) < 3
    flagged, checks = _flags(counts)
    assert flagged == [] and checks[5].fired == ("max",)
    flagged_any, _ = _flags(counts, AnomalyRules(combine="any"))
    assert flagged_any == [5]
    only_max, _ = _flags(counts, AnomalyRules(rules=("max",)))
    assert only_max == [5]


def test_zscore_alone_flags_a_high_count_below_an_old_maximum():
    counts = [60, 10, 11, 10, 12, 11, 10, 11, 30]  # 30 < 60 but far above the usual 10-12
    flagged, checks = _flags(counts, AnomalyRules(rules=("zscore",)))
    assert flagged == [8] and checks[8].fired == ("zscore",)
    assert _flags(counts)[0] == []  # with both rules: not above the maximum


def test_lookback_window_forgets_old_peaks():
    counts = [60, 10, 11, 10, 12, 11, 10, 11, 40]
    assert _flags(counts)[0] == []
    flagged, checks = _flags(counts, AnomalyRules(lookback_days=200))  # only the last 6 dates (30 days apart)
    assert flagged == [8] and checks[8].history_max == 12 and checks[8].history_n == 6


def test_short_histories_and_lower_bounds_are_not_judged():
    flagged, checks = _flags([1, 2, 3, 4, 50])
    assert flagged == [] and checks[4].history_n == 4  # min_history 5
    lower = [False, False, False, True, False, False, False]
    flagged, checks = _flags([10, 10, 11, 2, 10, 10, 40], lower=lower)
    assert checks[6].history_n == 5  # the lower bound is not history
    assert checks[5].history_n == 4 and checks[5].flagged is False


def test_floors_keep_a_constant_history_from_flagging_one_more():
    counts = [10] * 8 + [11, 20]
    flagged, checks = _flags(counts)
    assert checks[8].history_mad == 0 and checks[8].zscore == pytest.approx(1 / 10 ** 0.5)
    assert flagged == [9]  # 20 is 3.2 sqrt(10) above the median
    no_poisson, checks = _flags(counts, AnomalyRules(poisson_floor=False))
    assert no_poisson == [9] and checks[8].zscore == pytest.approx(1.0)  # mad_floor 1


def test_bad_rules_are_config_errors():
    for kwargs in ({"rules": ("max", "trend")}, {"rules": ()}, {"combine": "most"}, {"lookback_days": 0},
                   {"min_history": 0}, {"z_threshold": 0}):
        with pytest.raises(ConfigError):
            AnomalyRules(**kwargs)
    with pytest.raises(ValueError):
        check_dates([dt.date(2020, 1, 2), dt.date(2020, 1, 1)], [1, 2], [False, False], AnomalyRules())
