"""Monitoring layer: Evidently drift reports of each day's features against the model's training data."""

import dagster as dg

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.layers.models.assets import CONVERSION_MODEL
from platform_assets.lib.feature_spec import FEATURE_SPEC
from platform_assets.partitions import event_days
from platform_assets.storage import PlatformStorage

FEATURE_DRIFT = dg.AssetKey(["monitoring", "feature_drift"])


class DriftConfig(dg.Config):
    """Dataset drift is declared when at least this share of feature columns drifted."""

    drift_share_threshold: float = 0.5


@dg.asset(
    key=FEATURE_DRIFT,
    partitions_def=event_days,
    deps=[SESSION_FEATURES, CONVERSION_MODEL],
    group_name="monitoring",
    kinds={"evidently", "html"},
    owners=["team:ml"],
    code_version="1",
)
def feature_drift(
    context: dg.AssetExecutionContext, config: DriftConfig, engine: PlatformEngine, storage: PlatformStorage
) -> dg.MaterializeResult:
    """Evidently data-drift report (HTML + JSON) of the day's features vs the model's training sample."""
    from platform_assets.lib.drift import compute_drift  # imports Evidently (slow): only when run

    day = context.partition_key
    store = storage.model_store()
    model = store.latest()
    if model is None:
        raise dg.Failure(
            "no accepted model is registered yet: materialize models/conversion_model first "
            "(a model that does not beat the baseline is not used)"
        )
    current = engine.read_frame("SELECT * FROM session_features WHERE event_date = CAST(? AS DATE)", [day])
    if current.empty:
        raise dg.Failure(f"no session features for {day}: build features/session_features for that day first")
    folder = storage.report_dir("feature_drift", day)
    summary = compute_drift(
        reference=store.reference(model.version),
        current=current,
        numerical=list(FEATURE_SPEC.monitored_numeric),
        categorical=list(FEATURE_SPEC.categorical),
        html_path=folder / f"{model.version}.html",
        json_path=folder / f"{model.version}.json",
        drift_share_threshold=config.drift_share_threshold,
    )
    return dg.MaterializeResult(
        metadata={
            "dataset_drift": summary.dataset_drift,
            "drift_share": summary.drift_share,
            "drifted_columns": dg.MetadataValue.json(list(summary.drifted_columns)),
            "n_drifted_columns": len(summary.drifted_columns),
            "column_scores": dg.MetadataValue.json(summary.as_dict()["column_scores"]),
            "reference_model": model.version,
            "reference_rows": summary.reference_rows,
            "dagster/row_count": summary.current_rows,
            "report_html": dg.MetadataValue.path(str(summary.html_path)),
            "report_json": dg.MetadataValue.path(str(summary.json_path)),
        }
    )
