"""``python -m benchmarks.alarm``: how good is the drift alarm? False alarms and detection, measured.

Each seed is one simulated shop (one user population, ``generate_logs``): ``warmup_days`` that
fill the 28-day history features, ``train_days`` whose features train the model with the real
``train_model`` (which keeps the reference sample the monitor compares with), then ``eval_days``
in branches that share every earlier day: no drift, and drift of each strength from the first
evaluation day on (a per-day drift schedule, so the population and its history stay the same).
Days are built with the platform's DuckDB engine and SQL, as the assets build them, without
Dagster; the feature tables are cached under ``benchmarks/.cache/alarm``.

Each evaluation day is compared with the reference by ``compute_drift`` (with ``FIXED_THRESHOLD_RULE``)
and by ``column_scores`` (every candidate method; the same Evidently tests, no report). Rules
are swept offline on the scores of the calibration seeds, the best one is named, and its rates
are reported on the held-out seeds. Writes ``alarm_days.csv`` and ``alarm_scores.csv`` and the
"drift alarm" section of ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import machine, report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTION = "drift-alarm"

# Candidate per-column methods (Evidently names) and threshold grids of the sweep.
NUM_METHODS = ("wasserstein", "psi", "jensenshannon", "ks")
CAT_METHODS = ("jensenshannon", "psi", "hellinger", "chisquare")
DISTANCE_GRID = (
    0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0,
)  # fmt: skip
P_VALUE_GRID = (0.05, 0.01, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10, 1e-15, 1e-20, 1e-30)
SHARE_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)
# How Evidently's tests decide: p-values of ks at or below, of chi-square and z below the threshold.
_AT_OR_BELOW = {"ks"}
_BELOW = {"chisquare", "z"}
P_VALUE_METHODS = _AT_OR_BELOW | _BELOW
# The chosen rule's thresholds could all be lowered by this factor before a calibration day
# without drift would fire, and raised by it before a day of the strongest drift would be missed.
# Only distance methods are chosen: a p-value tests "any difference", so with a fixed threshold
# it flags more days the more rows a day has (rare categories, slow trends); a distance threshold
# is an effect size, and its noise shrinks with more rows.
MARGIN = 1.25
TARGET_FALSE_ALARMS = 0.05
TARGET_DETECTION = 0.95


@dataclass(frozen=True)
class Design:
    """The simulated days: seeds (calibration and held out), strengths, volume and day counts."""

    calibration_seeds: tuple[int, ...] = (101, 102, 103, 104)
    holdout_seeds: tuple[int, ...] = (201, 202, 203, 204)
    strengths: tuple[float, ...] = (0.5, 1.0)
    events_per_day: int = 5_000
    warmup_days: int = 28
    train_days: int = 14
    eval_days: int = 6
    start: str = "2026-01-05"

    def __post_init__(self) -> None:
        if set(self.calibration_seeds) & set(self.holdout_seeds):
            raise ValueError("calibration and held-out seeds must differ")
        if not self.calibration_seeds or not self.holdout_seeds:
            raise ValueError("need at least one calibration and one held-out seed")
        if not self.strengths or any(not 0 < s <= 2 for s in self.strengths):
            raise ValueError(f"strengths must be in (0, 2]: {self.strengths}")
        if self.train_days < 2 or self.eval_days < 1 or self.warmup_days < 0:
            raise ValueError("need train_days >= 2, eval_days >= 1, warmup_days >= 0")

    @property
    def prefix_days(self) -> int:
        return self.warmup_days + self.train_days

    @property
    def days(self) -> int:
        return self.prefix_days + self.eval_days

    @property
    def branches(self) -> tuple[float, ...]:
        return (0.0, *self.strengths)

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.calibration_seeds + self.holdout_seeds

    def schedule(self, strength: float) -> list[float]:
        return [0.0] * self.prefix_days + [strength] * self.eval_days

    def date(self, index: int) -> str:
        return (dt.date.fromisoformat(self.start) + dt.timedelta(days=index)).isoformat()

    def eval_dates(self) -> list[str]:
        return [self.date(self.prefix_days + i) for i in range(self.eval_days)]

    def split(self, seed: int) -> str:
        return "calibration" if seed in self.calibration_seeds else "held-out"

    def key(self) -> str:
        """Cache folder of the built days: the volume, day counts, start, and the sources they
        come from (generator, engines, SQL)."""
        strengths = "_".join(f"{s:g}" for s in self.strengths)
        return (
            f"ev{self.events_per_day}-w{self.warmup_days}-t{self.train_days}-e{self.eval_days}-"
            f"{self.start}-s{strengths}-{_sources_hash()}"
        )


def _sources_hash() -> str:
    digest = hashlib.sha256()
    platform = REPO / "platform_assets"
    paths = [platform / "lib" / "log_generator.py", *sorted((platform / "engines").glob("*.py"))]
    paths += sorted((platform / "sql").rglob("*.sql"))
    for path in paths:
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def _file_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


# -- building the days ------------------------------------------------------------------------


def build_seed(
    design: Design, seed: int, cache: Path, say: Callable[[str], None] = print, done: list | None = None
) -> pd.DataFrame:
    """The session features of one seed: training days (no drift) and every branch's evaluation
    days, with a ``strength`` column; built once, then read from the cache."""
    folder = cache / design.key()
    target = folder / f"features-seed{seed}.parquet"
    if target.exists():
        return pd.read_parquet(target)
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / f"work-seed{seed}"
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    try:
        frame = _build(design, seed, work, say)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    partial = target.with_name(f".{target.name}.part")
    frame.to_parquet(partial, index=False)
    os.replace(partial, target)
    (folder / f"features-seed{seed}.json").write_text(json.dumps({"build_s": round(seconds, 1)}))
    built = design.prefix_days + len(design.branches) * design.eval_days
    say(f"  seed {seed}: built {built} days in {seconds:.0f} s")
    if done is not None:
        done.append(("built", seed))
    return frame


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(design: Design, seed: int, work: Path, say: Callable[[str], None]) -> pd.DataFrame:
    from benchmarks.tasks import _day_tables
    from platform_assets.engines.duckdb import DuckDBEngine
    from platform_assets.lib.layout import file_id
    from platform_assets.lib.log_generator import generate_logs

    def ingest(engine: DuckDBEngine, path: Path) -> None:
        engine.ingest_log_file(str(path), path.name, file_id(path.name))
        path.unlink()

    def build(engine: DuckDBEngine, index: int) -> None:
        _day_tables(engine, design.date(index), ("marts", "features"))

    prefix = design.prefix_days
    say(f"  seed {seed}: generating and building {prefix} shared days")
    normal = generate_logs(
        work / "logs-0",
        design.start,
        design.days,
        design.events_per_day,
        seed=seed,
        drift=design.schedule(0.0),
    )
    shared = {f.path.name: _sha(f.path) for f in normal[:prefix]}
    engine = DuckDBEngine(data_dir=str(work / "shared"))
    # Day i is built once file i + 1 is in: late mobile events of day i arrive in the next file.
    for index, file in enumerate(normal[:prefix]):
        ingest(engine, file.path)
        if index:
            build(engine, index - 1)

    frames = []
    for strength in design.branches:
        if strength == 0.0:
            files = [f.path for f in normal[prefix:]]
        else:

            def same_shared_day(file: Any) -> None:
                if file.path.name in shared:  # identical to the normal branch's, which is ingested
                    if _sha(file.path) != shared[file.path.name]:
                        raise RuntimeError(f"{file.path.name} differs between branches: not one population")
                    file.path.unlink()

            generated = generate_logs(
                work / f"logs-{strength:g}",
                design.start,
                design.days,
                design.events_per_day,
                seed=seed,
                drift=design.schedule(strength),
                on_file=same_shared_day,
            )
            files = [f.path for f in generated[prefix:]]
        data = work / f"data-{strength:g}"
        shutil.copytree(work / "shared", data)
        branch = DuckDBEngine(data_dir=str(data))
        for offset, path in enumerate(files):
            ingest(branch, path)
            build(branch, prefix - 1 + offset)
        build(branch, design.days - 1)
        first = design.date(design.warmup_days if strength == 0.0 else prefix)
        frame = branch.read_frame(
            "SELECT * FROM session_features WHERE event_date >= CAST(? AS DATE) "
            "ORDER BY event_date, session_id",
            [first],
        )
        frames.append(frame.assign(strength=strength))
        shutil.rmtree(data)
    frame = pd.concat(frames, ignore_index=True)
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.strftime("%Y-%m-%d")
    return frame


# -- comparing each day with the reference ------------------------------------------------------


def reference_of(design: Design, features: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The reference sample as ``train_model`` keeps it, from the seed's training days: with its
    defaults (the last ~25% of rows held out, the last week before them, 5000 rows at most). The
    model family, logistic regression here because it fits fast, does not change the reference."""
    from platform_assets.lib.ml.training import train_model

    first_eval = design.date(design.prefix_days)
    train = features[(features["strength"] == 0.0) & (features["event_date"] < first_eval)]
    result = train_model(train.drop(columns=["strength"]).reset_index(drop=True), kind="logreg")
    dates = sorted(result.reference["event_date"].astype(str).unique())
    info = {
        "train_start": result.split.train_start,
        "holdout_start": result.split.holdout_start,
        "holdout_end": result.split.holdout_end,
        "reference_start": dates[0],
        "reference_end": dates[-1],
        "reference_rows": len(result.reference),
    }
    return result.reference, info


