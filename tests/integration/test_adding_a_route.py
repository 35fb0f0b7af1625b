"""Adding a read-only route takes what docs/functions.md says and nothing else.

In a copy of the repository, a new route, `GET /v1/import-reports` (the landing bucket's
import reports, for admins and auditors), is added by writing only its routes row, its
handler, its function's declaration (environment, grants with their reasons, and where its
builder is) and its service. Then, in that copy:

- the app synthesizes under the AwsSolutions, HIPAA Security and NIST 800-53 R5 packs (the
  new role's grant on `reports/*` is acknowledged from the grant's own reason);
- `make docs` regenerates the OpenAPI document, the permission matrix and the compliance
  table with it, and their staleness tests pass;
- the permission-matrix test walks it (the local emulator serves it, 2xx to admins and
  auditors, 403 or 401 to everyone else);
- the IAM-enforced test drives it with the rest: its function is denied nothing and needs
  every action it declares.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COPY_IGNORES = (".venv", ".git", "cdk.out", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache",
                ".local", "*.pyc")
SUBPROCESS_TIMEOUT_SECONDS = 900  # a synth or a test run on a busy machine; normally far less

ROUTE = '''    Route(
        "GET", "/v1/import-reports", "import_reports", "list_reports", roles=frozenset({"admin", "auditor"}),
        summary="The import reports in the landing bucket (the first 100 by name).",
        response={"type": "object", "required": ["reports"], "properties": {"reports": {
            "type": "array", "items": {"type": "object"}}}},
        answer="Each report's file and state.",
    ),
'''

ENVIRONMENT = '''@dataclass(frozen=True)
class ImportReportsEnv(FunctionEnv):
    landing_bucket: str = var(Env.LANDING_BUCKET, Attr(Resource.LANDING_BUCKET, "name"))


'''

SPEC = '''    FunctionSpec(
        "import_reports", "GET /v1/import-reports: the landing bucket's import reports (read-only).",
        ImportReportsEnv,
        grants=(
            Grant(Resource.LANDING_BUCKET, ("s3:ListBucket",), why="list the reports"),
            Grant(Resource.LANDING_BUCKET, ("s3:GetObject",), objects="reports/*",
                  why="read each import's report (the import names it after the dropped file)"),
            Grant(Resource.DATA_KEY, ("kms:Decrypt",), why="the reports are SSE-KMS objects"),
        ),
        builder="mlaudit.import_reports:build",
    ),
'''

HANDLER = '''"""GET /v1/import-reports: the landing bucket's import reports (logic in mlaudit.import_reports)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.http import api_handler
from mlaudit.principal import principal_from_event

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.import_reports import ImportReports

logger = Logger(service="mlaudit-import-reports")

APP: FunctionApp[ImportReports] = bootstrap.app("import_reports")


def list_reports(event: dict[str, Any], reports: ImportReports) -> dict[str, Any]:
    principal_from_event(event)
    return reports.first()


handler = api_handler(APP, {"list_reports": list_reports}, logger, "The reports could not be read; retry later.")
'''

SERVICE = '''"""The import reports in the landing bucket: each file's name and state."""

from __future__ import annotations

import json
from typing import Any

from mlaudit.bootstrap import Clients
from mlaudit.functions import ImportReportsEnv


class ImportReports:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def first(self, limit: int = 100) -> dict[str, Any]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="reports/", MaxKeys=limit)
        reports = []
        for item in listed.get("Contents", []):
            if item["Key"].endswith(".json"):
                report = json.loads(self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read())
                reports.append({"name": report.get("name"), "state": report.get("state")})
        return {"reports": reports}


def build(env: ImportReportsEnv, clients: Clients) -> ImportReports:
    return ImportReports(clients("s3"), env.landing_bucket)
