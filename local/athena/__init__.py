"""The local Athena stand-in: DuckDB over the lake's Parquet files, same adapter protocol."""

from local.athena.engine import DuckDbEngine
from local.athena.lake import LocalLake, S3Lake

__all__ = ["DuckDbEngine", "LocalLake", "S3Lake"]