def evaluate_seed(
    design: Design,
    seed: int,
    features: pd.DataFrame,
    rule: Any,
    cache: Path,
    reports: bool = True,
    say: Callable[[str], None] = print,
    done: list | None = None,
) -> list[dict[str, Any]]:
    """One record per evaluation day: every candidate method's score of every column and, with
    ``reports``, ``compute_drift``'s verdict with ``rule`` (whose scores must equal the sweep's)."""
    from platform_assets.lib.ml import drift
    from platform_assets.lib.ml.feature_spec import FEATURE_SPEC

    started = time.perf_counter()
    reference, info = reference_of(design, features)
    # cached by what decides the results: the reference, the rule, the drift code
    digest = hashlib.sha256(pd.util.hash_pandas_object(reference, index=False).to_numpy().tobytes())
    digest.update(json.dumps(rule.as_dict(), sort_keys=True).encode() if reports else b"scores")
    digest.update(Path(drift.__file__).read_bytes())
    target = (
        cache
        / design.key()
        / f"days-seed{seed}-{'rule' if reports else 'scores'}-{digest.hexdigest()[:10]}.json"
    )
    if target.exists():
        cached = json.loads(target.read_text())
        return [{**r, "seed_compare_s": cached["seconds"]} for r in cached["records"]]
    numerical, categorical = list(FEATURE_SPEC.monitored_numeric), list(FEATURE_SPEC.categorical)
    records = []
    with tempfile.TemporaryDirectory(dir=cache) as folder:
        for strength in design.branches:
            for day_index, date in enumerate(design.eval_dates(), start=1):
                current = features[(features["strength"] == strength) & (features["event_date"] == date)]
                record = {
                    "seed": seed,
                    "split": design.split(seed),
                    "events_per_day": design.events_per_day,
                    "strength": strength,
                    "day": day_index,
                    "date": date,
                    "current_rows": len(current),
                    **info,
                    **_scores(reference, current, numerical, categorical),
                }
                if reports:
                    summary = drift.compute_drift(
                        reference,
                        current,
                        numerical,
                        categorical,
                        Path(folder) / "drift.html",
                        Path(folder) / "drift.json",
                        rule=rule,
                    )
                    _same_scores(summary, record["scores"], numerical)
                    record.update(
                        rule=rule.as_dict(),
                        drift_share=summary.drift_share,
                        dataset_drift=summary.dataset_drift,
                        drifted_columns=list(summary.drifted_columns),
                        column_scores=summary.as_dict()["column_scores"],
                    )
                records.append(record)
    seconds = time.perf_counter() - started
    target.write_text(json.dumps({"seconds": round(seconds, 1), "records": records}))
    for record in records:  # what comparing this seed's days took
        record["seed_compare_s"] = round(seconds, 1)
    if done is not None:
        done.append(("compared", seed))
    say(
        f"  seed {seed}: {len(records)} days compared with the reference "
        f"({info['reference_start']}..{info['reference_end']}) in {seconds:.0f} s"
    )
    return records


def _scores(
    reference: pd.DataFrame, current: pd.DataFrame, numerical: list[str], categorical: list[str]
) -> dict[str, Any]:
    """Every candidate method's score per column, and the columns Evidently's defaults flag."""
    from platform_assets.lib.ml.drift import column_scores

    scores: dict[str, dict[str, float]] = {}
    default_drifted = []
    for s in column_scores(
        reference, current, numerical, categorical, (*NUM_METHODS, None), (*CAT_METHODS, None)
    ):
        if _flags(s.resolved, np.array([s.score]), s.default_threshold)[0] != s.drifted_at_default:
            raise RuntimeError(f"the sweep misreads how {s.resolved} decides: {s}")
        if s.method is None:  # Evidently's own choice, at its default threshold
            if s.drifted_at_default:
                default_drifted.append(s.column)
        else:
            scores.setdefault(s.column, {})[s.method] = s.score
    return {"scores": scores, "evidently_default_drifted": default_drifted}


