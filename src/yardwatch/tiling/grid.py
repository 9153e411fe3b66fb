"""Pure window geometry: the grid of tile windows over a scene (or over one block of it).

Tiles overlap by ``overlap_px`` so that an object cut by one tile's edge lies whole in its neighbour (set the
overlap to at least the longest object, about 50 px for a 25 m railcar at 0.5 m). The last tile of each row and
column is shifted inward to end at the scene edge instead of hanging over it: every tile is then full size and
holds only real pixels, at the price of a larger overlap with its neighbour. Only a scene smaller than one tile
gets a window that reaches past its edge (to be padded by the reader).
"""

from __future__ import annotations

import numbers

from rasterio.windows import Window

from yardwatch.errors import ConfigError


def _is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_tile_geometry(tile_size_px: int, overlap_px: int) -> None:
    """Raise :class:`ConfigError` unless ``0 <= overlap_px < tile_size_px`` and ``tile_size_px > 0``."""
    if not _is_whole(tile_size_px) or tile_size_px <= 0:
        raise ConfigError(f"tile_size_px={tile_size_px!r} must be a positive whole number of pixels, e.g. 640")
    if not _is_whole(overlap_px) or overlap_px < 0:
        raise ConfigError(f"overlap_px={overlap_px!r} must be a whole number of pixels >= 0, e.g. 64")
    if overlap_px >= tile_size_px:
        raise ConfigError(f"overlap_px={overlap_px} must be smaller than tile_size_px={tile_size_px}; "
                          f"e.g. overlap_px={tile_size_px // 10}")


def tile_starts(length_px: int, tile_size_px: int, overlap_px: int) -> list[int]:
    """Offsets of the tiles along one axis of ``length_px`` pixels, the last one shifted inward to end at the edge.

    ``tile_starts(900, 90, 0)`` is ``[0, 90, ..., 810]``; ``tile_starts(100, 64, 0)`` is ``[0, 36]``; a length at
    most one tile gives ``[0]``.
    """
    check_tile_geometry(tile_size_px, overlap_px)
    if length_px <= tile_size_px:
        return [0]
    stride = tile_size_px - overlap_px
    starts = list(range(0, length_px - tile_size_px, stride))
    starts.append(length_px - tile_size_px)
    return starts


def make_tile_grid(width: int, height: int, tile_size_px: int, overlap_px: int, *, col_off: int = 0,
                   row_off: int = 0) -> list[Window]:
    """Tile windows covering a ``width`` x ``height`` area, row-major (top row first, left to right).

    Every window is ``tile_size_px`` square. Neighbours overlap by ``overlap_px`` (more at the last row and
    column, which are shifted inward so that every tile is full size); a scene narrower or shorter than one tile
    gets a single window at offset 0 along that axis, reaching past the edge, to be padded.

    Args:
        width, height: size of the area in px.
        tile_size_px: side of a tile in px (> 0).
        overlap_px: overlap between neighbouring tiles in px (0 <= overlap < tile).
        col_off, row_off: offset added to every window (to tile one block of a scene in scene px).

    Raises:
        ConfigError: ``tile_size_px <= 0``, ``overlap_px < 0``, ``overlap_px >= tile_size_px``, or an empty area.
    """
    check_tile_geometry(tile_size_px, overlap_px)
    if width <= 0 or height <= 0:
        raise ConfigError(f"cannot tile an empty area of {width}x{height} px")
    cols = tile_starts(width, tile_size_px, overlap_px)
    rows = tile_starts(height, tile_size_px, overlap_px)
    return [Window(col_off + c, row_off + r, tile_size_px, tile_size_px) for r in rows for c in cols]


def split_axis(length_px: int, block_px: int, min_last_px: int) -> list[tuple[int, int]]:
    """Cut ``[0, length_px)`` into consecutive ``(start, stop)`` blocks of ``block_px``.

    A last block shorter than ``min_last_px`` (smaller than a tile) is merged into the one before it, so that no
    block is too small to hold a full tile.
    """
    if block_px <= 0:
        raise ConfigError(f"block size {block_px} px must be positive")
    edges = list(range(0, length_px, block_px)) + [length_px]
    blocks = list(zip(edges[:-1], edges[1:], strict=True))
    if len(blocks) > 1 and blocks[-1][1] - blocks[-1][0] < min_last_px:
        blocks[-2:] = [(blocks[-2][0], length_px)]
    return blocks
