"""A deterministic stand-in detector for testing the inference core without trained weights.

``BrightBlobNet`` finds bright connected components in each tile (what a perfect detector of the bright test bars
would report) and emits them in the raw head format of ultralytics (B, 4 + nc [+1], N): (cx, cy, w, h) in input
px, class scores, and the angle for OBB. A bar cut by a tile edge comes out as a truncated box, as a real
detector's would, so the seam merge is tested on the cases it exists for.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch

from yardwatch.models.card import ModelCard, write_card
from yardwatch.models.loader import LoadedModel

SLOTS = 64
TILE_PX = 128  # the tile size of spread_weights' card


class BrightBlobNet(torch.nn.Module):
    def __init__(self, task: str, num_classes: int = 3, threshold: float = 0.5) -> None:
        super().__init__()
        self.task = task
        self.num_classes = num_classes
        self.threshold = threshold
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
        self.stride = torch.tensor([8.0, 16.0, 32.0])

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        extra = 1 if self.task == "obb" else 0
        out = torch.zeros(batch.shape[0], 4 + self.num_classes + extra, SLOTS)
        images = batch.float().cpu().numpy()
        for b, image in enumerate(images):
            red, green = image[0], image[1]
            mask = (red > self.threshold).astype(np.uint8)
            count, labels = cv2.connectedComponents(mask, connectivity=8)
            for k in range(1, min(count, SLOTS + 1)):
                ys, xs = np.nonzero(labels == k)
                pts = np.stack([xs, ys], 1).astype(np.float32)
                # class from the green channel: 0.1 -> 0 railcar, 0.5 -> 1 tarp, 0.9 -> 2 container
                cls = int(np.clip(np.round(green[ys, xs].mean() * 2.5 - 0.25), 0, self.num_classes - 1))
                area = len(xs)
                if self.task == "obb":
                    (cx, cy), (w, h), deg = cv2.minAreaRect(pts)
                    w, h = w + 1, h + 1
                    angle = math.radians(deg)
                else:
                    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                    cx, cy, w, h, angle = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, 0.0
                    cx, cy = cx, cy
                if self.task == "obb":
                    cx, cy = cx + 0.5, cy + 0.5
                out[b, 0:4, k - 1] = torch.tensor([cx, cy, w, h])
                out[b, 4 + cls, k - 1] = 0.5 + 0.4 * min(1.0, area / 400.0)
                if extra:
                    out[b, -1, k - 1] = angle
        return out


def fake_model(task: str, *, tile_size_px: int = 128, overlap_px: int = 32, gsd_m: float | None = 0.5) -> LoadedModel:
    card = ModelCard(task=task, imgsz=tile_size_px, tile_size_px=tile_size_px, overlap_px=overlap_px, gsd_m=gsd_m)
    return LoadedModel(network=BrightBlobNet(task), card=card, stride=32, device=torch.device("cpu"),
                       path=Path("bright-blob.pt"), sha256="0" * 64)


def write_scene(path: Path, image: np.ndarray, crs: str = "EPSG:32652") -> Path:
    """Write (3, H, W) uint8 as a tiled GeoTIFF at 0.5 m near Tumangang."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=image.shape[2], height=image.shape[1], count=3,
                       dtype="uint8", crs=crs, transform=from_origin(350000.0, 4700000.0, 0.5, 0.5), tiled=True,
                       blockxsize=64, blockysize=64, compress="deflate") as dst:
        dst.write(image)
    return path


def bar_corners(cx: float, cy: float, length: float, width: float, angle: float) -> np.ndarray:
    """(4, 2) corners of a bar centred at (cx, cy), long side along ``angle`` (radians), scene px."""
    c, s = math.cos(angle), math.sin(angle)
    u = np.array([c, s]) * length / 2
    v = np.array([-s, c]) * width / 2
    centre = np.array([cx, cy])
    return np.array([centre - u - v, centre + u - v, centre + u + v, centre - u + v])


