"""The yardwatch exception hierarchy.

Every error a user can fix is a :class:`YardwatchError`. Subclasses also derive from the builtin exception a
caller would expect (rasterio does the same with ``RasterioIOError(RasterioError, OSError)``), so code that
catches ``ValueError`` or ``OSError`` keeps working. The CLI turns any of these into one line on stderr and exit
status 2; the message must name the file or key and say how to fix it.
"""

from __future__ import annotations


class YardwatchError(Exception):
    """Root of all errors a user can act on."""


class ConfigError(YardwatchError, ValueError):
    """A configuration key has a value that cannot work (negative size, unknown CRS, ...)."""


class InputError(YardwatchError, ValueError):
    """An input file exists but its content is unusable (wrong bands, unknown class, empty labels, ...)."""


class RasterReadError(YardwatchError, OSError):
    """A raster is missing, corrupt, or cannot be read by GDAL."""


class GeoreferenceError(YardwatchError, ValueError):
    """A raster has no CRS, or a rotated or sheared transform that yardwatch would misplace."""


class LabelError(YardwatchError, ValueError):
    """A label file is missing, empty, in an unknown CRS, or names an unknown class."""


class ModelError(YardwatchError, ValueError):
    """A weights file is not a model, or its classes, bands or task do not fit the input."""


class DeviceError(YardwatchError, RuntimeError):
    """The requested device is not available (e.g. ``device=cuda`` on a machine without CUDA)."""


class OutputError(YardwatchError, OSError):
    """The output location cannot be written."""
