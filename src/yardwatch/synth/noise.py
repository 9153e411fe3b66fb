"""Noise fields for textures, land cover and clouds, made fast enough for a 4096 x 4096 scene on one core.

Smooth fields are drawn on a coarse lattice and enlarged once with ``cv2.resize`` (bicubic), which is an order of
magnitude faster than summing full-size octaves; octaves are summed on the finest lattice before that one resize.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_UNIFORM_TO_UNIT = math.sqrt(12.0)  # uniform lattice values scaled to unit variance (3x cheaper than Gaussian)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell_px: float,
                 octaves: int = 3, persistence: float = 0.5) -> np.ndarray:
    """A fractal noise field of zero mean and unit-ish standard deviation.

    Args:
        rng: the random source.
        shape: (rows, cols) of the field.
        cell_px: size in pixels of the largest features (the coarsest lattice cell).
        octaves: number of halvings of the cell summed together.
        persistence: amplitude ratio between successive octaves.

    Returns:
        float32 array of ``shape``.
    """
    rows, cols = shape
    cell_px = max(float(cell_px), 1.0)
    fine_cell = max(cell_px / 2 ** (octaves - 1), 1.0)
    lattice_shape = (int(math.ceil(rows / fine_cell)) + 1, int(math.ceil(cols / fine_cell)) + 1)
    total = np.zeros(lattice_shape, np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        step = 2 ** (octaves - 1 - octave)  # lattice cells of the finest grid per cell of this octave
        coarse_shape = (lattice_shape[0] // step + 2, lattice_shape[1] // step + 2)
        coarse = rng.random(coarse_shape, dtype=np.float32)
        coarse -= 0.5
        coarse *= _UNIFORM_TO_UNIT
        if step > 1:
            coarse = cv2.resize(coarse, (coarse_shape[1] * step, coarse_shape[0] * step),
                                interpolation=cv2.INTER_CUBIC)
        total += amplitude * coarse[: lattice_shape[0], : lattice_shape[1]]
        norm += amplitude * amplitude
        amplitude *= persistence
    total /= math.sqrt(norm)
    # lattice points sit about fine_cell apart; the resize stretches the lattice to exactly the field's size
    return cv2.resize(total, (cols, rows), interpolation=cv2.INTER_CUBIC)


_BYTE_TO_UNIFORM = ((np.arange(256, dtype=np.float32) + 0.5) / 128.0 - 1.0)


def pixel_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel noise, uniform in (-1, 1) on 256 levels (variance about 1/3), float32.

    Drawn as bytes and mapped through a look-up table: five times cheaper than float draws, and 256 levels are
    finer than any texture or sensor noise amplitude used here.
    """
    return cv2.LUT(rng.integers(0, 256, size=shape, dtype=np.uint8), _BYTE_TO_UNIFORM)
