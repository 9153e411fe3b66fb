"""``predict_scenes_ray``: ``yardwatch predict engine=ray``, an archive of scenes fanned out over a Ray cluster.

One Ray actor per worker loads the model once and runs the same :class:`~yardwatch.infer.core.InferenceEngine` as
the local engine, one scene per actor call, writing ``<scene_id>.<format>`` exactly as the local engine does (same
detections, same file, written whole or not at all). The driver keeps a few scenes queued on every worker (so that
its engine batches tiles across scenes, as the local engine does), shows progress over scenes and writes a
``summary.json`` of the same form as :func:`yardwatch.infer.predict.predict_scenes`.

Why actors and not plain tasks: loading and fusing the network costs seconds, more than a small scene takes, so a
worker keeps it across scenes. Fault tolerance: Ray restarts an actor whose process dies (the model is reloaded)
and the driver sends each scene that worker held again, on its own, up to ``max_retries`` times; a scene that kills
its worker every time fails alone. A retried scene is never written twice: the driver records each output's
modification time before the run, and a worker that finds the output changed since then knows an earlier attempt
finished it (the process died after the atomic rename) and only reports it. A rerun skips scenes whose output
exists without starting Ray at all.

``ray`` is an optional dependency (``pip install 'yardwatch[ray]'``) and is imported only when this engine runs.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from yardwatch.errors import ConfigError, ModelError, OutputError, YardwatchError
from yardwatch.infer.core import InferenceEngine, InferenceSettings, SceneFailure
from yardwatch.infer.device import device_for_weights
from yardwatch.infer.predict import (PredictSummary, SceneReport, check_same_model, finish_summary, summary_settings,
                                     write_scene_detections)
from yardwatch.io.detections import output_path
from yardwatch.io.raster import SceneRef
from yardwatch.models.loader import load_model

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'yardwatch[ray]'"
CONNECT_TIMEOUT_S = 3.0  # an unreachable ray_address fails within this, not after Ray's own minute of retries
CPUS_PER_CPU_WORKER = 4  # default CPU worker size: torch's intra-op threads scale poorly much beyond this
SCENES_IN_FLIGHT = 4  # calls queued on each worker, so that its engine batches tiles across scenes
GATHER_S = 0.05  # how long a worker's engine thread waits for the other queued calls to arrive

# A hook called inside the worker as hook(event, scene, output_path) with event "start" (before reading the scene)
# and "written" (after its file is in place). For instrumentation and fault-injection tests; it must be picklable.
SceneHook = Callable[[str, SceneRef, Path], None]


@dataclass(frozen=True, slots=True)
class SceneJob:
    """What every worker needs besides the scene: where and how to write, and how to read scenes."""

    out_dir: Path
    fmt: str
    out_crs: str | None
    aoi: Path | None
    bands: tuple[int, ...] | None
    assume_crs: str | None
    quicklook: bool


@dataclass(frozen=True, slots=True)
class SceneOutcome:
    """One scene as a worker finished it: its report and the counters the summary adds up."""

    report: SceneReport
    tiles: int = 0
    forward_seconds: float = 0.0
    megapixels: float = 0.0


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """How many workers, and the Ray resources and torch device of each."""

    num_workers: int
    num_cpus: float
    num_gpus: float
    device: str  # the device spec each worker resolves: "cuda" (the GPU Ray assigned it), "cpu" or "mps"
    threads: int  # torch intra-op threads per worker


@dataclass(slots=True)
class _RunState:
    """The driver's bookkeeping over one run."""

    reports: dict[str, SceneReport] = field(default_factory=dict)
    tiles: int = 0
    forward_seconds: float = 0.0
    megapixels: float = 0.0


def import_ray() -> Any:
    """Import ray, or say how to install it.

    Raises:
        ConfigError: ray is not installed.
    """
    try:
        import ray
    except ImportError as err:
        raise ConfigError(f"engine=ray needs Ray, which is not installed; run `{INSTALL_HINT}` or use "
                          "engine=local") from err
    return ray


