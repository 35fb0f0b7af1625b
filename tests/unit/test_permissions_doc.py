"""docs/permissions.md is the routes table, rendered; it must never drift from it."""

from __future__ import annotations

from mlaudit import permissions_doc
from mlaudit.routes import ROLES, ROUTES, SCOPES


def test_permissions_doc_is_current():
    assert permissions_doc.DOC.read_text(encoding="utf-8") == permissions_doc.render(), (
        "docs/permissions.md is stale: run `PYTHONPATH=lambdas python -m mlaudit.permissions_doc` and commit it"
    )


def test_every_route_has_one_matrix_row_with_its_grants():
    text = permissions_doc.render()
    for route in ROUTES:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {route.method} | `{route.path}` |")]
        cells = [c.strip() for c in row.strip("|").split("|")][3:]
        expected = [r in route.roles for r in ROLES] + [s in route.scopes for s in SCOPES]
        assert [c == permissions_doc.ALLOWED for c in cells] == expected


def test_subject_routes_are_for_privacy_officers_only():
    # Personal data in clear: no workload scope, no other role
    subject_routes = [r for r in ROUTES if r.path.startswith("/v1/subjects/")]
    assert {r.method for r in subject_routes} == {"GET", "DELETE"}
    for route in subject_routes:
        assert (route.scopes, route.roles) == (frozenset(), frozenset({"privacy_officer"}))


def test_only_workloads_send_events():
    (ingest,) = [r for r in ROUTES if (r.method, r.path) == ("POST", "/v1/events")]
    assert ingest.roles == frozenset() and ingest.scopes


def test_check_mode_reports_a_stale_file(tmp_path):
    stale = tmp_path / "permissions.md"
    stale.write_text("old", encoding="utf-8")
    assert permissions_doc.main(["--check", "--out", str(stale)]) == 1
    assert permissions_doc.main(["--out", str(stale)]) == 0
    assert permissions_doc.main(["--check", "--out", str(stale)]) == 0
