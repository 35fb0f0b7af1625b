"""The catalog's files, their headers, placeholders, and the Athena/DuckDB portability check."""

from __future__ import annotations

import duckdb
import pytest
from mlaudit.queries import catalog
from mlaudit.queries.catalog import CatalogError, compile_placeholders, load_catalog, parse_query, view_ddl
from mlaudit.queries.portability import PortabilityError, check_spec, load_checked_catalog, problems_in

from local.athena.transpile import to_duckdb

EXPECTED = {
    "model_timeline",
    "prediction_volume_latency",
    "dq_violation_rate",
    "drift_psi",
    "accuracy",
    "lineage",
    "lineage_graph",
    "lineage_upstream",
    "lineage_downstream",
    "model_inputs",
    "access_report",
    "subject_events",
    "events_deduplicated",
    "monitor_drift_psi",
    "monitor_dq_rate",
    "monitor_state",
    "monitor_volume_latency",
    "monitor_accuracy",
}


def test_catalog_loads_with_the_portability_check() -> None:
    load_catalog.cache_clear()
    catalog = load_checked_catalog()
    assert set(catalog.queries) == EXPECTED
    assert set(catalog.views) == {"prediction_hourly", "score_histogram_daily", "dq_daily"}


def test_every_query_is_bounded_by_a_date_range_and_has_roles() -> None:
    for spec in load_catalog().queries.values():
        assert spec.ranges and spec.roles and spec.description and spec.columns
        assert "?" in spec.athena_sql and ":" not in spec.athena_sql.replace("'$.none'", "")


def test_roles_follow_the_permission_matrix() -> None:
    catalog = load_catalog()
    assert catalog.get("subject_events").roles == {"privacy_officer"}
    assert catalog.get("model_timeline").roles == {"auditor"}
    assert catalog.get("access_report").roles == {"auditor"}
    assert catalog.get("events_deduplicated").roles == {"auditor"}
    for name in ("prediction_volume_latency", "dq_violation_rate", "drift_psi", "accuracy", "lineage"):
        assert catalog.get(name).roles == {"analyst", "auditor"}


def test_describe_is_json_ready() -> None:
    import json

    described = load_catalog().describe()
    assert [q["name"] for q in described] == sorted(EXPECTED)
    json.dumps(described)
    accuracy = next(q for q in described if q["name"] == "accuracy")
    assert {"name": "positive_label", "type": "string", "required": True, "max_length": 256} | {
        "description": accuracy["parameters"][2]["description"]
    } == accuracy["parameters"][2]


def test_placeholders_outside_strings_and_comments_only() -> None:
    sql, order = compile_placeholders(
        "SELECT ':not_me', \"col:x\" -- :nor_me\nFROM t /* :nope */ WHERE a = :one AND b = :two AND c = :one"
    )
    assert order == ("one", "two", "one")
    assert sql.count("?") == 3 and "':not_me'" in sql and "-- :nor_me" in sql and "/* :nope */" in sql


def test_raw_question_marks_are_refused() -> None:
    with pytest.raises(CatalogError, match="placeholders"):
        compile_placeholders("SELECT * FROM events WHERE a = ?")


