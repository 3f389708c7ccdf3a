"""Models layer: train a challenger, gate it against the champion, promote it (or roll back).

``models/conversion_model`` trains a new version on the session features (the registered model
families, a bounded search, a time split) and registers it. On the same held-out rows it scores
the current champion too; three blocking checks (``beats_baseline``, ``metric_floor``,
``beats_champion``) gate ``models/champion``, which moves the registry's champion pointer. A failed
gate records the decision (both scores and the reason) and the champion stays.
``models/champion`` with ``version`` in its config promotes or rolls back to any registered,
intact version.

One training template, two backends (``lib/ml/training.py``): scikit-learn in this process (skops
file), or Spark ML on the ``engine`` resource's Spark session for large feature tables (the
engine's ``auto`` rule, or ``spark_min_rows``).
"""

import hashlib
import logging
import shutil
from contextlib import closing
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.metadata import latest_metadata
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.common.thresholds import QualityThresholds
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.lib.layout import sql_string, validate_day
from platform_assets.lib.ml import families
from platform_assets.lib.ml.mlflow_mirror import SKIPPED, mirror_champion, mirror_training
from platform_assets.lib.ml.mlflow_session import target_for
from platform_assets.lib.ml.model_store import ModelIntegrityError, ModelStore, ModelVersion, validate_version
from platform_assets.lib.ml.promotion import (
    BEATS_BASELINE,
    BEATS_CHAMPION,
    METRIC_FLOOR,
    HeldOut,
    PromotionDecision,
    PromotionPolicy,
    decide,
    holdout_scores,
)

CONVERSION_MODEL = dg.AssetKey(["models", "conversion_model"])
CHAMPION = dg.AssetKey(["models", "champion"])
TRAINERS = ("auto", "sklearn", "spark")


class TrainingConfig(dg.Config):
    """How to train and how the challenger must compare with the champion; every field is
    recorded with the model version."""

    # "search": every registered family (lib/ml/families.py) with its bounded grid, the best on a
    # validation period at the end of the training days; or one family by name ("logreg", "hgb"...)
    kind: str = families.SEARCH
    max_candidates: int | None = None  # default: the whole grid (7) with scikit-learn, 4 on Spark
    validation_days: int | None = None  # default: the last days closest to 25% of training rows
    selection_metric: str = "log_loss"  # or "roc_auc", "brier"
    holdout_days: int | None = None
    holdout_fraction: float = 0.25
    seed: int = 0
    train_until: str | None = None  # last feature day to use (YYYY-MM-DD); default: all days
    min_rows: int = 200
    # "sklearn", "spark", or "auto": Spark ML from spark_min_rows rows on (default: the engine
    # resource's auto_spark_min_rows, the engine's one auto rule)
    trainer: str = "auto"
    spark_min_rows: int | None = None
    # log loss: a proper scoring rule, so a champion whose probabilities no longer match the
    # conversion rate loses even when its ranking (ROC AUC) holds; or "roc_auc", "brier"
    promotion_metric: str = "log_loss"
    # the one-sided lower bound of the challenger's gain over the champion must reach this
    promotion_margin: float = 0.001

    def training_args(self) -> dict:
        """What both trainers take from this config (families and search, split, seed, minimum rows)."""
        args = {
            "kind": self.kind,
            "holdout_days": self.holdout_days,
            "holdout_fraction": self.holdout_fraction,
            "seed": self.seed,
            "min_rows": self.min_rows,
            "validation_days": self.validation_days,
            "selection_metric": self.selection_metric,
        }
        if self.max_candidates is not None:  # else each trainer's own bound
            args["max_candidates"] = self.max_candidates
        return args


def choose_trainer(trainer: str, rows: int, engine: PlatformEngine, spark_min_rows: int | None = None) -> str:
    """``"sklearn"`` or ``"spark"`` for a feature table of ``rows`` rows: ``auto`` follows the
    engine's auto rule, or ``spark_min_rows`` when given."""
    if trainer not in TRAINERS:
        raise dg.Failure(f"trainer {trainer!r}: expected one of {', '.join(TRAINERS)}")
    if trainer != "auto":
        return trainer
    if spark_min_rows is not None:
        return "spark" if rows >= spark_min_rows else "sklearn"
    return "spark" if engine.uses_spark(rows=rows, kind="auto") else "sklearn"


