"""Models layer: the session-conversion classifier, trained on a time split and versioned."""

import dagster as dg

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.storage import PlatformStorage

CONVERSION_MODEL = dg.AssetKey(["models", "conversion_model"])
BEATS_BASELINE = "beats_baseline"


class TrainingConfig(dg.Config):
    """How to train; every field is recorded with the model version."""

    kind: str = "logreg"  # calibrated and robust on small, non-stationary data; or "hgb"
    holdout_days: int | None = None
    holdout_fraction: float = 0.25
    seed: int = 0
    train_until: str | None = None  # last feature day to use (YYYY-MM-DD); default: all days
    min_rows: int = 200


def _confusion_markdown(at: dict) -> str:
    return (
        f"| threshold {at['threshold']:.3f} | predicted 0 | predicted 1 |\n|---|---|---|\n"
        f"| actual 0 | {at['tn']} | {at['fp']} |\n| actual 1 | {at['fn']} | {at['tp']} |"
    )


@dg.asset(
    key=CONVERSION_MODEL,
    deps=[SESSION_FEATURES],
    group_name="models",
    kinds={"scikit-learn", "skops"},
    owners=["team:ml"],
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(
            BEATS_BASELINE,
            asset=CONVERSION_MODEL,
            blocking=True,
            description="On held-out (later) days the model beats a prior-only baseline: higher "
            "ROC AUC by a margin and lower log loss.",
        )
    ],
)
def conversion_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    engine: PlatformEngine,
    storage: PlatformStorage,
):
    """Predicts at session start whether a session converts (scikit-learn pipeline, skops file)."""
    sql = "SELECT * FROM session_features"
    params: list = []
    if config.train_until:
        sql += " WHERE event_date <= CAST(? AS DATE)"
        params.append(config.train_until)
    features = engine.read_frame(sql + " ORDER BY event_date, session_id", params)
    from platform_assets.lib.training import train_model  # scikit-learn: imported by the step only

    result = train_model(
        features,
        kind=config.kind,
        holdout_days=config.holdout_days,
        holdout_fraction=config.holdout_fraction,
        seed=config.seed,
        min_rows=config.min_rows,
    )
    beats = bool(result.metrics["beats_baseline"])
    version = storage.model_store().save(
        result.pipeline, result.metrics, result.reference, result.info(), accepted=beats
    )
    model, baseline = result.metrics["model"], result.metrics["baseline"]
    context.log.info(f"trained {version.version}: holdout AUC {model['roc_auc']:.3f} (baseline 0.5)")
    yield dg.MaterializeResult(
        metadata={
            "model_version": version.version,
            "accepted": beats,
            "model_sha256": version.sha256,
            "model_path": dg.MetadataValue.path(str(version.model_path)),
            "roc_auc": model["roc_auc"],
            "log_loss": model["log_loss"],
            "brier": model["brier"],
            "precision": model["at_0_5"]["precision"],
            "recall": model["at_0_5"]["recall"],
            "threshold_tuned": model["at_train_best_f1"]["threshold"],
            "precision_tuned": model["at_train_best_f1"]["precision"],
            "recall_tuned": model["at_train_best_f1"]["recall"],
            "f1_tuned": model["at_train_best_f1"]["f1"],
            "baseline_roc_auc": baseline["roc_auc"],
            "baseline_log_loss": baseline["log_loss"],
            "positive_rate_holdout": result.metrics["positive_rate_holdout"],
            "confusion_matrix": dg.MetadataValue.md(_confusion_markdown(model["at_0_5"])),
            "confusion_matrix_tuned": dg.MetadataValue.md(_confusion_markdown(model["at_train_best_f1"])),
            "split": dg.MetadataValue.json(result.split.as_dict()),
            "params": dg.MetadataValue.json(result.params),
            "dagster/row_count": result.split.train_rows + result.split.holdout_rows,
        }
    )
    yield dg.AssetCheckResult(
        check_name=BEATS_BASELINE,
        passed=beats,
        metadata={
            "roc_auc": model["roc_auc"],
            "baseline_roc_auc": baseline["roc_auc"],
            "log_loss": model["log_loss"],
            "baseline_log_loss": baseline["log_loss"],
            "min_auc_margin": result.metrics["min_auc_margin"],
        },
    )