def _same_scores(summary: Any, scores: dict[str, dict[str, float]], numerical: list[str]) -> None:
    """``compute_drift``'s scores are the sweep's for the rule's methods: one truth."""
    rule = summary.rule
    for column, score in summary.column_scores.items():
        method = rule.num_method if column in numerical else rule.cat_method
        swept = scores.get(column, {}).get(method) if method else score
        if (score is None) != (swept is None) or (
            score is not None and not math.isclose(score, swept, rel_tol=1e-9, abs_tol=1e-12)
        ):
            raise RuntimeError(f"{column}: compute_drift's {method} score {score} != the sweep's {swept}")


# -- rules, swept offline ------------------------------------------------------------------------


def _flags(method: str, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Which scores mean drift at ``threshold``, as Evidently decides for ``method``."""
    with np.errstate(invalid="ignore"):
        if method in _AT_OR_BELOW:
            return scores <= threshold
        if method in _BELOW:
            return scores < threshold
        return scores >= threshold


def _grid(method: str) -> tuple[float, ...]:
    return P_VALUE_GRID if method in P_VALUE_METHODS else DISTANCE_GRID


@dataclass(frozen=True)
class Days:
    """Scores of a set of evaluation days as arrays: ``scores[method]`` is days x columns."""

    strength: np.ndarray
    columns: tuple[str, ...]
    numerical: tuple[str, ...]
    scores: dict[str, np.ndarray]
    evidently_default: np.ndarray  # drifted columns per day under Evidently's own choice

    @classmethod
    def of(
        cls, records: Sequence[dict[str, Any]], numerical: Sequence[str], categorical: Sequence[str]
    ) -> Days:
        columns = (*numerical, *categorical)
        scores = {
            m: np.array(
                [[r["scores"].get(c, {}).get(m, np.nan) for c in columns] for r in records], dtype=float
            )
            for m in {*NUM_METHODS, *CAT_METHODS}
        }
        default = np.array([len(r["evidently_default_drifted"]) for r in records])
        strength = np.array([r["strength"] for r in records], dtype=float)
        return cls(strength, columns, tuple(numerical), scores, default)

    @property
    def is_numerical(self) -> np.ndarray:
        return np.array([c in self.numerical for c in self.columns])

    def drifted(self, method: str, threshold: float, kind: str) -> np.ndarray:
        """Drifted columns of that kind (``num`` or ``cat``) per day."""
        take = self.is_numerical if kind == "num" else ~self.is_numerical
        return _flags(method, self.scores[method][:, take], threshold).sum(axis=1)

    def ratios(
        self, num_method: str, num_threshold: float, cat_method: str, cat_threshold: float
    ) -> np.ndarray:
        """Score / threshold of every column (distances only), each day's in descending order."""
        is_num = self.is_numerical
        ratio = np.where(
            is_num,
            self.scores[num_method] / num_threshold,
            self.scores[cat_method] / cat_threshold,
        )
        return -np.sort(-np.nan_to_num(ratio, nan=0.0), axis=1)


@dataclass(frozen=True)
class Rates:
    """Alarms out of days, per strength (0.0: no drift, so alarms are false alarms)."""

    alarms: dict[float, int]
    days: dict[float, int]

    def rate(self, strength: float) -> float:
        return self.alarms[strength] / self.days[strength] if self.days[strength] else math.nan

    @classmethod
    def of(cls, strength: np.ndarray, alarm: np.ndarray) -> Rates:
        levels = sorted(set(strength.tolist()))
        return cls(
            {s: int(alarm[strength == s].sum()) for s in levels},
            {s: int((strength == s).sum()) for s in levels},
        )


@dataclass(frozen=True)
class Candidate:
    """A rule and how it did on a set of days; the margins are for distance methods only."""

    num_method: str
    num_threshold: float
    cat_method: str
    cat_threshold: float
    drift_share: float
    rates: Rates = field(compare=False)
    # How far every threshold could be lowered (normal) or raised (strong) by one common factor
    # before the first false alarm or the first missed day of the strongest drift.
    normal_margin: float = field(default=math.nan, compare=False)
    strong_margin: float = field(default=math.nan, compare=False)

    def rule_fields(self) -> dict[str, Any]:
        return {
            "num_method": self.num_method,
            "num_threshold": self.num_threshold,
            "cat_method": self.cat_method,
            "cat_threshold": self.cat_threshold,
            "drift_share": self.drift_share,
        }

    @property
    def distances(self) -> bool:
        return not {self.num_method, self.cat_method} & P_VALUE_METHODS


def sweep(days: Days, n_columns: int) -> list[Candidate]:
    """Every rule of the grid with its rates (and, for distances, its margins) on ``days``."""
    normal = days.strength == 0.0
    strong = days.strength == days.strength.max()
    num_options = [(m, t, days.drifted(m, t, "num")) for m in NUM_METHODS for t in _grid(m)]
    cat_options = [(m, t, days.drifted(m, t, "cat")) for m in CAT_METHODS for t in _grid(m)]
    out = []
    for (nm, nt, n_count), (cm, ct, c_count) in itertools.product(num_options, cat_options):
        count = n_count + c_count
        ordered = None if {nm, cm} & P_VALUE_METHODS else days.ratios(nm, nt, cm, ct)
        for share in SHARE_GRID:
            alarm = count / n_columns >= share  # as compute_drift decides
            margins: dict[str, float] = {}
            if ordered is not None:
                kth = ordered[:, math.ceil(share * n_columns - 1e-9) - 1]  # the column that decides
                worst_normal = float(kth[normal].max()) if normal.any() else 0.0
                margins = {
                    "normal_margin": 1 / worst_normal if worst_normal > 0 else math.inf,
                    "strong_margin": float(kth[strong].min()) if strong.any() else math.inf,
                }
            out.append(Candidate(nm, nt, cm, ct, share, Rates.of(days.strength, alarm), **margins))
    return out


def choose(candidates: Iterable[Candidate], strong: float) -> list[Candidate]:
    """Rules ranked for the alarm: distance methods first (see ``MARGIN``'s note); within the
    targets (false alarms <= 5%, the strongest drift detected >= 95%); both margins >= ``MARGIN``;
    then the fewest false alarms, the weaker drifts detected best, the strong drift detected best,
    the widest margin, and the fewest columns needed. Every candidate stays in the ranking."""

    def key(c: Candidate) -> tuple:
        weaker = [s for s in sorted(c.rates.days) if 0 < s < strong]
        margin = min(c.normal_margin, c.strong_margin)
        return (
            not c.distances,
            c.rates.rate(0.0) > TARGET_FALSE_ALARMS,
            c.rates.rate(strong) < TARGET_DETECTION,
            not margin >= MARGIN,
            c.rates.alarms[0.0],
            tuple(-c.rates.rate(s) for s in weaker),
            -c.rates.rate(strong),
            -(margin if c.distances else 0.0),
            c.drift_share,
        )

    return sorted(candidates, key=key)


def rates_of_rule(days: Days, fields: dict[str, Any], n_columns: int) -> Rates:
    """The rates of one rule (``DriftRule`` fields) on ``days``, computed from the scores."""
    count = days.drifted(fields["num_method"], fields["num_threshold"], "num") + days.drifted(
        fields["cat_method"], fields["cat_threshold"], "cat"
    )
    return Rates.of(days.strength, count / n_columns >= fields["drift_share"])


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (95% by default)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # exactly 0 and 1 at the ends (the formula leaves rounding dust there)
    return (0.0 if k == 0 else centre - half, 1.0 if k == n else centre + half)


# -- a run ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run found."""

    design: Design
    rule: dict[str, Any]  # FIXED_THRESHOLD_RULE's fields
    records: list[dict[str, Any]]  # one per evaluation day
    ranked: list[Candidate]  # on the calibration days
    days: dict[str, Days]  # split -> scores
    verdicts: dict[str, Rates]  # split -> compute_drift's alarms with the rule
    check: Outcome | None = None  # the same seeds at another volume (scores only)
    seconds: dict[str, float] = field(default_factory=dict)
    done: list[tuple[str, int]] = field(default_factory=list)  # (built | compared, seed) in this run
    load: str = ""  # the machine's load average before and after the run

    @property
    def chosen(self) -> dict[str, Any]:
        return self.ranked[0].rule_fields()

    def rates(self, fields: dict[str, Any] | None, split: str) -> Rates:
        """A rule's rates on a split (``None``: Evidently's defaults), from the scores."""
        days = self.days[split]
        if fields is None:
            return Rates.of(days.strength, days.evidently_default / len(days.columns) >= 0.5)
        return rates_of_rule(days, fields, len(days.columns))


def _verdicts(records: list[dict[str, Any]]) -> Rates:
    return Rates.of(
        np.array([r["strength"] for r in records]), np.array([r["dataset_drift"] for r in records])
    )


def run(
    design: Design,
    cache: Path,
    rule: Any = None,
    check_events: int | None = None,
    say: Callable[[str], None] = print,
) -> Outcome:
    """Build (or read) every seed's days, compare each evaluation day with its reference, sweep
    the rules on the calibration seeds, and rate ``rule`` (default ``FIXED_THRESHOLD_RULE``)."""
    from platform_assets.lib.ml.drift import FIXED_THRESHOLD_RULE
    from platform_assets.lib.ml.feature_spec import FEATURE_SPEC

    # the fixed-threshold sweep of issue 7 (DEFAULT_DRIFT_RULE now adapts to the day's size:
    # benchmarks/alarm_volume.py)
    rule = rule or FIXED_THRESHOLD_RULE
    if None in (value for key, value in rule.as_dict().items() if key != "false_alarm_rate"):
        raise ValueError(f"the rule must name its methods and thresholds: {rule}")
    numerical, categorical = list(FEATURE_SPEC.monitored_numeric), list(FEATURE_SPEC.categorical)
    seconds = {"build": 0.0, "compare": 0.0}
    done: list[tuple[str, int]] = []
    records: list[dict[str, Any]] = []
    for seed in design.seeds:
        started = time.perf_counter()
        features = build_seed(design, seed, cache, say, done)
        seconds["build"] += time.perf_counter() - started
        started = time.perf_counter()
        records += evaluate_seed(design, seed, features, rule, cache, reports=True, say=say, done=done)
        seconds["compare"] += time.perf_counter() - started
    started = time.perf_counter()
    split = {name: [r for r in records if r["split"] == name] for name in ("calibration", "held-out")}
    days = {name: Days.of(rs, numerical, categorical) for name, rs in split.items()}
    ranked = choose(sweep(days["calibration"], len(days["calibration"].columns)), max(design.strengths))
    seconds["calibrate"] = time.perf_counter() - started
    outcome = Outcome(
        design, rule.as_dict(), records, ranked, days, {n: _verdicts(rs) for n, rs in split.items()}
    )
    for name in split:  # the offline sweep and compute_drift agree on every day
        if outcome.rates(outcome.rule, name) != outcome.verdicts[name]:
            raise RuntimeError(f"{name}: the scores' verdicts differ from compute_drift's")
    if check_events:
        started = time.perf_counter()
        outcome.check = _check(outcome, replace(design, events_per_day=check_events), cache, rule, say)
        seconds["check"] = time.perf_counter() - started
    outcome.seconds = seconds
    outcome.done = done
    return outcome


def _check(outcome: Outcome, design: Design, cache: Path, rule: Any, say: Callable[[str], None]) -> Outcome:
    """The calibration seeds' numbers at another volume: scores only, nothing chosen there."""
    from platform_assets.lib.ml.feature_spec import FEATURE_SPEC

    say(f"volume check: {design.events_per_day:,} events a day, seeds {design.calibration_seeds}")
    records = []
    for seed in design.calibration_seeds:
        features = build_seed(design, seed, cache, say)
        records += evaluate_seed(design, seed, features, rule, cache, reports=False, say=say)
    days = Days.of(records, list(FEATURE_SPEC.monitored_numeric), list(FEATURE_SPEC.categorical))
    return Outcome(design, outcome.rule, records, outcome.ranked, {"check": days}, {})


# -- output -------------------------------------------------------------------------------------


def _condition(strength: float) -> str:
    return "no drift" if strength == 0.0 else f"drift {strength:g}"


def _cell(rates: Rates, strength: float, interval: bool = True) -> str:
    k, n = rates.alarms[strength], rates.days[strength]
    text = f"{k}/{n} = {100 * k / n:.1f}%"
    if interval:
        low, high = wilson(k, n)
        text += f" ({100 * low:.1f}-{100 * high:.1f}%)"
    return text


def _rule_name(fields: dict[str, Any] | None) -> str:
    if fields is None:
        return "Evidently's defaults (auto methods, 0.1 / p 0.05, share 0.5)"
    return (
        f"{fields['num_method']} {fields['num_threshold']:g} / {fields['cat_method']} "
        f"{fields['cat_threshold']:g} / share {fields['drift_share']:g}"
    )


def _rule_text(fields: dict[str, Any], n_columns: int) -> str:
    def part(method: str, threshold: float) -> str:
        kind = (
            "p-value at or below"
            if method in _AT_OR_BELOW
            else "p-value below"
            if method in _BELOW
            else "at least"
        )
        return f"{method} {kind} {threshold:g}"

    need = math.ceil(fields["drift_share"] * n_columns - 1e-9)
    return (
        f"a numerical column drifted when its {part(fields['num_method'], fields['num_threshold'])}, a "
        f"categorical one when its {part(fields['cat_method'], fields['cat_threshold'])}; the day drifted "
        f"when at least {fields['drift_share']:g} of the {n_columns} monitored columns did, "
        f"i.e. {need} or more"
    )


def _alternatives(outcome: Outcome) -> list[tuple[str, Candidate]]:
    """The rules worth showing: the chosen one, the best of each method pair, the best of each drift
    share with the chosen methods, and the chosen rule's neighbours on the grid."""
    best = outcome.ranked[0]
    listed: dict[tuple, tuple[str, Candidate]] = {}

    def add(why: str, c: Candidate) -> None:
        listed.setdefault(tuple(c.rule_fields().values()), (why, c))

    add("chosen", best)
    pairs: set[tuple[str, str]] = set()
    for c in outcome.ranked:
        if (c.num_method, c.cat_method) not in pairs:
            pairs.add((c.num_method, c.cat_method))
            add(f"best with {c.num_method} / {c.cat_method}", c)
    same = [c for c in outcome.ranked if (c.num_method, c.cat_method) == (best.num_method, best.cat_method)]
    for share in SHARE_GRID:
        first = next((c for c in same if c.drift_share == share), None)
        if first is not None:
            add(f"best with share {share:g}", first)

    def step(c: Candidate, kind: str) -> int:
        grid = _grid(getattr(c, f"{kind}_method"))
        return abs(
            grid.index(getattr(c, f"{kind}_threshold")) - grid.index(getattr(best, f"{kind}_threshold"))
        )

    for c in same:
        if c.drift_share == best.drift_share and sorted((step(c, "num"), step(c, "cat"))) == [0, 1]:
            add("a grid step from the chosen", c)
    return list(listed.values())


def _margin(c: Candidate) -> str:
    if not c.distances:
        return "n/a"
    return f"{c.normal_margin:.2f} / {c.strong_margin:.2f}"


def _column_rows(outcome: Outcome) -> list[str]:
    """Median and maximum score per column and condition, with the rule's methods."""
    rule, days = outcome.rule, {**outcome.days}
    records = outcome.records
    strengths = sorted({r["strength"] for r in records})
    lines = [
        "| column | method, threshold | "
        + " | ".join(f"{_condition(s)}: median (max)" for s in strengths)
        + " | "
        + " | ".join(f"flagged: {_condition(s)}" for s in strengths)
        + " |",
        "|---|---|" + "---|" * (2 * len(strengths)),
    ]
    numerical = days["calibration"].numerical
    for column in days["calibration"].columns:
        kind = "num" if column in numerical else "cat"
        method, threshold = rule[f"{kind}_method"], rule[f"{kind}_threshold"]
        cells, flagged = [], []
        for s in strengths:
            values = [r["column_scores"][column] for r in records if r["strength"] == s]
            values = [v for v in values if v is not None]
            cells.append(f"{np.median(values):.3f} ({max(values):.3f})" if values else "")
            hits = _flags(method, np.array(values, dtype=float), threshold)
            flagged.append(f"{hits.mean():.0%}" if values else "")
        lines.append(f"| {column} | {method} {threshold:g} | " + " | ".join(cells + flagged) + " |")
    return lines


def markdown(outcome: Outcome, command: str, machine_info: dict[str, str], wall_s: float) -> str:
    """The "drift alarm" section of RESULTS.md."""
    design = outcome.design
    days = outcome.days["held-out"]
    n_columns = len(days.columns)
    strong = max(design.strengths)
    strengths = sorted(outcome.verdicts["held-out"].days)
    held = outcome.verdicts["held-out"]
    first = outcome.records[0]
    rows = [r["current_rows"] for r in outcome.records]
    reference_rows = [r["reference_rows"] for r in outcome.records]
    same = outcome.chosen == outcome.rule
    columns = ", ".join(f"`{c}`" for c in days.columns)
    lines = [
        f"<!-- benchmarks:extra {SECTION} -->",
        "## drift alarm: false alarms and detection",
        "",
        f"`{command}` (`benchmarks/alarm.py`). Every evaluation day's verdict and scores: "
        "`benchmarks/alarm_days.csv`; every column's score by every candidate method: "
        "`benchmarks/alarm_scores.csv`.",
        "",
        "**Question** (issue 7): how often does the drift alarm (`dataset_drift` of "
        "`monitoring/feature_drift`) fire on a day without drift, and how often does it miss a drifted "
        f"day? Targets: at most {TARGET_FALSE_ALARMS:.0%} false alarms, at least {TARGET_DETECTION:.0%} "
        f"detection at the stronger drift ({strong:g}).",
        "",
        f"**Design.** {len(design.seeds)} seeds, each one simulated shop (its own user population) "
        f"with {design.events_per_day:,} events a day, about {int(np.median(rows)):,} non-bot sessions, "
        f"i.e. feature rows, a day (min {min(rows)}, max {max(rows)}): {design.warmup_days} warm-up days "
        f"fill the 28-day history features, {design.train_days} training days follow, then "
        f"{design.eval_days} evaluation days in {len(design.branches)} branches that share every earlier "
        "day: no drift, and drift of strength "
        + " and ".join(f"{s:g}" for s in design.strengths)
        + f" from the first evaluation day on (`generate_logs(drift=[0.0] * {design.prefix_days} + "
        f"[s] * {design.eval_days})`; the earlier files are checked byte-identical across branches). "
        "Each file is ingested and each day built with the DuckDB engine and the platform's SQL (lake, "
        "marts, features; no Dagster). The reference is what `train_model` keeps, called on the "
        "training days with its defaults (model family logistic regression, which does not change the "
        "reference): the last week before its holdout, sampled to "
        f"{min(reference_rows):,}-{max(reference_rows):,} rows (seed {first['seed']}: "
        f"{first['reference_start']}..{first['reference_end']}; holdout {first['holdout_start']}.."
        f"{first['holdout_end']}). Each evaluation day (days {design.prefix_days + 1}-{design.days} of "
        f"a seed; {design.eval_days} per seed and condition) is compared with it by `compute_drift` on "
        f"the {n_columns} monitored columns ({columns}).",
        "",
        f"**Strengths.** {strong:g} is "
        + (
            "the demo's drift (`platform-assets demo --drift`, default 1.0)"
            if strong == 1.0
            else "the stronger"
        )
        + "; "
        + ", ".join(f"{s:g}" for s in design.strengths if s != strong)
        + " weaker, to see where detection ends. At strength 1 the mobile share of sessions "
        "goes from 42% to 60%, India from 5% to 13% and Indonesia from 0.3% to 7% of visitors, TikTok "
        "campaign referrals from 1% to 12%, latency x1.5, conversion halves (half of each at 0.5; "
        "latency and conversion are not monitored columns). Logged-in users keep their device and "
        "country: drift reaches them by re-weighting who visits (`lib/log_generator.py`), which also "
        "moves the history features a little.",
        "",
        f"**How the rule was chosen.** On the calibration seeds "
        f"({', '.join(map(str, design.calibration_seeds))}) only, every rule of a grid was swept: "
        f"numerical method in {', '.join(NUM_METHODS)}, categorical method in {', '.join(CAT_METHODS)}, "
        f"{len(DISTANCE_GRID)} distance / {len(P_VALUE_GRID)} p-value thresholds each, drift share "
        f"{', '.join(f'{s:g}' for s in SHARE_GRID)} ({len(outcome.ranked):,} rules). Ranking: distance "
        "methods only (a p-value tests for *any* difference: with a fixed threshold it flags more "
        "days the more rows a day has; a distance threshold is an effect size, its noise shrinks with "
        "more rows); within both targets; both margins at least "
        f"{MARGIN:g} (*margins*: the factor by which every threshold could be lowered before a day "
        "without drift fired / raised before a day of the strong drift was missed); then fewest "
        "false alarms, best detection of the weaker drift, of the strong drift, widest margin, "
        f"smallest share. The held-out seeds ({', '.join(map(str, design.holdout_seeds))}) were not "
        "looked at before the rule was fixed; their rates are the result.",
        "",
        "### result: `FIXED_THRESHOLD_RULE` in `platform_assets/lib/ml/drift.py`",
        "",
        f"`DriftRule{tuple(outcome.rule.values())}`: {_rule_text(outcome.rule, n_columns)}.",
        "",
        "This run's calibration picks "
        + (
            "the same rule."
            if same
            else f"**another rule**: `{outcome.chosen}`; update `FIXED_THRESHOLD_RULE`."
        ),
        "",
        "Alarms out of days (Wilson 95% interval). Held-out and calibration rows of the rule are "
        "`compute_drift`'s own verdicts; Evidently's defaults are read from the same runs' scores.",
        "",
        "| rule | seeds | "
        + " | ".join("false alarms (no drift)" if s == 0 else f"detected: drift {s:g}" for s in strengths)
        + " |",
        "|---|---|" + "---|" * len(strengths),
    ]
    for name in ("held-out", "calibration"):
        verdicts = outcome.verdicts[name]
        lines.append(
            f"| **FIXED_THRESHOLD_RULE** | {name} | "
            + " | ".join(_cell(verdicts, s) for s in strengths)
            + " |"
        )
    for name in ("held-out", "calibration"):
        rates = outcome.rates(None, name)
        lines.append(
            f"| {_rule_name(None)} | {name} | " + " | ".join(_cell(rates, s) for s in strengths) + " |"
        )
    fa_ok = held.rate(0.0) <= TARGET_FALSE_ALARMS
    det_ok = held.rate(strong) >= TARGET_DETECTION
    upper = 100 * wilson(held.alarms[0.0], held.days[0.0])[1]
    lines += [
        "",
        f"On the held-out seeds the false-alarm rate is {'within' if fa_ok else '**above**'} the "
        f"{TARGET_FALSE_ALARMS:.0%} target and detection of drift {strong:g} "
        f"{'meets' if det_ok else '**misses**'} the {TARGET_DETECTION:.0%} target. These are point "
        f"estimates from {held.days[0.0]} days per condition: the false-alarm rate's 95% interval "
        f"still reaches {upper:.0f}%; more seeds narrow it (`--holdout-seeds`).",
        "",
        "### alternatives: the evidence the thresholds come from",
        "",
        "Alarms out of days on the calibration seeds (where the rules were ranked) and on the "
        "held-out seeds, for the best rule of each method pair, the best of each drift share with the "
        "chosen methods, and the chosen rule's neighbours on the grid. *margins*: normal / strong, on "
        "the calibration seeds (p-value rules have none).",
        "",
        "| rule | listed as | margins | "
        + " | ".join(f"{_condition(s)} (cal.)" for s in strengths)
        + " | "
        + " | ".join(f"{_condition(s)} (held-out)" for s in strengths)
        + " |",
        "|---|---|---|" + "---|" * (2 * len(strengths)),
    ]
    for why, c in _alternatives(outcome):
        held_rates = outcome.rates(c.rule_fields(), "held-out")
        lines.append(
            f"| {_rule_name(c.rule_fields())} | {why} | {_margin(c)} | "
            + " | ".join(_cell(c.rates, s, False) for s in strengths)
            + " | "
            + " | ".join(_cell(held_rates, s, False) for s in strengths)
            + " |"
        )
    lines += ["", "**Reading the evidence.**", "", *_evidence(outcome)]
    if outcome.check is not None:
        lines += _check_rows(outcome)
    lines += [
        "",
        "### per-column scores of the rule's methods (all seeds)",
        "",
        *_column_rows(outcome),
        "",
        "### machine and run time",
        "",
        "| run |  |",
        "|---|---|",
    ]
    info = {**machine_info, **_times(outcome, wall_s)}
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines.append(f"<!-- benchmarks:extra-end {SECTION} -->")
    return "\n".join(lines) + "\n"


def _evidence(outcome: Outcome) -> list[str]:
    """What the held-out seeds say about the ranking's choices, computed from the scores."""
    strong = max(outcome.design.strengths)
    held = outcome.days["held-out"]
    n_columns = len(held.columns)

    def within(c: Candidate) -> bool:
        return c.rates.rate(0.0) <= TARGET_FALSE_ALARMS and c.rates.rate(strong) >= TARGET_DETECTION

    def false_alarms(cands: list[Candidate]) -> tuple[int, int]:
        rates = [rates_of_rule(held, c.rule_fields(), n_columns) for c in cands]
        return sum(r.alarms[0.0] for r in rates), sum(r.days[0.0] for r in rates)

    eligible = [c for c in outcome.ranked if c.distances and within(c)]
    wide = [c for c in eligible if c.normal_margin >= MARGIN]
    narrow = [c for c in eligible if c.normal_margin < MARGIN]
    p_rules = [c for c in outcome.ranked if not c.distances and within(c)]
    lines = []
    if wide and narrow:
        (kw, nw), (kn, nn) = false_alarms(wide), false_alarms(narrow)
        lines.append(
            f"- Margins: of the {len(eligible):,} distance rules within both targets on the calibration "
            f"seeds, the {len(narrow):,} whose normal margin was below {MARGIN:g} raise false alarms on "
            f"{100 * kn / nn:.1f}% of the held-out days without drift ({kn:,}/{nn:,} rule-days); the "
            f"{len(wide):,} at or above it on {100 * kw / nw:.1f}% ({kw:,}/{nw:,})."
        )
    if p_rules:
        k, n = false_alarms(p_rules)
        lines.append(
            f"- p-values: the {len(p_rules):,} rules with a p-value method within both targets on the "
            f"calibration seeds raise false alarms on {100 * k / n:.1f}% of the held-out days without "
            f"drift ({k:,}/{n:,} rule-days): they separate well where they were fitted, less well elsewhere."
        )
    rows = int(np.median([r["current_rows"] for r in outcome.records]))
    need = math.ceil(outcome.rule["drift_share"] * n_columns - 1e-9)
    for i, column in enumerate(held.columns):
        kind = "num" if column in held.numerical else "cat"
        method, threshold = outcome.rule[f"{kind}_method"], outcome.rule[f"{kind}_threshold"]
        normal = np.concatenate([d.scores[method][d.strength == 0.0, i] for d in outcome.days.values()])
        share = _flags(method, normal, threshold).mean()
        if share > 0.25:
            lines.append(
                f"- `{column}` alone passes its threshold on {share:.0%} of the days without drift at this "
                f"volume (its {method} is noisy in about {rows} rows): needing {need} columns absorbs it."
            )
    return lines


def _check_rows(outcome: Outcome) -> list[str]:
    check = outcome.check
    assert check is not None
    days = check.days["check"]
    strengths = sorted(set(days.strength.tolist()))
    rows = [r["current_rows"] for r in check.records]
    best_p = next((c for c in outcome.ranked if not c.distances), None)
    rules: list[tuple[str, dict[str, Any] | None]] = [("FIXED_THRESHOLD_RULE", outcome.rule), ("", None)]
    if best_p is not None:
        rules.append(("best p-value rule on the calibration seeds", best_p.rule_fields()))
    lines = [
        "",
        f"### volume check: {check.design.events_per_day:,} events a day",
        "",
        f"The calibration seeds' numbers ({', '.join(map(str, check.design.calibration_seeds))}) simulated "
        f"again at {check.design.events_per_day:,} events a day (about {int(np.median(rows)):,} feature "
        "rows a day; other days, other users); nothing was chosen here. Verdicts from the scores "
        "(the same Evidently tests as `compute_drift`, which agrees with them on every day above).",
        "",
        "| rule | | " + " | ".join(_condition(s) for s in strengths) + " |",
        "|---|---|" + "---|" * len(strengths),
    ]
    n_columns = len(days.columns)
    for label, fields in rules:
        if fields is None:
            rates = Rates.of(days.strength, days.evidently_default / n_columns >= 0.5)
        else:
            rates = rates_of_rule(days, fields, n_columns)
        lines.append(
            f"| {_rule_name(fields)} | {label} | " + " | ".join(_cell(rates, s) for s in strengths) + " |"
        )
    main = Days.of(outcome.records, days.numerical, [c for c in days.columns if c not in days.numerical])
    small, large = (f"{v:,} events" for v in (outcome.design.events_per_day, check.design.events_per_day))
    rule = outcome.rule
    lines += [
        "",
        "Share of the days *without drift* on which each column alone is flagged, at both volumes "
        "(all seeds of each): by the rule's distance, and by the p-value tests Evidently uses for "
        "small samples (K-S, chi-square) at their default 0.05; a calibrated p-value would flag 5%.",
        "",
        f"| column | {rule['num_method']} / {rule['cat_method']}, {small} | {large} | "
        f"K-S / chi-square p 0.05, {small} | {large} |",
        "|---|---|---|---|---|",
    ]
    for i, column in enumerate(days.columns):
        kind = "num" if column in days.numerical else "cat"
        tests = (
            (rule[f"{kind}_method"], rule[f"{kind}_threshold"]),
            ("ks" if kind == "num" else "chisquare", 0.05),
        )
        cells = [
            f"{_flags(m, d.scores[m][d.strength == 0.0, i], t).mean():.0%}"
            for m, t in tests
            for d in (main, days)
        ]
        lines.append(f"| {column} | " + " | ".join(cells) + " |")
    return lines


def _times(outcome: Outcome, wall_s: float) -> dict[str, str]:
    """This run's wall time, and what building and comparing took when the cache was filled."""
    design = outcome.design
    built = []
    for seed in design.seeds:
        meta = _CACHE_DIR[0] / design.key() / f"features-seed{seed}.json"
        if meta.exists():
            built.append(json.loads(meta.read_text())["build_s"])
    compared = list({r["seed"]: r["seed_compare_s"] for r in outcome.records}.values())
    built_now = sum(1 for what, _ in outcome.done if what == "built")
    compared_now = sum(1 for what, _ in outcome.done if what == "compared")
    out = {
        "this run (wall)": f"{wall_s / 60:.1f} min: built the days of {built_now} of {len(design.seeds)} "
        f"seeds, compared those of {compared_now} (the rest from `benchmarks/.cache/alarm`)",
        "load average 1/5/15 min": outcome.load,
    }
    if built:
        out["cold run: building the days"] = (
            f"{sum(built) / 60:.1f} min ({len(built)} seeds, {min(built):.0f}-{max(built):.0f} s each: "
            f"generate {len(design.branches) * design.days} files, ingest and build "
            f"{design.prefix_days + len(design.branches) * design.eval_days} days a seed)"
        )
    if compared:
        out["cold run: comparing the days"] = (
            f"{sum(compared) / 60:.1f} min (train_model, then per day compute_drift with its HTML report "
            "and the candidate scores)"
        )
    if built and compared:
        out["cold run, in all"] = f"{(sum(built) + sum(compared)) / 60:.1f} min"
    if outcome.check is not None:
        out["volume check"] = f"{outcome.seconds.get('check', 0.0) / 60:.1f} min in this run"
    return out


_CACHE_DIR = [HERE / ".cache" / "alarm"]  # the cache of the current run, for the timings


def write_csvs(records: list[dict[str, Any]], out_dir: Path, columns: Sequence[str]) -> tuple[Path, Path]:
    """``alarm_days.csv`` (a row per evaluation day: the rule's verdict, its drifted columns and
    scores) and ``alarm_scores.csv`` (a row per day and column: every candidate method's score)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = ("split", "seed", "events_per_day", "strength", "day", "date", "current_rows", "reference_rows")
    reported = [r for r in records if "dataset_drift" in r]
    days = pd.DataFrame(
        [
            {
                **{k: r[k] for k in keys},
                "reference_days": f"{r['reference_start']}..{r['reference_end']}",
                "drift_share": r["drift_share"],
                "dataset_drift": r["dataset_drift"],
                "drifted_columns": " ".join(r["drifted_columns"]),
                **{f"score_{c}": r["column_scores"].get(c) for c in columns},
            }
            for r in reported
        ]
    )
    methods = sorted({*NUM_METHODS, *CAT_METHODS})
    scores = pd.DataFrame(
        [
            {
                **{k: r[k] for k in ("seed", "events_per_day", "strength", "date")},
                "column": c,
                **{m: r["scores"].get(c, {}).get(m) for m in methods},
                "evidently_default_drifted": c in r["evidently_default_drifted"],
            }
            for r in records
            for c in columns
        ]
    )
    days_path, scores_path = out_dir / "alarm_days.csv", out_dir / "alarm_scores.csv"
    days.to_csv(days_path, index=False, float_format="%.6g")
    scores.to_csv(scores_path, index=False, float_format="%.6g")
    return days_path, scores_path


def summary_lines(outcome: Outcome) -> list[str]:
    """The rates, for the terminal."""
    strengths = sorted(outcome.verdicts["held-out"].days)
    lines = [f"FIXED_THRESHOLD_RULE: {_rule_name(outcome.rule)}"]
    for name, rates in outcome.verdicts.items():
        lines.append(f"  {name:12s} " + "   ".join(f"{_condition(s)}: {_cell(rates, s)}" for s in strengths))
    for name in outcome.verdicts:
        rates = outcome.rates(None, name)
        lines.append(
            f"  Evidently defaults, {name}: "
            + "   ".join(f"{_condition(s)}: {_cell(rates, s, False)}" for s in strengths)
        )
    lines.append(
        f"calibration picks: {_rule_name(outcome.chosen)}"
        + (
            "  (= FIXED_THRESHOLD_RULE)"
            if outcome.chosen == outcome.rule
            else "  (DIFFERS from FIXED_THRESHOLD_RULE)"
        )
    )
    for why, c in _alternatives(outcome):
        lines.append(
            f"  {_rule_name(c.rule_fields()):55s} {why:30s} margins {_margin(c):12s} cal. "
            + ", ".join(_cell(c.rates, s, False) for s in strengths)
        )
    if outcome.check is not None:
        lines += [line for line in _check_rows(outcome) if line.startswith("| ") and "---" not in line]
    return lines


def write_section(path: Path, section: str) -> None:
    """Put the section into RESULTS.md, replacing its previous version, keeping everything else
    (and the volume table of ``python -m benchmarks.alarm_volume``, which this run does not measure)."""
    existing = path.read_text() if path.exists() else report.HEADER
    block = block_of(existing)
    if block is not None:
        section = with_block(section, block, f"<!-- benchmarks:extra-end {SECTION} -->")
    path.write_text(report.replace_extra(existing, SECTION, section))


BLOCK_START, BLOCK_END = "<!-- alarm:volumes -->", "<!-- alarm:volumes-end -->"


def with_block(text: str, block: str, section_end: str) -> str:
    """``text`` with the volume block replaced, or put before ``section_end`` if it has none."""
    wrapped = f"{BLOCK_START}\n{block.rstrip()}\n{BLOCK_END}"
    if BLOCK_START in text and BLOCK_END in text:
        head, rest = text.split(BLOCK_START, 1)
        return head + wrapped + rest.split(BLOCK_END, 1)[1]
    if section_end not in text:
        raise ValueError("no drift-alarm section to put the volume table in: run python -m benchmarks.alarm")
    head, tail = text.split(section_end, 1)
    return head + wrapped + "\n" + section_end + tail


def block_of(text: str) -> str | None:
    """The volume block of ``text`` (without its markers), if any."""
    if BLOCK_START in text and BLOCK_END in text:
        return text.split(BLOCK_START, 1)[1].split(BLOCK_END, 1)[0].strip("\n")
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = Design()
    p = argparse.ArgumentParser(prog="python -m benchmarks.alarm", description=__doc__.split("\n\n")[0])

    def ints(value: str) -> tuple[int, ...]:
        return tuple(int(v) for v in value.split(",") if v.strip())

    def floats(value: str) -> tuple[float, ...]:
        return tuple(float(v) for v in value.split(",") if v.strip())

    p.add_argument(
        "--calibration-seeds", type=ints, default=d.calibration_seeds, help="rules are ranked here"
    )
    p.add_argument(
        "--holdout-seeds", type=ints, default=d.holdout_seeds, help="the rule's rates are read here"
    )
    p.add_argument("--strengths", type=floats, default=d.strengths, help="drift strengths (comma-separated)")
    p.add_argument("--events", type=int, default=d.events_per_day, help="events a day")
    p.add_argument("--warmup-days", type=int, default=d.warmup_days)
    p.add_argument("--train-days", type=int, default=d.train_days)
    p.add_argument(
        "--eval-days", type=int, default=d.eval_days, help="evaluation days per seed and condition"
    )
    p.add_argument("--start", default=d.start, help="first simulated day")
    p.add_argument(
        "--check-events", type=int, default=None, help="also score the calibration seeds at this volume"
    )
    p.add_argument("--cache-dir", type=Path, default=_CACHE_DIR[0])
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="the RESULTS.md to write into")
    p.add_argument("--csv-dir", type=Path, default=HERE, help="where alarm_days.csv and alarm_scores.csv go")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        design = Design(
            calibration_seeds=args.calibration_seeds,
            holdout_seeds=args.holdout_seeds,
            strengths=args.strengths,
            events_per_day=args.events,
            warmup_days=args.warmup_days,
            train_days=args.train_days,
            eval_days=args.eval_days,
            start=args.start,
        )
    except ValueError as error:
        print(f"python -m benchmarks.alarm: {error}", file=sys.stderr)
        return 2
    _CACHE_DIR[0] = args.cache_dir
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.alarm " + shlex.join(sys.argv[1:] if argv is None else argv)
    load_before, started = machine.load_average(), time.perf_counter()
    outcome = run(design, args.cache_dir, check_events=args.check_events)
    wall = time.perf_counter() - started
    outcome.load = " ".join(f"{x:.2f}" for x in load_before) + " before, "
    outcome.load += " ".join(f"{x:.2f}" for x in machine.load_average()) + " after (2 cores, shared)"
    print("\n".join(summary_lines(outcome)))
    if args.no_write:
        return 0
    columns = list(outcome.days["calibration"].columns)
    records = outcome.records + (outcome.check.records if outcome.check else [])
    for path in write_csvs(records, args.csv_dir, columns):
        print(f"wrote {path}")
    info = machine.describe(REPO)
    info.update({p: machine._version(p) for p in ("evidently", "scikit-learn")})
    write_section(args.out, markdown(outcome, command, info, wall))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
