"""The seed story end to end: a border rail yard over about 20 dates, one of which holds ~70 railcars.

Steps (each a ``yardwatch`` command, so the demo exercises the same CLI a user runs):

1. ``yardwatch synth series=true dates=N baseline_max_railcars=20 spike_railcars=70 out_dir=D``: one synthetic site
   over N dates, at most 20 railcars on ordinary dates and about 70 on one; scenes, labels and ``D/catalog.csv``.
2. The AOI: the yard polygon, written here from the scenes' bounds (the area every scene of the series covers,
   one pixel inside its edge) to ``D/aoi.geojson`` with the catalog's site name.
3. ``yardwatch predict scenes=D/catalog.csv out_dir=D/detections`` with the bundled demo weights (or ``--weights``).
4. ``yardwatch count detections=D/detections aoi=D/aoi.geojson catalog=D/catalog.csv out_dir=D/counts``, counting
   each class from its counting threshold in the weights' model card (``conf=model``, count's default: the score at
   which the validation split's detections number its labels); ``--conf C`` counts every class from C instead.
5. The check: the spike date (the date whose labels hold the most railcars inside the AOI) is flagged, and no
   other date is. Exit status 0 when it holds, 1 when it does not, 2 when a step fails.

    python scripts/demo_border_crossing.py --out-dir demo_border_crossing
    python scripts/demo_border_crossing.py --out-dir D --skip-synth --skip-predict   # recount existing outputs
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def yardwatch(*args: str) -> None:
    """Run one ``yardwatch`` command in a child process; stop the demo if it fails."""
    command = [sys.executable, "-m", "yardwatch.cli.main", *args]
    print("$ yardwatch " + " ".join(args), flush=True)
    status = subprocess.run(command, check=False).returncode
    if status != 0:
        raise SystemExit(f"demo: `yardwatch {args[0]}` failed with exit status {status}")


def write_aoi_from_catalog(catalog: Path, path: Path) -> tuple[str, object]:
    """Write the yard's AOI: the area all scenes of the catalog cover, one pixel inside, as GeoJSON.

    Returns:
        ``(site name, polygon in the first scene's CRS)``.
    """
    import geopandas as gpd
    import rasterio
    import shapely

    from yardwatch.analytics import read_catalog

    scenes = read_catalog(catalog)
    if not scenes:
        raise SystemExit(f"demo: {catalog} lists no scenes")
    common, crs, inset = None, None, 0.0
    for scene in scenes:
        with rasterio.open(scene.path) as dataset:
            footprint = shapely.box(*dataset.bounds)
            if crs is None:
                crs, inset = dataset.crs, max(abs(dataset.transform.a), abs(dataset.transform.e))
            elif dataset.crs != crs:
                footprint = gpd.GeoSeries([footprint], crs=dataset.crs).to_crs(crs).iloc[0]
        common = footprint if common is None else common.intersection(footprint)
    aoi = common.buffer(-inset, join_style="mitre")
    if aoi.is_empty:
        raise SystemExit(f"demo: the scenes of {catalog} share no area to count in")
    site = scenes[0].site or "border_crossing"
    path.parent.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame({"site": [site]}, geometry=[aoi], crs=crs).to_file(path, engine="pyogrio")
    return site, aoi


def railcar_labels_per_date(catalog: Path, aoi_path: Path) -> dict[str, int]:
    """Labelled railcars whose centre lies in the AOI, per acquisition date (ISO), from the catalog's labels."""
    import geopandas as gpd

    from yardwatch.analytics import read_catalog
    from yardwatch.eval import read_aois

    aoi = read_aois(aoi_path)
    per_date: dict[str, int] = {}
    for scene in read_catalog(catalog):
        if scene.labels_path is None or not scene.labels_path.is_file():
            raise SystemExit(f"demo: scene {scene.scene_id} has no label file in {catalog}; cannot find the spike")
        labels = gpd.read_file(scene.labels_path)
        if len(labels) == 0:
            per_date[scene.acquired.isoformat()] = per_date.get(scene.acquired.isoformat(), 0)
            continue
        area = aoi.to_crs(labels.crs).geometry.union_all()
        railcars = labels[labels["class"].astype(str).str.lower() == "railcar"]
        inside = int(railcars.geometry.centroid.within(area).sum())
        per_date[scene.acquired.isoformat()] = max(per_date.get(scene.acquired.isoformat(), 0), inside)
    return per_date


def check_flags(counts_dir: Path, spike_date: str) -> list[str]:
    """Problems with the count outputs (empty when the spike date, and only it, is flagged)."""
    import pandas as pd

    problems = []
    anomalies = pd.read_csv(counts_dir / "anomalies.csv", dtype={"acquired": str})
    flagged = sorted(set(anomalies["acquired"]))
    if spike_date not in flagged:
        problems.append(f"the spike date {spike_date} is not flagged")
    elif "railcar" not in set(anomalies.loc[anomalies["acquired"] == spike_date, "class_name"]):
        problems.append(f"the spike date {spike_date} is flagged, but not for railcars")
    others = [d for d in flagged if d != spike_date]
    if others:
        problems.append(f"other dates are flagged too: {', '.join(others)}")
    reports = list(counts_dir.glob("*_report.md"))
    if not reports:
        problems.append(f"no report in {counts_dir}")
    elif spike_date not in "".join(r.read_text() for r in reports):
        problems.append(f"the report does not mention {spike_date}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out-dir", type=Path, default=Path("demo_border_crossing"),
                        help="folder for everything the demo makes (default ./demo_border_crossing)")
    parser.add_argument("--dates", type=int, default=20, help="acquisition dates in the series (20)")
    parser.add_argument("--baseline-max", type=int, default=20, help="most railcars on an ordinary date (20)")
    parser.add_argument("--spike", type=int, default=70, help="railcars on the spike date (70)")
    parser.add_argument("--weights", default=None, help="weights for predict (default: the bundled demo model)")
    parser.add_argument("--device", default="auto", help="device for predict (auto)")
    parser.add_argument("--conf", type=float, default=None,
                        help="score from which a detection is counted, for every class (default: each class's "
                             "counting threshold from the weights' model card, count's conf=model)")
    parser.add_argument("--skip-synth", action="store_true", help="reuse OUT/catalog.csv and its scenes")
    parser.add_argument("--skip-predict", action="store_true", help="reuse OUT/detections")
    args = parser.parse_args(argv)
    from yardwatch.errors import YardwatchError

    out = args.out_dir.resolve()
    catalog, aoi, detections, counts = out / "catalog.csv", out / "aoi.geojson", out / "detections", out / "counts"
    try:
        if not args.skip_synth:
            yardwatch("synth", "series=true", f"dates={args.dates}", f"baseline_max_railcars={args.baseline_max}",
                      f"spike_railcars={args.spike}", f"out_dir={out}")
        site, _ = write_aoi_from_catalog(catalog, aoi)
        print(f"AOI of site {site!r} written to {aoi}")
        if not args.skip_predict:
            predict = ["predict", f"scenes={catalog}", f"out_dir={detections}", f"device={args.device}",
                       "overwrite=true"]  # the scenes were just made: earlier detections describe other pixels
            yardwatch(*predict, *([f"weights={args.weights}"] if args.weights else []))
        yardwatch("count", f"detections={detections}", f"aoi={aoi}", f"catalog={catalog}", f"out_dir={counts}",
                  *([] if args.conf is None else [f"conf={args.conf:g}"]))
    except (SystemExit, YardwatchError) as stop:
        print(f"demo: {stop}" if isinstance(stop, YardwatchError) else stop, file=sys.stderr)
        return 2
    labelled = railcar_labels_per_date(catalog, aoi)
    spike_date = max(labelled, key=lambda d: labelled[d])
    ordinary = max((n for d, n in labelled.items() if d != spike_date), default=0)
    print(f"labels: {labelled[spike_date]} railcars on {spike_date}, at most {ordinary} on the other "
          f"{len(labelled) - 1} dates")
    problems = check_flags(counts, spike_date)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print(f"OK: {spike_date} is flagged and no other date is; report in {counts}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
