"""``platform-assets demo``: sample logs in, every asset materialized through Dagster, a summary out.

The story it tells: normal traffic lands and is built into lake, marts and features; a model is
trained on it; then drifted traffic lands, is built the same way, and the drift monitor compares
the newest days with what the model was trained on. Files already in the landing folder are
processed too. Every step is a real Dagster run on a persistent instance, so ``dagster dev`` with
the same ``DAGSTER_HOME`` shows their history afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from platform_assets.cli.instance import platform_instance
from platform_assets.cli.progress import StageProgress
from platform_assets.cli.runs import JobRunner, RunFailed
from platform_assets.definitions import build_definitions
from platform_assets.layers.common.names import (
    BUILD_DAY_JOB,
    CONVERSION_MODEL_OP,
    INGEST_JOB,
    MONITOR_DAY_JOB,
    RANGE_END_TAG,
    RANGE_START_TAG,
    RETRAIN_REASON_TAG,
    RETRAIN_SENSOR,
    TRAIN_JOB,
    TRIGGER_DAY_TAG,
)
from platform_assets.layers.common.partitions import event_days_from, log_files
from platform_assets.layers.lake.assets import EVENTS, QUARANTINE
from platform_assets.layers.models.assets import CHAMPION, CONVERSION_MODEL
from platform_assets.layers.monitoring.assets import FEATURE_DRIFT, MODEL_PERFORMANCE
from platform_assets.lib.layout import DataLayout
from platform_assets.lib.log_generator import generate_logs
from platform_assets.lib.ml.promotion import GATES
from platform_assets.settings import DEFAULT_REPORTS_URL, PlatformSettings

DemoError = RunFailed  # a demo step (a Dagster run) failed; the message names the step and the error


@dataclass
class DemoOptions:
    days: int = 42  # 28 days for the visitors' 28-day history to fill, then two weeks to learn from
    drift_days: int = 4
    events_per_day: int = 5_000
    fmt: str = "jsonl"
    gzip: bool = False
    seed: int = 7
    start_date: dt.date | None = None
    drift_strength: float = 1.0


@dataclass
class DemoReport:
    data_dir: Path
    dagster_home: Path
    partitions_start: str = ""  # the first daily partition: the demo's first day
    reports_url: str = DEFAULT_REPORTS_URL  # where the UI's report links point
    files: int = 0
    lines: int = 0
    events: int = 0
    quarantined: int = 0
    days: list[str] = field(default_factory=list)
    table_rows: dict[str, int] = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    drift: dict[str, dict] = field(default_factory=dict)
    performance: dict[str, dict] = field(default_factory=dict)
    retraining: dict = field(default_factory=dict)
    drift_after: dict[str, dict] = field(default_factory=dict)
    runs: int = 0
    seconds: float = 0.0


def _materialized(result, key: dg.AssetKey) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key == key:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    return {}


class _Demo:
    """What the demo's steps share: the runner, the report being filled, the progress shown."""

    def __init__(
        self,
        runner: JobRunner,
        report: DemoReport,
        progress: StageProgress,
        settings: PlatformSettings,
    ) -> None:
        self.runner, self.report, self.progress, self.settings = runner, report, progress, settings
        # the daily partitions of the definitions the runner runs
        self.days = event_days_from(settings.partitions_start)

    def start_at(self, first_day: str) -> None:
        """Start the daily partitions at ``first_day`` when landed data begins before them (files
        that were in landing/ before the demo), so every day of the data is built."""
        if first_day >= self.days.get_first_partition_key():
            return
        self.progress.say(f"  the landed data starts on {first_day}: the daily partitions start there")
        self.settings = dataclasses.replace(self.settings, partitions_start=first_day)
        runs = self.runner.runs
        self.runner = JobRunner(build_definitions(self.settings), self.runner.instance)
        self.runner.runs = runs
        self.days = event_days_from(first_day)
        self.report.partitions_start = first_day

    def run(self, job: str, partition: str | None = None, **kwargs) -> dg.ExecuteInProcessResult:
        result = self.runner.run(job, partition, **kwargs)
        self.report.runs = self.runner.runs
        return result