def check_family(kind: str, trainer: str) -> None:
    """Fail before any data is read when ``kind`` is no registered family (or "search"), or a
    family the chosen trainer cannot fit."""
    try:
        families.resolve(kind, spark=trainer == "spark")
    except ValueError as error:
        raise dg.Failure(str(error)) from None


def _confusion_markdown(at: dict) -> str:
    return (
        f"| threshold {at['threshold']:.3f} | predicted 0 | predicted 1 |\n|---|---|---|\n"
        f"| actual 0 | {at['tn']} | {at['fp']} |\n| actual 1 | {at['fn']} | {at['tp']} |"
    )


def _gate_spec(name: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=CONVERSION_MODEL, blocking=True, description=description)


@dg.asset(
    key=CONVERSION_MODEL,
    deps=[SESSION_FEATURES],
    group_name="models",
    kinds={"scikit-learn", "spark", "skops"},
    owners=["team:ml"],
    code_version="2",
    check_specs=[
        _gate_spec(
            BEATS_BASELINE,
            "On held-out (later) days the challenger ranks better than the prior-only baseline by "
            "more than chance (one-sided 99% lower bound of the ROC AUC gain above 0, paired "
            "bootstrap over visitors) and has a lower log loss.",
        ),
        _gate_spec(
            METRIC_FLOOR,
            "The challenger's held-out ROC AUC reaches PLATFORM_MODEL_MIN_ROC_AUC (default 0.55), "
            "whatever the baseline did (a sanity check).",
        ),
        _gate_spec(
            BEATS_CHAMPION,
            "On the same held-out rows the one-sided 95% lower bound of the challenger's gain over "
            "the champion on the promotion metric (paired bootstrap over visitors) reaches "
            "promotion_margin and is above 0 (passes when there is no champion yet).",
        ),
    ],
)
def conversion_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    engine: PlatformEngine,
    storage: PlatformStorage,
    quality: QualityThresholds,
):
    """Trains a challenger that predicts at session start whether a session converts, registers it,
    and compares it with the champion on the same held-out rows (scikit-learn or Spark ML)."""
    policy = _policy(config, quality)
    where = _until(config.train_until)
    training_data = _training_data(engine, where)
    rows = training_data["rows"]
    trainer = choose_trainer(config.trainer, rows, engine, config.spark_min_rows)
    check_family(config.kind, trainer)
    threshold = engine.auto_spark_min_rows if config.spark_min_rows is None else config.spark_min_rows
    context.log.info(f"{rows} feature rows: training with {trainer} (spark_min_rows {threshold})")
    result = _train(context, config, engine, trainer, where, training_data)
    store = storage.model_store()
    model = result.metrics["model"]
    info = {**result.info(), "training_partitions": training_data, "run_id": context.run.run_id}
    save = store.save_spark if trainer == "spark" else store.save
    accepted = bool(result.metrics["beats_baseline"]) and model["roc_auc"] >= policy.min_roc_auc
    summary = _registry_summary(result, training_data, context.run.run_id)
    version = save(
        result.pipeline, result.metrics, result.reference, info, accepted=accepted, summary=summary
    )
    decision = _compare_with_champion(context, engine, store, version.version, result, where, policy)
    store.annotate(version.version, decision=decision.as_record())
    if not decision.promote:
        store.record_decision(decision.as_record())
    context.log.info(f"trained {version.version}: {decision.reason}")
    # the platform's registry has committed: MLflow mirrors it (never read back)
    mirrored = mirror_training(
        target_for(storage.data_dir),
        store,
        version=version.version,
        result=result,
        training_data=training_data,
        decision=decision.as_record(),
        dagster_run_id=context.run.run_id,
        reports=storage.layout.reports,
    )
    say_mirrored(context.log, mirrored, context.run.run_id)
    yield dg.MaterializeResult(
        metadata={
            **challenger_metadata(result, version, accepted, info, decision, policy, training_data),
            "mlflow": mirrored,
        }
    )
    for gate in decision.gates:
        yield dg.AssetCheckResult(
            check_name=gate.name,
            passed=gate.passed,
            metadata={"model_version": version.version, **_plain(gate.figures), "detail": gate.detail},
            description=None if gate.passed else gate.detail,
        )


