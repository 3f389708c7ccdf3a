"""Helpers of the serving tests: a registered champion and a published store day, both small."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from platform_assets.lib.ml.model_store import ModelStore
from platform_assets.lib.ml.training import FEATURE_SPEC, build_pipeline, prepare_features
from platform_assets.serving.online_store import publish_day, store_root

STORE_SCHEMA = pa.schema(
    [
        ("visitor_id", pa.string()),
        ("session_id", pa.string()),
        ("first_day", pa.date32()),
        ("session_end", pa.timestamp("us")),
        ("converted", pa.int32()),
        ("page_views", pa.int64()),
    ]
)


def register_version(data_dir: Path, threshold: float, seed: int = 1) -> str:
    """A logistic regression on random rows (``seed``), registered with ``threshold``."""
    rng = np.random.default_rng(seed)
    rows = 400
    frame = pd.DataFrame(
        {
            c: rng.choice(["desktop", "mobile", "direct", "search", None], rows)
            for c in FEATURE_SPEC.categorical
        }
        | {c: rng.normal(size=rows) for c in FEATURE_SPEC.numeric}
    )
    label = (frame["prior_conversions_28d"] + rng.normal(size=rows) > 0.5).astype(int)
    pipeline = build_pipeline("logreg").fit(prepare_features(frame), label)
    store = ModelStore(data_dir / "models")
    info = {"params": {"kind": "test"}, "training_data": {"rows": rows}, "run_id": "r"}
    saved = store.save(
        pipeline, {"model": {"at_train_best_f1": {"threshold": threshold}}}, frame.head(50), info
    )
    return saved.version


def register_champion(data_dir: Path, threshold: float, seed: int = 1) -> str:
    """:func:`register_version`, made champion."""
    version = register_version(data_dir, threshold, seed)
    ModelStore(data_dir / "models").set_champion(version, {"by": "test", "reason": "serving test"})
    return version


def history(rows: list[tuple]) -> pa.Table:
    """Store rows from (visitor, session, first_day, session_end, converted, page_views) tuples."""
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in STORE_SCHEMA]
    return pa.table(
        [pa.array(list(c), type=f.type) for c, f in zip(columns, STORE_SCHEMA, strict=True)], STORE_SCHEMA
    )


def publish(data_dir: Path, day: str, rows: list[tuple]):
    return publish_day(store_root(data_dir), dt.date.fromisoformat(day), history(rows))
