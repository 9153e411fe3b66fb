"""Opening scenes, windowed reads, band selection, dtype normalisation to uint8 and nodata masks.

The design's normalisation contract (../shared/DESIGN.md) lives here: pixels reach the model the same way at
training and at inference. A :class:`Normalization` records the choices (bands, the per-scene percentile stretch,
nodata) so that ``tile`` can write them into ``dataset.yaml`` and ``predict`` can repeat them.

Nothing here reads a whole scene: :func:`compute_normalization` samples an overview or a spread of blocks,
:func:`read_window` reads one window, and :func:`iter_tile_arrays` walks a grid of windows one band of rows (a
"strip") at a time so that each compressed block of the file is decoded once, with memory bounded by one strip.

Every function that takes a dataset takes an *open* rasterio dataset, so that a caller reading from several threads
keeps one handle per thread (GDAL dataset handles are not thread-safe).
"""

from __future__ import annotations

import functools
import glob
import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from yardwatch.errors import ConfigError, GeoreferenceError, InputError, RasterReadError

log = logging.getLogger(__name__)

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".png", ".jpg", ".jpeg")
"""File name endings taken as scenes when ``scenes=`` names a folder."""

DEFAULT_PERCENTILES = (2.0, 98.0)

READ_CHUNK_PX = 8192
"""Width of the column chunks :func:`reading_order` walks, so strip memory does not grow with the scene width."""

