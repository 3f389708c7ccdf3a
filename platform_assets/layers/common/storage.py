"""The file storage resource: landing folder, model store and reports of one data directory."""

from pathlib import Path

import dagster as dg

from platform_assets.lib.layout import DataLayout
from platform_assets.lib.ml.model_store import ModelStore


class PlatformStorage(dg.ConfigurableResource):
    """Files the platform keeps outside the engine's tables: landed logs, models, reports."""

    data_dir: str

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir)).ensure()

    def model_store(self) -> ModelStore:
        return ModelStore(self.layout.models)

    def report_dir(self, report: str, day: str) -> Path:
        """``reports/<report>/date=<day>/`` (the day is validated)."""
        folder = self.layout.reports / report / self.layout.day_dir(day).name
        folder.mkdir(parents=True, exist_ok=True)
        return folder