def _ingest_and_build(
    demo: _Demo, layout: DataLayout, done_files: set[str], built_days: set[str], what: str
) -> None:
    """Register and ingest every landed file not done yet, then build each day they touched."""
    new_files = [key for key in layout.landed_keys() if key not in done_files]
    demo.runner.instance.add_dynamic_partitions(log_files.name, new_files)
    touched: set[str] = set()
    with demo.progress.stage(f"ingest {what}", len(new_files), "files") as stage:
        for key in new_files:
            result = demo.run(INGEST_JOB, key)
            events = _materialized(result, EVENTS)
            quarantine = _materialized(result, QUARANTINE)
            demo.report.files += 1
            demo.report.lines += int(events.get("lines", 0))
            demo.report.events += int(events.get("dagster/row_count", 0))
            demo.report.quarantined += int(quarantine.get("dagster/row_count", 0))
            touched.update(events.get("days") or [])
            done_files.add(key)
            stage.advance()
    if touched:
        demo.start_at(min(touched))
    valid = set(demo.days.get_partition_keys())
    for day in sorted(touched - valid):
        demo.progress.say(f"  skipping {day}: outside the platform's daily partitions")
    days = sorted(touched & valid)
    # consecutive days build as one range run, in order (the features' history sees earlier days)
    with demo.progress.stage(f"build marts and features of {what}", len(days), "days") as stage:
        for first, last in _runs_of_days(days):
            if first == last:
                demo.run(BUILD_DAY_JOB, first)
            else:
                demo.run(BUILD_DAY_JOB, tags={RANGE_START_TAG: first, RANGE_END_TAG: last})
            stage.advance(days.index(last) - days.index(first) + 1)
    built_days.update(days)


def _runs_of_days(days: list[str]) -> list[tuple[str, str]]:
    """Sorted ISO days grouped into runs of consecutive days: [(first, last), ...]."""
    runs: list[list[str]] = []
    for day in days:
        if runs and dt.date.fromisoformat(day) - dt.date.fromisoformat(runs[-1][-1]) == dt.timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return [(run[0], run[-1]) for run in runs]


def _retrain_if_asked(demo: _Demo) -> dict:
    """Evaluate the ``retrain_on_drift`` sensor once; run what it requests. The challenger may be
    kept out by its promotion gate: that is an outcome, recorded, not a demo failure."""
    runner = demo.runner
    sensor = runner.defs.resolve_sensor_def(RETRAIN_SENSOR)
    with dg.build_sensor_context(instance=runner.instance, definitions=runner.defs) as context:
        # its console shows warnings and errors only, as the runs' do (the reason is printed below)
        context.log.setLevel(logging.WARNING)
        result = sensor(context)
    requests = list(result.run_requests or [])
    if not requests:
        return {"requested": False, "reason": getattr(result, "skip_reason", None) or "no trigger"}
    request = requests[0]
    reason = request.tags.get(RETRAIN_REASON_TAG, "")
    demo.progress.say(f"the retraining sensor asks for a new model: {reason}")
    # a challenger kept out fails the run (its blocking gate): an outcome here, not an error to print
    with demo.progress.stage("train a challenger"):
        run = runner.execute(
            TRAIN_JOB, run_config=request.run_config, tags=request.tags, console_level="CRITICAL"
        )
    demo.report.runs = runner.runs
    model = _materialized(run, CONVERSION_MODEL)
    if not model:
        raise DemoError("run train_model (retraining) failed before registering a challenger")
    failed = {e.check_name for e in run.get_asset_check_evaluations() if not e.passed}
    if not run.success and not failed <= set(GATES):
        raise DemoError(f"run train_model (retraining) failed: checks {sorted(failed)}")
    return {
        "requested": True,
        "trigger": reason,
        "trigger_day": request.tags.get(TRIGGER_DAY_TAG),
        "challenger": model.get("model_version"),
        "decision": model.get("decision"),
        "decision_reason": model.get("decision_reason"),
        "champion": _materialized(run, CHAMPION).get("champion") or model.get("champion_before"),
    }


def _land(files: list, landing: Path) -> None:
    """Move generated files into the landing folder (a rename: the sensor never sees half a file)."""
    landing.mkdir(parents=True, exist_ok=True)
    for file in files:
        os.replace(file.path, landing / file.path.name)


def _monitor(demo: _Demo, days: list[str], name: str) -> dict[str, dg.ExecuteInProcessResult]:
    with demo.progress.stage(name, len(days), "days") as stage:
        results = {}
        for day in days:
            results[day] = demo.run(MONITOR_DAY_JOB, day)
            stage.advance()
    return results


