"""Tell, batch by batch, whether every line the reader produced is a plain JSON-object line.

A *plain* line (its text as :mod:`platform_assets.lib.line_reader` gives it: line ending stripped)
starts with ``{``, ends with ``}``, holds no control byte (no tab, NUL or lone ``\\r``), is valid
UTF-8 and at most ``MAX_PLAIN_LINE_BYTES`` long with its line ending. The validating parser
(``lake/parse_lines``) classifies such a line as JSON, and nothing but the JSON text itself can
reject it: that is what lets a native JSON reader parse the file instead (the engine's fast path).
Anything else (a BOM, an empty line, leading blanks, a damaged gzip stream) makes the file not
plain; that costs speed only, never exactness: such files take the validating path.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# lake/parse_lines rejects a line of more than 1 MiB (its bytes with the line ending): 'too_long'.
MAX_PLAIN_LINE_BYTES = 1 << 20


def _no_control_bytes(text: pa.Array) -> bool:
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return not bool(np.any(data < 0x20))


def plain_batch(batch: pa.RecordBatch) -> bool:
    """Whether every row of a ``LINE_SCHEMA`` batch is a plain JSON-object line."""
    if batch.num_rows == 0:
        return True
    text = batch.column("text")
    if batch.column("stream_error").null_count != batch.num_rows or text.null_count:
        return False  # a damaged stream's marker row, or a line that is not UTF-8
    if pc.max(batch.column("line_bytes")).as_py() > MAX_PLAIN_LINE_BYTES:
        return False
    if not (pc.all(pc.starts_with(text, "{")).as_py() and pc.all(pc.ends_with(text, "}")).as_py()):
        return False  # an empty line fails here too
    return _no_control_bytes(text)


def plain_json_lines(batches: Iterable[pa.RecordBatch]) -> bool:
    """Whether every line of ``batches`` is plain (stops at the first that is not)."""
    return all(plain_batch(batch) for batch in batches)