def _until(train_until: str | None) -> str:
    """The SQL filter on the feature days a run may read ("" for every day)."""
    if not train_until:
        return ""
    last_day = sql_string(validate_day(train_until).isoformat())  # validated: a literal
    return f" WHERE event_date <= CAST({last_day} AS DATE)"


def _train(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    engine: PlatformEngine,
    trainer: str,
    where: str,
    training_data: dict[str, Any],
) -> Any:
    """Train with the chosen backend; a window that cannot train a trustworthy model fails the
    step and says why."""
    from platform_assets.lib.ml.training import TrainingDataError, train_model  # scikit-learn: step only

    try:
        if trainer == "spark":
            return _train_with_spark(context, config, engine, where)
        query = f"SELECT * FROM session_features{where} ORDER BY event_date, session_id"
        return train_model(engine.read_frame(query), **config.training_args())
    except TrainingDataError as error:
        days, rows = training_data["days"], training_data["rows"]
        raise dg.Failure(
            f"no model trained on {days} feature days ({rows} rows): {error}",
            metadata={"training_data": dg.MetadataValue.json(training_data)},
        ) from None


def _registry_summary(result: Any, training_data: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The fields the registry keeps beside each version (family, scores, days, data version)."""
    model = result.metrics["model"]
    return {
        "family": result.params.get("kind"),
        "trainer": result.params["trainer"],
        "roc_auc": model["roc_auc"],
        "log_loss": model["log_loss"],
        "train_start": result.split.train_start,
        "train_end": result.split.train_end,
        "holdout_start": result.split.holdout_start,
        "holdout_end": result.split.holdout_end,
        "training_data_version": training_data["data_version"],
        "run_id": run_id,
    }


def challenger_metadata(
    result: Any,
    version: ModelVersion,
    accepted: bool,
    info: dict[str, Any],
    decision: PromotionDecision,
    policy: PromotionPolicy,
    training_data: dict[str, Any],
) -> dict[str, Any]:
    """What a ``conversion_model`` materialization shows: the version, its held-out scores, the
    search, the promotion decision and the data it was trained on."""
    return {
        "model_version": version.version,
        "trainer": result.params["trainer"],
        "family": str(result.params.get("kind")),
        "model_format": version.format,
        "accepted": accepted,
        "model_sha256": version.sha256,
        "model_path": dg.MetadataValue.path(str(version.model_path)),
        **_score_metadata(result.metrics),
        "code_version": str(info.get("code_version", "")),
        **_candidates_metadata(getattr(result, "candidates", None)),
        **_decision_metadata(decision, policy),
        "split": dg.MetadataValue.json(result.split.as_dict()),
        "params": dg.MetadataValue.json(result.params),
        "training_data": dg.MetadataValue.json(training_data),
        "training_data_version": training_data["data_version"],
        "dagster/row_count": result.split.train_rows + result.split.holdout_rows,
    }


def _score_metadata(metrics: dict[str, Any]) -> dict[str, Any]:
    """Held-out scores at both thresholds, the baseline's, train scores, calibration."""
    model, baseline, tuned = metrics["model"], metrics["baseline"], metrics["model"]["at_train_best_f1"]
    return {
        "roc_auc": model["roc_auc"],
        "log_loss": model["log_loss"],
        "brier": model["brier"],
        "precision": model["at_0_5"]["precision"],
        "recall": model["at_0_5"]["recall"],
        "threshold_tuned": tuned["threshold"],
        "precision_tuned": tuned["precision"],
        "recall_tuned": tuned["recall"],
        "f1_tuned": tuned["f1"],
        "baseline_roc_auc": baseline["roc_auc"],
        "baseline_log_loss": baseline["log_loss"],
        "positive_rate_holdout": metrics["positive_rate_holdout"],
        **_train_metrics(metrics),
        **_calibration_metadata(model),
        "confusion_matrix": dg.MetadataValue.md(_confusion_markdown(model["at_0_5"])),
        "confusion_matrix_tuned": dg.MetadataValue.md(_confusion_markdown(tuned)),
    }


def _decision_metadata(decision: PromotionDecision, policy: PromotionPolicy) -> dict[str, Any]:
    record = decision.as_record()
    return {
        "champion_before": decision.champion or "",
        "champion_score": _score(decision.champion_scores, policy.metric),
        "challenger_score": decision.challenger_scores[policy.metric],
        "promotion_metric": policy.metric,
        "promotion_level": policy.level,
        "decision": "promote" if decision.promote else "keep",
        "decision_reason": decision.reason,
        # each gain with its one-sided lower bound, the level, resamples and units
        "comparisons": dg.MetadataValue.json(record["comparisons"]),
    }


def _policy(config: TrainingConfig, quality: QualityThresholds) -> PromotionPolicy:
    try:
        return PromotionPolicy(config.promotion_metric, config.promotion_margin, quality.model_min_roc_auc)
    except ValueError as error:
        raise dg.Failure(str(error)) from None


def _training_data(engine: PlatformEngine, where: str) -> dict[str, Any]:
    """The feature partitions a training run reads, with each day's row count and content hash
    (the same fingerprint the features' data versions carry) and one data version over them."""
    days = engine.read_frame(
        "SELECT CAST(event_date AS VARCHAR) AS day, count(*) AS n, coalesce(sum(hash(f)), 0) AS h "
        f"FROM session_features AS f{where} GROUP BY event_date ORDER BY event_date"
    )
    fingerprints = {row.day: f"{int(row.n)}-{int(row.h):x}" for row in days.itertuples()}
    digest = hashlib.sha256("\n".join(f"{d}:{f}" for d, f in fingerprints.items()).encode()).hexdigest()
    return {
        "table": "session_features",
        "first_day": min(fingerprints, default=None),
        "last_day": max(fingerprints, default=None),
        "days": len(fingerprints),
        "rows": int(days["n"].sum()) if len(days) else 0,
        "data_version": digest[:16],
        "partitions": fingerprints,
    }


def _compare_with_champion(
    context: dg.AssetExecutionContext,
    engine: PlatformEngine,
    store: ModelStore,
    challenger: str,
    result: Any,
    where: str,
    policy: PromotionPolicy,
) -> PromotionDecision:
    """Score the registered challenger and the champion on the challenger's held-out rows."""
    from platform_assets.lib.ml.scoring import load_scorer

    split = result.split
    holdout = engine.read_frame(
        f"SELECT * FROM session_features{where}{' AND' if where else ' WHERE'} "
        "event_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) ORDER BY event_date, session_id",
        [split.holdout_start, split.holdout_end],
    )
    labels = holdout["label"].to_numpy(dtype=int)
    spark = engine.spark_session
    # the registered file, loaded back through its hash check, is what gets scored
    probabilities = load_scorer(store, challenger, spark).probabilities(holdout)
    # the prior-only baseline: every row gets the training positive rate
    baseline = np.full(len(holdout), float(result.metrics["positive_rate_train"]))
    champion = store.champion()
    champion_probabilities, champion_error = None, None
    window = {"start": split.holdout_start, "end": split.holdout_end, "rows": len(holdout)}
    if champion is not None:
        try:
            scorer = load_scorer(store, champion.version, spark)
            champion_probabilities = scorer.probabilities(holdout)
            holdout_scores(labels, champion_probabilities)  # refuses what cannot be scored
            trained_until = store.entry(champion.version).get("holdout_end")
            window["champion_trained_on_holdout"] = bool(
                trained_until and trained_until >= split.holdout_start
            )
        except (ModelIntegrityError, OSError, KeyError, ValueError) as error:
            champion_probabilities, champion_error = None, str(error)
            context.log.error(f"champion {champion.version} cannot be scored: {error}")
    # a visitor's sessions share the visitor's propensity and history: resampled together
    units = holdout["visitor_id"].to_numpy() if "visitor_id" in holdout else None
    return decide(
        challenger=challenger,
        heldout=HeldOut(labels, probabilities, baseline, champion_probabilities, units),
        champion=champion.version if champion else None,
        policy=policy,
        holdout=window,
        champion_error=champion_error,
    )


def _train_metrics(metrics: dict) -> dict[str, float]:
    train = metrics.get("train") or {}
    return {f"train_{k}": float(train[k]) for k in ("roc_auc", "log_loss", "brier") if k in train}


def _calibration_metadata(model: dict) -> dict[str, Any]:
    """Expected calibration error, TPR at fixed false-positive rates, and the reliability table."""
    out: dict[str, Any] = {}
    calibration = model.get("calibration") or {}
    if "ece" in calibration:
        out["calibration_error"] = float(calibration["ece"])
    for fpr, tpr in (model.get("tpr_at_fpr") or {}).items():
        out[f"tpr_at_fpr_{str(fpr).replace('.', '_')}"] = float(tpr)
    if calibration.get("bins"):
        table = pd.DataFrame(calibration["bins"])
        out["calibration"] = dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".3f"))
    return out