def strip_read_cache_bytes(width: int, block_shape: tuple[int, int], count: int, dtype: str) -> int:
    """GDAL's block cache for the strip reader (``rasterio.Env(GDAL_CACHEMAX=...)``): one row of blocks across a
    reading chunk (:data:`READ_CHUNK_PX` wide, all of the file's bands, which a pixel-interleaved file decodes
    together), plus a quarter, and at least 8 MB.

    The reader decodes each block once and copies it out, so this suffices; a capped cache keeps memory from
    filling with the scene (GDAL's default is 5 % of RAM: predict's extra peak RSS at 16384 px was 1030 MB before
    any cap). For a 3-band uint8 file with 512 px blocks that is 16 MB; 64 MB gave 45-80 MB more peak RSS at
    8192 px and no faster reads (``scripts/bench_predict.py``).
    """
    block_rows, block_cols = block_shape
    cols = min(int(width), READ_CHUNK_PX + int(block_cols))
    row_of_blocks = int(block_rows) * cols * int(count) * np.dtype(dtype).itemsize
    return max(8 * 2**20, row_of_blocks * 5 // 4)

# How many pixels (per band) the normalisation statistics are computed from: a 2048x2048 sample is plenty for
# a 2-98 % stretch and keeps the read small whatever the scene size.
_SAMPLE_PIXELS = 2048 * 2048


# --------------------------------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SceneInfo:
    """What yardwatch needs to know about a scene before reading any pixels.

    Attributes:
        path: the raster file.
        scene_id: the file stem (or the catalog's ``scene_id``), used to name tiles and outputs.
        width, height: size in scene px.
        count: number of bands in the file.
        dtype: numpy name of the band dtype (``uint8``, ``uint16``, ``float32``, ...).
        crs: the CRS as rasterio writes it (``EPSG:32652`` when it has a code, else WKT); the assumed CRS for a
            scene read with ``assume_crs``; None in pixel-only mode.
        transform: affine transform from scene px to CRS coordinates (north-up, never rotated or sheared).
        gsd_m: ground sample distance in metres (see :func:`yardwatch.geo.gsd_m_of`: nominal for metric and feet
            CRSs, geodesic for degrees and for strongly distorted projections such as Web Mercator); None in
            pixel-only mode.
        nodata: the file's nodata value (may be NaN), or None.
        block_shape: the file's internal block shape (rows, cols) of band 1.
    """

    path: Path
    scene_id: str
    width: int
    height: int
    count: int
    dtype: str
    crs: str | None
    transform: Affine
    gsd_m: float | None
    nodata: float | None
    block_shape: tuple[int, int]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS coordinates."""
        xs = [self.transform.c, self.transform.c + self.transform.a * self.width]
        ys = [self.transform.f, self.transform.f + self.transform.e * self.height]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True, slots=True)
class SceneRef:
    """A scene to process, as found on disk or listed in a catalog.

    Attributes:
        scene_id: unique id (file stem, or the catalog's ``scene_id``).
        path: the raster file.
        labels_path: the scene's label file when a catalog names one; None otherwise.
        has_labels_entry: True when a catalog lists a ``labels_path`` column (an empty cell then means the scene
            has no objects at all).
        site, acquired: catalog metadata (None when unknown).
    """

    scene_id: str
    path: Path
    labels_path: Path | None = None
    has_labels_entry: bool = False
    site: str | None = None
    acquired: str | None = None


def open_raster(path: str | os.PathLike[str]) -> Any:
    """``rasterio.open`` for reading, with GDAL errors turned into :class:`RasterReadError` naming the file.

    A file without georeferencing opens without rasterio's ``NotGeoreferencedWarning`` (:func:`open_scene` is
    where that case is judged).
    """
    path = Path(path)
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    if not path.exists():
        raise RasterReadError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise RasterReadError(f"{path}: is a folder, not a raster; point at a .tif file or use scenes=<folder>")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as err:
        raise RasterReadError(f"{path}: GDAL cannot read it as a raster ({_first_line(err)}); check that the file "
                              "is a complete GeoTIFF/COG (re-download or re-export it)") from err


def _first_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


def resolve_bands(count: int, bands: Sequence[int] | None, *, name: str = "scene") -> tuple[int, ...]:
    """The 1-based band indexes to read: ``bands`` checked against ``count``, or the default.

    The default is bands 1, 2, 3 when the file has at least three, else band 1 (grey, repeated to RGB).

    Raises:
        ConfigError: ``bands`` does not list one or three positive integers.
        InputError: ``bands`` names a band the file does not have.
    """
    if bands is None or len(bands) == 0:
        return (1, 2, 3) if count >= 3 else (1,)
    try:
        chosen = tuple(int(b) for b in bands)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bands={list(bands)!r} must list band numbers, e.g. bands=[1,2,3]") from err
    if len(chosen) not in (1, 3) or any(b < 1 for b in chosen) or any(float(b) != int(b) for b in bands):
        raise ConfigError(f"bands={list(bands)!r} must list one or three band numbers counted from 1, "
                          "e.g. bands=[3,2,1] or bands=[1]")
    if max(chosen) > count:
        plural = "band" if count == 1 else "bands"
        raise InputError(f"{name}: has {count} {plural} but bands={list(chosen)} asks for band {max(chosen)}; "
                         f"pick bands between 1 and {count}")
    return chosen


def open_scene(path: str | os.PathLike[str], *, bands: Sequence[int] | None = None, assume_crs: str | None = None,
               allow_pixel_only: bool = False, scene_id: str | None = None) -> SceneInfo:
    """Open and validate a scene; reads its header and one block, never the whole image.

    Args:
        path: any raster GDAL reads (GeoTIFF, COG, VRT, JPEG2000, PNG, ...).
        bands: the 1-based bands that will be read (checked against the file); None for the default.
        assume_crs: the CRS to use when the file has none (e.g. ``EPSG:32652``); ignored when it has one.
        allow_pixel_only: accept a file without georeferencing (plain PNG/JPEG) and work in pixel coordinates;
            its ``crs`` and ``gsd_m`` are then None and labels must be in pixel coordinates too.
        scene_id: the id to give the scene (default: the file stem).

    Raises:
        RasterReadError: the file is missing or GDAL cannot decode it.
        GeoreferenceError: no CRS (and neither ``assume_crs`` nor ``allow_pixel_only``), or a rotated or sheared
            transform, which yardwatch would misplace.
        InputError: the file has fewer bands than ``bands`` asks for.
    """
    path = Path(path).expanduser()
    with open_raster(path) as src:
        name = path.name
        transform = src.transform
        if not transform.is_rectilinear:
            raise GeoreferenceError(
                f"{name}: the geotransform is rotated or sheared ({_fmt_affine(transform)}); warp it north-up "
                f"first, e.g. `gdalwarp {name} {path.stem}_northup.tif`")
        crs = src.crs.to_string() if src.crs else None
        georeferenced = transform != Affine.identity()
        if crs is None:
            if src.gcps[0] or src.rpcs:
                raise GeoreferenceError(f"{name}: georeferenced by GCPs/RPCs only; orthorectify it first, e.g. "
                                        f"`gdalwarp {name} {path.stem}_warped.tif`")
            if assume_crs:
                crs = _check_crs(assume_crs)
                if not georeferenced:
                    log.warning("%s: no geotransform; assume_crs=%s places it at the origin with 1-unit pixels",
                                name, assume_crs)
            elif not allow_pixel_only:
                raise GeoreferenceError(f"{name}: no CRS; georeference it or pass assume_crs=EPSG:32652 (the "
                                        "scene's EPSG code), or allow_pixel_only=true for a plain image")
        elif assume_crs:
            log.debug("%s has CRS %s; assume_crs=%s ignored", name, crs, assume_crs)
        resolve_bands(src.count, bands, name=name)
        _check_decodes(src, path)
        gsd_m = None
        if crs is not None:
            from yardwatch.geo import gsd_m_of

            gsd_m = gsd_m_of(transform, crs, center_px=(src.width / 2.0, src.height / 2.0))
        nodata = src.nodata
        return SceneInfo(path=path, scene_id=scene_id or path.stem, width=src.width, height=src.height,
                         count=src.count, dtype=src.dtypes[0], crs=crs, transform=transform, gsd_m=gsd_m,
                         nodata=None if nodata is None else float(nodata),
                         block_shape=tuple(int(v) for v in src.block_shapes[0]))


def _fmt_affine(t: Affine) -> str:
    return f"a={t.a:g}, b={t.b:g}, d={t.d:g}, e={t.e:g}"


def _check_crs(value: str) -> str:
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return CRS.from_user_input(value).to_string()
    except (CRSError, ValueError, TypeError) as err:  # "EPSG:nope" escapes rasterio as a bare ValueError
        raise ConfigError(f"assume_crs={value!r} is not a CRS GDAL knows ({_first_line(err)}); "
                          "use e.g. assume_crs=EPSG:32652") from err


def _check_decodes(src: Any, path: Path) -> None:
    """Decode the first block, so that a corrupt file fails here, naming it, rather than mid-run."""
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    rows, cols = src.block_shapes[0]
    try:
        src.read(1, window=Window(0, 0, min(cols, src.width), min(rows, src.height)))
    except (RasterioError, OSError) as err:
        raise RasterReadError(f"{path}: pixels cannot be decoded ({_first_line(err)}); the file is corrupt or "
                              "truncated, re-export it") from err


def find_scenes(spec: str | os.PathLike[str]) -> list[SceneRef]:
    """The scenes named by ``spec``: a raster file, a folder of rasters, a glob pattern, or a ``catalog.csv``.

    A catalog has columns ``scene_id, path`` and optionally ``labels_path, site, acquired, crs, gsd_m``; its
    relative paths are relative to the csv's folder (the layout ``yardwatch synth`` writes).

    Raises:
        InputError: nothing matches, the catalog lacks a column, or two scenes share an id.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".csv" and path.is_file():
        refs = _read_catalog(path)
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES and p.is_file())
        if not files:
            raise InputError(f"scenes={path}: the folder holds no raster ({', '.join(RASTER_SUFFIXES)}); "
                             "point at the folder of scenes")
        refs = [SceneRef(p.stem, p) for p in files]
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(os.path.expanduser(text)) if Path(p).is_file())
        if not files:
            raise InputError(f"scenes={text}: the pattern matches no file; check the pattern")
        refs = [SceneRef(p.stem, p) for p in files]
    elif path.exists():
        refs = [SceneRef(path.stem, path)]
    else:
        raise RasterReadError(f"scenes={path}: file not found; check the path")
    seen: dict[str, Path] = {}
    for ref in refs:
        if ref.scene_id in seen:
            raise InputError(f"scenes: two scenes have the id {ref.scene_id!r} ({seen[ref.scene_id]}, {ref.path}); "
                             "rename one or list them in a catalog.csv with distinct scene_id values")
        seen[ref.scene_id] = ref.path
    return refs


