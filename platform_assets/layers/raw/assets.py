"""Raw layer: the landed log files themselves, one dynamic partition each."""

import dagster as dg

from platform_assets.layers.common.names import RAW_GROUP
from platform_assets.layers.common.partitions import log_files
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.lib.line_reader import file_facts

LOG_FILES = dg.AssetKey([RAW_GROUP, "log_files"])


@dg.asset(
    key=LOG_FILES,
    partitions_def=log_files,
    group_name=RAW_GROUP,
    kinds={"file"},
    owners=["team:data-platform"],
    code_version="1",
)
def raw_log_files(context: dg.AssetExecutionContext, storage: PlatformStorage) -> dg.MaterializeResult:
    """A landed log file (JSON lines or access log, plain or gzip): content hash, size, line count."""
    key = context.partition_key
    path = storage.layout.landed_path(key)
    facts = file_facts(path)
    if facts.stream_error:
        context.log.warning(f"{key}: compressed stream is damaged ({facts.stream_error})")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "sha256": facts.sha256,
            "size_bytes": facts.size_bytes,
            "uncompressed_bytes": facts.uncompressed_bytes,
            "compressed": facts.compressed,
            "lines": facts.lines,
            "dagster/row_count": facts.lines,
            "stream_error": facts.stream_error or "",
        },
        data_version=dg.DataVersion(facts.sha256),
    )
