"""The ``quality`` resource: the limits asset checks apply, validated when built."""

import math
from collections.abc import Mapping

import dagster as dg
import pydantic


class QualityThresholds(dg.ConfigurableResource):
    """Limits applied by the asset checks; each field is read from ``PLATFORM_<FIELD>``."""

    # lake/events:quarantine_share: WARN above the first share, ERROR (blocking) above the second.
    quarantine_warn_share: float = 0.01
    quarantine_error_share: float = 0.25
    # lake/events:no_future_timestamps: events later than now + this many hours are flagged.
    future_tolerance_hours: float = 24.0
    # warehouse/daily_traffic:hourly_5xx_share: an hour with at least this many requests whose
    # share of 5xx answers is above the share is flagged (WARN).
    hourly_5xx_share: float = 0.5
    hourly_5xx_min_requests: int = 20
    # models/conversion_model:metric_floor: the holdout ROC AUC must reach this.
    model_min_roc_auc: float = 0.55

    @pydantic.model_validator(mode="after")
    def _in_range(self) -> "QualityThresholds":
        problem = threshold_problem(self.model_dump())
        if problem:
            raise ValueError(problem)
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "QualityThresholds":
        """Thresholds from ``PLATFORM_<FIELD>`` variables; unset or blank ones keep their default.
        Invalid values raise a ValueError naming the variable."""
        values: dict[str, float | int] = {}
        for name, info in cls.model_fields.items():
            raw = environ.get(env_name(name), "").strip()
            if not raw:
                values[name] = info.default
                continue
            kind = int if info.annotation is int else float
            try:
                values[name] = kind(raw)
            except ValueError:
                expected = "an integer" if kind is int else "a number"
                raise ValueError(f"{env_name(name)}={raw!r}: expected {expected}") from None
        problem = threshold_problem(values)
        if problem:  # raised here, plainly, rather than wrapped by pydantic
            raise ValueError(problem)
        return cls(**values)


def threshold_problem(values: Mapping[str, float]) -> str | None:
    """Why these threshold values are unacceptable (naming the variable), or None."""
    for name in ("quarantine_warn_share", "quarantine_error_share", "hourly_5xx_share", "model_min_roc_auc"):
        value = values[name]
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            return f"{env_name(name)}={value!r}: expected a number between 0 and 1"
    warn, error = values["quarantine_warn_share"], values["quarantine_error_share"]
    if not warn < error:
        return (
            f"{env_name('quarantine_warn_share')}={warn!r} must be below "
            f"{env_name('quarantine_error_share')}={error!r}"
        )
    hours = values["future_tolerance_hours"]
    if not (math.isfinite(hours) and hours >= 0):
        return f"{env_name('future_tolerance_hours')}={hours!r}: expected a number of hours >= 0"
    requests = values["hourly_5xx_min_requests"]
    if requests < 1:
        return f"{env_name('hourly_5xx_min_requests')}={requests!r}: expected an integer >= 1"
    return None


def env_name(field: str) -> str:
    """The environment variable of a threshold field."""
    return f"PLATFORM_{field.upper()}"
