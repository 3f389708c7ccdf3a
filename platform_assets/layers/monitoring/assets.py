"""Monitoring layer: Evidently reports of each day against what the champion was trained on.

- ``monitoring/feature_drift``: data drift of the day's features against the champion's training
  reference sample (the drift rule calibrated in ``benchmarks/RESULTS.md``, "drift alarm").
- ``monitoring/model_performance``: prediction drift of the day's scores against the champion's
  scores on its reference sample, and, once the day's labels exist, classification quality.

Reports go to ``reports/<asset>/date=<day>/<champion version>.{html,json}``: one pair per day and
champion, never overwriting another day's or another model's (re-running the same day with the
same champion rewrites the same report atomically, from the same inputs). A day without sessions
is a recorded skip (``skipped_reason``), not a failure; no champion is a clear failure.
"""

from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.partitions import event_days
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.layers.models.assets import CHAMPION
from platform_assets.layers.predictions.assets import SESSION_PREDICTIONS
from platform_assets.lib.ml.feature_spec import FEATURE_SPEC
from platform_assets.lib.ml.model_store import ModelIntegrityError, ModelStore, ModelVersion
from platform_assets.lib.report_index import Verdict, drift_verdict, performance_verdict, write_verdict

FEATURE_DRIFT = dg.AssetKey(["monitoring", "feature_drift"])
MODEL_PERFORMANCE = dg.AssetKey(["monitoring", "model_performance"])


class DriftConfig(dg.Config):
    """Dataset drift is declared when at least this share of feature columns drifted (empty: the
    calibrated rule's share, ``lib/ml/drift.py`` DEFAULT_DRIFT_RULE)."""

    drift_share_threshold: float | None = None


@dataclass(frozen=True)
class _Day:
    """The champion and what the monitoring of one day reads."""

    day: str
    champion: ModelVersion
    store: ModelStore


def _champion_day(context: dg.AssetExecutionContext, storage: PlatformStorage) -> _Day:
    store = storage.model_store()
    champion = store.champion()
    if champion is None:
        raise dg.Failure("no champion model: materialize models/conversion_model and models/champion first")
    return _Day(context.partition_key, champion, store)


