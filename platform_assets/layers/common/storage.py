"""The file storage resource: landing folder, model store and reports of one data directory."""

from pathlib import Path

import dagster as dg

from platform_assets.lib.layout import DataLayout
from platform_assets.lib.ml.model_store import ModelStore
from platform_assets.lib.report_index import report_url
from platform_assets.settings import DEFAULT_REPORTS_URL


class PlatformStorage(dg.ConfigurableResource):
    """Files the platform keeps outside the engine's tables: landed logs, models, reports (served at
    ``reports_url`` by ``platform-assets reports serve``)."""

    data_dir: str
    reports_url: str = DEFAULT_REPORTS_URL

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

    def report_url(self, path: Path | None = None) -> str:
        """The address a report file is served at (no path: the index of every report)."""
        if path is None:
            return self.reports_url.rstrip("/") + "/"
        return report_url(self.reports_url, self.layout.reports, Path(path))
