"""The catalog of named queries: SQL files in the Athena (Trino) dialect with a header.

A file under ``sql/`` is one named query; under ``views/`` one QuickSight view. The
header is comment lines ``-- key: value`` before the first SQL line::

    -- description: Prediction volume and latency by model version and hour.
    -- roles: analyst auditor
    -- param: from_date date required | First event_date (UTC), inclusive.
    -- param: model_id string optional max_length=128 | Only this model.
    -- range: from_date to_date max_days=92
    -- event_types: prediction
    -- column: model_version string | Model version.

Values appear in the SQL only as ``:name`` placeholders; loading turns each into a
``?`` and records the bind order, so a value can only ever be bound, never spliced.
``range`` names the date pair that prunes partitions (the SQL must filter
``event_date BETWEEN :from AND :to``); ``event_types`` lets the local engine open
only those partitions (the SQL filters them too, so Athena prunes the same way).

SQL several files share lives once, in ``fragments/<name>.sql``; a line
``-- include: <name>`` in a file's SQL stands for it (the lineage graph's links, the
PSI binning). Loading expands it, so every engine runs the same text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlaudit.queries.params import PARAM_TYPES, ParamError, ParameterError, ParamSpec, check_params

SQL_DIR = Path(__file__).parent / "sql"
VIEWS_DIR = Path(__file__).parent / "views"
FRAGMENTS_DIR = Path(__file__).parent / "fragments"  # SQL shared by several files: `-- include: <name>`
RESULT_TYPES = ("string", "integer", "double", "timestamp", "date", "boolean")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# How far a time range may reach (six years, the retention default); queries declare less.
MAX_RANGE_DAYS = 2192


class CatalogError(ValueError):
    """A query file is malformed: a programming error, raised at load time."""


class UnknownQueryError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class RangeSpec:
    start: str
    end: str
    max_days: int = MAX_RANGE_DAYS


@dataclass(frozen=True)
class QuerySpec:
    name: str
    description: str
    sql: str  # as written, with :name placeholders
    athena_sql: str  # with ? placeholders, in the Athena dialect
    bind_order: tuple[str, ...]  # parameter name for each ?, in order
    params: tuple[ParamSpec, ...] = ()
    ranges: tuple[RangeSpec, ...] = ()
    columns: tuple[ColumnSpec, ...] = ()
    roles: frozenset[str] = frozenset()
    event_types: tuple[str, ...] | None = None  # None: every type
    kind: str = "query"  # query | view
    extras: dict[str, str] = field(default_factory=dict)

    def param(self, name: str) -> ParamSpec:
        return next(p for p in self.params if p.name == name)

    def check(self, raw: Any) -> dict[str, Any]:
        """Typed, range-checked parameter values, or ParameterError."""
        values = check_params(self.params, raw)
        errors: list[ParamError] = []
        for rng in self.ranges:
            start, end = values[rng.start], values[rng.end]
            if start > end:
                errors.append(ParamError(rng.end, "range", f"must not be before {rng.start}"))
            elif (end - start).days + 1 > rng.max_days:
                errors.append(
                    ParamError(rng.end, "max_days", f"the range may cover at most {rng.max_days} days")
                )
        if errors:
            raise ParameterError(errors)
        return values

    def partition_dates(self, values: dict[str, Any]) -> list[str]:
        """Every event_date the query may read (the union of its ranges), sorted."""
        days: set[date] = set()
        for rng in self.ranges:
            start, end = values[rng.start], values[rng.end]
            days.update(date.fromordinal(d) for d in range(start.toordinal(), end.toordinal() + 1))
        return sorted(d.isoformat() for d in days)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": [p.describe() for p in self.params],
            "columns": [{"name": c.name, "type": c.type, "description": c.description} for c in self.columns],
            "roles": sorted(self.roles),
        }


def compile_placeholders(sql: str) -> tuple[str, tuple[str, ...]]:
    """Replace each ``:name`` outside strings, quoted identifiers and comments by ``?``."""
    out: list[str] = []
    order: list[str] = []
    token = re.compile(
        r"'(?:[^']|'')*'"  # string literal
        r"|\"(?:[^\"]|\"\")*\""  # quoted identifier
        r"|--[^\n]*"  # line comment
        r"|/\*.*?\*/"  # block comment
        r"|(?<![:\w]):([a-z][a-z0-9_]*)"  # placeholder
        r"|\?",  # a raw ? would bind out of order
        re.S,
    )
    pos = 0
    for found in token.finditer(sql):
        out.append(sql[pos : found.start()])
        pos = found.end()
        if found.group(0) == "?":
            raise CatalogError("write :name placeholders, not ?")
        if found.group(1):
            order.append(found.group(1))
            out.append("?")
        else:
            out.append(found.group(0))
    out.append(sql[pos:])
    return "".join(out), tuple(order)


def parse_query(name: str, text: str, kind: str = "query") -> QuerySpec:
    if not NAME.match(name):
        raise CatalogError(f"{name}: query names are lower_snake_case")
    fail = _failure(name)
    header_lines, body = split_header(text)
    body = _one_statement(expand_fragments(body, fail), fail)
    header = _read_header(header_lines, fail)
    athena_sql, order = compile_placeholders(body)
    _check(header, kind, body, order, fail)
    return QuerySpec(
        name=name,
        description=header.description,
        sql=body,
        athena_sql=athena_sql,
        bind_order=order,
        params=tuple(header.params),
        ranges=tuple(header.ranges),
        columns=tuple(header.columns),
        roles=header.roles,
        event_types=header.event_types,
        kind=kind,
        extras=header.extras,
    )


Fail = Callable[[str], CatalogError]


def _failure(name: str) -> Fail:
    return lambda message: CatalogError(f"{name}: {message}")


def split_header(text: str) -> tuple[list[tuple[str, str]], str]:
    """The ``-- key: value`` lines before the first SQL line, and the SQL from there."""
    header: list[tuple[str, str]] = []
    lines = text.splitlines()
    body_start = 0
    for i, line in enumerate(lines):
        if found := re.match(r"^--\s*([a-z_]+):\s*(.*)$", line):
            header.append((found.group(1), found.group(2).strip()))
        elif line.strip() and not line.startswith("--"):
            body_start = i
            break
    return header, "\n".join(lines[body_start:])


_INCLUDE = re.compile(r"^[ \t]*--[ \t]*include:[ \t]*(\S+)[ \t]*$", re.M)


def expand_fragments(body: str, fail: Fail) -> str:
    """Each ``-- include: <fragment>`` line replaced by that fragment's SQL (its header
    comments dropped). Expanded at load, before placeholders are compiled: Athena and the
    local DuckDB engine run the same expanded text, its values bound like any other."""

    def fragment(found: re.Match[str]) -> str:
        name = found.group(1)
        path = FRAGMENTS_DIR / f"{name}.sql"
        if not NAME.match(name) or not path.is_file():
            raise fail(f"no SQL fragment {name!r} in {FRAGMENTS_DIR.name}/")
        _, sql = split_header(path.read_text(encoding="utf-8"))
        if _INCLUDE.search(sql):
            raise fail(f"fragment {name} includes another (fragments do not nest)")
        return sql.strip("\n")

    return _INCLUDE.sub(fragment, body)


def _one_statement(body: str, fail: Fail) -> str:
    body = body.strip().rstrip(";").strip()
    if ";" in re.sub(r"'(?:[^']|'')*'|--[^\n]*", "", body):
        raise fail("one statement per file")
    return body


@dataclass
class _Header:
    description: str = ""
    roles: frozenset[str] = frozenset()
    event_types: tuple[str, ...] | None = None
    params: list[ParamSpec] = field(default_factory=list)
    ranges: list[RangeSpec] = field(default_factory=list)
    columns: list[ColumnSpec] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)


def _read_header(lines: list[tuple[str, str]], fail: Fail) -> _Header:
    header = _Header()
    for key, value in lines:
        spec, _, doc = value.partition(" | ")
        words, doc = spec.split(), doc.strip()
        if key == "description":
            header.description = value
        elif key == "roles":
            header.roles = frozenset(words)
        elif key == "event_types":
            header.event_types = tuple(words)
        elif key == "param":
            header.params.append(_param(words, doc, fail))
        elif key == "range":
            header.ranges.append(_range(words, fail))
        elif key == "column":
            header.columns.append(_column(words, doc, value, fail))
        else:
            header.extras[key] = value
    return header


def _range(words: list[str], fail: Fail) -> RangeSpec:
    opts = _options(words[2:], fail)
    return RangeSpec(words[0], words[1], int(opts.get("max_days", 31)))


def _column(words: list[str], doc: str, value: str, fail: Fail) -> ColumnSpec:
    if len(words) != 2 or words[1] not in RESULT_TYPES:
        raise fail(f"column needs a name and one of {RESULT_TYPES}: {value}")
    return ColumnSpec(words[0], words[1], doc)


def _check(header: _Header, kind: str, body: str, order: tuple[str, ...], fail: Fail) -> None:
    """What a query or view file must say, and say consistently with its SQL."""
    if not header.description:
        raise fail("a description is required")
    if not header.columns:
        raise fail("result columns are required")
    _check_placeholders([p.name for p in header.params], order, fail)
    if kind == "view" and (header.params or header.ranges):
        raise fail("views take no parameters (QuickSight filters on event_date instead)")
    if kind == "query":
        if not header.roles:
            raise fail("roles are required")
        if not header.ranges:
            raise fail("every query needs a date range that prunes partitions")
    for rng in header.ranges:
        _check_range(rng, {p.name: p for p in header.params}, body, fail)


def _check_placeholders(names: list[str], order: tuple[str, ...], fail: Fail) -> None:
    if len(set(names)) != len(names):
        raise fail("a parameter is declared twice")
    if undeclared := set(order) - set(names):
        raise fail(f"undeclared placeholders {sorted(undeclared)}")
    if unused := set(names) - set(order):
        raise fail(f"declared but unused parameters {sorted(unused)}")


def _check_range(rng: RangeSpec, params: dict[str, ParamSpec], body: str, fail: Fail) -> None:
    """A range's bounds are required date parameters, and the SQL prunes partitions by them."""
    for end in (rng.start, rng.end):
        if end not in params or params[end].type != "date":
            raise fail(f"range bound {end} must be a declared date parameter")
        if not params[end].required:
            raise fail(f"range bound {end} must be required")
    if not 1 <= rng.max_days <= MAX_RANGE_DAYS:
        raise fail(f"max_days must be within 1..{MAX_RANGE_DAYS}")
    between = rf"event_date\s+BETWEEN\s+:{rng.start}\s+AND\s+:{rng.end}\b"
    if not re.search(between, body, re.I):
        raise fail(f"the SQL must filter event_date BETWEEN :{rng.start} AND :{rng.end}")


