"""Reading scenes and labels, writing detections.

``yardwatch.io.raster``: scenes (open, validate, windowed reads, normalisation to uint8 RGB).
``yardwatch.io.vector``: labels and other vector files (read, repair, reproject, map classes).
``yardwatch.io.detections``: detection writers.

Submodules are imported where they are used, so that ``import yardwatch.io`` stays light.
"""

from __future__ import annotations
