/* ---
description: >-
  Lake quarantine: every line that could not be parsed, with its file, line number, raw text
  (at most 64 KiB, undecodable bytes as \xNN) and the reason.
inputs: {checked_lines: lake/checked_lines}
grain: [source_file, source_line]
# Parquet column types of every quarantine file (DuckDB names), written by both engines.
types: {source_file: VARCHAR, source_line: BIGINT, reason: VARCHAR, raw_line: VARCHAR}
columns:
  source_file: Landed file, relative to the landing folder.
  source_line: 1-based line number in the (decompressed) landed file.
  reason: Why the line was rejected.
  raw_line: The line as landed, cut to 64 KiB; bytes that are not UTF-8 shown as \xNN.
--- */
SELECT
    source_file,
    source_line,
    reject_reason AS reason,
    raw_line
FROM checked_lines
WHERE reject_reason IS NOT NULL
