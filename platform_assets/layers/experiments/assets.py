"""Experiments layer: what the prediction service answers comes back as data and decides its A/B test.

- ``experiments/deployment``: which versions answer live traffic (the champion, a challenger's
  share, a shadow), written to the deployment history the server reads (lib/ml/deployment.py);
- ``experiments/decisions`` and ``experiments/decision_quarantine``: each decision-log file the
  server landed, parsed into the decision lake per UTC day, every line a row or a quarantine row;
- ``experiments/ab_results``: per day, each experiment's arms judged on every session it served
  so far whose outcome is known (lib/ml/ab_test.py says how, and why looking daily is safe).
"""

import datetime as dt
import hashlib
import json

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.metadata import latest_metadata, table_metadata
from platform_assets.layers.common.names import EXPERIMENTS_GROUP
from platform_assets.layers.common.partitions import event_days, log_files
from platform_assets.layers.common.sql_assets import TRANSIENT_RETRY_POLICY, WAREHOUSE_POOL
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.layers.lake.assets import LINES_RECONCILE, lines_reconcile
from platform_assets.layers.models.assets import CHAMPION
from platform_assets.layers.raw.assets import LOG_FILES
from platform_assets.lib.decision_log import is_decision_log
from platform_assets.lib.layout import file_id, sql_string
from platform_assets.lib.line_reader import file_facts
from platform_assets.lib.ml import ab_test
from platform_assets.lib.ml.deployment import CHAMPION as CHAMPION_ARM
from platform_assets.lib.ml.deployment import (
    NO_EXPERIMENT,
    DeploymentStore,
    challenger_share,
    start_experiment,
)
from platform_assets.sql import SqlDefinition, load

DEPLOYMENT = dg.AssetKey([EXPERIMENTS_GROUP, "deployment"])
DECISIONS = dg.AssetKey([EXPERIMENTS_GROUP, "decisions"])
DECISION_QUARANTINE = dg.AssetKey([EXPERIMENTS_GROUP, "decision_quarantine"])
AB_RESULTS = dg.AssetKey([EXPERIMENTS_GROUP, "ab_results"])
# A decision without a session id is matched to the visitor's session that started within this
# many seconds of the request (the application asks when the session starts).
MATCH_SECONDS = 60
DEFAULT_PLANNED_VISITORS = 10_000


class DeploymentConfig(dg.Config):
    """A new deployment: the champion answers the rest of the traffic."""

    experiment: str
    reason: str
    challenger: str = ""  # a registered version, e.g. v0003; empty: the champion alone
    share: float = 0.1  # of visitors, to the challenger
    shadow: str = ""  # a version scored on every request, never answered
    budget_sessions: int = 0  # 0: no budget (the experiment ends when decisive)


@dg.asset(
    key=DEPLOYMENT,
    deps=[CHAMPION],
    group_name=EXPERIMENTS_GROUP,
    kinds={"sqlite"},
    owners=["team:ml"],
)
def deployment(
    context: dg.AssetExecutionContext, config: DeploymentConfig, storage: PlatformStorage
) -> dg.MaterializeResult:
    """Which model versions answer live traffic: the champion, a challenger's share, a shadow."""
    try:
        deployed = start_experiment(
            storage.layout.models,
            config.experiment,
            reason=config.reason,
            actor=f"run {context.run.run_id}",
            challenger=config.challenger or None,
            share=config.share,
            shadow=config.shadow or None,
            budget_sessions=config.budget_sessions or None,
        )
    except ValueError as error:
        raise dg.Failure(f"refused: {error}", allow_retries=False) from None
    return dg.MaterializeResult(metadata=deployment_metadata(deployed, storage.model_store().champion()))


def deployment_metadata(deployed, champion) -> dict:
    """What the UI shows of a deployment (also reported by the CLI)."""
    return {
        "deployment_id": deployed.id,
        "experiment": deployed.experiment,
        "arms": dg.MetadataValue.json([a.__dict__ for a in deployed.arms]),
        "champion_version": champion.version if champion else "",
        "shadow": deployed.shadow or "",
        "budget_sessions": deployed.budget_sessions or 0,
        "status": deployed.status,
        "reason": deployed.reason,
    }


