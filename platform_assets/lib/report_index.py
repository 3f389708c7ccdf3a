"""The index of the monitoring reports: every report by day and model version, with its verdict.

Reports live under ``reports/<report>/date=<day>/<version>.{html,json}``. Beside each, the asset
that wrote it keeps ``<version>.verdict.json``: what the report found (an alarm or not, and the
figures behind it: drift share and drifted columns, quality and calibration), so the index reads a
few small files rather than parsing Evidently's output. :func:`render_index` returns one HTML page
with every value escaped: column names and values come from the data. :func:`report_url` is the
address a report is served at. Pure: no Dagster, no server.
"""

from __future__ import annotations

import html
import json
import math
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from platform_assets.lib.atomic import atomic_write_text

VERDICT_SUFFIX = ".verdict.json"
_SAFE = "="  # kept readable in addresses (date=YYYY-MM-DD); never ":" (a scheme)
_DAY_FOLDER = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def report_url(base: str, reports_root: Path, report: Path) -> str:
    """The address of ``report`` (a file under ``reports_root``) on the server at ``base``."""
    relative = Path(report).relative_to(reports_root)  # a ValueError for a file elsewhere
    return base.rstrip("/") + "/" + "/".join(quote(part, safe=_SAFE) for part in relative.parts)


def verdict_path(html_path: Path) -> Path:
    return html_path.with_name(html_path.stem + VERDICT_SUFFIX)


@dataclass(frozen=True)
class Verdict:
    """What a report found: an alarm or not, in a line, and the figures behind it."""

    alarm: bool | None
    summary: str
    figures: dict[str, Any]


def write_verdict(html_path: Path, verdict: Verdict) -> Path:
    """Keep what a report found beside it (atomically), for the index."""
    path = verdict_path(html_path)
    document = {
        "alarm": verdict.alarm,
        "summary": verdict.summary,
        "figures": {k: _plain(v) for k, v in verdict.figures.items()},
    }
    atomic_write_text(path, json.dumps(document, default=str))
    return path


def drift_verdict(summary: Mapping[str, Any]) -> Verdict:
    """The verdict of a data-drift report (``lib/ml/drift.py`` DriftSummary.as_dict())."""
    drifted = list(summary["drifted_columns"])
    return Verdict(
        alarm=bool(summary["dataset_drift"]),
        summary=f"{len(drifted)} of {summary['n_columns']} columns drifted",
        figures={
            "drift_share": summary["drift_share"],
            "drift_share_threshold": summary["drift_share_threshold"],
            "drifted_columns": drifted,
            "rows": summary["current_rows"],
            "reference_rows": summary["reference_rows"],
        },
    )