def _read_catalog(path: Path) -> list[SceneRef]:
    import csv

    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or ())
        missing = {"scene_id", "path"} - columns
        if missing:
            raise InputError(f"{path}: catalog lacks column(s) {', '.join(sorted(missing))}; it needs "
                             "scene_id,path[,labels_path,site,acquired,crs,gsd_m]")
        rows = list(reader)
    if not rows:
        raise InputError(f"{path}: catalog lists no scenes; add rows or point scenes= at a folder")
    base = path.parent
    has_labels = "labels_path" in columns
    refs = []
    for i, row in enumerate(rows, start=2):
        scene_id, scene_path = (row.get("scene_id") or "").strip(), (row.get("path") or "").strip()
        if not scene_id or not scene_path:
            raise InputError(f"{path}: line {i} has an empty scene_id or path; fill it or remove the line")
        labels = (row.get("labels_path") or "").strip()
        refs.append(SceneRef(scene_id=scene_id, path=(base / scene_path).resolve(),
                             labels_path=(base / labels).resolve() if labels else None,
                             has_labels_entry=has_labels, site=(row.get("site") or "").strip() or None,
                             acquired=(row.get("acquired") or "").strip() or None))
    return refs


# --------------------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Normalization:
    """How a scene's pixels become the model's uint8 RGB input.

    Attributes:
        bands: 1-based band indexes read, one (grey, repeated to three channels) or three (R, G, B order).
        dtype: the source dtype name.
        low, high: per band, the values mapped to 0 and 255 (a linear stretch, clipped); None means the values
            are used as they are (uint8 sources).
        percentiles: the percentiles ``low``/``high`` were taken at (kept so the stretch can be recomputed for a
            new scene with the same recipe).
        nodata: the source nodata value (NaN allowed), or None. Nodata, masked and NaN pixels become 0.
    """

    bands: tuple[int, ...]
    dtype: str
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES
    nodata: float | None = None

    def __post_init__(self) -> None:
        if len(self.bands) not in (1, 3):
            raise ConfigError(f"bands={list(self.bands)} must list one or three bands")
        if (self.low is None) != (self.high is None):
            raise ConfigError("normalization: low and high must both be set or both be null")
        if self.low is not None and not (len(self.low) == len(self.high) == len(self.bands)):
            raise ConfigError("normalization: low and high need one value per band")

    @property
    def stretch(self) -> str:
        """``"none"`` (values used as they are) or ``"percentile"``."""
        return "none" if self.low is None else "percentile"

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML/JSON-safe dict (NaN nodata is written as the string ``"nan"``)."""
        nodata: float | str | None = self.nodata
        if nodata is not None and math.isnan(nodata):
            nodata = "nan"
        return {"bands": list(self.bands), "dtype": self.dtype, "stretch": self.stretch,
                "low": None if self.low is None else [float(v) for v in self.low],
                "high": None if self.high is None else [float(v) for v in self.high],
                "percentiles": [float(p) for p in self.percentiles], "nodata": nodata}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalization:
        """The inverse of :meth:`to_dict` (unknown keys are ignored).

        Raises:
            ConfigError: a key is missing or malformed.
        """
        try:
            nodata = data.get("nodata")
            low, high = data.get("low"), data.get("high")
            return cls(bands=tuple(int(b) for b in data["bands"]), dtype=str(data["dtype"]),
                       low=None if low is None else tuple(float(v) for v in low),
                       high=None if high is None else tuple(float(v) for v in high),
                       percentiles=tuple(float(p) for p in data.get("percentiles", DEFAULT_PERCENTILES)),
                       nodata=None if nodata is None else float(nodata))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"normalization {data!r} is malformed ({err}); it needs bands and dtype") from err


def _check_percentiles(percentiles: Sequence[float]) -> tuple[float, float]:
    values = tuple(float(p) for p in percentiles)
    if len(values) != 2 or not (0.0 <= values[0] < values[1] <= 100.0):
        raise ConfigError(f"percentiles={list(percentiles)!r} must be two numbers 0 <= low < high <= 100, "
                          "e.g. percentiles=[2,98]")
    return values


def compute_normalization(path_or_dataset: Any, bands: Sequence[int] | None = None,
                          percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> Normalization:
    """The normalisation of one scene: uint8 as is, other dtypes by a per-band percentile stretch.

    The statistics come from a small read -- the overview nearest 2048 px when the file has overviews or is small,
    else a spread of whole internal blocks (about 2048x2048 px in all) -- never from the whole scene. Nodata,
    masked and NaN pixels are left out.

    Args:
        path_or_dataset: a raster path or an open rasterio dataset.
        bands: 1-based bands (default: 1, 2, 3, or 1 for grey).
        percentiles: the (low, high) percentiles mapped to 0 and 255.

    Raises:
        RasterReadError, InputError, ConfigError: as :func:`open_scene` and for bad percentiles.
    """
    pct = _check_percentiles(percentiles)
    if isinstance(path_or_dataset, (str, os.PathLike)):
        with open_raster(Path(path_or_dataset)) as src:
            return compute_normalization(src, bands, pct)
    src = path_or_dataset
    chosen = resolve_bands(src.count, bands, name=Path(src.name).name)
    dtype = src.dtypes[chosen[0] - 1]
    nodata = src.nodatavals[chosen[0] - 1]
    nodata = None if nodata is None else float(nodata)
    if np.dtype(dtype) == np.uint8:
        return Normalization(bands=chosen, dtype=dtype, percentiles=pct, nodata=nodata)
    samples = _sample_valid_values(src, chosen)
    integer = np.issubdtype(np.dtype(dtype), np.integer)
    low, high = [], []
    for band, values in zip(chosen, samples, strict=True):
        if values.size == 0:
            log.warning("%s: band %d has no valid pixel in the sample; stretching its full dtype range",
                        src.name, band)
            lo, hi = _dtype_range(dtype)
        else:
            lo, hi = (float(v) for v in np.percentile(values, pct))
        if not hi > lo:
            hi = lo + (1.0 if integer else max(abs(lo) * 1e-6, 1e-6))
        low.append(lo)
        high.append(hi)
    return Normalization(bands=chosen, dtype=dtype, low=tuple(low), high=tuple(high), percentiles=pct,
                         nodata=nodata)


def _dtype_range(dtype: str) -> tuple[float, float]:
    kind = np.dtype(dtype)
    if np.issubdtype(kind, np.integer):
        info = np.iinfo(kind)
        return float(info.min), float(info.max)
    return 0.0, 1.0


def _sample_valid_values(src: Any, bands: tuple[int, ...]) -> list[np.ndarray]:
    """Valid pixel values per band from an overview or a spread of blocks (about ``_SAMPLE_PIXELS`` each)."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    width, height = src.width, src.height
    if src.overviews(bands[0]) or width * height <= _SAMPLE_PIXELS:
        scale = min(1.0, math.sqrt(_SAMPLE_PIXELS / (width * height)))
        shape = (len(bands), max(1, round(height * scale)), max(1, round(width * scale)))
        windows = [(None, shape)]
    else:
        rows, cols = src.block_shapes[bands[0] - 1]
        rows, cols = max(rows, 256), max(cols, 256)  # strip-organised files: read 256-row bands, not 1-row lines
        n_windows = max(1, _SAMPLE_PIXELS // (rows * cols))
        per_side = max(1, math.isqrt(n_windows))
        row_starts = np.unique(np.linspace(0, max(0, height - rows), per_side).astype(int) // rows * rows)
        col_starts = np.unique(np.linspace(0, max(0, width - cols), per_side).astype(int) // cols * cols)
        windows = [(Window(c, r, min(cols, width - c), min(rows, height - r)), None)
                   for r in row_starts for c in col_starts]
    parts: list[list[np.ndarray]] = [[] for _ in bands]
    for window, shape in windows:
        data = _guarded_read(src, lambda w=window, s=shape: src.read(list(bands), window=w, out_shape=s,
                                                                      masked=True, resampling=Resampling.nearest))
        valid = ~np.ma.getmaskarray(data)
        for i in range(len(bands)):
            values = np.asarray(data.data[i][valid[i]], dtype=np.float64)
            parts[i].append(values[np.isfinite(values)])
    return [np.concatenate(p) if p else np.zeros(0) for p in parts]


def _guarded_read(src: Any, read: Any) -> Any:
    from rasterio.errors import RasterioError

    try:
        return read()
    except (RasterioError, OSError) as err:
        raise RasterReadError(f"{src.name}: read failed ({_first_line(err)}); the file is corrupt or truncated, "
                              "re-export it") from err


# --------------------------------------------------------------------------------------------------------------
# Pixels: raw reads, validity, resampling, uint8
# --------------------------------------------------------------------------------------------------------------
def _int_window(window: Any) -> tuple[int, int, int, int]:
    """(col_off, row_off, width, height) of a rasterio Window, rounded to whole pixels."""
    return (int(round(window.col_off)), int(round(window.row_off)), int(round(window.width)),
            int(round(window.height)))


def _valid_from_data(src: Any, data: np.ndarray, bands: tuple[int, ...], read_mask: Any) -> np.ndarray:
    """Valid-pixel mask ``(rows, cols)`` for ``data`` ``(bands, rows, cols)`` read from ``src``.

    Internal masks and alpha bands are read (``read_mask``); nodata values mark a pixel invalid when *every*
    selected band holds the nodata value (a dark pixel with one zero channel stays valid, as GDAL's dataset mask
    sees it); NaN in any band marks it invalid.
    """
    from rasterio.enums import MaskFlags

    flags = src.mask_flag_enums[bands[0] - 1]
    if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
        valid = read_mask() > 0
    elif MaskFlags.nodata in flags:
        invalid = np.ones(data.shape[1:], dtype=bool)
        for i, band in enumerate(bands):
            nodata = src.nodatavals[band - 1]
            if nodata is None:
                invalid[:] = False
                break
            invalid &= np.isnan(data[i]) if math.isnan(nodata) else data[i] == nodata
        valid = ~invalid
    else:
        valid = np.ones(data.shape[1:], dtype=bool)
    if np.issubdtype(data.dtype, np.floating):
        valid &= ~np.isnan(data).any(axis=0)
    return valid


def _read_region(src: Any, bands: tuple[int, ...], col: int, row: int, width: int, height: int, *,
                 with_valid: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a window that lies inside the scene: ``(bands, h, w)`` native dtype and its valid mask (None
    without ``with_valid``)."""
    from rasterio.windows import Window

    window = Window(col, row, width, height)
    data = _guarded_read(src, lambda: src.read(list(bands), window=window))
    if not with_valid:
        return data, None
    valid = _valid_from_data(src, data, bands,
                             lambda: _guarded_read(src, lambda: src.read_masks(bands[0], window=window)))
    return data, valid


def _paste(data: np.ndarray, valid: np.ndarray | None, src_col: int, src_row: int,
           window: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Place ``data`` (whose top-left is scene px ``src_col, src_row``) into a zero-filled ``window``."""
    col, row, width, height = window
    out = np.zeros((data.shape[0], height, width), dtype=data.dtype)
    mask = None if valid is None else np.zeros((height, width), dtype=bool)
    c0, r0 = max(col, src_col), max(row, src_row)
    c1, r1 = min(col + width, src_col + data.shape[2]), min(row + height, src_row + data.shape[1])
    if c1 > c0 and r1 > r0:
        out[:, r0 - row:r1 - row, c0 - col:c1 - col] = data[:, r0 - src_row:r1 - src_row, c0 - src_col:c1 - src_col]
        if mask is not None:
            mask[r0 - row:r1 - row, c0 - col:c1 - col] = valid[r0 - src_row:r1 - src_row,
                                                               c0 - src_col:c1 - src_col]
    return out, mask


def read_raw_window(dataset: Any, window: Any, bands: Sequence[int], *, boundless: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Source values of ``window``: ``(bands, h, w)`` in the file's dtype, and an ``(h, w)`` bool valid mask.

    With ``boundless`` the parts of the window outside the scene are 0 and invalid; without it the window is
    clipped to the scene first.
    """
    chosen = tuple(int(b) for b in bands)
    col, row, width, height = _int_window(window)
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + width, dataset.width), min(row + height, dataset.height)
    if not boundless:
        col, row, width, height = c0, r0, max(0, c1 - c0), max(0, r1 - r0)
    if c0 == col and r0 == row and c1 == col + width and r1 == row + height and width > 0 and height > 0:
        return _read_region(dataset, chosen, col, row, width, height)
    if c1 > c0 and r1 > r0:
        data, valid = _read_region(dataset, chosen, c0, r0, c1 - c0, r1 - r0)
        return _paste(data, valid, c0, r0, (col, row, width, height))
    return (np.zeros((len(chosen), height, width), dtype=dataset.dtypes[chosen[0] - 1]),
            np.zeros((height, width), dtype=bool))


def resample_raw(data: np.ndarray, valid: np.ndarray, out_shape: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``(bands, h, w)`` source values to ``out_shape`` (rows, cols), leaving invalid pixels out.

    Shrinking averages over each output pixel's footprint (OpenCV's ``INTER_AREA``: thin rails are not aliased
    away), enlarging is bilinear. Invalid pixels take no part: the values and the valid mask are resampled
    alike and divided (normalised convolution), so an output pixel is the mean of the valid source pixels under
    it and is valid when any of them is. OpenCV rather than GDAL's warper because this runs once per tile and
    the warper is about six times slower at it.

    Returns:
        ``(bands, rows, cols)`` float32 values (NaN where invalid) and the ``(rows, cols)`` valid mask.
    """
    import cv2

    rows, cols = int(out_shape[0]), int(out_shape[1])
    shrink = data.shape[1] > rows or data.shape[2] > cols
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    n_bands = data.shape[0]
    values = np.ascontiguousarray(np.moveaxis(data, 0, -1), dtype=np.float32)  # (h, w, bands) for OpenCV

    def resize(image: np.ndarray) -> np.ndarray:
        out = cv2.resize(image, (cols, rows), interpolation=interpolation)
        return out.reshape(rows, cols, -1)

    if valid.all():
        out = resize(values)
        out_valid = np.ones((rows, cols), dtype=bool)
    else:
        values[~valid] = 0.0  # values times the 0/1 weight; NaN would spread through the average
        total = resize(values)
        share = resize(valid.astype(np.float32))[..., 0]
        out_valid = share > 1e-3
        out = total / np.maximum(share, 1e-3)[..., None]
        out[~out_valid] = np.nan
    return np.ascontiguousarray(np.moveaxis(out, -1, 0)[:n_bands]), out_valid


@functools.lru_cache(maxsize=32)
def _stretch_lut(dtype: str, low: float, high: float) -> tuple[np.ndarray, int]:
    """Lookup table for an integer dtype of at most 16 bits: value - offset -> uint8."""
    info = np.iinfo(np.dtype(dtype))
    values = np.arange(info.min, info.max + 1, dtype=np.float64)
    return _stretch(values, low, high), int(info.min)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = (values - low) * (255.0 / (high - low))
    return np.clip(np.rint(np.nan_to_num(scaled, nan=0.0)), 0, 255).astype(np.uint8)


def to_uint8_rgb(data: np.ndarray, valid: np.ndarray | None, norm: Normalization) -> np.ndarray:
    """Source values ``(bands, h, w)`` -> ``(h, w, 3)`` uint8 RGB by ``norm``; invalid pixels become 0 (``valid``
    None: every pixel is taken as it is)."""
    n_bands, height, width = data.shape
    out = np.empty((height, width, 3), dtype=np.uint8)
    for i in range(n_bands):
        band = data[i]
        if norm.low is None:
            if band.dtype == np.uint8:
                channel = band
            else:
                channel = np.clip(np.rint(np.nan_to_num(band.astype(np.float32), nan=0.0)), 0, 255).astype(np.uint8)
        elif np.issubdtype(band.dtype, np.integer) and band.dtype.itemsize <= 2:
            lut, offset = _stretch_lut(band.dtype.name, norm.low[i], norm.high[i])
            channel = lut[band.astype(np.int32) - offset if offset else band]
        else:
            channel = _stretch(band.astype(np.float32), norm.low[i], norm.high[i])
        if n_bands == 1:
            out[...] = channel[..., None]
        else:
            out[..., i] = channel
    if valid is not None and not valid.all():
        out[~valid] = 0
    return out


def read_window(dataset: Any, window: Any, norm: Normalization, *, out_shape: tuple[int, int] | None = None,
                boundless: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read one window as the model sees it.

    Args:
        dataset: an open rasterio dataset (one per thread).
        window: a ``rasterio.windows.Window`` in scene px (rounded to whole pixels).
        norm: the scene's :class:`Normalization` (bands and stretch).
        out_shape: (rows, cols) to resample to (for a change of GSD); None keeps the window's size.
        boundless: pad the parts of the window outside the scene with 0 (invalid); else clip the window.

    Returns:
        ``rgb``: ``(H, W, 3)`` uint8, channels last, C-contiguous; a grey source is repeated to three channels.
        ``valid``: ``(H, W)`` bool, False where nodata, masked, NaN or outside the scene (those pixels are 0).

    Raises:
        RasterReadError: GDAL fails to decode the window.
    """
    data, valid = read_raw_window(dataset, window, norm.bands, boundless=boundless)
    if out_shape is not None and tuple(out_shape) != data.shape[1:]:
        data, valid = resample_raw(data, valid, tuple(out_shape))
    return to_uint8_rgb(data, valid, norm), valid


# --------------------------------------------------------------------------------------------------------------
# Strip reader
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TileRead:
    """One window read by :func:`iter_tiles`.

    Attributes:
        window: the window asked for (scene px).
        rgb: ``(H, W, 3)`` uint8 model input.
        valid: ``(H, W)`` bool valid mask (False outside the scene too); None when the caller said it does not
            need it and it cannot change ``rgb``.
        raw: ``(bands, H, W)`` source values (the file's dtype, or float32 with NaN when resampled), only when
            asked for with ``keep_raw``.
        inside_frac: the share of the window that lies inside the scene.
    """

    window: Any
    rgb: np.ndarray
    valid: np.ndarray | None
    raw: np.ndarray | None
    inside_frac: float


class _StripBuffer:
    """Rows of the scene read once, block-aligned, and kept while the next windows need them.

    The rows live in one array that is allocated once (and grown only if a wider or taller strip comes): rows
    shared with the next strip are moved to its top and only the new rows are read below them. Reusing the
    array rather than concatenating keeps the peak memory at one strip, whatever the scene size.
    """

    def __init__(self, src: Any, bands: tuple[int, ...], *, with_valid: bool = True) -> None:
        self.src, self.bands, self.with_valid = src, bands, with_valid
        self.block_rows, self.block_cols = src.block_shapes[bands[0] - 1]
        self.row0 = self.row1 = 0
        self.col0 = self.col1 = 0
        self._store: np.ndarray | None = None  # (bands, rows, cols) capacity
        self._store_valid: np.ndarray | None = None

    @property
    def data(self) -> np.ndarray:
        return self._store[:, :self.row1 - self.row0, :self.col1 - self.col0]

    @property
    def valid(self) -> np.ndarray | None:
        if self._store_valid is None:
            return None
        return self._store_valid[:self.row1 - self.row0, :self.col1 - self.col0]

    def _align_cols(self, c0: int, c1: int) -> tuple[int, int]:
        cols = self.block_cols if self.block_cols < self.src.width else self.src.width
        return c0 // cols * cols, min(self.src.width, -(-c1 // cols) * cols)

    def _reserve(self, rows: int, cols: int, keep_rows: int) -> None:
        """Make the store at least ``rows`` x ``cols``, keeping its first ``keep_rows`` rows."""
        store = self._store
        if store is not None and store.shape[1] >= rows and store.shape[2] >= cols:
            return
        shape = (len(self.bands), max(rows, 0 if store is None else store.shape[1]),
                 max(cols, 0 if store is None else store.shape[2]))
        if not keep_rows:  # nothing to carry over: let the old store go before making the new one
            store = self._store = self._store_valid = None
        new_store = np.zeros(shape, dtype=self.src.dtypes[self.bands[0] - 1])
        new_valid = np.zeros(shape[1:], dtype=bool) if self.with_valid else None
        if store is not None and keep_rows:
            new_store[:, :keep_rows, :store.shape[2]] = store[:, :keep_rows]
            if new_valid is not None:
                new_valid[:keep_rows, :store.shape[2]] = self._store_valid[:keep_rows]
        self._store, self._store_valid = new_store, new_valid

    def _read_into(self, at_row: int, c0: int, start: int, stop: int) -> None:
        data, valid = _read_region(self.src, self.bands, c0, start, self.col1 - c0, stop - start,
                                   with_valid=self.with_valid)
        self._store[:, at_row:at_row + data.shape[1], :data.shape[2]] = data
        if valid is not None:
            self._store_valid[at_row:at_row + data.shape[1], :data.shape[2]] = valid

    def cover(self, r0: int, r1: int, c0: int, c1: int) -> None:
        """Make the buffer hold scene rows [r0, r1) and columns [c0, c1) (all inside the scene)."""
        c0, c1 = self._align_cols(c0, c1)
        # Read to the end of the block row: the next strip starts inside it, and a block cut in two would be
        # decoded twice.
        end = min(self.src.height, -(-r1 // self.block_rows) * self.block_rows)
        reusable = (self._store is not None and (c0, c1) == (self.col0, self.col1) and self.row0 <= r0 < self.row1)
        if reusable:
            kept = self.row1 - r0
            offset = r0 - self.row0
            if offset:
                self._store[:, :kept] = self._store[:, offset:offset + kept]
                if self._store_valid is not None:
                    self._store_valid[:kept] = self._store_valid[offset:offset + kept]
            self._reserve(end - r0, c1 - c0, kept)
            start = self.row1
            self.row0, self.row1 = r0, max(self.row1, end)
            if end > start:
                self._read_into(kept, c0, start, end)
        else:
            self._reserve(end - r0, c1 - c0, 0)
            self.row0, self.row1, self.col0, self.col1 = r0, end, c0, c1
            self._read_into(0, c0, r0, end)

    def cut(self, window: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray | None, bool]:
        """``window`` (scene px; may reach outside the scene) from the buffer: ``(data, valid, is_view)``.

        A window inside the buffer comes back as views (no copy: the caller copies what it keeps); one that
        reaches past the scene as a zero-padded copy.
        """
        col, row, width, height = window
        r, c = row - self.row0, col - self.col0
        if r >= 0 and c >= 0 and r + height <= self.data.shape[1] and c + width <= self.data.shape[2]:
            valid = self.valid
            return (self.data[:, r:r + height, c:c + width],
                    None if valid is None else valid[r:r + height, c:c + width], True)
        return (*_paste(self.data, self.valid, self.col0, self.row0, window), False)


def _strips(windows: Sequence[Any]) -> Iterator[list[Any]]:
    """Consecutive windows that share their rows."""
    group: list[Any] = []
    key = None
    for window in windows:
        col, row, width, height = _int_window(window)
        if group and (row, height) != key:
            yield group
            group = []
        key = (row, height)
        group.append(window)
    if group:
        yield group


def reading_order(windows: Sequence[Any], block_cols: int, *, chunk_px: int = READ_CHUNK_PX) -> list[int]:
    """The order (indexes into ``windows``) in which :func:`iter_tile_arrays` reads them with the least memory.

    Row-major within vertical chunks about ``chunk_px`` wide (aligned to the file's ``block_cols``): a strip
    then spans one chunk, not the whole scene, so the strip buffer is the same size for an 8k and a 64k wide
    scene. The price is decoding the one block column shared by two chunks twice (about 6 % at 8192 px chunks
    of 512 px blocks). Scenes narrower than a chunk keep plain row-major order.
    """
    width = max(int(block_cols), int(chunk_px) // max(1, int(block_cols)) * int(block_cols))
    keys = []
    for i, window in enumerate(windows):
        col, row, _, _ = _int_window(window)
        keys.append((max(col, 0) // width, row, col, i))
    return [key[-1] for key in sorted(keys)]


def _mask_is_a_no_op(dataset: Any, norm: Normalization) -> bool:
    """Whether zeroing invalid pixels leaves the model input unchanged, so the valid mask need not be computed.

    True for uint8 bands taken as they are (no stretch) with no mask band or alpha and no nodata other than 0: a
    pixel is invalid only when every band holds 0, and it is 0 in the model input already.
    """
    from rasterio.enums import MaskFlags

    if norm.low is not None or any(np.dtype(dataset.dtypes[b - 1]) != np.uint8 for b in norm.bands):
        return False
    for band in norm.bands:
        flags = dataset.mask_flag_enums[band - 1]
        if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
            return False
        nodata = dataset.nodatavals[band - 1]
        if MaskFlags.nodata in flags and nodata is not None and nodata != 0:
            return False
    return True


def iter_tiles(dataset: Any, windows: Iterable[Any], norm: Normalization, *,
               out_shape: tuple[int, int] | None = None, keep_raw: bool = False,
               need_valid: bool = True) -> Iterator[TileRead]:
    """Read many windows strip by strip; see :func:`iter_tile_arrays`. Yields :class:`TileRead` records.

    ``need_valid=False`` (the caller uses ``rgb`` only) skips computing the valid mask where it cannot change
    ``rgb`` (see :func:`_mask_is_a_no_op`); ``valid`` is then None.
    """
    bands = norm.bands
    width, height = dataset.width, dataset.height
    with_valid = need_valid or out_shape is not None or not _mask_is_a_no_op(dataset, norm)
    buffer = _StripBuffer(dataset, bands, with_valid=with_valid)
    for strip in _strips(list(windows)):
        data = valid = None  # drop the last tile's views of the previous strip before reading the next one
        boxes = [_int_window(w) for w in strip]
        r0, r1 = max(0, boxes[0][1]), min(height, boxes[0][1] + boxes[0][3])
        c0 = max(0, min(b[0] for b in boxes))
        c1 = min(width, max(b[0] + b[2] for b in boxes))
        if r1 > r0 and c1 > c0:
            buffer.cover(r0, r1, c0, c1)
        for window, box in zip(strip, boxes, strict=True):
            col, row, w, h = box
            inside = max(0, min(col + w, width) - max(col, 0)) * max(0, min(row + h, height) - max(row, 0))
            is_view = False
            if inside:
                data, valid, is_view = buffer.cut(box)
            else:
                data = np.zeros((len(bands), h, w), dtype=dataset.dtypes[bands[0] - 1])
                valid = np.zeros((h, w), dtype=bool) if with_valid else None
            if out_shape is not None and tuple(out_shape) != (h, w):
                data, valid = resample_raw(data, valid, tuple(out_shape))
                is_view = False
            rgb = to_uint8_rgb(data, valid, norm)
            if is_view:  # what is yielded must not pin the strip buffer in memory
                valid = None if valid is None else valid.copy()
                data = data.copy() if keep_raw else data
            yield TileRead(window=window, rgb=rgb, valid=valid, raw=data if keep_raw else None,
                           inside_frac=inside / float(w * h))


def iter_tile_arrays(dataset: Any, windows: Iterable[Any], norm: Normalization, *,
                     out_shape: tuple[int, int] | None = None, need_valid: bool = True
                     ) -> Iterator[tuple[Any, np.ndarray, np.ndarray | None]]:
    """Read a grid of windows as :func:`read_window` would, decoding each block of the file once.

    Windows are taken in the order given; consecutive windows with the same rows (a row-major grid from
    :func:`yardwatch.tiling.make_tile_grid`) form a strip, read once (aligned to the file's blocks) and cut into
    tiles. Rows shared with the next strip (the overlap) stay in memory instead of being decoded again. Reading
    640 px windows one by one from a 512-tiled DEFLATE file decodes each block about four times; this decodes it
    once. Memory holds one strip (window height plus one block row, the width of the windows) at a time; put the
    windows in :func:`reading_order` to keep that strip narrow (and memory flat) on very wide scenes. Safe to run
    in a background thread with its own dataset handle.

    Yields:
        ``(window, rgb, valid)`` per window: ``(H, W, 3)`` uint8 and ``(H, W)`` bool, as :func:`read_window`
        (``valid`` may be None with ``need_valid=False``, see :func:`iter_tiles`).
    """
    for tile in iter_tiles(dataset, windows, norm, out_shape=out_shape, need_valid=need_valid):
        yield tile.window, tile.rgb, tile.valid