def demo_settings(settings: PlatformSettings, first_day: dt.date) -> PlatformSettings:
    """The settings the demo runs with: daily partitions from its first day (today at the latest)."""
    today = dt.datetime.now(dt.UTC).date()
    return dataclasses.replace(settings, partitions_start=min(first_day, today).isoformat())


def run_demo(
    settings: PlatformSettings, options: DemoOptions, progress: StageProgress | None = None
) -> DemoReport:
    """Generate sample logs and materialize every asset end to end; return what happened."""
    started = time.perf_counter()
    progress = progress or StageProgress()
    layout = DataLayout(settings.data_dir).ensure()
    instance, home = platform_instance(settings.data_dir)
    today = dt.datetime.now(dt.UTC).date()
    start = options.start_date or today - dt.timedelta(days=options.days + options.drift_days)
    # the daily partitions start at the demo's first day, so the UI shows them filled, not grey
    settings = demo_settings(settings, start)
    report = DemoReport(
        data_dir=settings.data_dir,
        dagster_home=home,
        partitions_start=settings.partitions_start,
        reports_url=settings.reports_url,
    )
    runner = JobRunner(build_definitions(settings), instance)
    demo = _Demo(runner, report, progress, settings)
    drift_start = start + dt.timedelta(days=options.days)
    landing = layout.landing / "demo"

    progress.say(
        f"simulating {options.days} days of normal traffic from {start}, then {options.drift_days} "
        f"days of drifted traffic (strength {options.drift_strength}), one population of visitors"
    )
    staged = layout.tmp / "demo-logs"
    total_days = options.days + options.drift_days
    with progress.stage("generate sample logs", total_days, "files") as stage:
        files = generate_logs(
            staged,
            start,
            total_days,
            options.events_per_day,
            fmt=options.fmt,
            seed=options.seed,
            gzip=options.gzip,
            drift=[0.0] * options.days + [options.drift_strength] * options.drift_days,
            on_file=lambda _file: stage.advance(),
        )
    normal_files, drifted_files = files[: options.days], files[options.days :]
    _land(normal_files, landing)
    done_files: set[str] = set()
    built_days: set[str] = set()
    progress.say("ingesting landed files and building marts and features")
    _ingest_and_build(demo, layout, done_files, built_days, "landed files")

    last_normal = (drift_start - dt.timedelta(days=1)).isoformat()
    progress.say(f"training the conversion model on features up to {last_normal}")
    with progress.stage("train the model"):
        trained = demo.run(
            TRAIN_JOB,
            run_config={
                "ops": {CONVERSION_MODEL_OP: {"config": {"train_until": last_normal, "holdout_days": 2}}}
            },
        )
    report.model = _materialized(trained, CONVERSION_MODEL)

    if options.drift_days:
        progress.say(f"{options.drift_days} days of drifted traffic land (strength {options.drift_strength})")
        _land(drifted_files, landing)
        _ingest_and_build(demo, layout, done_files, built_days, "the drifted days")

    # Monitor the newest days: the last normal (held-out) day, then every drifted day.
    monitored = [last_normal] + [
        (drift_start + dt.timedelta(days=i)).isoformat() for i in range(options.drift_days)
    ]
    results = _monitor(demo, [day for day in monitored if day in built_days], "monitor the newest days")
    for day, result in results.items():
        report.drift[day] = _materialized(result, FEATURE_DRIFT)
        report.performance[day] = _materialized(result, MODEL_PERFORMANCE)

    # The retraining sensor reads those reports; its request runs like the daemon would run it.
    report.retraining = _retrain_if_asked(demo)
    if report.retraining.get("decision") == "promote":
        results = _monitor(demo, monitored[1:], "monitor again with the new champion")
        report.drift_after = {day: _materialized(result, FEATURE_DRIFT) for day, result in results.items()}

    report.days = sorted(built_days)
    engine = demo.runner.defs.resources["engine"]
    for table in ("daily_traffic", "sessions", "user_activity", "funnel", "session_features"):
        if engine.table_exists(table):
            report.table_rows[table] = int(engine.read_frame(f"SELECT count(*) AS n FROM {table}")["n"][0])
    report.seconds = time.perf_counter() - started
    return report


