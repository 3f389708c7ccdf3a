"""Which columns of the feature table a model reads, predicts and splits on (no scikit-learn here:
the definitions import this at load time, training imports it too)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns of the feature table a model reads, predicts and splits on."""

    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    label: str
    time_column: str
    # Heavy-tailed counts that keep growing while history accumulates: log1p before scaling, so
    # linear models do not extrapolate them linearly onto later days.
    log_scaled: tuple[str, ...] = ()
    # Constant within one day by construction, so a day always "drifts" on them: not monitored.
    calendar: tuple[str, ...] = ()

    @property
    def monitored_numeric(self) -> tuple[str, ...]:
        """Numeric features the drift monitor compares (calendar columns left out)."""
        return tuple(c for c in self.numeric if c not in self.calendar)

    @property
    def features(self) -> tuple[str, ...]:
        """Model inputs: categorical then numeric."""
        return self.categorical + self.numeric

    @property
    def required(self) -> tuple[str, ...]:
        """Every column training needs."""
        return (*self.features, self.label, self.time_column)


# Matches sql/features/session_features.sql; the drift monitor reads the same lists.
FEATURE_SPEC = FeatureSpec(
    categorical=("device", "country", "entry_event_type", "referrer_class"),
    numeric=(
        "hour_of_day",
        "day_of_week",
        "is_logged_in",
        "prior_sessions_28d",
        "prior_conversions_28d",
        "prior_page_views_28d",
        "days_since_prior_session",
    ),
    label="label",
    time_column="event_date",
    log_scaled=(
        "prior_sessions_28d",
        "prior_conversions_28d",
        "prior_page_views_28d",
        "days_since_prior_session",
    ),
    calendar=("day_of_week",),
)
