"""Models layer: the session-conversion classifier, trained on a time split and versioned.

Two trainers share the split, the data checks and the metric definitions (``lib/training.py``):
scikit-learn in this process (skops file), or Spark ML on the ``engine`` resource's Spark session
(``lib/training_spark.py``; Spark's own model directory) when the feature table has at least
``spark_min_rows`` rows or ``trainer: spark`` is configured.
"""

import os
import shutil
from contextlib import closing
from typing import Any

import dagster as dg

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.lib.layout import sql_string, validate_day
from platform_assets.storage import PlatformStorage

CONVERSION_MODEL = dg.AssetKey(["models", "conversion_model"])
BEATS_BASELINE = "beats_baseline"
TRAINERS = ("auto", "sklearn", "spark")
# Feature rows from which ``trainer: auto`` trains with Spark ML; below it scikit-learn in one
# process is faster (a Spark session alone takes 10-20 s to start). Env: PLATFORM_MODEL_SPARK_MIN_ROWS.
DEFAULT_SPARK_MIN_ROWS = int(os.environ.get("PLATFORM_MODEL_SPARK_MIN_ROWS", "2000000"))


class TrainingConfig(dg.Config):
    """How to train; every field is recorded with the model version."""

    kind: str = "logreg"  # calibrated and robust on small, non-stationary data; or "hgb"
    holdout_days: int | None = None
    holdout_fraction: float = 0.25
    seed: int = 0
    train_until: str | None = None  # last feature day to use (YYYY-MM-DD); default: all days
    min_rows: int = 200
    trainer: str = "auto"  # "sklearn", "spark", or "auto": Spark ML from spark_min_rows rows on
    spark_min_rows: int = DEFAULT_SPARK_MIN_ROWS

    def training_args(self) -> dict:
        """What both trainers take from this config (model family, split, seed, minimum rows)."""
        return {
            "kind": self.kind,
            "holdout_days": self.holdout_days,
            "holdout_fraction": self.holdout_fraction,
            "seed": self.seed,
            "min_rows": self.min_rows,
        }


def choose_trainer(trainer: str, rows: int, spark_min_rows: int) -> str:
    """``"sklearn"`` or ``"spark"`` for a feature table of ``rows`` rows."""
    if trainer not in TRAINERS:
        raise dg.Failure(f"trainer {trainer!r}: expected one of {', '.join(TRAINERS)}")
    if trainer == "auto":
        return "spark" if rows >= spark_min_rows else "sklearn"
    return trainer


def _confusion_markdown(at: dict) -> str:
    return (
        f"| threshold {at['threshold']:.3f} | predicted 0 | predicted 1 |\n|---|---|---|\n"
        f"| actual 0 | {at['tn']} | {at['fp']} |\n| actual 1 | {at['fn']} | {at['tp']} |"
    )


@dg.asset(
    key=CONVERSION_MODEL,
    deps=[SESSION_FEATURES],
    group_name="models",
    kinds={"scikit-learn", "spark", "skops"},
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
    """Predicts at session start whether a session converts (scikit-learn pipeline in a skops file,
    or a Spark ML pipeline saved by Spark for large feature tables)."""
    where = ""
    if config.train_until:
        last_day = sql_string(validate_day(config.train_until).isoformat())  # validated: a literal
        where = f" WHERE event_date <= CAST({last_day} AS DATE)"
    rows = int(engine.read_frame("SELECT count(*) AS n FROM session_features" + where)["n"].iloc[0])
    trainer = choose_trainer(config.trainer, rows, config.spark_min_rows)
    context.log.info(f"{rows} feature rows: training with {trainer} (spark_min_rows {config.spark_min_rows})")
    store = storage.model_store()
    if trainer == "spark":
        result, version = _train_with_spark(context, config, engine, store, where)
    else:
        features = engine.read_frame(f"SELECT * FROM session_features{where} ORDER BY event_date, session_id")
        from platform_assets.lib.training import train_model  # scikit-learn: imported by the step only

        result = train_model(
            features,
            **config.training_args(),
        )
        version = store.save(
            result.pipeline,
            result.metrics,
            result.reference,
            result.info(),
            accepted=bool(result.metrics["beats_baseline"]),
        )
    beats = bool(result.metrics["beats_baseline"])
    model, baseline = result.metrics["model"], result.metrics["baseline"]
    context.log.info(f"trained {version.version}: holdout AUC {model['roc_auc']:.3f} (baseline 0.5)")
    yield dg.MaterializeResult(
        metadata={
            "model_version": version.version,
            "trainer": result.params["trainer"],
            "model_format": version.format,
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


def _train_with_spark(
    context: dg.AssetExecutionContext, config: TrainingConfig, engine: PlatformEngine, store: Any, where: str
) -> tuple[Any, Any]:
    """Export the features as Parquet with DuckDB, train on them with Spark ML, save the model.

    DuckDB writes one Parquet file per thread into ``tmp/training/<run id>/``; Spark reads that
    folder in parallel (no pass through pandas or the Python driver). On a cluster the data
    directory must be shared storage. The folder is removed when training ends.
    """
    from platform_assets.lib.training_spark import train_model_spark

    export = engine.layout.tmp / "training" / context.run.run_id
    shutil.rmtree(export, ignore_errors=True)
    export.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(engine.connect(str(engine.layout.warehouse_db), read_only=True)) as con:
            con.execute(
                f"COPY (SELECT * FROM session_features{where}) TO {sql_string(str(export))} "
                "(FORMAT parquet, PER_THREAD_OUTPUT true)"
            )
        spark = engine.spark.session()  # the run's session, started on first use
        result = train_model_spark(
            spark.read.parquet(str(export)),
            **config.training_args(),
        )
        version = store.save_spark(
            result.pipeline,
            result.metrics,
            result.reference,
            result.info(),
            accepted=bool(result.metrics["beats_baseline"]),
        )
    finally:
        shutil.rmtree(export, ignore_errors=True)
    return result, version
