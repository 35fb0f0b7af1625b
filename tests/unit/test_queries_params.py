"""Parameters: type checks, clear errors, and injection attempts refused or bound as literals."""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from mlaudit.queries.catalog import UnknownQueryError, load_catalog
from mlaudit.queries.params import ParameterError, ParamSpec, check_value, to_athena_literal
from sqlglot import exp

from bench.synthetic import generate, write_lake
from local.athena import DuckDbEngine, LocalLake

INJECTIONS = [
    "' OR 1=1 --",
    "fraud' OR '1'='1",
    "fraud'; DROP TABLE events; --",
    'fraud" OR "1"="1',
    "fraud\u2019 OR \u20181\u2019=\u20181",  # unicode quotes
    "fraud\uff07 OR 1=1",  # fullwidth apostrophe
    "fraud /* comment */",
    "fraud -- comment",
    "fraud; SELECT * FROM events",
    "fraud\\' OR 1=1 --",  # backslash is not an escape in Trino or DuckDB
    "$.age') OR 1=1 --",
]


def errors_of(name: str, params: dict) -> list[dict]:
    with pytest.raises(ParameterError) as caught:
        load_catalog().get(name).check(params)
    return [e.as_dict() for e in caught.value.errors]


WINDOW = {"from_date": "2026-10-01", "to_date": "2026-10-02"}
BASE = {**WINDOW, "positive_label": "pos"}


@pytest.mark.parametrize(
    ("params", "path", "rule"),
    [
        ({**BASE, "from_date": "2026/10/01"}, "parameters.from_date", "type"),
        ({**BASE, "from_date": "2026-02-30"}, "parameters.from_date", "type"),
        ({**BASE, "from_date": 20261001}, "parameters.from_date", "type"),
        ({**BASE, "to_date": "2026-09-01"}, "parameters.to_date", "range"),
        ({**BASE, "to_date": "2027-10-01"}, "parameters.to_date", "max_days"),
        ({**BASE, "positive_label": "x" * 257}, "parameters.positive_label", "max_length"),
        ({**BASE, "positive_label": 1}, "parameters.positive_label", "type"),
        ({**BASE, "positive_label": ["pos"]}, "parameters.positive_label", "type"),
        ({**BASE, "positive_label": "pos\x00"}, "parameters.positive_label", "characters"),
        ({**BASE, "model_id": "m" * 129}, "parameters.model_id", "max_length"),
        ({**BASE, "surprise": 1}, "parameters.surprise", "unknown"),
        ({"from_date": "2026-10-01", "to_date": "2026-10-02"}, "parameters.positive_label", "required"),
    ],
)
def test_wrong_values_are_refused_naming_the_parameter_and_rule(params: dict, path: str, rule: str) -> None:
    assert {"path": path, "rule": rule} in [
        {k: e[k] for k in ("path", "rule")} for e in errors_of("accuracy", params)
    ]


def test_errors_never_echo_the_value() -> None:
    secret = "' OR 1=1 -- secret-value"
    for error in errors_of("subject_events", {**WINDOW, "subject_pseudonym": secret}) + errors_of(
        "accuracy", {**BASE, secret: 1}
    ):
        assert "secret-value" not in str(error)


@pytest.mark.parametrize(
    ("spec", "value", "rule"),
    [
        (ParamSpec("n", "integer", minimum=2, maximum=50), "10", "type"),
        (ParamSpec("n", "integer", minimum=2, maximum=50), 10.5, "type"),
        (ParamSpec("n", "integer", minimum=2, maximum=50), True, "type"),
        (ParamSpec("n", "integer", minimum=2, maximum=50), 51, "maximum"),
        (ParamSpec("n", "integer"), 2**40, "range"),
        (ParamSpec("x", "double", minimum=0), -1.0, "minimum"),
        (ParamSpec("x", "double"), float("nan"), "type"),
        (ParamSpec("x", "double"), "0.5", "type"),
        (ParamSpec("t", "timestamp"), "2026-10-01 10:00:00' OR 1=1", "type"),
        (ParamSpec("t", "timestamp"), "2026-10-01T10:00:00+02:00", "type"),  # UTC only
        (ParamSpec("s", "string", max_length=10_000), "x" * 1025, "max_length"),  # hard ceiling
    ],
)
def test_type_and_range_rules(spec: ParamSpec, value: object, rule: str) -> None:
    typed, error = check_value(spec, value)
    assert typed is None and error is not None and error.rule == rule and error.parameter == spec.name