def _candidates_metadata(candidates: list[dict] | None) -> dict[str, Any]:
    if not candidates:
        return {}
    table = pd.DataFrame(candidates)
    return {
        "candidates_tried": len(candidates),
        "candidates": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".4f")),
    }


def _score(scores: dict | None, metric: str) -> float:
    return float(scores[metric]) if scores else float("nan")


def _plain(figures: dict) -> dict:
    """Check metadata values Dagster accepts (None as an empty string)."""
    return {k: "" if v is None else v for k, v in figures.items()}


def _train_with_spark(
    context: dg.AssetExecutionContext, config: TrainingConfig, engine: PlatformEngine, where: str
) -> Any:
    """Export the features as Parquet with DuckDB and train on them with Spark ML.

    DuckDB writes one Parquet file per thread into ``tmp/training/<run id>/``; Spark reads that
    folder in parallel (no pass through pandas or the Python driver). On a cluster the data
    directory must be shared storage. The folder is removed when training ends.
    """
    from platform_assets.lib.ml.training import train_model_spark

    export = engine.layout.tmp / "training" / context.run.run_id
    shutil.rmtree(export, ignore_errors=True)
    export.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(engine.connect(str(engine.layout.warehouse_db), read_only=True)) as con:
            con.execute(
                f"COPY (SELECT * FROM session_features{where}) TO {sql_string(str(export))} "
                "(FORMAT parquet, PER_THREAD_OUTPUT true)"
            )
        spark = engine.spark_session()  # the run's session, started on first use
        return train_model_spark(spark.read.parquet(str(export)), **config.training_args())
    finally:
        shutil.rmtree(export, ignore_errors=True)


