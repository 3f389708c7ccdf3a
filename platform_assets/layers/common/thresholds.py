"""The ``quality`` resource: the limits asset checks apply, validated when built.

Built from ``settings.quality`` (parsed from ``PLATFORM_<FIELD>``); run config may override a field,
so the resource checks its values too, naming the variable.
"""

import dagster as dg
import pydantic

from platform_assets.settings import QualitySettings

_DEFAULT = QualitySettings()


class QualityThresholds(dg.ConfigurableResource):
    """Limits applied by the asset checks (see :class:`QualitySettings` for each field)."""

    quarantine_warn_share: float = _DEFAULT.quarantine_warn_share
    quarantine_error_share: float = _DEFAULT.quarantine_error_share
    future_tolerance_hours: float = _DEFAULT.future_tolerance_hours
    hourly_5xx_share: float = _DEFAULT.hourly_5xx_share
    hourly_5xx_min_requests: int = _DEFAULT.hourly_5xx_min_requests
    model_min_roc_auc: float = _DEFAULT.model_min_roc_auc

    @pydantic.model_validator(mode="after")
    def _in_range(self) -> "QualityThresholds":
        QualitySettings(**self.model_dump())  # the settings' rules, naming the variable
        return self
