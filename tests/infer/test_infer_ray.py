"""``engine=ray``: a local Ray cluster (2 CPUs) writes what the local engine writes, survives killed workers
without losing or rewriting a scene, skips finished scenes on a rerun, and fails clearly without Ray or a cluster.

Ray starts once for the module (about 10 s here) and every run reuses it, as a notebook that called ``ray.init``
would.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fake_detector import spread_weights, write_scene
from yardwatch.cli.main import main
from yardwatch.errors import ConfigError
from yardwatch.infer.core import InferenceSettings
from yardwatch.infer.predict import predict_scenes
from yardwatch.io.raster import find_scenes

ray = pytest.importorskip("ray")

SCENE_IDS = ("s0", "s1", "s2", "s3")
# 256 px scenes at 128/32 px are 3 x 3 tiles; a batch of 9 holds exactly one scene, as it does in a Ray worker.
SETTINGS = InferenceSettings(tile_size_px=128, overlap_px=32, conf=0.25, batch_size=9)


@pytest.fixture(scope="module")
def ray_cluster():
    import ray.cloudpickle

    # The fault-injection hook below is defined here; workers cannot import this test module, so send it by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, object_store_memory=100 * 1024**2,
             log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return spread_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """Four 256 px scenes with different content, listed in a catalog.csv."""
    folder = tmp_path_factory.mktemp("scenes")
    rng = np.random.default_rng(3)
    rows = ["scene_id,path,acquired"]
    for i, scene_id in enumerate(SCENE_IDS):
        write_scene(folder / f"{scene_id}.tif", rng.integers(0, 255, (3, 256, 256), dtype=np.uint8))
        rows.append(f"{scene_id},{scene_id}.tif,2023-10-0{i + 1}")
    (folder / "catalog.csv").write_text("\n".join(rows) + "\n")
    return folder / "catalog.csv"


@pytest.fixture(scope="module")
def local_run(weights, catalog, tmp_path_factory) -> Path:
    """The local engine's outputs, the reference every Ray run must reproduce byte for byte.

    The last bits of a float32 convolution depend on the batch it ran in and on torch's thread count, so the
    reference runs as each of the two Ray workers does: one scene per batch (``SETTINGS``), one thread (its share
    of the 2 CPUs). With other batches or threads the two engines agree to float32 rounding, not bitwise.
    """
    import torch

    out = tmp_path_factory.mktemp("local")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = predict_scenes(find_scenes(catalog), weights, out, device="cpu", settings=SETTINGS)
    finally:
        torch.set_num_threads(threads)
    assert [s.status for s in summary.scenes] == ["ok"] * 4
    assert sum(s.n_detections for s in summary.scenes) > 100  # real, varied detections to compare
    return out


def _ray_predict(weights: Path, catalog: Path, out: Path, **kwargs):
    from yardwatch.infer.ray_engine import predict_scenes_ray

    return predict_scenes_ray(find_scenes(catalog), weights, out, device="cpu", settings=SETTINGS,
                              num_workers=2, **kwargs)


def _assert_same_outputs(out: Path, reference: Path) -> None:
    for scene_id in SCENE_IDS:
        assert (out / f"{scene_id}.geojson").read_bytes() == (reference / f"{scene_id}.geojson").read_bytes(), \
            scene_id
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["predict", *args, "progress=false"])
    return code, capsys.readouterr().err


def test_ray_writes_what_the_local_engine_writes(ray_cluster, weights, catalog, local_run, tmp_path,
                                                 capsys) -> None:
    out = tmp_path / "ray"
    code, err = _cli(capsys, f"scenes={catalog}", f"weights={weights}", f"out_dir={out}", "device=cpu",
                     "engine=ray", "num_workers=2", "conf=0.25", "tile_size_px=128", "overlap_px=32", "batch_size=9")
    assert code == 0, err
    _assert_same_outputs(out, local_run)
    ray_summary, local_summary = _summary(out), _summary(local_run)
    assert ray_summary.keys() == local_summary.keys()
    for key in ("model_sha256", "task", "device", "precision", "settings", "tiles"):
        assert ray_summary[key] == local_summary[key], key
    assert ray_summary["tiles"] == 4 * 9  # 256 px at 128/32: 3 x 3 tiles per scene
    assert [s["scene_id"] for s in ray_summary["scenes"]] == list(SCENE_IDS)
    for mine, theirs in zip(ray_summary["scenes"], local_summary["scenes"], strict=True):
        assert mine.keys() == theirs.keys()
        assert mine["output"] == theirs["output"].replace(str(local_run), str(out))
        for key in ("status", "counts", "n_detections", "tiles"):
            assert mine[key] == theirs[key], key

    # A rerun does nothing but report the scenes as done (no worker starts, no file changes).
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.geojson")}
    started = time.perf_counter()
    again = _ray_predict(weights, catalog, out)
    assert [s.status for s in again.scenes] == ["skipped"] * 4
    assert again.tiles == 0 and time.perf_counter() - started < 10
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.geojson")} == stamps
    assert [s["status"] for s in _summary(out)["scenes"]] == ["skipped"] * 4


@dataclass(frozen=True)
class KillOnce:
    """Kill the worker process (``os._exit``) at ``event`` of each chosen scene, once: the marker file says so.

    The marker records the output's inode and modification time at the moment of death, so the test can tell
    whether a retry wrote the file again.
    """

    marker_dir: str
    kill_at: tuple[tuple[str, str], ...]  # (scene_id, event)

    def __call__(self, event: str, scene, output: Path) -> None:
        if (scene.scene_id, event) not in self.kill_at:
            return
        marker = Path(self.marker_dir) / f"{scene.scene_id}.{event}.json"
        if marker.exists():
            return
        stat = output.stat() if output.exists() else None
        marker.write_text(json.dumps({"pid": os.getpid(), "inode": stat.st_ino if stat else None,
                                      "mtime_ns": stat.st_mtime_ns if stat else None}))
        os._exit(1)


def test_killed_workers_lose_no_scene_and_write_none_twice(ray_cluster, weights, catalog, local_run,
                                                           tmp_path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    # s1's worker dies before reading the scene; s2's dies after its file is renamed into place.
    hook = KillOnce(str(markers), (("s1", "start"), ("s2", "written")))
    out = tmp_path / "ray"
    summary = _ray_predict(weights, catalog, out, scene_hook=hook, max_retries=2)
    assert sorted(p.name for p in markers.iterdir()) == ["s1.start.json", "s2.written.json"]  # both died
    assert [s.status for s in summary.scenes] == ["ok"] * 4
    _assert_same_outputs(out, local_run)
    died_after_write = json.loads((markers / "s2.written.json").read_text())
    stat = (out / "s2.geojson").stat()
    assert (stat.st_ino, stat.st_mtime_ns) == (died_after_write["inode"], died_after_write["mtime_ns"])
    local_counts = {s["scene_id"]: s["counts"] for s in _summary(local_run)["scenes"]}
    assert {s.scene_id: s.counts for s in summary.scenes} == local_counts
    assert not list(out.glob(".*partial*"))


@pytest.mark.slow
def test_a_scene_that_kills_every_attempt_fails_alone(ray_cluster, weights, catalog, tmp_path) -> None:
    out = tmp_path / "ray"
    summary = _ray_predict(weights, catalog, out, scene_hook=AlwaysKill("s3"), max_retries=1)
    status = {s.scene_id: s.status for s in summary.scenes}
    assert status == {"s0": "ok", "s1": "ok", "s2": "ok", "s3": "failed"}
    assert "died" in summary.scenes[3].error
    assert not (out / "s3.geojson").exists() and (out / "s0.geojson").exists()


@dataclass(frozen=True)
class AlwaysKill:
    scene_id: str

    def __call__(self, event: str, scene, output: Path) -> None:
        if event == "start" and scene.scene_id == self.scene_id:
            os._exit(1)


def test_unreachable_ray_address_fails_fast(weights, catalog, tmp_path, capsys) -> None:
    out = tmp_path / "pred"
    started = time.perf_counter()
    code, err = _cli(capsys, f"scenes={catalog}", f"weights={weights}", f"out_dir={out}", "engine=ray",
                     f"ray_address=127.0.0.1:{_free_port()}")
    assert time.perf_counter() - started < 10
    lines = [ln for ln in err.splitlines() if ln.startswith("yardwatch:")]
    assert code == 2 and len(lines) == 1, err
    assert "ray_address=127.0.0.1:" in lines[0] and "ray start --head" in lines[0]
    assert not out.exists()


def test_malformed_ray_address(weights, catalog, tmp_path) -> None:
    from yardwatch.infer.ray_engine import ray_predictor

    with pytest.raises(ConfigError, match="ray_address='10.0.0.5' is not host:port"):
        ray_predictor(ray_address="10.0.0.5")


def test_engine_ray_without_ray_says_how_to_install(monkeypatch, weights, catalog, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    out = tmp_path / "pred"
    code, err = _cli(capsys, f"scenes={catalog}", f"weights={weights}", f"out_dir={out}", "engine=ray")
    lines = [ln for ln in err.splitlines() if ln.startswith("yardwatch:")]
    assert code == 2 and len(lines) == 1, err
    assert "pip install 'yardwatch[ray]'" in lines[0] and "engine=local" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("device, gpus, resources, message", [
    ("cuda:1", None, {"CPU": 8.0, "GPU": 2.0}, "Ray assigns each worker its GPU"),
    ("cuda", None, {"CPU": 8.0}, "has 0 GPUs"),
    ("cuda", 0, {"CPU": 8.0, "GPU": 1.0}, "num_gpus_per_worker=1"),
    ("cpu", 1, {"CPU": 8.0, "GPU": 1.0}, "num_gpus_per_worker=0"),
])
def test_plan_workers_refuses_what_ray_cannot_give(device, gpus, resources, message) -> None:
    from yardwatch.infer.ray_engine import plan_workers

    with pytest.raises(ConfigError, match=message):
        plan_workers(device, None, gpus, 10, resources, [8.0])


def test_plan_workers_sizes_to_the_cluster() -> None:
    from yardwatch.infer.ray_engine import plan_workers

    gpu = plan_workers("auto", None, None, 100, {"CPU": 64.0, "GPU": 8.0}, [32.0, 32.0])
    assert (gpu.num_workers, gpu.num_gpus, gpu.num_cpus, gpu.device) == (8, 1.0, 1.0, "cuda")
    shared = plan_workers("auto", 12, 0.5, 100, {"CPU": 64.0, "GPU": 4.0}, [64.0])
    assert (shared.num_workers, shared.num_gpus) == (8, 0.5)  # 12 asked, 8 halves of 4 GPUs fit
    cpu = plan_workers("auto", 3, None, 100, {"CPU": 2.0}, [2.0])
    assert cpu.device == "cpu" and cpu.num_cpus * 3 <= 2.0 and cpu.threads == 1
    one = plan_workers("cpu", None, None, 2, {"CPU": 16.0}, [16.0])
    assert (one.num_workers, one.num_cpus, one.threads) == (2, 8.0, 8)  # 16 // 4 = 4 workers, but 2 scenes


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "parquet", "csv"])
def test_counts_recovered_from_a_file_an_earlier_attempt_wrote(fmt, tmp_path) -> None:
    import rasterio.transform

    from yardwatch.infer.ray_engine import _report_from_output
    from yardwatch.io.detections import detections_frame, output_path, write_detections
    from yardwatch.io.raster import SceneRef

    names = ("railcar", "tarp", "container")
    transform = rasterio.transform.from_origin(350000.0, 4700000.0, 0.5, 0.5)
    item = SceneRef("s9", tmp_path / "s9.tif")
    for classes, expected in (([0, 2, 2], {"railcar": 1, "tarp": 0, "container": 2}),
                              ([], {"railcar": 0, "tarp": 0, "container": 0})):  # a scene with no detections
        obb = np.array([[10.0 + 20 * i, 10.0, 8.0, 3.0, 0.0] for i in range(len(classes))]).reshape(-1, 5)
        frame = detections_frame("s9", obb, np.full(len(classes), 0.9), np.array(classes, dtype=np.int64),
                                 class_names=names, transform=transform, crs="EPSG:32652", gsd_m=0.5)
        target = write_detections(frame, output_path(tmp_path, "s9", fmt), fmt)
        report = _report_from_output(item, target, fmt, names)
        assert (report.status, report.counts, report.n_detections) == ("ok", expected, len(classes))
