"""The per-date schedule of a time series of one site: a quiet baseline and one spike.

Modelled on the Tumangang observation: for years never more than about 20 railcars, then about 73 on one date,
with tarps over the cargo and container stacks where none had stood. The schedule is explicit so that counting
code can be tested against the numbers that were put there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yardwatch.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SeriesSchedule:
    """Exact numbers of labelled objects on each date, and which date is the spike."""

    railcars: tuple[int, ...]
    tarps: tuple[int, ...]
    containers: tuple[int, ...]
    spike_date_index: int


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"{name}={value!r} must be a whole number >= 0")
    return int(value)


def series_schedule(dates: int, *, seed: int = 0, baseline_max_railcars: int = 20, spike_railcars: int = 70,
                    baseline_max_tarps: int = 4, spike_tarps: int = 24, baseline_max_containers: int = 6,
                    spike_containers: int = 40, spike_date_index: int | None = None) -> SeriesSchedule:
    """Counts per date: each baseline date draws from about a third of its maximum up to the maximum; the spike
    date has exactly the spike counts.

    Args:
        dates: number of acquisition dates (>= 1).
        seed: randomness of the baseline draws.
        spike_date_index: index of the spike date; default about three quarters into the series. -1: no spike.

    Raises:
        ConfigError: a count is negative or the spike index is outside the series.
    """
    if isinstance(dates, bool) or not isinstance(dates, (int, np.integer)) or dates < 1:
        raise ConfigError(f"dates={dates!r} must be a whole number >= 1")
    limits = {key: _count(key, value) for key, value in (
        ("baseline_max_railcars", baseline_max_railcars), ("spike_railcars", spike_railcars),
        ("baseline_max_tarps", baseline_max_tarps), ("spike_tarps", spike_tarps),
        ("baseline_max_containers", baseline_max_containers), ("spike_containers", spike_containers))}
    if spike_date_index is None:
        spike = int(round(0.75 * (dates - 1)))
    elif isinstance(spike_date_index, bool) or not isinstance(spike_date_index, (int, np.integer)) \
            or not -1 <= spike_date_index < dates:
        raise ConfigError(f"spike_date_index={spike_date_index!r} is outside the series; pick 0..{dates - 1} "
                          "(or -1 for no spike)")
    else:
        spike = int(spike_date_index)
    rng = np.random.default_rng([int(seed), 7])

    def column(baseline_max: int, spike_value: int) -> tuple[int, ...]:
        low = baseline_max // 3
        values = [int(rng.integers(low, baseline_max + 1)) for _ in range(dates)]
        if spike >= 0:
            values[spike] = spike_value
        return tuple(values)

    return SeriesSchedule(column(limits["baseline_max_railcars"], limits["spike_railcars"]),
                          column(limits["baseline_max_tarps"], limits["spike_tarps"]),
                          column(limits["baseline_max_containers"], limits["spike_containers"]), spike)
