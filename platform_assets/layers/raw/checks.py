"""Raw layer check: the landed file was hashed, is still the file that was hashed, and reads whole."""

import re

import dagster as dg

from platform_assets.layers.common.checks import CheckRun, check, checks_step
from platform_assets.layers.common.metadata import latest_metadata
from platform_assets.layers.raw.assets import LOG_FILES

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@check(
    LOG_FILES,
    "readable_and_hashed",
    blocking=True,
    description="The landed file has a sha256 recorded, can still be opened and has the size it had "
    "when hashed (ERROR: the lake would parse other bytes than were recorded); a damaged gzip "
    "stream is a WARN (the readable part is ingested, the damage is quarantined).",
)
def readable_and_hashed(run: CheckRun, key: str) -> dg.AssetCheckResult:
    recorded = latest_metadata(run.instance, LOG_FILES, key) or {}
    sha256 = str(recorded.get("sha256") or "")
    problems = []
    if not _SHA256.match(sha256):
        problems.append("no sha256 recorded for the file")
    size: int | None = None
    try:
        path = run.storage.layout.landed_path(key)
        with open(path, "rb") as f:
            f.read(1)
        size = path.stat().st_size
    except (OSError, ValueError) as error:  # vanished, unreadable or no longer a safe landed path
        problems.append(f"the landed file cannot be read: {error}")
    if size is not None and size != recorded.get("size_bytes"):
        problems.append(f"the file is now {size} bytes, {recorded.get('size_bytes')} when hashed")
    stream_error = str(recorded.get("stream_error") or "")
    metadata = {
        "sha256": sha256,
        "recorded_size_bytes": recorded.get("size_bytes"),
        "current_size_bytes": size,
        "stream_error": stream_error,
        "problems": dg.MetadataValue.json(problems),
    }
    if problems:
        return dg.AssetCheckResult(passed=False, metadata=metadata, description="; ".join(problems))
    if stream_error:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=metadata,
            description=f"compressed stream is damaged ({stream_error}): lines after the damage are lost",
        )
    return dg.AssetCheckResult(passed=True, metadata=metadata)


raw_checks = checks_step("raw_checks", [readable_and_hashed])