def browse_command(
    data_dir: Path, dagster_home: Path, partitions_start: str = "", reports_url: str = DEFAULT_REPORTS_URL
) -> str:
    """The command that shows the demo's runs and reports (``platform-assets ui``: the Dagster UI
    and the report server), as it works from any directory: the environment it needs (with the
    demo's first daily partition and a report address other than the default, when given) and the
    ``platform-assets`` of this Python's environment."""
    executable = Path(sys.executable).with_name("platform-assets")
    env = [f"PLATFORM_DATA_DIR={data_dir}", f"DAGSTER_HOME={dagster_home}"]
    if partitions_start:
        env.append(f"PLATFORM_PARTITIONS_START={partitions_start}")
    if reports_url != DEFAULT_REPORTS_URL:
        env.append(f"PLATFORM_REPORTS_URL={reports_url}")
    return shlex.join([*env, str(executable), "ui"])


def format_report(report: DemoReport) -> str:
    """The short summary the CLI prints: rows per layer, model metrics, drift, where things are."""
    root = report.data_dir
    share = report.quarantined / report.lines if report.lines else 0.0
    lines = [
        f"platform_assets demo: data in {root}",
        f"  raw        {report.files} files, {report.lines:,} lines            -> {root / 'landing'}",
        f"  lake       {report.events:,} events over {len(report.days)} days, "
        f"{report.quarantined:,} lines quarantined ({share:.2%})  -> {root / 'lake'}",
        "  warehouse  "
        + ", ".join(f"{t} {n:,}" for t, n in report.table_rows.items() if t != "session_features")
        + f"  -> {root / 'warehouse' / 'warehouse.duckdb'}",
        f"  features   session_features {report.table_rows.get('session_features', 0):,} rows",
    ]
    m = report.model
    if m:
        lines.append(
            f"  model      {m.get('model_version')}: holdout ROC AUC {m.get('roc_auc', 0):.3f} "
            f"(baseline {m.get('baseline_roc_auc', 0):.3f}), log loss {m.get('log_loss', 0):.4f} "
            f"(baseline {m.get('baseline_log_loss', 0):.4f}); at the F1 threshold chosen on training "
            f"data: precision {m.get('precision_tuned', 0):.3f}, recall {m.get('recall_tuned', 0):.3f}"
            f"  -> {root / 'models'}"
        )
    for day, d in report.drift.items():
        verdict = "DRIFT" if d.get("dataset_drift") else "no drift"
        columns = ", ".join(d.get("drifted_columns") or []) or "none"
        lines.append(
            f"  drift      {day}: {verdict} (share {d.get('drift_share', 0):.2f}; drifted: {columns})"
            f"  -> {d.get('report_html')}"
        )
    for day, d in report.performance.items():
        if d.get("skipped_reason"):
            continue
        quality = (
            f"ROC AUC {d['quality_roc_auc']:.3f} on {d.get('labelled_rows', 0)} labelled sessions"
            if isinstance(d.get("quality_roc_auc"), float)
            else f"no quality ({d.get('quality_skipped_reason') or 'no labels'})"
        )
        lines.append(
            f"  scores     {day}: mean prediction {d.get('mean_prediction', 0):.3f} "
            f"(training {d.get('reference_mean_prediction', 0):.3f}), "
            f"{'PREDICTION DRIFT' if d.get('prediction_drifted') else 'no prediction drift'}; {quality}"
        )
    r = report.retraining
    if r.get("requested"):
        lines.append(f"  retrain    {r['trigger_day']}: {r['trigger']}")
        lines.append(
            f"  promotion  challenger {r['challenger']}: {r['decision'].upper()} -> "
            f"champion {r['champion']}; {r['decision_reason']}"
        )
    elif r:
        lines.append(f"  retrain    not requested ({r.get('reason')})")
    for day, d in report.drift_after.items():
        lines.append(
            f"  drift      {day} vs the new champion: share {d.get('drift_share', 0):.2f} "
            f"({'DRIFT' if d.get('dataset_drift') else 'no drift'})"
        )
    rate = report.lines / report.seconds if report.seconds else 0.0
    browse = browse_command(root, report.dagster_home, report.partitions_start, report.reports_url)
    lines.append(
        f"  {report.runs} Dagster runs in {report.seconds:.1f} s ({rate:,.0f} lines/s end to end); "
        f"browse them and the Evidently reports in the UI (Ctrl-C stops it):\n  {browse}"
    )
    return "\n".join(lines)