class ChampionConfig(dg.Config):
    """Leave ``version`` empty to promote the challenger that passed its gate in this run; set it
    (with a ``reason``) to promote or roll back to any registered version whose files are intact."""

    version: str = ""
    reason: str = ""
    force: bool = False  # also a version that failed its baseline or floor gate


@dg.asset(
    key=CHAMPION,
    deps=[CONVERSION_MODEL],
    group_name="models",
    kinds={"scikit-learn", "spark"},
    owners=["team:ml"],
    code_version="1",
)
def champion(
    context: dg.AssetExecutionContext, config: ChampionConfig, storage: PlatformStorage
) -> dg.MaterializeResult:
    """The model version predictions and monitoring use: the challenger that passed every
    promotion gate, or a version named in config (a rollback)."""
    store = storage.model_store()
    before = store.champion()
    if config.version:
        record = promote_version(
            store,
            config.version,
            config.reason,
            actor=f"run {context.run.run_id}",
            force=config.force,
            mirror=False,  # mirrored below, as every other path here
        )
    else:
        record = _promote_challenger(context, store)
    mirrored = mirror_champion(target_for(storage.data_dir), store)
    say_mirrored(context.log, mirrored, context.run.run_id)
    current = store.champion()
    assert current is not None  # promote_version and _promote_challenger set it or raise
    entry = store.entry(current.version)
    context.log.info(f"champion: {current.version} (before: {before.version if before else 'none'})")
    return dg.MaterializeResult(
        metadata={
            "champion": current.version,
            "previous_champion": before.version if before else "",
            "action": record.get("action", ""),
            "reason": record.get("reason", ""),
            "roc_auc": float(entry.get("roc_auc", float("nan"))),
            "log_loss": float(entry.get("log_loss", float("nan"))),
            "family": str(entry.get("family", "")),
            "trained_until": str(entry.get("holdout_end", "")),
            "model_sha256": current.sha256,
            "model_path": dg.MetadataValue.path(str(current.model_path)),
            "decision": dg.MetadataValue.json(record),
            "mlflow": mirrored,
        }
    )


