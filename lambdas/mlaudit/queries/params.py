"""Parameters of named queries: declared types, checks, and the two bound forms.

Callers send JSON values; each is checked against its declaration and turned into a
typed Python value. The engines bind those values (never format them into SQL):
Athena as ExecutionParameters (each a SQL literal in a string), DuckDB as prepared
parameters. Error messages name the parameter and the rule, never the value (a
value may be personal data or an attack string).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

ParamType = Literal["string", "date", "timestamp", "double", "integer"]
PARAM_TYPES: tuple[str, ...] = ("string", "date", "timestamp", "double", "integer")

# Hard ceilings whatever a query declares: no value may be larger than this.
MAX_STRING_LENGTH = 1024
INTEGER_RANGE = (-(2**31), 2**31 - 1)  # Trino INTEGER, DuckDB INTEGER
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]00:00)?$")


@dataclass(frozen=True)
class ParamError:
    parameter: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": f"parameters.{self.parameter}", "rule": self.rule, "message": self.message}


class ParameterError(ValueError):
    """One or more parameters were refused; `errors` says which and why."""

    def __init__(self, errors: list[ParamError]) -> None:
        super().__init__("; ".join(f"{e.parameter}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: ParamType
    required: bool = True
    description: str = ""
    default: Any = None
    max_length: int | None = None  # strings
    pattern: str | None = None  # strings: full-match regex
    minimum: float | None = None  # numbers
    maximum: float | None = None

    def describe(self) -> dict[str, Any]:
        """The public form shown by GET /v1/queries."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        for key in ("description", "default", "max_length", "pattern", "minimum", "maximum"):
            if (value := getattr(self, key)) not in (None, ""):
                out[key] = value
        return out


def check_value(spec: ParamSpec, raw: Any) -> tuple[Any, ParamError | None]:
    """(typed value, None) or (None, error). `raw` is a JSON value."""

    def fail(rule: str, message: str) -> tuple[Any, ParamError]:
        return None, ParamError(spec.name, rule, message)

    if spec.type == "string":
        if not isinstance(raw, str):
            return fail("type", "must be a string")
        limit = min(spec.max_length or MAX_STRING_LENGTH, MAX_STRING_LENGTH)
        if len(raw) > limit:
            return fail("max_length", f"must be at most {limit} characters")
        if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in raw):
            return fail("characters", "must not contain control characters or lone surrogates")
        if spec.pattern and not re.fullmatch(spec.pattern, raw):
            return fail("pattern", f"must match {spec.pattern}")
        return raw, None
    if spec.type == "date":
        if not isinstance(raw, str) or not _DATE.match(raw):
            return fail("type", "must be a date as YYYY-MM-DD")
        try:
            return date.fromisoformat(raw), None
        except ValueError:
            return fail("type", "must be a valid calendar date")
    if spec.type == "timestamp":
        if not isinstance(raw, str) or not _TIMESTAMP.match(raw):
            return fail("type", "must be a UTC timestamp as YYYY-MM-DDTHH:MM:SS[.fff][Z]")
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return fail("type", "must be a valid UTC timestamp")
        return value.replace(tzinfo=UTC), None
    if spec.type == "integer":
        # bool is an int in Python; JSON true is not a number.
        if isinstance(raw, bool) or not isinstance(raw, int):
            return fail("type", "must be an integer")
        low, high = INTEGER_RANGE
        if not low <= raw <= high:
            return fail("range", "must fit a 32-bit integer")
        return _range_checked(spec, raw, fail)
    if spec.type == "double":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return fail("type", "must be a number")
        if not math.isfinite(raw):
            return fail("type", "must be a finite number")
        return _range_checked(spec, float(raw), fail)
    raise AssertionError(f"unknown parameter type {spec.type}")  # catalog load prevents this


def _range_checked(spec: ParamSpec, value: float, fail: Any) -> tuple[Any, ParamError | None]:
    if spec.minimum is not None and value < spec.minimum:
        return fail("minimum", f"must be >= {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        return fail("maximum", f"must be <= {spec.maximum:g}")
    return value, None


def check_params(specs: tuple[ParamSpec, ...], raw: Any) -> dict[str, Any]:
    """Every declared parameter as a typed value (None for absent optionals), or raise."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParameterError([ParamError("*", "type", "parameters must be a JSON object")])
    errors: list[ParamError] = []
    known = {spec.name for spec in specs}
    for name in sorted(raw):
        if name not in known:
            # Never echo an unknown key longer than an identifier could be.
            shown = name if re.fullmatch(r"[a-z_][a-z0-9_]{0,63}", str(name)) else "?"
            errors.append(ParamError(shown, "unknown", "is not a parameter of this query"))
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in raw or raw[spec.name] is None:
            if spec.required:
                errors.append(ParamError(spec.name, "required", "is required"))
            values[spec.name] = None if spec.default is None else check_value(spec, spec.default)[0]
            continue
        value, error = check_value(spec, raw[spec.name])
        if error:
            errors.append(error)
        values[spec.name] = value
    if errors:
        raise ParameterError(errors)
    return values


def to_engine_value(spec: ParamSpec, value: Any) -> Any:
    """The value DuckDB binds. Dates bind as 'YYYY-MM-DD' text because the partition
    column event_date is a Glue string; timestamps as text the SQL casts."""
    if value is None:
        return None
    if spec.type == "date":
        return value.isoformat()
    if spec.type == "timestamp":
        return _timestamp_text(value)
    return value


def to_athena_literal(spec: ParamSpec, value: Any) -> str:
    """The SQL literal Athena substitutes for a `?` (ExecutionParameters are literals).

    Strings are quoted with every quote doubled, which is the only escape in Trino
    string literals (backslashes are plain characters), so no value can end the literal.
    """
    if value is None:
        return "NULL"
    if spec.type == "integer":
        return str(int(value))
    if spec.type == "double":
        text = repr(float(value))
        # 0.5 is a DECIMAL in Trino; 0.5E0 is a DOUBLE, as in DuckDB.
        return text if "e" in text else f"{text}E0"
    text = to_engine_value(spec, value) if spec.type in ("date", "timestamp") else value
    return "'" + str(text).replace("'", "''") + "'"


def _timestamp_text(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