def _decision_spec(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        description=description,
        deps=[LOG_FILES],
        kinds={"parquet", "duckdb"},
        group_name=EXPERIMENTS_GROUP,
        owners=["team:ml"],
        code_version=hashlib.sha256(load("lake/decisions").sql.encode()).hexdigest()[:12],
    )


@dg.multi_asset(
    specs=[
        _decision_spec(DECISIONS, load("lake/decisions").description),
        _decision_spec(
            DECISION_QUARANTINE, "The decision-log lines that could not be read, with the reason."
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            LINES_RECONCILE,
            asset=DECISIONS,
            blocking=True,
            description="Every line of the decision log is a decision or a quarantine row.",
        )
    ],
    partitions_def=log_files,
    name="decisions_ingest",
)
def decisions_ingest(context: dg.AssetExecutionContext, engine: PlatformEngine, storage: PlatformStorage):
    """Parse one decision-log file into the decision lake (per UTC day) and its quarantine."""
    key = context.partition_key
    if not is_decision_log(key):
        raise dg.Failure(f"{key} is not a decision log (landing/decisions/...)", allow_retries=False)
    path = storage.layout.landed_path(key)
    result = engine.ingest_decision_file(str(path), key, file_id(key))
    raw = latest_metadata(context.instance, LOG_FILES, key)
    if raw is None:
        facts = file_facts(path)
        raw_lines, raw_sha256 = facts.lines, facts.sha256
    else:
        raw_lines, raw_sha256 = int(raw["lines"]), str(raw["sha256"])
    yield dg.MaterializeResult(
        asset_key=DECISIONS,
        metadata={
            **table_metadata(result.event_columns, result.events, load("lake/decisions").columns),
            "decisions_by_day": dg.MetadataValue.json(result.events_by_day),
            "fragments": dg.MetadataValue.json(result.fragments),
            "lines": result.lines,
        },
    )
    yield dg.MaterializeResult(
        asset_key=DECISION_QUARANTINE,
        metadata={"dagster/row_count": result.quarantined, "reasons": dg.MetadataValue.json(result.reasons)},
    )
    yield lines_reconcile(key, path, raw_lines, raw_sha256, result, asset=DECISIONS)


AB_COLUMNS = {
    "event_date": "The day of the look: every session served up to its end whose outcome is known.",
    "experiment": "The experiment (deployment) judged.",
    "arm": "champion or a challenger's name.",
    "version": "Model version(s) that answered for the arm.",
    "sessions": "Sessions answered by the arm with a known outcome.",
    "visitors": "Their visitors (the unit of assignment and of the intervals).",
    "conversions": "Sessions that converted.",
    "conversion_rate": "conversions / sessions.",
    "log_loss": "Mean log loss of the answered probabilities.",
    "log_loss_low": "Fixed-time 95% interval of log_loss over visitors (descriptive), low end.",
    "log_loss_high": "High end of that interval.",
    "roc_auc": "ROC AUC of the answered probabilities, NULL without both outcomes.",
    "calibration_gap": "Mean answered probability minus conversion_rate.",
    "difference": "Challenger minus champion, visitor mean log loss (NULL on the champion's row).",
    "interval_low": "Always-valid confidence sequence of the difference, low end.",
    "interval_high": "High end (the experiment is decisive when the interval excludes 0).",
    "decision": "continue, challenger_better, challenger_worse or budget_spent.",
}
AB_SCHEMA = pa.schema(
    [
        ("event_date", pa.date32()),
        ("experiment", pa.string()),
        ("arm", pa.string()),
        ("version", pa.string()),
        ("sessions", pa.int64()),
        ("visitors", pa.int64()),
        ("conversions", pa.int64()),
        ("conversion_rate", pa.float64()),
        ("log_loss", pa.float64()),
        ("log_loss_low", pa.float64()),
        ("log_loss_high", pa.float64()),
        ("roc_auc", pa.float64()),
        ("calibration_gap", pa.float64()),
        ("difference", pa.float64()),
        ("interval_low", pa.float64()),
        ("interval_high", pa.float64()),
        ("decision", pa.string()),
    ]
)
AB_TABLE = SqlDefinition(
    name="ab_results",
    sql="",
    description="Each experiment's arms judged on the sessions they served",
    partition_column="event_date",
    grain=("experiment", "arm"),
    columns=AB_COLUMNS,
)


