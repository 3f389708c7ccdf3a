"""The monitoring assets link each report (one click in the UI) and the index of all reports, and
the link reaches the report through ``platform-assets reports serve``."""

import threading
import urllib.request
from pathlib import Path

import pytest

from platform_assets.cli.reports import make_server
from platform_assets.layers.common.metadata import latest_metadata
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.monitoring.assets import FEATURE_DRIFT, MODEL_PERFORMANCE
from platform_assets.lib.report_index import (
    drift_verdict,
    list_reports,
    performance_verdict,
    render_index,
    write_verdict,
)
from platform_assets.settings import DEFAULT_REPORTS_URL

SMALL_DATA = {"ops": {"models__conversion_model": {"config": {"min_rows": 100}}}}


def test_each_report_is_recorded_as_a_link_that_the_server_answers(platform_copy):
    defs, instance, day = platform_copy.defs, platform_copy.instance, platform_copy.days[-1]
    trained = defs.resolve_job_def("train_model").execute_in_process(instance=instance, run_config=SMALL_DATA)
    assert trained.success
    assert (
        defs.resolve_job_def("monitor_day").execute_in_process(partition_key=day, instance=instance).success
    )

    reports = platform_copy.layout.reports
    httpd = make_server(reports, "127.0.0.1", 0, DEFAULT_REPORTS_URL)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    served = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        for key, name in ((FEATURE_DRIFT, "feature_drift"), (MODEL_PERFORMANCE, "model_performance")):
            recorded = latest_metadata(instance, key, day)
            html = Path(str(recorded["report_html"]))
            version = recorded["reference_model"]
            assert html == reports / name / f"date={day}" / f"{version}.html"
            assert recorded["report"] == f"{DEFAULT_REPORTS_URL}/{name}/date={day}/{version}.html"
            assert recorded["reports_index"] == f"{DEFAULT_REPORTS_URL}/"
            link = recorded["report"].replace(DEFAULT_REPORTS_URL, served)
            with urllib.request.urlopen(link, timeout=30) as response:
                assert response.read() == html.read_bytes()
        with urllib.request.urlopen(f"{served}/", timeout=30) as response:
            index = response.read().decode()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    listed = {(r.report, r.day, r.version): r.verdict for r in list_reports(reports)}
    drift = listed[("feature_drift", day, version)]
    recorded = latest_metadata(instance, FEATURE_DRIFT, day)
    assert drift["alarm"] is recorded["dataset_drift"]
    assert drift["figures"]["drifted_columns"] == recorded["drifted_columns"]
    assert drift["figures"]["drift_share"] == pytest.approx(recorded["drift_share"])
    performance = listed[("model_performance", day, version)]
    assert performance["alarm"] is latest_metadata(instance, MODEL_PERFORMANCE, day)["prediction_drifted"]
    assert f'href="feature_drift/date={day}/{version}.html"' in index
    assert f'href="model_performance/date={day}/{version}.html"' in index


def test_the_link_follows_the_configured_address_and_escapes_odd_names(tmp_path):
    storage = PlatformStorage(data_dir=str(tmp_path), reports_url="https://reports.example.com/monitoring")
    report = storage.report_dir("feature drift#1", "2026-03-04") / "v0001.html"
    assert storage.report_url(report) == (
        "https://reports.example.com/monitoring/feature%20drift%231/date=2026-03-04/v0001.html"
    )
    assert storage.report_url() == "https://reports.example.com/monitoring/"
    with pytest.raises(ValueError):
        storage.report_url(tmp_path / "elsewhere.html")


def test_verdicts_summarise_both_reports_and_hostile_values_are_escaped(tmp_path):
    drift_page = tmp_path / "feature_drift" / "date=2026-03-05" / "v0002.html"
    model_page = tmp_path / "model_performance" / "date=2026-03-04" / "v0001.html"
    for page in (drift_page, model_page):
        page.parent.mkdir(parents=True)
        page.write_text("report")
    hostile = '<img src=x onerror="alert(1)">'
    drift = drift_verdict(
        {
            "dataset_drift": True,
            "drifted_columns": [hostile, "country"],
            "n_columns": 10,
            "drift_share": 0.2,
            "drift_share_threshold": 0.2,
            "current_rows": 900,
            "reference_rows": 5000,
        }
    )
    assert drift.summary == "2 of 10 columns drifted"
    write_verdict(drift_page, drift)
    write_verdict(
        model_page,
        performance_verdict(
            {
                "prediction_drifted": False,
                "prediction_drift_score": 0.03,
                "prediction_drift_threshold": 0.1,
                "current_mean_prediction": 0.05,
                "reference_mean_prediction": 0.049,
                "current_rows": 900,
                "labelled_rows": 0,
                "quality": None,
                "calibration": None,
                "quality_skipped_reason": f"no labels yet {hostile}",
            }
        ),
    )
    page = render_index(tmp_path)
    assert hostile not in page and "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;, country" in page
    assert page.index("<h2>2026-03-05</h2>") < page.index("<h2>2026-03-04</h2>")  # newest day first
    assert "predictions stable; no quality: no labels yet &lt;img" in page
    assert "drift_share: 0.2" in page and "prediction_drift_score: 0.03" in page
