"""The scene being drawn: colour, surface height and which labelled object owns each pixel.

Objects are composited as warped sprites (``cv2.warpAffine`` of a few dozen pixels each), so drawing a thousand
railcars costs milliseconds. The height map feeds the shadows: one ray march towards the sun over a coarser copy of
the heights gives, for every pixel, the highest thing between it and the sun; a pixel lower than that is in
shadow. That one pass shades railcars onto ballast, stacked containers onto lower stacks and buildings onto cars
alike. The owner map tells later which labelled objects something else covers (occluded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from yardwatch.synth.sprites import Light, Sprite

NO_OWNER = -1
_SHADOW_TOLERANCE_M = 0.2
_MAX_MARCH_STEPS = 48


@dataclass(frozen=True, slots=True)
class Stamp:
    """Where one sprite landed: its coverage (alpha) in a window of the scene starting at (row_off, col_off)."""

    row_off: int
    col_off: int
    alpha: np.ndarray


class Canvas:
    """A scene in progress.

    Attributes:
        image: (bands, rows, cols) float32 display reflectance, about 0..1 (planar: whole-scene passes work on
            contiguous bands).
        height_m: (rows, cols) float32 height of the visible surface above ground.
        owner: (rows, cols) int32 index of the labelled object seen at each pixel, ``NO_OWNER`` elsewhere.
    """

    def __init__(self, image: np.ndarray) -> None:
        rows, cols = image.shape[1:]
        self.image = image
        self.height_m = np.zeros((rows, cols), np.float32)
        self.owner = np.full((rows, cols), NO_OWNER, np.int32)

    @property
    def bands(self) -> int:
        return self.image.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[2]

    def stamp(self, sprite: Sprite, centre_px: tuple[float, float], angle_rad: float, *, height_m: float,
              base_m: float = 0.0, owner: int = NO_OWNER) -> Stamp | None:
        """Composite ``sprite`` with its centre at scene pixel ``centre_px`` (col, row) and its length axis at
        ``angle_rad`` (from +col towards +row).

        Args:
            sprite: the object in its own frame, one sprite pixel per scene pixel.
            centre_px: centre in scene pixels; pixel centres sit at +0.5.
            angle_rad: rotation of the sprite's u axis.
            height_m: top height used where the sprite has no height map.
            base_m: height of the surface the object stands on (a flatcar deck, a lower container).
            owner: labelled object index recorded where the sprite covers more than half a pixel.

        Returns:
            The window and coverage of the sprite, or None when it falls outside the scene.
        """
        rows, cols = self.shape
        sprite_rows, sprite_cols = sprite.alpha.shape
        c, s = math.cos(angle_rad), math.sin(angle_rad)
        half_x = abs(c) * sprite_cols / 2 + abs(s) * sprite_rows / 2
        half_y = abs(s) * sprite_cols / 2 + abs(c) * sprite_rows / 2
        cx, cy = centre_px
        col0, col1 = max(0, math.floor(cx - half_x)), min(cols, math.ceil(cx + half_x))
        row0, row1 = max(0, math.floor(cy - half_y)), min(rows, math.ceil(cy + half_y))
        if col1 <= col0 or row1 <= row0:
            return None
        # cv2 puts pixel centres at integers; the scene frame puts them at +0.5
        src_x, src_y = (sprite_cols - 1) / 2, (sprite_rows - 1) / 2
        dst_x, dst_y = cx - 0.5 - col0, cy - 0.5 - row0
        matrix = np.array([[c, -s, dst_x - (c * src_x - s * src_y)],
                           [s, c, dst_y - (s * src_x + c * src_y)]], dtype=np.float64)
        bands = self.bands
        layers = [sprite.colour[..., :bands], sprite.alpha[..., None]]
        if sprite.height_m is not None:
            layers.append(sprite.height_m[..., None])
        stack = np.concatenate(layers, axis=2)
        warped = cv2.warpAffine(stack, matrix, (col1 - col0, row1 - row0), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        if warped.ndim == 2:
            warped = warped[..., None]
        alpha = np.minimum(np.maximum(warped[..., bands], 0.0), 1.0)
        view = self.image[:, row0:row1, col0:col1]
        view += (np.moveaxis(warped[..., :bands], 2, 0) - view) * alpha
        solid = alpha >= 0.5
        top = warped[..., bands + 1] + base_m if sprite.height_m is not None else height_m
        heights = self.height_m[row0:row1, col0:col1]
        heights[solid] = top[solid] if isinstance(top, np.ndarray) else top
        self.owner[row0:row1, col0:col1][solid] = owner
        return Stamp(row0, col0, alpha)

    def fill_polygon(self, polygon_px: np.ndarray, colour: np.ndarray, *, height_m: float,
                     owner: int = NO_OWNER) -> None:
        """Fill an anti-aliased polygon (N, 2) of scene pixels (col, row) with one colour (RGB + NIR)."""
        rows, cols = self.shape
        col0 = max(0, int(math.floor(polygon_px[:, 0].min())) - 1)
        col1 = min(cols, int(math.ceil(polygon_px[:, 0].max())) + 1)
        row0 = max(0, int(math.floor(polygon_px[:, 1].min())) - 1)
        row1 = min(rows, int(math.ceil(polygon_px[:, 1].max())) + 1)
        if col1 <= col0 or row1 <= row0:
            return
        mask = np.zeros((row1 - row0, col1 - col0), np.uint8)
        shift = 4
        points = np.round((polygon_px - 0.5 - (col0, row0)) * (1 << shift)).astype(np.int32)
        cv2.fillPoly(mask, [points], 255, lineType=cv2.LINE_AA, shift=shift)
        alpha = mask.astype(np.float32) / 255.0
        view = self.image[:, row0:row1, col0:col1]
        view += (np.asarray(colour[: self.bands], np.float32)[:, None, None] - view) * alpha
        solid = alpha >= 0.5
        self.height_m[row0:row1, col0:col1][solid] = height_m
        self.owner[row0:row1, col0:col1][solid] = owner

    def shadow_mask(self, light: Light, gsd_m: float) -> np.ndarray:
        """Fraction (0..1) of each pixel in shadow, float32 (rows, cols).

        The march runs on heights max-pooled to cells of about 1 m (fewer, cheaper steps); each full-resolution
        pixel is then compared with the highest sun-blocker of its cell, so shadow edges fall on object edges.
        """
        rows, cols = self.shape
        peak = float(self.height_m.max())
        tan_e = math.tan(light.elevation_rad)
        if peak < _SHADOW_TOLERANCE_M:
            return np.zeros((rows, cols), np.float32)
        factor = max(1, int(round(1.0 / gsd_m)))
        reach_cells = peak / tan_e / (gsd_m * factor)
        factor = max(factor, int(math.ceil(reach_cells * factor / _MAX_MARCH_STEPS)))
        cell_m = gsd_m * factor
        # max-pool factor x factor cells: dilate (anchor at the cell's first pixel), then keep every factor-th
        pooled = cv2.dilate(self.height_m, np.ones((factor, factor), np.uint8), anchor=(0, 0),
                            borderType=cv2.BORDER_REPLICATE) if factor > 1 else self.height_m
        coarse = np.ascontiguousarray(pooled[::factor, ::factor])
        del pooled
        blocker = np.zeros_like(coarse)
        sx, sy = light.sun_xy
        dominant = max(abs(sx), abs(sy))
        crows, ccols = coarse.shape
        step = 1
        while step <= _MAX_MARCH_STEPS * 2:
            dx, dy = int(round(step * sx / dominant)), int(round(step * sy / dominant))
            drop = math.hypot(dx, dy) * cell_m * tan_e
            if drop >= peak or abs(dx) >= ccols or abs(dy) >= crows:
                break
            source = coarse[max(dy, 0):crows + min(dy, 0), max(dx, 0):ccols + min(dx, 0)]
            target = blocker[max(-dy, 0):crows - max(dy, 0), max(-dx, 0):ccols - max(dx, 0)]
            cv2.max(target, cv2.subtract(source, drop), dst=target)
            step += 1
        blocker_full = cv2.resize(blocker, (coarse.shape[1] * factor, coarse.shape[0] * factor),
                                  interpolation=cv2.INTER_NEAREST)
        if blocker_full.shape != (rows, cols):
            blocker_full = np.ascontiguousarray(blocker_full[:rows, :cols])
        shadow = (blocker_full > self.height_m + _SHADOW_TOLERANCE_M).astype(np.float32)
        return cv2.GaussianBlur(shadow, (0, 0), 0.5 + 0.25 * factor)

    def apply_shadow(self, shadow: np.ndarray, sky_light: tuple[float, ...]) -> None:
        """Darken shadowed pixels to the share of light the sky still gives each band (bluer in shadow)."""
        scratch = np.empty(self.shape, np.float32)
        for band in range(self.bands):
            np.multiply(shadow, -(1.0 - sky_light[band]), out=scratch)
            scratch += 1.0
            self.image[band] *= scratch