def performance_verdict(report: Mapping[str, Any]) -> Verdict:
    """The verdict of a model report (``lib/ml/model_quality.py`` ModelReport.as_dict()): the
    prediction drift, then the day's quality and calibration once it has labels."""
    drifted = bool(report["prediction_drifted"])
    summary = "predictions drifted" if drifted else "predictions stable"
    if report.get("quality_skipped_reason"):
        summary += f"; no quality: {report['quality_skipped_reason']}"
    quality = report.get("quality") or {}
    calibration = report.get("calibration") or {}
    return Verdict(
        alarm=drifted,
        summary=summary,
        figures={
            "prediction_drift_score": report["prediction_drift_score"],
            "prediction_drift_threshold": report["prediction_drift_threshold"],
            "mean_prediction": report["current_mean_prediction"],
            "reference_mean_prediction": report["reference_mean_prediction"],
            "rows": report["current_rows"],
            "labelled_rows": report["labelled_rows"],
            **{
                name: value
                for name, value in quality.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
            **{
                f"calibration_{name}": calibration[name]
                for name in ("observed_rate", "mean_prediction", "difference", "p_value", "ece")
                if calibration.get(name) is not None
            },
        },
    )


@dataclass(frozen=True)
class IndexedReport:
    """One report as the index lists it (paths relative to the reports folder, POSIX)."""

    day: str
    report: str
    version: str
    html: str
    json: str | None
    verdict: dict[str, Any] = field(default_factory=dict)


def list_reports(reports_root: Path) -> list[IndexedReport]:
    """Every report under ``reports_root``, newest day first; symlinks and hidden names are skipped."""
    found = []
    if not _is_dir(reports_root):
        return found
    for report_dir in _entries(reports_root):
        for day_dir in _entries(report_dir):
            day = _DAY_FOLDER.match(day_dir.name)
            if not day or not _is_dir(day_dir):
                continue
            for page in _entries(day_dir):
                if page.suffix != ".html" or not _is_file(page):
                    continue
                data = page.with_suffix(".json")
                found.append(
                    IndexedReport(
                        day=day.group(1),
                        report=report_dir.name,
                        version=page.stem,
                        html=page.relative_to(reports_root).as_posix(),
                        json=data.relative_to(reports_root).as_posix() if _is_file(data) else None,
                        verdict=_read_verdict(verdict_path(page)),
                    )
                )
    return sorted(found, key=lambda r: (_desc(r.day), r.report, r.version))


def render_index(reports_root: Path) -> str:
    """The index page: one table per day (newest first), a row per report and model version."""
    reports = list_reports(reports_root)
    sections = []
    for day in sorted({r.day for r in reports}, reverse=True):
        rows = "\n".join(_row(r) for r in reports if r.day == day)
        sections.append(
            f"<h2>{_e(day)}</h2>\n<table>\n<tr><th>report</th><th>model</th><th>verdict</th>"
            f"<th>figures</th><th>files</th></tr>\n{rows}\n</table>"
        )
    body = "\n".join(sections) or "<p>No reports yet: materialize the monitoring assets of a day.</p>"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Monitoring reports</title>\n<style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
        ".alarm{color:#b00;font-weight:bold}.ok{color:#070}ul{margin:0;padding-left:1.2em}"
        "</style>\n</head>\n<body>\n<h1>Monitoring reports</h1>\n"
        f"<p>{len(reports)} reports over {len({r.day for r in reports})} days.</p>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _row(report: IndexedReport) -> str:
    verdict = report.verdict
    alarm = verdict.get("alarm")
    label, css = {True: ("alarm", "alarm"), False: ("no alarm", "ok")}.get(alarm, ("unknown", ""))
    summary = f"<br>{_e(verdict['summary'])}" if verdict.get("summary") else ""
    figures = verdict.get("figures") if isinstance(verdict.get("figures"), dict) else {}
    items = "".join(f"<li>{_e(name)}: {_e(_format(value))}</li>" for name, value in figures.items())
    links = f'<a href="{_href(report.html)}">report</a>'
    if report.json:
        links += f' <a href="{_href(report.json)}">json</a>'
    return (
        f"<tr><td>{_e(report.report)}</td><td>{_e(report.version)}</td>"
        f'<td><span class="{css}">{label}</span>{summary}</td>'
        f"<td><ul>{items}</ul></td><td>{links}</td></tr>"
    )


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_format(v) for v in value) or "none"
    return str(value)


def _plain(value: Any) -> Any:
    """A JSON-ready value (numpy numbers and the like become Python ones; NaN becomes None)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _read_verdict(path: Path) -> dict[str, Any]:
    if not _is_file(path):
        return {}
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _entries(folder: Path) -> list[Path]:
    """The visible entries of a folder that are not symlinks, sorted."""
    try:
        children = list(folder.iterdir())
    except OSError:
        return []
    return sorted(p for p in children if not p.name.startswith(".") and not p.is_symlink())


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _desc(day: str) -> str:
    """A key that sorts ``YYYY-MM-DD`` days newest first."""
    return "".join(chr(0x7F - ord(c)) for c in day)


def _href(relative: str) -> str:
    return _e("/".join(quote(part, safe=_SAFE) for part in relative.split("/")))


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
