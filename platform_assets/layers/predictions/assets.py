"""Predictions layer: each day's sessions scored by the champion, in the warehouse.

``predictions/session_predictions`` reads the day's ``session_features``, scores them with the
registry's champion (loaded only after its files match their sha256) and replaces the day's rows
of ``main.session_predictions`` in one transaction, the model version on every row. A day with no
sessions is written as zero rows, with the skip recorded; no champion is a clear failure.
"""

import datetime as dt

import dagster as dg
import numpy as np
import pyarrow as pa

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.metadata import table_metadata
from platform_assets.layers.common.partitions import event_days
from platform_assets.layers.common.sql_assets import TRANSIENT_RETRY_POLICY, WAREHOUSE_POOL
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.layers.models.assets import CHAMPION
from platform_assets.lib.ml.model_store import ModelIntegrityError
from platform_assets.sql import SqlDefinition

SESSION_PREDICTIONS = dg.AssetKey(["predictions", "session_predictions"])
COLUMNS = {
    "session_id": "The scored session (features/session_features.session_id).",
    "event_date": "UTC day of the session's start.",
    "model_version": "The champion version that scored the row.",
    "probability": "Predicted probability that the session converts.",
    "predicted_label": "1 when probability reaches the model's tuned threshold.",
    "threshold": "The decision threshold (tuned on the model's training rows).",
}
SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("event_date", pa.date32()),
        ("model_version", pa.string()),
        ("probability", pa.float64()),
        ("predicted_label", pa.int32()),
        ("threshold", pa.float64()),
    ]
)
# The table's definition for the engine's partition writer (rows come from Python, not SQL).
TABLE = SqlDefinition(
    name="session_predictions",
    sql="",
    description="Each session scored by the champion",
    partition_column="event_date",
    grain=("session_id",),
    columns=COLUMNS,
)


@dg.asset(
    key=SESSION_PREDICTIONS,
    partitions_def=event_days,
    deps=[SESSION_FEATURES, CHAMPION],
    group_name="predictions",
    kinds={"scikit-learn", "duckdb"},
    owners=["team:ml"],
    code_version="1",
    pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY_POLICY,
    metadata={"table": "warehouse.duckdb: main.session_predictions"},
)
def session_predictions(
    context: dg.AssetExecutionContext, engine: PlatformEngine, storage: PlatformStorage
) -> dg.MaterializeResult:
    """Every session of the day scored by the champion model, with the model version on each row."""
    from platform_assets.lib.ml.scoring import load_scorer  # scikit-learn: imported by the step only

    day = context.partition_key
    store = storage.model_store()
    champion = store.champion()
    if champion is None:
        raise dg.Failure(
            "no champion model: materialize models/conversion_model and models/champion first",
            allow_retries=False,  # TRANSIENT_RETRY_POLICY cannot change this
        )
    try:
        scorer = load_scorer(store, champion.version, engine.spark_session)
    except ModelIntegrityError as error:
        raise dg.Failure(
            f"the champion {champion.version} cannot be used: {error}", allow_retries=False
        ) from None
    features = engine.read_frame(
        "SELECT * FROM session_features WHERE event_date = CAST(? AS DATE) ORDER BY session_id", [day]
    )
    probabilities = scorer.probabilities(features)
    rows = pa.table(
        {
            "session_id": features["session_id"].astype(str).to_numpy(dtype=object),
            "event_date": np.full(len(features), dt.date.fromisoformat(day), dtype=object),
            "model_version": np.full(len(features), champion.version, dtype=object),
            "probability": probabilities,
            "predicted_label": (probabilities >= scorer.threshold).astype("int32"),
            "threshold": np.full(len(features), scorer.threshold),
        },
        schema=SCHEMA,
    )
    write = engine.load_partition(
        TABLE, rows, dt.date.fromisoformat(day), {"session_features": len(features)}
    )
    skipped = "" if len(features) else f"no sessions on {day}: nothing to score (the day holds zero rows)"
    if skipped:
        context.log.warning(skipped)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(write.columns, write.rows, COLUMNS),
            "model_version": champion.version,
            "mean_probability": float(probabilities.mean()) if len(probabilities) else float("nan"),
            "predicted_positive_rate": float(rows["predicted_label"].to_numpy().mean())
            if write.rows
            else 0.0,
            "threshold": scorer.threshold,
            "replaced_rows": write.replaced_rows,
            "skipped_reason": skipped,
        },
        data_version=dg.DataVersion(write.fingerprint),
    )
