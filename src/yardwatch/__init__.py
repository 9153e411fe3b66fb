"""yardwatch: find and count railcars, tarps and containers in satellite scenes."""

from __future__ import annotations

__version__ = "0.1.0"

CLASS_NAMES: tuple[str, ...] = ("railcar", "tarp", "container")
"""Class ids are fixed in this order across datasets, models and detections."""

__all__ = ["CLASS_NAMES", "__version__"]