@dg.asset(
    key=AB_RESULTS,
    partitions_def=event_days,
    deps=[
        dg.AssetDep(DECISIONS, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(SESSION_FEATURES, partition_mapping=dg.AllPartitionMapping()),
        DEPLOYMENT,
    ],
    group_name=EXPERIMENTS_GROUP,
    kinds={"duckdb", "scikit-learn"},
    owners=["team:ml"],
    pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY_POLICY,
    metadata={"table": "warehouse.duckdb: main.ab_results"},
)
def ab_results(
    context: dg.AssetExecutionContext, engine: PlatformEngine, storage: PlatformStorage
) -> dg.MaterializeResult:
    """Each experiment that answered on the day, judged on every session it served so far."""
    day = dt.date.fromisoformat(context.partition_key)
    served = served_sessions(engine, day)
    history = DeploymentStore(storage.layout.models).history()
    rows, verdicts = [], []
    for experiment, group in served.groupby("experiment", sort=True):
        deployed = [d for d in history if d.experiment == experiment and d.status == "running"]
        if not deployed:
            context.log.warning(f"{experiment}: answers logged but no deployment recorded; not judged")
            continue
        known = group[group["outcome"].notna()]
        experiment_rows, verdict = _judge(day, str(experiment), deployed[-1], known)
        verdict["pending_sessions"] = int(len(group) - len(known))
        rows += experiment_rows
        verdicts.append(verdict)
    table = pa.Table.from_pylist(rows, schema=AB_SCHEMA)
    write = engine.load_partition(AB_TABLE, table, day, {"decisions": len(served)})
    return dg.MaterializeResult(
        metadata={
            **table_metadata(write.columns, write.rows, AB_COLUMNS),
            "experiments": dg.MetadataValue.json(verdicts),
            "summary": dg.MetadataValue.md(_markdown(rows) if rows else f"no answers logged up to {day}"),
        },
        data_version=dg.DataVersion(write.fingerprint),
    )


def served_sessions(engine: PlatformEngine, day: dt.date) -> pd.DataFrame:
    """Every answer of the experiments that answered on ``day``, up to that day, once per decision
    id, with the session's realized outcome (NULL while its features are not built)."""
    layout = engine.layout
    fragments = [f.path for f in layout.decisions_catalog.fragments() if f.day <= day]
    if not fragments:
        return pd.DataFrame(
            columns=["experiment", "visitor_id", "request_time", "arm", "version", "probability", "outcome"]
        )
    files = "[" + ", ".join(sql_string(str(p)) for p in fragments) + "]"
    features = "session_features" if engine.table_exists("session_features") else _NO_FEATURES
    return engine.read_frame(
        f"""
        WITH answers AS (
            SELECT * FROM read_parquet({files}, union_by_name = true)
            QUALIFY row_number() OVER (PARTITION BY decision_id ORDER BY source_file, source_line) = 1
        ),
        judged AS (
            SELECT * FROM answers
            WHERE experiment IN (SELECT experiment FROM answers WHERE event_date = CAST(? AS DATE))
                AND experiment <> {sql_string(NO_EXPERIMENT)}  -- answers outside any experiment
        ),
        outcomes AS (
            SELECT session_id, visitor_id, session_start, label FROM {features}
            WHERE event_date <= CAST(? AS DATE)
        ),
        by_time AS (
            SELECT d.decision_id, o.label, o.session_start
            FROM (SELECT *, request_time + INTERVAL {MATCH_SECONDS} SECOND AS latest_start FROM judged) AS d
            ASOF LEFT JOIN outcomes AS o
                ON o.visitor_id = d.visitor_id AND o.session_start <= d.latest_start
            WHERE d.session_id IS NULL
        )
        SELECT
            d.experiment, d.visitor_id, d.request_time, d.arm, d.version, d.probability,
            coalesce(
                by_id.label,
                CASE
                    WHEN abs(epoch(t.session_start) - epoch(d.request_time)) <= {MATCH_SECONDS} THEN t.label
                END
            ) AS outcome
        FROM judged AS d
        LEFT JOIN outcomes AS by_id ON by_id.session_id = d.session_id
        LEFT JOIN by_time AS t ON t.decision_id = d.decision_id
        ORDER BY d.request_time, d.decision_id
        """,
        [day.isoformat(), day.isoformat()],
    )


_NO_FEATURES = (
    "(SELECT CAST(NULL AS VARCHAR) AS session_id, CAST(NULL AS VARCHAR) AS visitor_id, "
    "CAST(NULL AS TIMESTAMP) AS session_start, CAST(NULL AS INTEGER) AS label, "
    "CAST(NULL AS DATE) AS event_date WHERE false)"
)


def _judge(day: dt.date, experiment: str, deployed, known: pd.DataFrame) -> tuple[list[dict], dict]:
    """The table rows and the verdict of one experiment: each challenger against the champion,
    at alpha / number of challengers (Bonferroni)."""
    challengers = [a for a in deployed.arms if a.name != CHAMPION_ARM]
    alpha = ab_test.ALPHA / max(len(challengers), 1)
    champion_rows = known[known["arm"] == CHAMPION_ARM]
    rows, comparisons = [], []
    for arm in challengers:
        pair = pd.concat([champion_rows, known[known["arm"] == arm.name]])
        result = ab_test.analyse(
            pair["visitor_id"].to_numpy(),
            pair["request_time"].to_numpy(),
            np.where(pair["arm"] == CHAMPION_ARM, "champion", "challenger"),
            pair["version"].to_numpy(),
            pair["probability"].to_numpy(dtype=float),
            pair["outcome"].to_numpy(dtype=int),
            challenger_share=challenger_share(deployed, arm.name),
            budget_sessions=deployed.budget_sessions or 2**62,
            planned_visitors=deployed.budget_sessions or DEFAULT_PLANNED_VISITORS,
            alpha=alpha,
        )
        if not rows:
            rows.append(_row(day, experiment, CHAMPION_ARM, result.champion))
        rows.append(_row(day, experiment, arm.name, result.challenger, result))
        comparisons.append(
            {
                "arm": arm.name,
                "version": arm.version,
                "decision": result.decision,
                "reason": result.reason,
                "difference": result.difference,
                "interval": list(result.interval),
                "alpha": alpha,
                "sessions": result.sessions,
            }
        )
    verdict = {
        "experiment": experiment,
        "deployment_id": deployed.id,
        "comparisons": comparisons,
        "decision": _overall(comparisons),
    }
    return rows, verdict


def _overall(comparisons: list[dict]) -> str:
    """The experiment's decision: a challenger better than the champion wins (the best interval
    if several), else all worse or spent end it, else it continues."""
    decisions = {c["decision"] for c in comparisons}
    if "challenger_better" in decisions:
        return "challenger_better"
    if decisions and decisions <= {"challenger_worse", "budget_spent"}:
        return "challenger_worse" if decisions == {"challenger_worse"} else "budget_spent"
    return "continue"


def _row(day, experiment: str, arm: str, summary: ab_test.ArmSummary, result=None) -> dict:
    return {
        "event_date": day,
        "experiment": experiment,
        "arm": arm,
        "version": summary.version,
        "sessions": summary.sessions,
        "visitors": summary.visitors,
        "conversions": summary.conversions,
        "conversion_rate": _finite(summary.conversion_rate),
        "log_loss": _finite(summary.log_loss),
        "log_loss_low": _finite(summary.log_loss_ci[0]),
        "log_loss_high": _finite(summary.log_loss_ci[1]),
        "roc_auc": summary.roc_auc,
        "calibration_gap": _finite(summary.calibration_gap),
        "difference": _finite(result.difference) if result else None,
        "interval_low": _finite(result.interval[0]) if result else None,
        "interval_high": _finite(result.interval[1]) if result else None,
        "decision": result.decision if result else None,
    }


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _markdown(rows: list[dict]) -> str:
    head = (
        "| experiment | arm | version | sessions | visitors | log loss | AUC | difference [interval] "
        "| decision |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        interval = (
            f"{r['difference']:+.4f} [{_num(r['interval_low'])}, {_num(r['interval_high'])}]"
            if r["difference"] is not None
            else ""
        )
        lines.append(
            f"| {r['experiment']} | {r['arm']} | {r['version']} | {r['sessions']} | {r['visitors']} | "
            f"{_num(r['log_loss'])} | {_num(r['roc_auc'])} | {interval} | {r['decision'] or ''} |"
        )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def verdicts_of(metadata: dict) -> list[dict]:
    """The per-experiment verdicts an ``ab_results`` materialization recorded."""
    raw = metadata.get("experiments")
    value = getattr(raw, "value", getattr(raw, "data", raw))
    return json.loads(value) if isinstance(value, str) else list(value or [])
