"""Counting detections per site, date and class, with coverage, anomaly flags and the written outputs."""

from __future__ import annotations

import pandas as pd
import pytest

from yardwatch.analytics import AnomalyRules, count_detections
from yardwatch.errors import InputError, RasterReadError


def _by_date(result, class_name="railcar"):
    return {r.acquired: r for r in result.rows if r.class_name == class_name}


def test_seed_story_spike_is_the_only_flag(seed_story):
    result = count_detections(seed_story.detections, seed_story.aoi, seed_story.catalog, write=False)
    railcars = _by_date(result)
    assert [railcars[d.isoformat()].count for d in seed_story.dates] == seed_story.railcars
    assert [r.count for r in result.rows if r.class_name == "container"] == [0] * 20  # 3 lie outside the AOI
    spike = seed_story.dates[15].isoformat()
    assert [(r.acquired, r.class_name) for r in result.anomalies] == [(spike, "railcar")]
    flagged = railcars[spike]
    assert flagged.rules_fired == "max+zscore" and flagged.history_max <= 20 and flagged.zscore >= 3
    assert all(r.coverage == 1.0 and not r.lower_bound for r in result.rows)


def test_outputs_series_plot_report_and_crop(seed_story):
    result = count_detections(seed_story.detections, seed_story.aoi, seed_story.catalog)
    out = seed_story.detections / "counts"
    spike = seed_story.dates[15].isoformat()
    series = pd.read_csv(out / "counts.csv")
    assert len(series) == 20 * 3 and series["site"].unique().tolist() == ["Tumangang yard"]
    anomalies = pd.read_csv(out / "anomalies.csv")
    assert anomalies[["acquired", "class_name", "count", "rules_fired"]].values.tolist() == [
        [spike, "railcar", 73, "max+zscore"]]
    report = (out / "Tumangang_yard_report.md").read_text()
    assert f"| {spike} | railcar | 73 | max+zscore |" in report
    assert f"![Tumangang yard on {spike}](crops/Tumangang_yard_{spike}.png)" in report
    for name in ("Tumangang_yard_counts.png", f"crops/Tumangang_yard_{spike}.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert len(list((out / "crops").iterdir())) == 1  # one flagged date, one crop
    assert not list(out.rglob(".*"))  # no temporary files left
    assert sorted(result.files) == sorted(str(p) for p in out.rglob("*") if p.is_file())


def test_aoi_half_outside_the_scene_is_a_lower_bound(site_series, helpers):
    series = site_series([10, 12, 11])
    helpers.write_aoi(series.aoi, (349960.0, 4700010.0, 350040.0, 4700090.0))  # x: 40 of its 80 m in the scene
    result = count_detections(series.detections, series.aoi, series.catalog, write=False)
    assert {r.coverage for r in result.rows} == {0.5}
    assert all(r.lower_bound for r in result.rows)
    relaxed = count_detections(series.detections, series.aoi, series.catalog, min_coverage=0.5, write=False)
    assert not any(r.lower_bound for r in relaxed.rows)


def test_nodata_under_the_aoi_lowers_coverage_and_leaves_the_history(site_series):
    # date 6 has the west half of the scene as nodata: its 3 railcars are a lower bound, not a collapse
    series = site_series([10, 11, 10, 12, 11, 10, 3, 10, 30], nodata_cols={6: 100})
    result = count_detections(series.detections, series.aoi, series.catalog, write=False)
    rows = list(_by_date(result).values())
    assert rows[6].coverage == pytest.approx(0.5) and rows[6].lower_bound
    assert [r.lower_bound for r in rows].count(True) == 1
    assert rows[7].history_n == 6 and rows[8].history_n == 7  # date 6 left out of later histories
    assert [r.acquired for r in result.anomalies] == [rows[8].acquired]


def test_the_best_covered_scene_of_a_date_is_kept(site_series, helpers):
    series = site_series([10, 11, 12])
    catalog = pd.read_csv(series.catalog)
    extra = catalog.iloc[[1]].assign(scene_id="tumangang_dup", path="scenes/tumangang_dup.tif")
    pd.concat([catalog, extra]).to_csv(series.catalog, index=False)
    helpers.write_scene(series.root / "scenes" / "tumangang_dup.tif", nodata_cols=150)
    helpers.write_detections(series.detections / "tumangang_dup.geojson", 4)
    result = count_detections(series.detections, series.aoi, series.catalog, write=False)
    rows = _by_date(result)
    assert len(rows) == 3
    assert rows[series.dates[1].isoformat()].scene_id == "tumangang_01"
    assert rows[series.dates[1].isoformat()].count == 11


def test_empty_detection_files_give_zero_counts(site_series, helpers):
    series = site_series([0, 0, 0])
    for path in series.detections.iterdir():
        import geopandas as gpd

        gpd.GeoDataFrame({"score": []}, geometry=[], crs="EPSG:32652").to_file(path)
    result = count_detections(series.detections, series.aoi, series.catalog)
    assert len(result.rows) == 9 and {r.count for r in result.rows} == {0}
    assert not result.anomalies
    assert "None." in (series.detections / "counts" / "Tumangang_yard_report.md").read_text()


def test_a_site_no_scene_covers_has_no_rows_but_a_report(site_series, helpers):
    import geopandas as gpd
    import shapely

    series = site_series([5, 6])
    far = gpd.GeoDataFrame({"site": ["Tumangang yard", "elsewhere"]},
                           geometry=[shapely.box(350010, 4700010, 350090, 4700090), shapely.box(0, 0, 10, 10)],
                           crs="EPSG:32652")
    far.to_file(series.aoi)
    result = count_detections(series.detections, series.aoi, series.catalog)
    assert result.sites == ("Tumangang yard", "elsewhere")
    assert {r.site for r in result.rows} == {"Tumangang yard"}
    assert "no scene covers this site" in (series.detections / "counts" / "elsewhere_report.md").read_text()


def test_csv_detections_take_the_catalog_crs(site_series, helpers):
    series = site_series([7])
    (series.detections / "tumangang_00.geojson").unlink()
    helpers.write_detections(series.detections / "tumangang_00.csv", 7, containers_inside=2, csv_without_crs=True)
    result = count_detections(series.detections, series.aoi, series.catalog, write=False)
    assert _by_date(result)[series.dates[0].isoformat()].count == 7
    assert _by_date(result, "container")[series.dates[0].isoformat()].count == 2


def test_scenes_without_detections_are_skipped_and_named(site_series):
    series = site_series([5, 6, 7])
    (series.detections / "tumangang_01.geojson").unlink()
    result = count_detections(series.detections, series.aoi, series.catalog)
    assert result.skipped_scenes == ("tumangang_01",)
    assert len(_by_date(result)) == 2
    assert "tumangang_01" in (series.detections / "counts" / "Tumangang_yard_report.md").read_text()


def test_bad_inputs_are_named(site_series, helpers, tmp_path):
    series = site_series([5, 6])
    catalog = pd.read_csv(series.catalog)
    cases = []
    helpers.write_aoi(tmp_path / "no_site.geojson", column="name")
    cases.append(({"aoi": tmp_path / "no_site.geojson"}, InputError, "no 'site' column"))
    catalog.drop(columns="acquired").to_csv(series.root / "no_dates.csv", index=False)
    cases.append(({"catalog": series.root / "no_dates.csv"}, InputError, "no 'acquired' column"))
    catalog.assign(acquired=["2020-01-01", ""]).to_csv(series.root / "blank.csv", index=False)
    cases.append(({"catalog": series.root / "blank.csv"}, InputError, "'tumangang_01'.*no acquired date"))
    catalog.assign(acquired=["2020-01-01", "last spring"]).to_csv(series.root / "words.csv", index=False)
    cases.append(({"catalog": series.root / "words.csv"}, InputError, "not an ISO date"))
    catalog.iloc[:1].to_csv(series.root / "short.csv", index=False)
    cases.append(({"catalog": series.root / "short.csv"}, InputError, "not in the catalog.*tumangang_01"))
    catalog.assign(path=["scenes/tumangang_00.tif", "scenes/gone.tif"]).to_csv(series.root / "gone.csv", index=False)
    cases.append(({"catalog": series.root / "gone.csv"}, RasterReadError, "gone.tif: scene raster not found"))
    (tmp_path / "empty").mkdir()
    cases.append(({"detections_dir": tmp_path / "empty"}, InputError, "no detection files"))
    cases.append(({"aoi": tmp_path / "missing.geojson"}, InputError, "missing.geojson: file not found"))
    for change, error, message in cases:
        args = {"detections_dir": series.detections, "aoi": series.aoi, "catalog": series.catalog, **change}
        with pytest.raises(error, match=message):
            count_detections(**args, write=False)
    assert not (series.detections / "counts").exists()  # nothing half-written by a failed run


def test_anomaly_settings_reach_the_verdicts(seed_story):
    any_rule = count_detections(seed_story.detections, seed_story.aoi, seed_story.catalog, write=False,
                                rules=AnomalyRules(rules=("max",), min_history=3))
    flagged = [r.acquired for r in any_rule.anomalies]
    assert seed_story.dates[15].isoformat() in flagged and len(flagged) > 1  # running maxima early on
    assert all(r.rules_fired == "max" for r in any_rule.anomalies)