def ray_predictor(*, ray_address: str | None = None, num_workers: int | None = None,
                  num_gpus_per_worker: float | None = None) -> Callable[..., PredictSummary]:
    """:func:`predict_scenes_ray` with the Ray options bound: a drop-in for ``predict_scenes`` in the CLI.

    Checks that Ray is installed before any scene is read.

    Raises:
        ConfigError: Ray is missing, or an option is out of range.
    """
    import_ray()
    if ray_address:
        check_reachable(ray_address)  # before any scene is read: a wrong address fails in seconds
    if num_workers is not None and (isinstance(num_workers, bool) or int(num_workers) != num_workers
                                    or num_workers < 1):
        raise ConfigError(f"num_workers={num_workers!r} must be a whole number >= 1, or null for one per GPU")
    if num_gpus_per_worker is not None and not 0 <= num_gpus_per_worker <= 64:
        raise ConfigError(f"num_gpus_per_worker={num_gpus_per_worker!r} must be in [0, 64] (0.5 puts two workers "
                          "on one GPU), or null to use one GPU per worker when the cluster has GPUs")
    return partial(predict_scenes_ray, ray_address=ray_address, num_workers=num_workers,
                   num_gpus_per_worker=num_gpus_per_worker)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast when nothing listens at a Ray ``host:port`` (or ``ray://host:port``) address.

    ``auto`` and ``local`` are Ray's own keywords and are left to Ray (which answers them at once).

    Raises:
        ConfigError: the address is malformed or nothing answers there within ``timeout_s``.
    """
    text = address.strip()
    if text in ("auto", "local"):
        return
    hostport = text.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"ray_address={address!r} is not host:port; use e.g. ray_address=10.0.0.5:6379 (the "
                          "address `ray start --head` prints), ray://10.0.0.5:10001 or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise ConfigError(f"ray_address={address}: no Ray cluster answers there ({type(err).__name__}: "
                          f"{err.strerror or err}); start one with `ray start --head` on that machine, check the "
                          "host and port, or drop ray_address to run a local Ray cluster") from err


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def connect_ray(ray_address: str | None) -> bool:
    """Join the cluster at ``ray_address`` (or ``$RAY_ADDRESS``), else start a local one sized to this machine.

    A process that is already connected to Ray (e.g. a notebook that called ``ray.init``) keeps its connection.

    Returns:
        True when this call started or joined Ray (and the caller should shut it down after), False when Ray was
        already initialised by the caller.

    Raises:
        ConfigError: Ray is missing, or the address is unreachable or not a Ray cluster.
    """
    ray = import_ray()
    address = ray_address or os.environ.get("RAY_ADDRESS") or None
    if address == "local":
        address = None
    if address:
        check_reachable(address)
    if ray.is_initialized():
        if address:
            log.warning("ray_address=%s: this process is already connected to Ray; using that connection", address)
        return False
    if address:
        try:
            ray.init(address=address, log_to_driver=True)
        except Exception as err:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError, ...
            raise ConfigError(f"ray_address={address}: cannot join the Ray cluster ({type(err).__name__}: "
                              f"{' '.join(str(err).split())[:200]}); check that it runs the same Ray and Python "
                              "versions as this machine") from err
        log.info("joined the Ray cluster at %s: %s", address, ray.cluster_resources())
        return True
    import torch

    cpus = _local_cpus()
    ray.init(num_cpus=cpus, num_gpus=torch.cuda.device_count(), include_dashboard=False,
             object_store_memory=128 * 1024**2)  # only small results pass through the object store
    log.info("started a local Ray cluster: %d CPUs, %d GPUs", cpus, torch.cuda.device_count())
    return True


def plan_workers(device: str, num_workers: int | None, num_gpus_per_worker: float | None, n_scenes: int,
                 resources: dict[str, float], node_cpus: Sequence[float]) -> WorkerPlan:
    """Size the workers for a cluster with ``resources`` (``ray.cluster_resources()``) and per-node CPUs.

    GPU workers take ``num_gpus_per_worker`` GPUs (default one when the cluster has GPUs and the device allows
    CUDA) and one CPU each, and there are at most as many as the cluster's GPUs hold at once. CPU workers share
    the CPUs evenly (default one worker per :data:`CPUS_PER_CPU_WORKER` CPUs) and set torch's threads to their
    share. Never more workers than scenes.

    Raises:
        ConfigError: a device that Ray cannot give (``cuda:N``, CUDA on a cluster without GPUs, a CPU device with
            GPUs per worker).
    """
    text = str(device).strip().lower()
    if text.isdigit() or text.startswith("cuda:"):
        raise ConfigError(f"device={device}: with engine=ray, Ray assigns each worker its GPU; use device=cuda "
                          "(or auto) and num_gpus_per_worker")
    if text not in ("auto", "cpu", "cuda", "mps"):
        raise ConfigError(f"device={device!r} is not a device; use auto, cpu, cuda or mps")
    total_gpus = float(resources.get("GPU", 0.0))
    total_cpus = float(resources.get("CPU", 0.0))
    gpus = num_gpus_per_worker
    if gpus is None:
        gpus = 1.0 if text == "cuda" or (text == "auto" and total_gpus >= 1) else 0.0
    if gpus > 0 and text in ("cpu", "mps"):
        raise ConfigError(f"device={device} with num_gpus_per_worker={gpus}: set num_gpus_per_worker=0 for "
                          f"{text} workers, or device=cuda")
    if gpus == 0 and text == "cuda":
        raise ConfigError("device=cuda with num_gpus_per_worker=0: Ray would give the workers no GPU; set "
                          "num_gpus_per_worker=1 (or 0.5 to share a GPU between two workers)")
    if gpus > 0:
        fit = math.floor(total_gpus / gpus + 1e-9)
        if fit < 1:
            raise ConfigError(f"num_gpus_per_worker={gpus}: the Ray cluster has {total_gpus:g} GPUs; add GPU "
                              "nodes, or set num_gpus_per_worker=0 (and device=cpu) to run on CPUs")
        wanted = num_workers or fit
        if wanted > fit:
            log.warning("num_workers=%d: only %d workers of %g GPUs fit on the cluster's %g GPUs; using %d",
                        wanted, fit, gpus, total_gpus, fit)
        count = max(1, min(wanted, fit, n_scenes))
        return WorkerPlan(count, 1.0, float(gpus), "cuda", 1)
    if total_cpus < 1:
        raise ConfigError("the Ray cluster reports no CPUs; check `ray status`")
    wanted = num_workers or max(1, int(total_cpus) // CPUS_PER_CPU_WORKER)
    count = max(1, min(wanted, n_scenes))
    largest_node = max(node_cpus) if node_cpus else total_cpus
    # Floor at Ray's resource precision so that count * share never exceeds the total (2/3 + 2/3 + 2/3 > 2).
    share = math.floor(min(total_cpus / count, largest_node) * 1e4) / 1e4
    return WorkerPlan(count, share, 0.0, "cpu" if text == "auto" else text, max(1, int(share)))


@dataclass(slots=True)
class _Call:
    """One ``predict`` call waiting inside a worker for the engine thread to finish its scene."""

    item: SceneRef
    solo: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    outcome: SceneOutcome | None = None
    error: BaseException | None = None

    def finish(self, outcome: SceneOutcome | None = None, error: BaseException | None = None) -> None:
        self.outcome, self.error = outcome, error
        self.done.set()


class SceneWorker:
    """The body of one Ray actor: a loaded model and engine; one scene per :meth:`predict` call.

    The driver keeps :data:`SCENES_IN_FLIGHT` calls queued on each worker, and one engine thread runs the queued
    scenes together through :meth:`InferenceEngine.run`, so tiles of consecutive scenes share batches and the
    reader prefetches the next scene, as in the local engine. A small scene then does not leave the device half
    idle, which one-scene-at-a-time calls would (a 1024 px scene is 4 tiles of 640 px: a quarter of a batch).

    Errors a user can fix (a missing weights file on this node, no GPU) are kept and raised from :meth:`ready`, so
    that the driver reports them as one line instead of an actor crash.
    """

    def __init__(self, weights: str, weights_sha256: str, device: str, threads: int, settings: InferenceSettings,
                 job: SceneJob, hook: SceneHook | None = None) -> None:
        self.job = job
        self.hook = hook
        self.error: YardwatchError | None = None
        self.host = socket.gethostname()
        self._queue: list[_Call] = []
        self._wakeup = threading.Condition()
        try:
            import torch

            from yardwatch.infer.device import resolve_device

            torch.set_num_threads(max(1, threads))
            self.model = load_model(weights, resolve_device(device))
            if self.model.sha256 != weights_sha256:
                raise ModelError(f"weights={weights}: Ray node {self.host} sees a different file than the driver; "
                                 "put the weights on storage that every node mounts at the same path")
            if not job.out_dir.is_dir():
                raise OutputError(f"out_dir={job.out_dir}: not found on Ray node {self.host}; put the outputs on "
                                  "storage that every node mounts at the same path")
            self.engine = InferenceEngine(self.model, settings)
            # One full batch through the network now: kernel selection and allocator warm-up are then part of the
            # worker's start, not of its first scene.
            size = settings.tile_size_px
            self.model.forward(torch.zeros((settings.batch_size, 3, size, size), dtype=self.engine.dtype,
                                           device=self.model.device))
        except YardwatchError as err:
            self.error = err
            return
        threading.Thread(target=self._serve, name="yardwatch-ray-engine", daemon=True).start()

    def ready(self) -> dict[str, Any]:
        """Where this worker runs and how (device, precision); raises the error that stopped it loading."""
        if self.error is not None:
            raise self.error
        return {"host": self.host, "pid": os.getpid(), "device": str(self.model.device),
                "precision": self.engine.precision}

    def predict(self, item: SceneRef, mtime_before_ns: int | None, solo: bool = False) -> SceneOutcome:
        """Detect over one scene and write its file; returns its report and counters.

        ``mtime_before_ns`` is the output's modification time when the run started (None when it did not exist);
        an output that differs from it was written by an earlier attempt at this call and is not written again.
        ``solo`` runs the scene on its own, not batched with other queued scenes (for retries: a scene that kills
        its worker then takes no other scene down with it).
        """
        if self.error is not None:
            raise self.error
        target = output_path(self.job.out_dir, item.scene_id, self.job.fmt)
        if target.exists() and target.stat().st_mtime_ns != mtime_before_ns:
            log.info("%s: %s was written by an earlier attempt; not writing it again", item.scene_id, target.name)
            return SceneOutcome(_report_from_output(item, target, self.job.fmt, self.model.card.class_names))
        call = _Call(item, solo)
        with self._wakeup:
            self._queue.append(call)
            self._wakeup.notify()
        call.done.wait()
        if call.error is not None or call.outcome is None:
            raise call.error or RuntimeError(f"{item.scene_id}: finished without an outcome")
        return call.outcome

    def _serve(self) -> None:
        """The engine thread: run whatever scenes are queued, together, for as long as the actor lives."""
        while True:
            with self._wakeup:
                while not self._queue:
                    self._wakeup.wait()
                # The driver sends its calls a few milliseconds apart: wait briefly for the rest to arrive.
                deadline = time.monotonic() + GATHER_S
                while len(self._queue) < SCENES_IN_FLIGHT and (left := deadline - time.monotonic()) > 0:
                    self._wakeup.wait(left)
                solo = next((c for c in self._queue if c.solo), None)
                if solo is not None:
                    calls = [solo]
                    self._queue.remove(solo)
                else:
                    calls, self._queue = self._queue, []
            try:
                self._run(calls)
            except BaseException as err:  # noqa: BLE001 - a bug: fail these calls (the driver raises), keep serving
                for call in calls:
                    if not call.done.is_set():
                        call.finish(error=err)

    def _run(self, calls: list[_Call]) -> None:
        job, engine = self.job, self.engine
        plans, waiting, aoi_px = [], {}, {}
        for call in calls:
            item = call.item
            if self.hook is not None:
                self.hook("start", item, output_path(job.out_dir, item.scene_id, job.fmt))
            try:
                plan = engine.plan(item.path, bands=job.bands, assume_crs=job.assume_crs, aoi=job.aoi,
                                   scene_id=item.scene_id)
                aoi_px[item.scene_id] = plan.aoi_px
            except YardwatchError as err:
                call.finish(SceneOutcome(SceneReport(item.scene_id, str(item.path), "failed", error=str(err))))
                continue
            plans.append(plan)
            waiting[item.scene_id] = call
        forward_seconds = engine.stats.forward_seconds
        for result in engine.run(plans):
            if isinstance(result, SceneFailure):
                call = next(c for c in waiting.values() if Path(c.item.path) == Path(result.path))
                item = call.item
                call.finish(SceneOutcome(SceneReport(item.scene_id, str(item.path), "failed",
                                                     error=str(result.error))))
                continue
            call = waiting[result.scene.scene_id]
            report = write_scene_detections(result, call.item, self.model, job.out_dir, job.fmt, job.out_crs,
                                  aoi_px.get(call.item.scene_id), job.quicklook)
            if self.hook is not None:
                self.hook("written", call.item, Path(report.output or ""))
            # Batches mix scenes: the forward time since the last finished scene is charged to this one.
            spent, forward_seconds = engine.stats.forward_seconds - forward_seconds, engine.stats.forward_seconds
            call.finish(SceneOutcome(report, result.n_tiles, spent, result.scene.width * result.scene.height / 1e6))
        for call in calls:
            if not call.done.is_set():  # the engine yields every planned scene; this guards that invariant
                call.finish(error=RuntimeError(f"{call.item.scene_id}: the inference engine returned no result"))


def _report_from_output(item: SceneRef, target: Path, fmt: str, class_names: Sequence[str]) -> SceneReport:
    """The report of a scene whose file an earlier (killed) attempt wrote, counted from that file."""
    import pandas as pd

    if fmt == "csv":
        frame = pd.read_csv(target)
    elif fmt == "parquet":
        frame = pd.read_parquet(target)
    else:
        import pyogrio

        frame = pyogrio.read_dataframe(target, read_geometry=False)
    # A GeoJSON without features has no columns at all: a scene with no detections.
    names = frame["class_name"] if "class_name" in frame.columns else pd.Series([], dtype=object)
    counts = {name: int((names == name).sum()) for name in class_names}
    return SceneReport(item.scene_id, str(item.path), "ok", str(target), counts, int(len(names)))


def node_cpus(ray: Any) -> list[float]:
    """CPUs of each live node of the connected Ray cluster."""
    return [float(n.get("Resources", {}).get("CPU", 0.0)) for n in ray.nodes() if n.get("Alive")]


def _start_workers(ray: Any, plan: WorkerPlan, weights: Path, weights_sha256: str, settings: InferenceSettings,
                   job: SceneJob, hook: SceneHook | None, start_timeout_s: float) -> tuple[list[Any], dict[str, Any]]:
    """Start the actors and wait until each has loaded the model; returns them and the first one's ``ready()``."""
    actor_cls = ray.remote(SceneWorker)
    # max_restarts=-1: a worker whose process dies always comes back (reloading the model). Retries are the
    # driver's (max_task_retries=0): Ray would resend the dead worker's calls as they were, batched together, and
    # a scene that kills its worker would take its batch-mates down on every attempt; the driver resends them
    # one scene at a time. max_concurrency: queued predict calls wait in threads while the engine thread works.
    options = dict(num_cpus=plan.num_cpus, num_gpus=plan.num_gpus, max_restarts=-1, max_task_retries=0,
                   max_concurrency=SCENES_IN_FLIGHT + 2)
    actors = [actor_cls.options(**options).remote(str(weights), weights_sha256, plan.device, plan.threads,
                                                  settings, job, hook) for _ in range(plan.num_workers)]
    try:
        infos = ray.get([a.ready.remote() for a in actors], timeout=start_timeout_s)
    except ray.exceptions.GetTimeoutError as err:
        _kill(ray, actors)
        raise ConfigError(f"Ray workers did not start within {start_timeout_s:.0f} s: the cluster cannot place "
                          f"{plan.num_workers} workers of {plan.num_cpus:g} CPUs and {plan.num_gpus:g} GPUs now; "
                          "lower num_workers or num_gpus_per_worker, or free the cluster") from err
    except ray.exceptions.RayTaskError as err:
        _kill(ray, actors)
        if isinstance(err.cause, YardwatchError):
            raise err.cause from None
        raise
    for info in infos:
        log.info("Ray worker on %s (pid %s): %s, %s", info["host"], info["pid"], info["device"], info["precision"])
    return actors, infos[0]


def _kill(ray: Any, actors: Sequence[Any]) -> None:
    for actor in actors:
        ray.kill(actor, no_restart=True)


class _Dispatcher:
    """Keeps :data:`SCENES_IN_FLIGHT` scenes queued on every live worker until all scenes are done.

    When a worker dies, Ray restarts it (reloading the model takes seconds); until a ``ready()`` probe answers, the
    worker gets no scenes, and each scene it held is sent again, on its own, to a live worker, up to
    ``max_retries`` times. A scene that kills its worker on every attempt is reported failed; the others go on.
    """

    def __init__(self, ray: Any, actors: list[Any], state: _RunState, bar: Any | None, max_retries: int,
                 restart_timeout_s: float) -> None:
        self.ray, self.actors, self.state, self.bar = ray, actors, state, bar
        self.max_retries, self.restart_timeout_s = max_retries, restart_timeout_s
        self.queue: deque[tuple[SceneRef, int | None, int]] = deque()
        self.load = {index: 0 for index in range(len(actors))}
        self.live = set(self.load)
        self.exclusive: set[int] = set()  # workers running a retry, alone
        self.down_since: dict[int, float] = {}  # restarting workers and when they died
        self.in_flight: dict[Any, tuple[int, SceneRef, int | None, int]] = {}
        self.probes: dict[Any, int] = {}
        self.done = 0
        self.total = 0

    def run(self, todo: Sequence[tuple[SceneRef, int | None]]) -> None:
        self.queue.extend((item, mtime, 0) for item, mtime in todo)
        self.total = len(todo)
        while self.queue or self.in_flight:
            self._submit()
            if not self.in_flight and not self.probes:  # no worker left: what remains cannot run
                for item, _, _ in self.queue:
                    self._record(item, SceneOutcome(SceneReport(item.scene_id, str(item.path), "failed",
                                                                error=f"{item.path}: no Ray worker left to run it")))
                return
            ready, _ = self.ray.wait([*self.in_flight, *self.probes], num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in self.probes:
                    self._probed(ref)
                else:
                    self._finished(ref)

    def _submit(self) -> None:
        while self.queue:
            item, mtime, attempt = self.queue[0]
            open_workers = [i for i in self.live if i not in self.exclusive]
            if not open_workers:
                return
            index = min(open_workers, key=self.load.__getitem__)  # the least loaded gets the next scene
            # A retry runs alone on an idle worker (nothing else is sent there until it ends), so that if this
            # scene is what kills workers, it takes no other scene down with it. Until a worker drains, wait.
            if self.load[index] >= (1 if attempt else SCENES_IN_FLIGHT):
                return
            self.queue.popleft()
            ref = self.actors[index].predict.remote(item, mtime, attempt > 0)
            self.in_flight[ref] = (index, item, mtime, attempt)
            self.load[index] += 1
            if attempt:
                self.exclusive.add(index)

    def _probe(self, index: int) -> None:
        self.probes[self.actors[index].ready.remote()] = index

    def _probed(self, ref: Any) -> None:
        from ray.exceptions import RayActorError

        index = self.probes.pop(ref)
        try:
            self.ray.get(ref)
        except RayActorError:
            if time.monotonic() - self.down_since[index] < self.restart_timeout_s:
                time.sleep(0.2)  # still restarting: ask again shortly
                self._probe(index)
            else:
                log.error("Ray worker %d did not come back within %.0f s; going on without it", index,
                          self.restart_timeout_s)
            return
        self.down_since.pop(index, None)
        self.live.add(index)
        log.info("Ray worker %d is back", index)

    def _finished(self, ref: Any) -> None:
        from ray.exceptions import RayActorError, RayTaskError

        index, item, mtime, attempt = self.in_flight.pop(ref)
        self.load[index] -= 1
        self.exclusive.discard(index)
        try:
            outcome = self.ray.get(ref)
        except RayActorError as err:
            if index in self.live:  # the first of its calls to fail: stop feeding it until it is back
                self.live.discard(index)
                self.down_since[index] = time.monotonic()
                self._probe(index)
            if attempt < self.max_retries:
                log.warning("%s: its Ray worker died (%s); retrying it alone (attempt %d of %d)", item.scene_id,
                            type(err).__name__, attempt + 2, self.max_retries + 1)
                self.queue.appendleft((item, mtime, attempt + 1))
                return
            outcome = SceneOutcome(SceneReport(item.scene_id, str(item.path), "failed",
                                               error=f"{item.path}: the Ray worker died on each of {attempt + 1} "
                                                     "attempts at this scene; it may need more memory than a "
                                                     "worker has"))
        except RayTaskError as err:
            if not isinstance(err.cause, YardwatchError):
                raise
            outcome = SceneOutcome(SceneReport(item.scene_id, str(item.path), "failed", error=str(err.cause)))
        self._record(item, outcome)

    def _record(self, item: SceneRef, outcome: SceneOutcome) -> None:
        state = self.state
        state.reports[item.scene_id] = outcome.report
        state.tiles += outcome.tiles
        state.forward_seconds += outcome.forward_seconds
        state.megapixels += outcome.megapixels
        self.done += 1
        if outcome.report.status == "failed":
            log.error("%s", outcome.report.error)
        log.info("%d/%d scenes done (%s: %s)", self.done, self.total, item.scene_id, outcome.report.status)
        if self.bar is not None:
            self.bar.update(1)


def predict_scenes_ray(scenes: Sequence[SceneRef], weights: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                       *, device: str = "auto", settings: InferenceSettings | None = None, fmt: str = "geojson",
                       out_crs: str | None = None, overwrite: bool = False, aoi: Path | None = None,
                       bands: Sequence[int] | None = None, assume_crs: str | None = None, quicklook: bool = False,
                       progress: bool = False, num_workers: int | None = None,
                       num_gpus_per_worker: float | None = None, ray_address: str | None = None,
                       max_retries: int = 2, start_timeout_s: float = 300.0,
                       scene_hook: SceneHook | None = None) -> PredictSummary:
    """Detect objects over ``scenes`` on Ray workers; one file per scene plus ``summary.json`` in ``out_dir``.

    Same outputs as :func:`yardwatch.infer.predict.predict_scenes`. On a cluster, the scenes, the weights (with
    their model card) and ``out_dir`` must be on storage every node mounts at the same path.

    Args:
        scenes: the scenes (see :func:`yardwatch.io.raster.find_scenes`).
        weights: a ``.pt``, an exported ``.onnx`` or an OpenVINO ``.xml`` (CPU workers) with its model card.
        out_dir: where ``<scene_id>.<fmt>`` and ``summary.json`` go.
        device: ``auto`` (GPU workers when the cluster has GPUs), ``cpu``, ``cuda`` or ``mps``.
        settings: tiling and filtering; default the model card's tile size and overlap.
        fmt, out_crs, overwrite, aoi, bands, assume_crs, quicklook: as for ``predict_scenes``.
        progress: show a progress bar over scenes.
        num_workers: Ray workers (actors); default one per GPU, or one per 4 CPUs on CPU clusters.
        num_gpus_per_worker: GPUs per worker (0.5 shares a GPU between two); default 1 when the cluster has GPUs.
        ray_address: join this running cluster (``host:port`` from ``ray start --head``, ``ray://host:port``, or
            ``auto``); default ``$RAY_ADDRESS``, else a local cluster sized to this machine.
        max_retries: attempts after the first at a scene whose worker process died.
        start_timeout_s: how long to wait for the workers to be placed and load the model.
        scene_hook: called inside the worker as ``hook(event, scene, output)`` with event ``start`` and
            ``written`` (instrumentation and fault-injection tests).

    Returns:
        The summary (also written as ``out_dir/summary.json``).

    Raises:
        ConfigError: Ray is missing, the cluster is unreachable, or cannot give the workers asked for.
        ModelError, InputError: bad weights (checked here before any worker starts).
    """
    started = time.perf_counter()
    ray = import_ray()
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigError(f"max_retries={max_retries!r} must be a whole number >= 0")
    weights_path = Path(weights).expanduser().resolve()
    device = str(device_for_weights(weights_path, device))  # an OpenVINO IR: CPU workers even on a GPU cluster
    model = load_model(weights_path, "cpu")  # checks the file and its card here, once, before any worker
    settings = settings or InferenceSettings(tile_size_px=model.card.tile_size_px, overlap_px=model.card.overlap_px)
    InferenceEngine(model, replace(settings, precision="fp32"))  # tile size vs stride, overlap: fail before Ray
    out_path = Path(out_dir).expanduser().resolve()
    check_same_model(out_path, model.sha256, overwrite)
    job = SceneJob(out_dir=out_path, fmt=fmt, out_crs=out_crs,
                   aoi=Path(aoi).expanduser().resolve() if aoi is not None else None,
                   bands=tuple(bands) if bands else None, assume_crs=assume_crs, quicklook=quicklook)
    state = _RunState()
    todo: list[tuple[SceneRef, int | None]] = []
    for item in scenes:
        target = output_path(out_path, item.scene_id, fmt)
        if target.exists() and not overwrite:
            state.reports[item.scene_id] = SceneReport(item.scene_id, str(item.path), "skipped", str(target))
            log.info("%s: %s exists, skipping (overwrite=true redoes it)", item.scene_id, target.name)
            continue
        item = replace(item, path=Path(item.path).expanduser().resolve())
        todo.append((item, target.stat().st_mtime_ns if target.exists() else None))
    created_out_dir = not out_path.exists()
    out_path.mkdir(parents=True, exist_ok=True)
    worker_device, precision = str(device), settings.precision
    if todo:
        owns_ray = connect_ray(ray_address)
        actors: list[Any] = []
        bar = None
        try:
            plan = plan_workers(device, num_workers, num_gpus_per_worker, len(todo), ray.cluster_resources(),
                                node_cpus(ray))
            log.info("predicting %d scenes on %d Ray workers (%g CPUs, %g GPUs each)", len(todo), plan.num_workers,
                     plan.num_cpus, plan.num_gpus)
            actors, info = _start_workers(ray, plan, weights_path, model.sha256, settings, job, scene_hook,
                                          start_timeout_s)
            worker_device, precision = info["device"], info["precision"]
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=len(todo), unit="scene", desc="predict (ray)", leave=False)
            _Dispatcher(ray, actors, state, bar, max_retries, start_timeout_s).run(todo)
        finally:
            if bar is not None:
                bar.close()
            _kill(ray, actors)
            if owns_ray:
                ray.shutdown()
    summary = PredictSummary(weights=str(weights), model_sha256=model.sha256, task=model.card.task,
                             device=worker_device, precision=precision, settings=summary_settings(settings),
                             count_conf=model.card.count_thresholds())
    summary.scenes = [state.reports[item.scene_id] for item in scenes if item.scene_id in state.reports]
    return finish_summary(summary, out_path, started=started, tiles=state.tiles,
                          forward_seconds=state.forward_seconds, megapixels=state.megapixels,
                          created_out_dir=created_out_dir)