HEADER = """-- description: d
-- roles: analyst
-- param: from_date date required
-- param: to_date date required
-- range: from_date to_date
-- column: n integer
"""
GOOD_BODY = "SELECT count(*) AS n FROM events WHERE event_date BETWEEN :from_date AND :to_date ORDER BY n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEADER.replace("-- range: from_date to_date\n", "") + GOOD_BODY, "date range"),
        (
            HEADER
            + GOOD_BODY.replace(
                "BETWEEN :from_date AND :to_date", ">= :from_date AND event_date <= :to_date"
            ),
            "must filter event_date BETWEEN",
        ),
        (HEADER + GOOD_BODY + " LIMIT :n", "undeclared"),
        (HEADER + "-- param: x integer optional\n" + GOOD_BODY, "unused"),
        (HEADER + "-- param: s string optional\n" + GOOD_BODY, "max_length or pattern"),
        (HEADER.replace("-- roles: analyst\n", "") + GOOD_BODY, "roles"),
        (HEADER.replace("-- column: n integer\n", "") + GOOD_BODY, "result columns"),
        (HEADER + GOOD_BODY + "; DELETE FROM events", "one statement"),
        (
            HEADER.replace("from_date date required", "from_date string optional max_length=10") + GOOD_BODY,
            "must be a declared date",
        ),
    ],
)
def test_malformed_query_files_fail_at_load(text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_query("q", text)


def test_an_included_fragment_is_part_of_the_query(tmp_path, monkeypatch) -> None:
    # Given a fragment that filters by a parameter, and a query that includes it
    (tmp_path / "recent.sql").write_text("-- The days asked for.\nr AS (\n  SELECT * FROM events\n"
                                         "  WHERE event_date BETWEEN :from_date AND :to_date\n),\n")
    monkeypatch.setattr(catalog, "FRAGMENTS_DIR", tmp_path)
    text = HEADER + "WITH\n-- include: recent\nq AS (SELECT count(*) AS n FROM r)\nSELECT n FROM q ORDER BY n"
    # When the file is loaded
    spec = parse_query("q", text)
    # Then the fragment's SQL stands in the query, its placeholders bound in order, and
    # the range check is met by the fragment's filter
    assert "-- include" not in spec.sql and "The days asked for" not in spec.sql
    assert "WITH\nr AS (" in spec.sql and spec.bind_order == ("from_date", "to_date")


@pytest.mark.parametrize(
    ("fragment", "message"),
    [("missing", "no SQL fragment 'missing'"), ("../sql/accuracy", "no SQL fragment"), ("nested", "do not nest")],
)
def test_a_bad_include_fails_at_load(tmp_path, monkeypatch, fragment: str, message: str) -> None:
    (tmp_path / "nested.sql").write_text("-- include: other\n")
    monkeypatch.setattr(catalog, "FRAGMENTS_DIR", tmp_path)
    with pytest.raises(CatalogError, match=message):
        parse_query("q", HEADER + f"WITH\n-- include: {fragment}\n" + GOOD_BODY)


def test_every_fragment_is_included_by_a_catalog_file() -> None:
    texts = [p.read_text() for d in (catalog.SQL_DIR, catalog.VIEWS_DIR) for p in d.glob("*.sql")]
    for fragment in catalog.FRAGMENTS_DIR.glob("*.sql"):
        assert any(f"-- include: {fragment.stem}\n" in text for text in texts), fragment.name


def test_views_take_no_parameters() -> None:
    with pytest.raises(CatalogError, match="views take no parameters"):
        parse_query("v", HEADER + GOOD_BODY, kind="view")


# --- portability: constructs whose answers differ between Athena and DuckDB -------------
@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT count(*) / 2 AS x FROM events ORDER BY x", "division"),
        ("SELECT date_diff('day', occurred_at, received_at) AS x FROM events ORDER BY x", "date_diff"),
        ("SELECT json_extract_scalar(features, '$.a') AS x FROM events ORDER BY x", "json_extract_scalar"),
        (
            "SELECT CAST(json_extract_scalar(features, '$.a') AS DOUBLE) AS x FROM events ORDER BY x",
            "json_extract_scalar",
        ),
        ("SELECT json_extract(features, '$.a') AS x FROM events ORDER BY x", "json_extract"),
        ("SELECT format_datetime(occurred_at, 'yyyy') AS x FROM events ORDER BY x", "format_datetime"),
        ("SELECT parse_datetime(event_id, 'yyyy') AS x FROM events ORDER BY x", "parse_datetime"),
        ("SELECT date_parse(event_id, '%Y') AS x FROM events ORDER BY x", "date_parse"),
        ("SELECT date_format(occurred_at, '%Y') AS x FROM events ORDER BY x", "date_format"),
        ("SELECT to_iso8601(occurred_at) AS x FROM events ORDER BY x", "to_iso8601"),
        ("SELECT every(latency_ms > 1) AS x FROM events ORDER BY x", "every"),
        ("SELECT approx_distinct(actor_id) AS x FROM events ORDER BY x", "approx_distinct"),
        ("SELECT CAST(latency_ms AS VARCHAR) AS x FROM events ORDER BY x", "text"),
        (
            "SELECT count(*) AS x FROM events WHERE event_date = CAST(current_date AS VARCHAR) ORDER BY x",
            "current date",
        ),
        ("SELECT rand() AS x FROM events ORDER BY x", "random"),
        ("SELECT my_udf(x) AS x FROM events ORDER BY x", "unknown to sqlglot"),
        ("SELECT count(*) AS x FROM other_table ORDER BY x", "only the events table"),
        ("SELECT count(*) AS x FROM events", "ORDER BY"),
        ("SELECT count(*) AS y FROM events ORDER BY y", "declares"),
        ("SELECT FROM WHERE", "does not parse"),
    ],
)
def test_non_portable_constructs_are_refused(sql: str, problem: str) -> None:
    problems = problems_in(sql, columns=("x",))
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT CAST(count(*) AS DOUBLE) / 2 AS x FROM events ORDER BY x",
        "SELECT count(*) / CAST(2 AS DOUBLE) AS x FROM events ORDER BY x",
        "SELECT TRY_CAST(json_extract_scalar(features, ?) AS DOUBLE) AS x FROM events ORDER BY x",
        "WITH c AS (SELECT 1 AS x FROM events) SELECT x FROM c ORDER BY x",
        "SELECT approx_percentile(latency_ms, 0.5) AS x FROM events ORDER BY x",
    ],
)
def test_portable_forms_pass(sql: str) -> None:
    assert problems_in(sql, columns=("x",)) == []