# (run id, outcome) of each skip already warned about in this process: a run's training and
# champion steps (in-process) skip for the same reason, and the run says so once.
_WARNED_SKIPS: set[tuple[str, str]] = set()


def say_mirrored(log: logging.Logger | dg.DagsterLogManager, outcome: str, run_id: str = "") -> None:
    """One line about the MLflow mirror: a warning when it was skipped (and why), once per run and
    reason (later steps of the run log it as info); an info line when it mirrored."""
    if outcome.startswith(SKIPPED) and (run_id, outcome) not in _WARNED_SKIPS:
        if run_id:
            _WARNED_SKIPS.add((run_id, outcome))
        log.warning(f"mlflow: {outcome}; the platform's registry is unaffected")
    else:
        log.info(f"mlflow: {outcome}")


def _promote_challenger(context: dg.AssetExecutionContext, store: ModelStore) -> dict:
    """Promote this run's challenger (the latest ``conversion_model``), which its blocking gate
    checks passed; materialized on its own, re-confirms a challenger that is champion already."""
    recorded = latest_metadata(context.instance, CONVERSION_MODEL) or {}
    challenger = str(recorded.get("model_version") or "")
    if not challenger:
        raise dg.Failure("no challenger has been trained: materialize models/conversion_model first")
    current = store.champion()
    if current is not None and current.version == challenger:
        store.verify(challenger)
        return {"action": "confirm", "reason": f"{challenger} is the champion already"}
    decision = store.entry(challenger).get("decision") or {}
    if decision.get("action") != "promote":
        raise dg.Failure(
            f"{challenger} did not pass its promotion gate: "
            f"{decision.get('reason', 'no decision recorded')}. To promote it anyway, materialize "
            "models/champion with config version and reason."
        )
    return store.set_champion(challenger, decision)


def promote_version(
    store: ModelStore, version: str, reason: str, actor: str, force: bool = False, mirror: bool = True
) -> dict:
    """Make a named version the champion (a rollback or a manual promotion): it must be registered,
    its files intact, and (unless ``force``) it must have passed its baseline and floor gates; the
    move is recorded with the reason and who asked. With ``mirror``, MLflow's aliases then follow
    (``mlflow`` in the returned record says how; a skip is also logged as a warning)."""
    try:
        validate_version(version)
        registered = store.get(version)
    except (ValueError, ModelIntegrityError) as error:
        raise dg.Failure(str(error)) from None
    if not reason.strip():
        raise dg.Failure(f"promoting {version} by hand needs a reason (config reason / --reason)")
    if not registered.accepted and not force:
        why = (store.entry(version).get("decision") or {}).get("reason", "")
        raise dg.Failure(
            f"{version} failed its baseline or floor gate ({why}); "
            "promote it anyway with force (config force: true / --force)"
        )
    current = store.champion()
    if current is not None and current.version == version:
        raise dg.Failure(f"{version} is already the champion: nothing to promote")
    older = current is not None and int(version[1:]) < int(current.version[1:])
    action = "rollback" if older else "manual"
    try:
        record = store.set_champion(
            version, {"action": action, "reason": reason.strip(), "by": actor, "forced": bool(force)}
        )
    except ModelIntegrityError as error:
        raise dg.Failure(
            f"cannot make {version} the champion: {error}"
            + (f" (the champion stays {current.version})" if current else "")
        ) from None
    if not mirror:
        return record
    # the store's root is <data dir>/models: MLflow's default store is beside it
    mirrored = mirror_champion(target_for(store.root.parent), store)
    say_mirrored(logging.getLogger(__name__), mirrored)
    return {**record, "mlflow": mirrored}