def _options(words: list[str], fail: Fail) -> dict[str, str]:
    opts: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise fail(f"expected key=value, got {word}")
        opts[key] = value
    return opts


def _param(words: list[str], doc: str, fail: Fail) -> ParamSpec:
    if len(words) < 3 or words[1] not in PARAM_TYPES or words[2] not in ("required", "optional"):
        raise fail(f"param needs: name type required|optional [key=value...]: {' '.join(words)}")
    name, ptype, need = words[:3]
    if not NAME.match(name):
        raise fail(f"bad parameter name {name}")
    opts = _options(words[3:], fail)
    if unknown := set(opts) - {"default", "max_length", "pattern", "min", "max"}:
        raise fail(f"unknown parameter options {sorted(unknown)}")
    default: Any = opts.get("default")
    if default is not None and ptype in ("integer", "double"):
        default = int(default) if ptype == "integer" else float(default)
    if ptype == "string" and "max_length" not in opts and "pattern" not in opts:
        raise fail(f"string parameter {name} needs max_length or pattern")
    return ParamSpec(
        name=name,
        type=ptype,  # type: ignore[arg-type]
        required=need == "required",
        description=doc,
        default=default,
        max_length=int(opts["max_length"]) if "max_length" in opts else None,
        pattern=opts.get("pattern"),
        minimum=float(opts["min"]) if "min" in opts else None,
        maximum=float(opts["max"]) if "max" in opts else None,
    )


