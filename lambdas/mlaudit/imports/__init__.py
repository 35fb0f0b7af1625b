"""Batch import of audit events from JSON Lines and Parquet files (issue #13).

`FileImporter(ingest=IngestService(...)).run(stream, ImportSource(file_id, name, format),
principal)` -> `ImportReport` (`.body()` is the report as JSON). See `service`.
"""

from mlaudit.imports.readers import FORMATS, format_of, read_jsonl, read_parquet
from mlaudit.imports.service import (
    FileImporter,
    ImportLimits,
    ImportReport,
    ImportSource,
    import_key,
    line_event_id,
)

__all__ = [
    "FORMATS", "FileImporter", "ImportLimits", "ImportReport", "ImportSource", "format_of", "import_key",
    "line_event_id", "read_jsonl", "read_parquet",
]
