"""Refuse SQL whose answer would differ between Athena (Trino) and DuckDB.

The named queries run on Athena in AWS and on DuckDB locally (after sqlglot
transpiles them). Both engines parse more than they agree on; measured here:

- ``5/2`` is 2 in Trino and 2.5 in DuckDB: every ``/`` needs an operand written as
  ``CAST(... AS DOUBLE)`` (or ``TRY_CAST``), so both engines divide doubles.
- ``date_diff`` counts elapsed units in Trino and crossed boundaries in DuckDB: refused.
- ``json_extract_scalar`` on an object is NULL in Trino and JSON text in DuckDB:
  allowed only directly inside ``TRY_CAST(... AS DOUBLE|BIGINT|INTEGER)``, where an
  object is NULL in both; ``json_extract`` (JSON values print differently) is refused.
- ``format_datetime``, ``parse_datetime``, ``date_parse``, ``date_format``,
  ``to_iso8601``, ``every`` do not transpile (or change format letters): refused.
- Casts to text print numbers and timestamps differently: refused; the engine
  adapters render values (timestamps as Athena does).
- ``approx_percentile`` is Trino's t-digest estimate; the local engine rewrites it to
  the exact nearest-rank ``quantile_disc`` (see local/athena/transpile.py and
  docs/queries.md for the tolerance). ``approx_distinct`` (different sketches),
  ``rand`` and the current date or time (answers must depend on parameters only) are
  refused, as is any function sqlglot does not know (it would pass through untranslated).

Queries must also end with ORDER BY (pages must be stable), read only ``events``
(and their own CTEs), and select exactly the declared result columns.
"""

from __future__ import annotations

import sqlglot
from mlaudit.queries.catalog import Catalog, CatalogError, QuerySpec, load_catalog
from sqlglot import exp

DIALECT = "athena"

_REFUSED: dict[type[exp.Expression], str] = {
    exp.DateDiff: "date_diff counts elapsed units in Athena and boundaries in DuckDB",
    exp.ParseDatetime: "parse_datetime does not transpile",
    exp.StrToTime: "date_parse format letters differ between engines",
    exp.TimeToStr: "date_format format letters differ between engines",
    exp.JSONExtract: "json_extract returns JSON whose text form differs between engines",
    exp.ApproxDistinct: "approx_distinct uses different sketches; use count(DISTINCT ...)",
    exp.Rand: "random values cannot be compared",
    exp.CurrentDate: "answers must depend on parameters, not the current date",
    exp.CurrentTimestamp: "answers must depend on parameters, not the current time",
    exp.Try: "try() hides different errors in each engine",
}
_TEXT = {exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR, exp.DataType.Type.NCHAR}
_NUMERIC = {exp.DataType.Type.DOUBLE, exp.DataType.Type.BIGINT, exp.DataType.Type.INT}


class PortabilityError(CatalogError):
    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"{name}: not portable between Athena and DuckDB: " + "; ".join(problems))
        self.problems = problems


def _is_double_cast(node: exp.Expression) -> bool:
    return isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DOUBLE  # TryCast is a Cast


def problems_in(sql: str, *, columns: tuple[str, ...] | None = None, ordered: bool = True) -> list[str]:
    """Everything in `sql` (Athena dialect, ? placeholders) the engines disagree on."""
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except sqlglot.errors.ParseError as exc:
        return [f"does not parse as Athena SQL: {exc}"]
    problems: list[str] = []
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if type(node) in _REFUSED:
            problems.append(_REFUSED[type(node)])
        elif isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            reason = {
                "format_datetime": "format_datetime does not transpile",
                "to_iso8601": "to_iso8601 does not transpile",
                "every": "every does not transpile; use bool_and",
            }.get(name, f"{name} is unknown to sqlglot and would pass through untranslated")
            problems.append(reason)
        elif isinstance(node, exp.Div):
            if not (_is_double_cast(node.this) or _is_double_cast(node.expression)):
                problems.append(
                    f"division '{node.sql(DIALECT)}' needs an operand CAST(... AS DOUBLE) "
                    "(integer division differs)"
                )
        elif isinstance(node, exp.JSONExtractScalar):
            parent = node.parent
            if not (isinstance(parent, exp.TryCast) and parent.to.this in _NUMERIC):
                problems.append(
                    "json_extract_scalar must sit directly in TRY_CAST(... AS DOUBLE|BIGINT|INTEGER) "
                    "(objects give NULL in Athena and text in DuckDB)"
                )
        elif isinstance(node, exp.Cast) and node.to.this in _TEXT:
            problems.append("casts to text print values differently in each engine")
        elif isinstance(node, exp.Table) and node.name not in ctes and node.name != "events":
            problems.append(f"reads {node.name}: only the events table (and CTEs) may be read")
    if ordered and not tree.args.get("order"):
        problems.append("a named query must end with ORDER BY so result pages are stable")
    if columns is not None and tuple(tree.named_selects) != columns:
        problems.append(f"selects {tree.named_selects}, but declares {list(columns)}")
    return problems


def check_spec(spec: QuerySpec) -> None:
    problems = problems_in(
        spec.athena_sql,
        columns=tuple(c.name for c in spec.columns),
        ordered=spec.kind == "query",
    )
    if problems:
        raise PortabilityError(spec.name, problems)


def load_checked_catalog() -> Catalog:
    """The catalog with every query and view checked: the tests and the local engine
    load it so; the Lambda loads `catalog.load_catalog` alone (no sqlglot in its asset)."""
    catalog = load_catalog()
    for spec in [*catalog.queries.values(), *catalog.views.values()]:
        check_spec(spec)
    return catalog