_DATABASE = re.compile(r"^[a-z0-9_]{1,255}$")


def view_ddl(spec: QuerySpec, database: str) -> str:
    """CREATE OR REPLACE VIEW for Athena, run once per deployment (identifiers are ours:
    the view name is a catalog file name and the database a deployment setting)."""
    if spec.kind != "view" or not _DATABASE.match(database):
        raise CatalogError("view_ddl takes a view and a Glue database name")
    return f'CREATE OR REPLACE VIEW "{database}"."{spec.name}" AS\n{spec.athena_sql}'


@dataclass(frozen=True)
class Catalog:
    queries: dict[str, QuerySpec]
    views: dict[str, QuerySpec]

    def get(self, name: str) -> QuerySpec:
        # Only names that exist are ever looked up in files: no path comes from a caller.
        if not isinstance(name, str) or name not in self.queries:
            raise UnknownQueryError(name if isinstance(name, str) and NAME.match(name) else "?")
        return self.queries[name]

    def describe(self) -> list[dict[str, Any]]:
        return [self.queries[n].describe() for n in sorted(self.queries)]


def _load_dir(directory: Path, kind: str) -> dict[str, QuerySpec]:
    return {
        path.stem: parse_query(path.stem, path.read_text(encoding="utf-8"), kind)
        for path in sorted(directory.glob("*.sql"))
    }


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Load every query and view, their headers checked. The portability check (sqlglot,
    which the Lambda asset does not carry) is `portability.load_checked_catalog`."""
    return Catalog(_load_dir(SQL_DIR, "query"), _load_dir(VIEWS_DIR, "view"))