'''


def _insert(path: Path, before: str, text: str) -> None:
    """`text` just before the one place `before` stands in the file."""
    source = path.read_text()
    assert source.count(before) == 1, f"{path.name}: where to add it moved ({before!r})"
    path.write_text(source.replace(before, text + before))


def _run(copy: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}  # not a worker
    env.update({"PYTHONPATH": os.pathsep.join(str(copy / p) for p in ("lambdas", "client", ".")),
                "CDK_OUTDIR": str(copy / "cdk.out"), "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1"})
    return subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True,  # noqa: S603 - fixed argv
                          timeout=SUBPROCESS_TIMEOUT_SECONDS, check=False)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this repository with the new route written in, the four places only."""
    root = tmp_path_factory.mktemp("new-route") / "repo"
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(*COPY_IGNORES))
    (root / ".venv").symlink_to(sys.prefix)  # make's targets run .venv/bin (never rebuilt: make -o venv)
    mlaudit = root / "lambdas" / "mlaudit"
    _insert(mlaudit / "routes.py", "\n)\n\n\ndef match(", "\n" + ROUTE.rstrip("\n"))
    _insert(mlaudit / "functions.py", "@dataclass(frozen=True)\nclass Grant:", ENVIRONMENT)
    _insert(mlaudit / "functions.py", "\n)\n\nBY_NAME", "\n" + SPEC.rstrip("\n"))
    (mlaudit / "handlers" / "import_reports.py").write_text(HANDLER)
    (mlaudit / "import_reports.py").write_text(SERVICE)
    return root


def test_the_app_synthesizes_under_the_three_rule_packs(copy: Path) -> None:
    synth = _run(copy, sys.executable, "app.py")
    assert synth.returncode == 0, synth.stdout[-3000:] + synth.stderr[-3000:]
    assert json.loads((copy / "cdk.out" / "validation-report.json").read_text())["pluginReports"] == []
    template = json.loads((copy / "cdk.out" / "mlaudit-stack.template.json").read_text())
    resources = template["Resources"].values()
    handlers = {r["Properties"]["Handler"] for r in resources if r["Type"] == "AWS::Lambda::Function"}
    assert "mlaudit.handlers.import_reports.handler" in handlers
    parts = {r["Properties"]["PathPart"] for r in resources if r["Type"] == "AWS::ApiGateway::Resource"}
    assert "import-reports" in parts


def test_make_docs_regenerates_the_documents_with_it(copy: Path) -> None:
    docs = _run(copy, "make", "-o", "venv", "docs")
    assert docs.returncode == 0, docs.stdout[-3000:] + docs.stderr[-3000:]
    openapi = json.loads((copy / "docs" / "openapi.json").read_text())
    operation = openapi["paths"]["/v1/import-reports"]["get"]
    assert operation["operationId"] == "list_reports" and "`admin`" in operation["description"]
    assert "| GET | `/v1/import-reports` | `import_reports` |" in (copy / "docs" / "permissions.md").read_text()
    compliance = (copy / "docs" / "compliance.md").read_text()
    assert ("`AwsSolutions-IAM5[Resource::<Imports/LandingBucket.Arn>/reports/*]` | "
            "`Route-import_reports/Role/DefaultPolicy/Resource` | The import_reports function: read each "
            "import's report") in compliance
    current = _run(copy, sys.executable, "-m", "pytest", "-q", "tests/unit/test_openapi.py",
                   "tests/unit/test_permissions_doc.py", "tests/infra/test_compliance.py::test_docs_are_current")
    assert current.returncode == 0, current.stdout[-3000:]


def test_the_permission_matrix_test_walks_it_on_the_emulator(copy: Path) -> None:
    run = _run(copy, sys.executable, "-m", "pytest", "-q", "-p", "no:xdist",
               "tests/integration/test_rbac.py", "-k", "import-reports or every_route_has_a_valid_request")
    assert run.returncode == 0, run.stdout[-5000:]
    assert "2 passed" in run.stdout, run.stdout[-2000:]


def test_the_iam_enforced_test_drives_it(copy: Path) -> None:
    # One stack drives every route and function with IAM enforced (the new route by an admin,
    # after a file was imported, so its report exists): nothing denied, every declared action
    # of every function needed, the new function's included. The withheld-action runs are
    # left out: they withhold actions of the functions named there, not of a new one.
    run = _run(copy, sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "tests/integration/test_iam_enforced.py",
               "-k", "driven or passes_with_iam_enforced or every_declared_action_is_needed")
    assert run.returncode == 0, run.stdout[-5000:]
    assert "3 passed" in run.stdout, run.stdout[-2000:]
