"""The two ways the platform cuts its data.

- ``log_files``: one dynamic partition per landed file (its key is the path relative to the
  landing folder). Raw and lake work is done per file, so each file is read once and a new file
  costs only its own size.
- ``event_days``: one daily partition per UTC event date. Marts, features and monitoring are
  per day: a file holding several days (late events, sessions across midnight) updates each.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.layers.common.names import LOG_FILES_PARTITIONS

PARTITIONS_START = "2015-01-01"

log_files = dg.DynamicPartitionsDefinition(name=LOG_FILES_PARTITIONS)
# end_offset=1: today's partition exists while today's logs are still arriving.
event_days = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1, timezone="UTC")