def test_a_non_portable_catalog_entry_fails_the_load() -> None:
    spec = parse_query("q", HEADER + GOOD_BODY.replace("count(*) AS n", "count(*) / 2 AS n"))
    with pytest.raises(PortabilityError, match="division"):
        check_spec(spec)


def test_the_refused_differences_are_real_on_duckdb() -> None:
    # Why the rules exist: DuckDB answers these differently from Trino (2, NULL).
    con = duckdb.connect()
    assert con.execute(to_duckdb("SELECT 5 / 2")).fetchone()[0] == 2.5
    assert (
        con.execute(to_duckdb("""SELECT json_extract_scalar('{"a": {"b": 1}}', '$.a')""")).fetchone()[0]
        == '{"b":1}'
    )
    # ... and the allowed form agrees with Trino (NULL for an object).
    sql = """SELECT TRY_CAST(json_extract_scalar('{"a": {"b": 1}}', '$.a') AS DOUBLE)"""
    assert con.execute(to_duckdb(sql)).fetchone()[0] is None


def test_approx_percentile_is_rewritten_to_exact_nearest_rank() -> None:
    sql = to_duckdb("SELECT approx_percentile(x, 0.95) FROM t")
    assert "QUANTILE_DISC(x, 0.95)" in sql
    con = duckdb.connect()
    assert (
        con.execute(
            to_duckdb("SELECT approx_percentile(x, 0.95) FROM (SELECT range AS x FROM range(1, 21))")
        ).fetchone()[0]
        == 19
    )


def test_named_placeholders_survive_rewrites_that_repeat_expressions() -> None:
    # sqlglot expands greatest() into a CASE that repeats its arguments; named
    # parameters keep every copy bound to the same value.
    sql = to_duckdb("SELECT greatest(:a, 1) + :b AS x")
    assert duckdb.connect().execute(sql, {"a": 5, "b": 10}).fetchone()[0] == 15


def test_view_ddl() -> None:
    ddl = view_ddl(load_catalog().views["dq_daily"], "mlaudit_audit")
    assert ddl.startswith('CREATE OR REPLACE VIEW "mlaudit_audit"."dq_daily" AS\n')
    with pytest.raises(CatalogError):
        view_ddl(load_catalog().views["dq_daily"], 'x"; DROP')