def draw_bars(shape: tuple[int, int], bars: list[tuple[float, float, float, float, float, int]]) -> np.ndarray:
    """A (3, H, W) uint8 scene with bright bars (cx, cy, length, width, angle, class) on a dark ground."""
    image = np.full((3, *shape), 30, dtype=np.uint8)
    green_of = {0: 25, 1: 128, 2: 230}
    for cx, cy, length, width, angle, cls in bars:
        pts = np.round(bar_corners(cx, cy, length, width, angle) * 16).astype(np.int32)
        for band, value in ((0, 240), (1, green_of[cls]), (2, 60)):
            layer = np.ascontiguousarray(image[band])
            cv2.fillPoly(layer, [pts], int(value), lineType=cv2.LINE_8, shift=4)
            image[band] = layer
    return image


def spread_weights(folder: Path, *, seed: int = 0) -> Path:
    """Untrained yolov8n weights whose scores spread over (0, 1), with a model card (tile 128 px, 0.5 m).

    A freshly built network scores every anchor alike (its activations shrink layer after layer), so its
    detections are ties that any rounding reorders. Re-initialising the convolutions to keep the activation scale
    (He init) and widening the class layer makes the scores and boxes depend on the pixels, so two runtimes agree
    only if they compute the same thing.
    """
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    net = DetectionModel("yolov8n.yaml", nc=3, verbose=False)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    for branch in net.model[-1].cv3:
        torch.nn.init.normal_(branch[-1].weight, 0.0, 30.0)
        torch.nn.init.constant_(branch[-1].bias, -2.0)
    net.names = {i: f"c{i}" for i in range(3)}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pt"
    torch.save({"model": net, "train_args": {"imgsz": TILE_PX}}, path)
    write_card(ModelCard(task="detect", imgsz=TILE_PX, tile_size_px=TILE_PX, overlap_px=32, gsd_m=0.5),
               folder / "model.model_card.json")
    return path


def noise_tiles(folder: Path, count: int = 8, *, seed: int = 3) -> Path:
    """``count`` random RGB tiles of TILE_PX as PNGs in ``folder`` (an int8 export's calibration set)."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        cv2.imwrite(str(folder / f"tile{k}.png"), rng.integers(0, 255, (TILE_PX, TILE_PX, 3), dtype=np.uint8))
    return folder


def scene_detections(weights: Path, scene: Path, out: Path, settings=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predict one scene (file or catalog) on the CPU and read its detections back from the written file:
    (cx, cy, w, h, angle) in scene pixels, class ids, scores. ``settings`` None: the model card's."""
    import geopandas as gpd

    from yardwatch.infer.predict import predict_scenes
    from yardwatch.io.raster import find_scenes

    summary = predict_scenes(find_scenes(scene), weights, out, device="cpu", settings=settings)
    assert summary.scenes[0].status == "ok"
    frame = gpd.read_file(next(out.glob("*.geojson")))
    return (frame[["cx_px", "cy_px", "w_px", "h_px", "angle_rad"]].to_numpy(), frame["class_id"].to_numpy(),
            frame["score"].to_numpy())


def matched_one_to_one(a: tuple, b: tuple, min_iou: float) -> tuple[int, np.ndarray, np.ndarray]:
    """How many of detections ``a`` and ``b`` (as :func:`scene_detections` returns them) pair up one-to-one with
    the same class at IoU >= ``min_iou``, and the indices of those pairs in ``a`` and ``b``."""
    from scipy.optimize import linear_sum_assignment

    from yardwatch.eval.iou import obb_iou_matrix

    iou = obb_iou_matrix(a[0], b[0])
    iou[a[1][:, None] != b[1][None, :]] = 0.0  # a match must agree on the class
    rows, cols = linear_sum_assignment(-iou)  # one-to-one, maximising the summed IoU
    good = iou[rows, cols] >= min_iou
    return int(good.sum()), rows[good], cols[good]


def spread_detections(weights: Path, scene: Path, out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`scene_detections` with the tiling of :func:`spread_weights`' card and conf 0.25, in fp32: the
    reference that exported models are compared with (``precision=auto`` is bf16 on a CPU with AMX)."""
    from yardwatch.infer.core import InferenceSettings

    return scene_detections(weights, scene, out, InferenceSettings(tile_size_px=TILE_PX, overlap_px=32, conf=0.25,
                                                                   precision="fp32"))
