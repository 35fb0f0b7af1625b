"""The local Athena stand-in: DuckDB over the lake's Parquet files, same adapter protocol."""

from local.athena.caller import AthenaAsCaller
from local.athena.engine import DuckDbEngine
from local.athena.lake import LocalLake, S3Lake

__all__ = ["AthenaAsCaller", "DuckDbEngine", "LocalLake", "S3Lake"]
