"""Athena (Trino) SQL to DuckDB SQL: sqlglot, plus the rewrites documented here.

The catalog's portability check (mlaudit.queries.portability) has already refused
what cannot be made equal. One construct is rewritten on purpose:

- ``approx_percentile(x, q)`` becomes ``quantile_disc(x, q)``: the exact nearest-rank
  percentile (the value at rank ceil(q * n)), where Athena returns a t-digest
  estimate. Tests compare local answers with an exact oracle; on Athena expect the
  estimate to be within about 1% of rank (docs/queries.md).
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.ApproxQuantile):
        return exp.Anonymous(this="QUANTILE_DISC", expressions=[node.this, node.args["quantile"]])
    return node


@lru_cache(maxsize=256)
def to_duckdb(athena_sql: str) -> str:
    """`athena_sql` keeps the catalog's :name placeholders; they come out as DuckDB's
    named $name parameters."""
    tree = sqlglot.parse_one(athena_sql, read="athena")
    return tree.transform(_rewrite).sql(dialect="duckdb")
