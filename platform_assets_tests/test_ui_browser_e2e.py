"""A newcomer's first hour, in a real browser: the README's demo, then the commands it prints, then
the UI: the asset graph, a mart (row count, preview, plots), the drift asset and, through its link,
the rendered Evidently report, and a job's runs.

The demo runs as the README says (no ``DAGSTER_HOME``: the instance lives in the data directory),
with fewer days;
the two commands it prints are run as printed, from another directory, with only the port of
``dagster dev`` changed. What the pages show is checked against the warehouse and the instance,
read here directly. Screenshots are kept (``PLATFORM_TEST_ARTIFACTS`` in CI).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from platform_assets_tests.browser import artifacts_dir, browser, chromium_path
from platform_assets_tests.dagster_dev import free_port, graphql, serving

pytestmark = pytest.mark.e2e

MARTS = ("daily_traffic", "sessions", "user_activity", "funnel")
# The README's demo with 12 normal days instead of 42 (half the CI time; test_demo_e2e.py runs the
# defaults), and its 4 drifted days: daily partitions from its first day to today.
DEMO_DAYS, DRIFT_DAYS = 12, 4


def _environment_and_argv(words: list[str]) -> tuple[dict[str, str], list[str]]:
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    return env, words


@pytest.fixture(scope="module")
def first_hour(tmp_path_factory):
    """The demo in a fresh data directory, then the ``platform-assets ui`` command it prints."""
    chromium_path()  # skip early (before the slow demo) when no browser is available
    root = tmp_path_factory.mktemp("first_hour")
    data_dir = root / "data"
    reports_url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(PLATFORM_DATA_DIR=str(data_dir), PLATFORM_REPORTS_URL=reports_url)
    demo = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli", "demo", "--days", str(DEMO_DAYS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]

    elsewhere = root / "elsewhere"  # the printed command works from any directory
    elsewhere.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "DAGSTER_"))}
    # the demo's last line: `PLATFORM_DATA_DIR=... DAGSTER_HOME=... .../platform-assets ui`
    browse_env, browse_argv = _environment_and_argv(shlex.split(demo.stdout.strip().splitlines()[-1]))
    port = free_port()
    log = root / "ui.log"
    with serving(
        [*browse_argv, "--port", str(port)], {**clean, **browse_env}, elsewhere, port, log
    ) as server:
        yield {
            "data_dir": data_dir,
            "reports_url": reports_url,
            "port": server.port,
            "browse_env": browse_env,
            "log": log,
            "artifacts": artifacts_dir(root / "screenshots"),
        }


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"{url}: the server exited ({process.returncode})"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s"
        time.sleep(0.5)


def _warehouse(first_hour) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(first_hour["data_dir"] / "warehouse" / "warehouse.duckdb"), read_only=True)


def test_the_printed_command_names_the_instance_in_the_data_directory(first_hour):
    env = first_hour["browse_env"]
    assert Path(env["DAGSTER_HOME"]) == first_hour["data_dir"].resolve() / "dagster_home"
    assert env["PLATFORM_REPORTS_URL"] == first_hour["reports_url"]
    assert env["PLATFORM_PARTITIONS_START"]
    with urllib.request.urlopen(first_hour["reports_url"] + "/", timeout=10) as index:
        assert index.status == 200  # the same command serves the reports
    # Dagster's notice that `dagster dev` is superseded is the one warning filtered
    assert "Warning" not in first_hour["log"].read_text(errors="replace")


def test_the_asset_graph_shows_the_marts_mostly_materialized(first_hour):
    with browser(f"http://127.0.0.1:{first_hour['port']}", first_hour["artifacts"]) as ui:
        lineage = ui.open("/asset-groups")
        for group in ("raw", "lake", "warehouse", "features", "models", "predictions", "monitoring"):
            lineage.get_by_text(group, exact=True).first.wait_for()
        ui.screenshot(lineage, "asset-lineage")

        group = ui.open("/locations/platform_assets/asset-groups/warehouse", height=1200)
        for mart in MARTS:
            group.get_by_text(mart, exact=True).first.wait_for()
        group.get_by_text(re.compile(r"\d+% filled")).first.wait_for()
        ui.screenshot(group, "asset-graph-warehouse")
        text = group.inner_text("body")
    filled = [int(share) for share in re.findall(r"(\d+)% filled", text)]
    # each mart shows its partition health: every demo day built, today's partition not yet
    partitions = {int(n) for n in re.findall(r"(\d+) partitions", text)}
    assert partitions == {DEMO_DAYS + DRIFT_DAYS + 1}, partitions
    expected = int(100 * (DEMO_DAYS + DRIFT_DAYS) / (DEMO_DAYS + DRIFT_DAYS + 1))
    assert len(filled) == len(MARTS) and all(share >= expected for share in filled), filled


def test_a_mart_shows_its_row_count_preview_and_plots(first_hour):
    with _warehouse(first_hour) as con:
        last_day, rows = con.execute(
            "SELECT event_date, count(*) FROM daily_traffic GROUP BY 1 ORDER BY 1 DESC LIMIT 1"
        ).fetchone()
        columns = [c[0] for c in con.execute("DESCRIBE daily_traffic").fetchall()]
    with browser(f"http://127.0.0.1:{first_hour['port']}", first_hour["artifacts"]) as ui:
        page = ui.open("/assets/warehouse/daily_traffic")
        page.get_by_text("Row count", exact=True).wait_for()
        status = page.get_by_text("Row count", exact=True).locator("xpath=..").inner_text()
        assert f"{rows:,}" in status, status
        assert str(last_day) in page.inner_text("body")

        page.get_by_text("[Show Markdown]").first.click()  # the 'preview' metadata
        dialog = page.get_by_role("dialog")
        dialog.wait_for()
        preview = dialog.inner_text()
        ui.screenshot(page, "mart-preview")
        assert all(column in preview for column in columns), preview[:500]
        assert preview.count(str(last_day)) >= 5  # five rows of the latest day
        dialog.get_by_role("button", name="Close").click()

        page.get_by_text("Plots", exact=True).first.click()
        page.get_by_text("dagster/row_count", exact=True).first.wait_for()
        page.get_by_text("Metadata", exact=True).first.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)  # the charts animate in
        ui.screenshot(page, "mart-plots")
        assert page.locator("canvas, svg.recharts-surface").count() >= 1


def test_the_drift_asset_links_to_its_rendered_evidently_report(first_hour):
    reports_url = first_hour["reports_url"]
    with browser(f"http://127.0.0.1:{first_hour['port']}", first_hour["artifacts"]) as ui:
        page = ui.open("/assets/monitoring/feature_drift")
        page.get_by_text("dataset_drift", exact=True).first.wait_for()
        ui.screenshot(page, "drift-asset")
        drifted = (
            page.get_by_text("dataset_drift", exact=True).first.locator("xpath=ancestor::tr").inner_text()
        )
        report_link = page.locator(f"a[href^='{reports_url}/feature_drift/'][href$='.html']").first
        href = report_link.get_attribute("href")
        with ui.context.expect_page() as opened:
            report_link.click()  # one click, as a user would
        report = opened.value
        report.wait_for_load_state("load")
        report.get_by_text("Dataset Drift", exact=True).first.wait_for()
        report.wait_for_timeout(1000)
        ui.screenshot(report, "drift-report")
        body = report.inner_text("body")

        index = ui.open(reports_url + "/")  # every report by day, with its verdict
        index_text = index.inner_text("body")
        ui.screenshot(index, "reports-index")
    assert report.url == href
    expected = "Dataset Drift is detected" if "true" in drifted.lower() else "Dataset Drift is NOT detected"
    assert expected in body, body[:500]
    day = re.search(r"date=(\d{4}-\d{2}-\d{2})", href).group(1)
    verdict_file = Path(href).name.replace(".html", ".verdict.json")
    verdict = json.loads(
        (first_hour["data_dir"] / "reports" / "feature_drift" / f"date={day}" / verdict_file).read_text()
    )
    assert verdict["alarm"] == ("true" in drifted.lower())
    assert f"({len(verdict['figures']['drifted_columns'])} out of" in body
    assert "Monitoring reports" in index_text and day in index_text


def test_a_job_page_lists_the_runs_the_demo_made(first_hour):
    port = first_hour["port"]
    runs = graphql(
        port,
        '{ runsOrError(filter: {pipelineName: "build_day"}) { ... on Runs { results { runId status } } } }',
    )["data"]["runsOrError"]["results"]
    assert runs and all(r["status"] == "SUCCESS" for r in runs)
    with browser(f"http://127.0.0.1:{port}", first_hour["artifacts"]) as ui:
        page = ui.open("/locations/platform_assets/jobs/build_day/runs")
        page.get_by_text(runs[0]["runId"][:8], exact=True).wait_for()
        ui.screenshot(page, "job-runs")
        text = page.inner_text("body")
    assert "No runs found" not in text
    assert all(r["runId"][:8] in text for r in runs)
    assert text.count("Success") >= len(runs)
