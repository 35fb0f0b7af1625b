"""Rule packs, acknowledgments, generated docs and cfn-lint."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import Validations

from stacks import docs
from stacks.compliance import ACKNOWLEDGMENTS, PACKS, resolve_rule
from tests.infra.synth import Synth


def test_rule_packs_report_no_unacknowledged_finding(synth: Synth) -> None:
    # synth would have raised on any finding; the report it leaves behind lists none.
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_each_acknowledgment_is_recorded_where_its_path_points(synth: Synth) -> None:
    recorded: dict[str, set[str]] = {}
    prefix = synth.stack.node.path + "/"
    for node in synth.stack.node.find_all():
        for entry in node.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule in entry.data:  # ids without a pack prefix are stored as "Annotation::<id>"
                    path = node.node.path.removeprefix(prefix)
                    recorded.setdefault(rule.removeprefix("Annotation::"), set()).add(path)
    for ack in ACKNOWLEDGMENTS:
        if (ack.unless and getattr(synth.settings, ack.unless)) or ack.path.startswith("Route-"):
            continue
        if ack.when and not getattr(synth.settings, ack.when):  # its construct exists only with the setting
            continue
        paths = recorded.get(resolve_rule(synth.stack, ack.rule), set())
        assert any(fnmatch.fnmatchcase(p, ack.path) for p in paths), (ack.rule, ack.path)


def test_every_acknowledgment_has_a_specific_reason() -> None:
    for ack in ACKNOWLEDGMENTS:
        assert ack.rule.startswith(tuple(f"{pack}-" for pack in PACKS)), ack.rule
        assert len(ack.reason) >= 60, ack.rule
    rows = [(a.rule, a.path) for a in ACKNOWLEDGMENTS]
    assert len(rows) == len(set(rows)), "duplicate acknowledgment"


def test_docs_are_current() -> None:
    for path, text in docs.rendered().items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m stacks.docs"


def test_every_setting_is_documented() -> None:
    from mlaudit.settings import setting_docs

    for name, _default, description in setting_docs():
        assert description or docs.MEANINGS.get(name), name


def test_cfn_lint_reports_nothing(synth: Synth) -> None:
    templates = sorted(str(p) for p in Path(synth.outdir).glob("*.template.json"))
    assert templates
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), *templates], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docs_check_fails_when_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs, "DOCS", tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{docs.README_START}\nold table\n{docs.README_END}\n")
    monkeypatch.setattr(docs, "README", readme)
    assert docs.main(["--check"]) == 1
    assert docs.main([]) == 0
    assert docs.main(["--check"]) == 0