def _skipped(day: _Day, reason: str, context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    context.log.warning(reason)
    return dg.MaterializeResult(
        metadata={"skipped_reason": reason, "reference_model": day.champion.version, "dagster/row_count": 0}
    )


def _report_paths(storage: PlatformStorage, asset: str, day: _Day) -> dict[str, Any]:
    folder = storage.report_dir(asset, day.day)
    return {
        "html_path": folder / f"{day.champion.version}.html",
        "json_path": folder / f"{day.champion.version}.json",
    }


def _report_links(storage: PlatformStorage, html_path: Any, json_path: Any, verdict: Verdict) -> dict:
    """A report's address (a link in the UI, answered by ``platform-assets reports serve``), the
    index of every report, the files; what it found is kept beside it for that index."""
    write_verdict(html_path, verdict)
    return {
        "report": dg.MetadataValue.url(storage.report_url(html_path)),
        "reports_index": dg.MetadataValue.url(storage.report_url()),
        "report_html": dg.MetadataValue.path(str(html_path)),
        "report_json": dg.MetadataValue.path(str(json_path)),
    }


@dg.asset(
    key=FEATURE_DRIFT,
    partitions_def=event_days,
    deps=[SESSION_FEATURES, CHAMPION],
    group_name="monitoring",
    kinds={"evidently", "html"},
    owners=["team:ml"],
    code_version="3",
)
def feature_drift(
    context: dg.AssetExecutionContext, config: DriftConfig, engine: PlatformEngine, storage: PlatformStorage
) -> dg.MaterializeResult:
    """Evidently data-drift report (HTML + JSON) of the day's features vs the champion's training sample."""
    from platform_assets.lib.ml.drift import compute_drift  # imports Evidently (slow): only when run

    day = _champion_day(context, storage)
    current = engine.read_frame(
        "SELECT * FROM session_features WHERE event_date = CAST(? AS DATE)", [day.day]
    )
    if current.empty:
        return _skipped(day, f"no sessions on {day.day}: no drift report", context)
    try:
        reference = day.store.reference(day.champion.version)
    except ModelIntegrityError as error:
        raise dg.Failure(f"the champion {day.champion.version} cannot be used: {error}") from None
    summary = compute_drift(
        reference=reference,
        current=current,
        numerical=list(FEATURE_SPEC.monitored_numeric),
        categorical=list(FEATURE_SPEC.categorical),
        drift_share_threshold=config.drift_share_threshold,
        **_report_paths(storage, "feature_drift", day),
    )
    return dg.MaterializeResult(
        metadata={
            "dataset_drift": summary.dataset_drift,
            "drift_share": summary.drift_share,
            "drift_share_threshold": summary.drift_share_threshold,
            "drift_rule": dg.MetadataValue.json(summary.as_dict()["rule"]),
            "drifted_columns": dg.MetadataValue.json(list(summary.drifted_columns)),
            "n_drifted_columns": len(summary.drifted_columns),
            "column_scores": dg.MetadataValue.json(summary.as_dict()["column_scores"]),
            # the thresholds used, for this day's sample sizes ([reference, current] values per column)
            "column_thresholds": dg.MetadataValue.json(summary.as_dict()["column_thresholds"]),
            "column_sample_sizes": dg.MetadataValue.json(summary.as_dict()["column_sample_sizes"]),
            **({"column_level": summary.column_level} if summary.column_level is not None else {}),
            "reference_model": day.champion.version,
            "reference_rows": summary.reference_rows,
            "dagster/row_count": summary.current_rows,
            **_report_links(storage, summary.html_path, summary.json_path, drift_verdict(summary.as_dict())),
        }
    )


@dg.asset(
    key=MODEL_PERFORMANCE,
    partitions_def=event_days,
    deps=[SESSION_PREDICTIONS, SESSION_FEATURES, CHAMPION],
    group_name="monitoring",
    kinds={"evidently", "html"},
    owners=["team:ml"],
    code_version="2",
)
def model_performance(
    context: dg.AssetExecutionContext, engine: PlatformEngine, storage: PlatformStorage
) -> dg.MaterializeResult:
    """Evidently report of the day's predictions vs the champion's on its training sample
    (prediction drift) and, once the day's labels exist, its quality and calibration against the
    champion's held-out figures from its training card (observed positive rate, mean prediction,
    reliability table, log loss, ROC AUC), with the calibration test the retraining policy reads."""
    from platform_assets.lib.ml import model_quality  # Evidently: only when run
    from platform_assets.lib.ml.scoring import load_scorer

    day = _champion_day(context, storage)
    current = _scored_day(engine, day.day)
    if current.empty:
        return _skipped(day, f"no predictions on {day.day}: no model report", context)
    scored_by = sorted(set(current["model_version"]))
    if scored_by != [day.champion.version]:
        raise dg.Failure(
            f"{day.day} was scored by {scored_by}, the champion is {day.champion.version}: "
            "re-materialize predictions/session_predictions for the day first"
        )
    try:
        scorer = load_scorer(day.store, day.champion.version, engine.spark_session)
        reference = day.store.reference(day.champion.version)
        heldout = model_quality.heldout_reference(day.store.card(day.champion.version))
    except ModelIntegrityError as error:
        raise dg.Failure(f"the champion {day.champion.version} cannot be used: {error}") from None
    reference_scores = pd.DataFrame(
        {"prediction": scorer.probabilities(reference), "label": reference[FEATURE_SPEC.label].to_numpy()}
    )
    report = model_quality.compute_model_report(
        reference_scores,
        current[["prediction", "label"]],
        threshold=scorer.threshold,
        heldout=heldout,
        **_report_paths(storage, "model_performance", day),
    )
    quality = {k: v for k, v in (report.quality or {}).items() if k != "reference_quality"}
    return dg.MaterializeResult(
        metadata={
            "prediction_drifted": report.prediction_drifted,
            "prediction_drift_score": report.prediction_drift_score,
            "prediction_drift_method": report.prediction_drift_method,
            "mean_prediction": report.current_mean_prediction,
            "reference_mean_prediction": report.reference_mean_prediction,
            "labelled_rows": report.labelled_rows,
            **{f"quality_{k}": float(v) for k, v in quality.items() if isinstance(v, int | float)},
            **_calibration_metadata(engine, day, current, report.calibration),
            **_heldout_metadata(heldout),
            "quality_skipped_reason": report.quality_skipped_reason or "",
            "quality_notes": dg.MetadataValue.json(list(report.quality_notes)),
            "reference_model": day.champion.version,
            "dagster/row_count": report.current_rows,
            **_report_links(
                storage, report.html_path, report.json_path, performance_verdict(report.as_dict())
            ),
        }
    )


def _scored_day(engine: PlatformEngine, day: str) -> pd.DataFrame:
    """The day's predictions with their labels (null until the day's features hold them)."""
    return engine.read_frame(
        "SELECT p.session_id, p.model_version, p.probability AS prediction, f.label "
        "FROM session_predictions AS p LEFT JOIN session_features AS f "
        "ON f.event_date = p.event_date AND f.session_id = p.session_id "
        "WHERE p.event_date = CAST(? AS DATE)",
        [day],
    )


def _calibration_metadata(
    engine: PlatformEngine, day: _Day, current: pd.DataFrame, calibration: dict[str, Any] | None
) -> dict[str, Any]:
    """The day's calibration and the pooled one over the calibration window: the day and the days
    just before it that the champion scored and was not trained on (``lib/ml/model_quality.py``)."""
    from platform_assets.lib.ml.model_quality import (
        CALIBRATION_WINDOW_DAYS,
        calibration_summary,
        trigger_metadata,
    )

    if calibration is None:
        return {}
    trained_until = str(day.store.entry(day.champion.version).get("holdout_end") or "")
    window, days = [current], [day.day]
    for back in range(1, CALIBRATION_WINDOW_DAYS):
        earlier = (pd.Timestamp(day.day) - pd.Timedelta(days=back)).strftime("%Y-%m-%d")
        if earlier <= trained_until:
            break
        rows = _scored_day(engine, earlier)
        rows = rows[rows["model_version"] == day.champion.version]
        if rows.empty or rows["label"].isna().all():
            break
        window.append(rows)
        days.insert(0, earlier)
    labelled = pd.concat(window, ignore_index=True).dropna(subset=["label"])
    pooled = calibration_summary(labelled["label"].to_numpy(), labelled["prediction"].to_numpy())
    flat = trigger_metadata(calibration, pooled, days)
    return {
        **{k: v for k, v in flat.items() if v is not None and k != "calibration_window_days"},
        "calibration_window_days": dg.MetadataValue.json(days),
        "reliability": dg.MetadataValue.md(_reliability_markdown(calibration["reliability"])),
    }


def _heldout_metadata(heldout: dict[str, Any] | None) -> dict[str, Any]:
    """The champion's held-out figures (its training card), the yardstick of the day's."""
    if heldout is None:
        return {"heldout_missing": "the champion's card holds no held-out metrics"}
    numbers = ("rows", "observed_rate", "mean_prediction", "difference", "ece", "log_loss", "roc_auc")
    return {
        **{f"heldout_{k}": heldout[k] for k in numbers if heldout.get(k) is not None},
        "heldout_window": f"{heldout.get('start')}..{heldout.get('end')}",
        "heldout_reliability": dg.MetadataValue.md(_reliability_markdown(heldout["reliability"])),
    }


def _reliability_markdown(bins: list[dict[str, Any]]) -> str:
    lines = ["| predicted | rows | mean prediction | observed rate |", "|---|---|---|---|"]
    for b in bins:
        lines.append(
            f"| {b['lower']:.1f}-{b['upper']:.1f} | {b['rows']} | {b['mean_predicted']:.4f} | "
            f"{b['observed_rate']:.4f} |"
        )
    return "\n".join(lines)