def test_valid_values_become_typed() -> None:
    spec = load_catalog().get("drift_psi")
    values = spec.check(
        {
            "baseline_from_date": "2026-10-01",
            "baseline_to_date": "2026-10-02",
            "current_from_date": "2026-10-03",
            "current_to_date": "2026-10-04",
            "model_id": "m",
            "feature": "$.age",
        }
    )
    assert values["baseline_from_date"] == date(2026, 10, 1)
    assert values["bins"] == 10  # the declared default
    assert values["model_version"] is None


@pytest.mark.parametrize(
    "feature", ["age", "$.age'", "$['age']", "$.a b", "$..age", "$.age) OR (1=1", "$." + "a" * 65]
)
def test_feature_path_must_be_a_simple_json_path(feature: str) -> None:
    errors = errors_of(
        "drift_psi",
        {
            "baseline_from_date": "2026-10-01",
            "baseline_to_date": "2026-10-02",
            "current_from_date": "2026-10-03",
            "current_to_date": "2026-10-04",
            "model_id": "m",
            "feature": feature,
        },
    )
    assert [(e["path"], e["rule"]) for e in errors] == [("parameters.feature", "pattern")]


@pytest.mark.parametrize("value", INJECTIONS)
def test_pseudonym_injections_are_refused(value: str) -> None:
    errors = errors_of("subject_events", {**WINDOW, "subject_pseudonym": value})
    assert [(e["path"], e["rule"]) for e in errors] == [("parameters.subject_pseudonym", "pattern")]


@pytest.mark.parametrize(
    "name",
    ["", "../sql/accuracy", "accuracy; DROP TABLE events", "ACCURACY", "accuracy ", "x" * 500, None, 5],
)
def test_unknown_query_names_are_refused(name: object) -> None:
    with pytest.raises(UnknownQueryError):
        load_catalog().get(name)  # type: ignore[arg-type]


# --- Athena: values are SQL literals in ExecutionParameters -----------------------------
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, exclude_categories=("Cs",)), max_size=60))
def test_athena_string_literal_always_parses_back_to_the_value(value: str) -> None:
    # sqlglot's Athena tokenizer follows Trino: '' is the only escape, backslash is literal.
    literal = to_athena_literal(ParamSpec("s", "string", max_length=100), value)
    parsed = sqlglot.parse_one(f"SELECT {literal}", read="athena").expressions
    assert len(parsed) == 1 and isinstance(parsed[0], exp.Literal) and parsed[0].is_string
    assert parsed[0].this == value


@pytest.mark.parametrize(
    ("spec", "value", "literal"),
    [
        (ParamSpec("n", "integer"), 10, "10"),
        (ParamSpec("x", "double"), 0.5, "0.5E0"),
        (ParamSpec("x", "double"), 1e-05, "1e-05"),
        (ParamSpec("d", "date"), date(2026, 10, 1), "'2026-10-01'"),
        (ParamSpec("s", "string", max_length=9), None, "NULL"),
        (ParamSpec("s", "string", max_length=20), "' OR 1=1 --", "''' OR 1=1 --'"),
    ],
)
def test_athena_literals(spec: ParamSpec, value: object, literal: str) -> None:
    assert to_athena_literal(spec, value) == literal


# --- DuckDB: the same strings bound as prepared parameters match nothing ----------------
@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DuckDbEngine:
    root = tmp_path_factory.mktemp("lake")
    write_lake(generate(600, days=3, seed=3), root)
    return DuckDbEngine(LocalLake(root), threads=1)


@pytest.mark.parametrize("value", INJECTIONS)
def test_injections_bind_as_literals_on_duckdb(engine: DuckDbEngine, value: str) -> None:
    window = {"from_date": "2026-10-01", "to_date": "2026-10-03"}
    status, honest = engine.run("model_timeline", {**window, "model_id": "fraud"})
    assert status.state == "SUCCEEDED" and honest  # the model has a timeline
    for name, params in [
        ("model_timeline", {**window, "model_id": value}),
        ("access_report", {**window, "resource": value}),
        ("accuracy", {**window, "positive_label": "pos", "model_id": value}),
    ]:
        status, rows = engine.run(name, params)
        # A literal no row holds: nothing comes back, and nothing failed or changed.
        assert status.state == "SUCCEEDED" and rows == [], name
    status, again = engine.run("model_timeline", {**window, "model_id": "fraud"})
    assert again == honest
