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


def test_people_and_workloads_never_share_a_route():
    # Workload tokens never reach people-only routes, and the reverse
    for route in ROUTES:
        assert bool(route.roles) != bool(route.scopes), f"{route.method} {route.path}"


def test_check_mode_reports_a_stale_file(tmp_path):
    stale = tmp_path / "permissions.md"
    stale.write_text("old", encoding="utf-8")
    assert permissions_doc.main(["--check", "--out", str(stale)]) == 1
    assert permissions_doc.main(["--out", str(stale)]) == 0
    assert permissions_doc.main(["--check", "--out", str(stale)]) == 0
