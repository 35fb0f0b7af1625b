"""Versions tested = versions deployed: what the synthesized layers carry is exactly what
requirements.txt pins and this test run imports, every function fits Lambda's
unzipped size limit with margin, and the functions' code is lambdas/ without the offline
verifier."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest
from mlaudit.functions import FUNCTIONS
from packaging.markers import default_environment
from packaging.requirements import Requirement

from stacks.functions import (
    PYARROW_TRIM,
    REPO_ROOT,
    RUNTIME,
    UNZIPPED_BUDGET_MIB,
    UNZIPPED_LIMIT_MIB,
    normalize,
    runtime_requirements,
    trim,
)
from tests.infra.synth import Synth

MIB = 1024 * 1024
DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
# Lambda's python3.14 on arm64, for evaluating the wheels' dependency markers.
LAMBDA_ENV = {
    **default_environment(),
    "python_version": "3.14", "python_full_version": "3.14.0", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
    "platform_machine": "aarch64", "os_name": "posix", "extra": "",
}


def asset_dir(synth: Synth, logical_id: str) -> Path:
    """The staged asset (cdk.out/asset.<hash>) a function's code or a layer's content uploads."""
    props = synth.resources[logical_id]["Properties"]
    key = (props.get("Content") or props["Code"])["S3Key"]
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def dists(layer: Path) -> dict[str, tuple[str, list[str]]]:
    """Normalized name -> (version, Requires-Dist) of every distribution in a layer."""
    found = {}
    for meta in (layer / "python").glob("*.dist-info/METADATA"):
        message = Parser().parsestr(meta.read_text(encoding="utf-8"))
        found[normalize(message["Name"])] = (message["Version"], message.get_all("Requires-Dist") or [])
    return found


def layers(synth: Synth) -> dict[str, Path]:
    return {logical_id: asset_dir(synth, logical_id) for logical_id in synth.of_type("AWS::Lambda::LayerVersion")}


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def test_the_layers_carry_exactly_the_pins(default: Synth) -> None:
    pins = {name: pin.partition("==")[2] for name, pin in runtime_requirements().items()}
    by_layer = {logical_id: dists(path) for logical_id, path in layers(default).items()}
    carried = [name for found in by_layer.values() for name in found]
    assert sorted(carried) == sorted(pins), "each pinned package in exactly one layer, nothing else"
    for found in by_layer.values():
        for name, (version, _) in found.items():
            assert version == pins[name], f"{name} {version} deployed, {pins[name]} pinned"
    (arrow,) = [found for found in by_layer.values() if "pyarrow" in found]
    assert list(arrow) == ["pyarrow"]


def test_the_tests_run_the_pinned_versions() -> None:
    for name, pin in runtime_requirements().items():
        assert importlib.metadata.version(name) == pin.partition("==")[2], f"this venv does not run {pin}"


def test_every_dependency_of_a_deployed_package_is_deployed(default: Synth) -> None:
    """pip installs the layers with --no-deps: requirements.txt must close over the dependencies."""
    carried = {name: found for path in layers(default).values() for name, found in dists(path).items()}
    for name, (_, requires) in carried.items():
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(LAMBDA_ENV):
                dependency = normalize(requirement.name)
                assert dependency in carried, f"{name} needs {requirement}; pin it in requirements.txt"
                assert requirement.specifier.contains(carried[dependency][0], prereleases=True), line


def test_the_wheels_are_for_lambda_arm64_python(default: Synth) -> None:
    tag = RUNTIME.name.removeprefix("python").replace(".", "")
    extensions = [p.name for path in layers(default).values() for p in (path / "python").rglob("*.so")]
    assert any(f"cpython-{tag}-aarch64-linux-gnu" in name for name in extensions)
    assert not [name for name in extensions if "x86_64" in name or re.search(r"cpython-(?!" + tag + r")\d+", name)]


def function_sizes(synth: Synth) -> dict[str, int]:
    """Function name -> unzipped bytes of its code and layers."""
    sizes = {}
    layer_bytes = {logical_id: size(path) for logical_id, path in layers(synth).items()}
    for spec in FUNCTIONS:
        ids = [i for i, r in synth.of_type("AWS::Lambda::Function").items()
               if r["Properties"]["Handler"] == spec.handler]
        (logical_id,) = ids
        props = synth.resources[logical_id]["Properties"]
        code = size(asset_dir(synth, logical_id))
        sizes[spec.name] = code + sum(layer_bytes[layer["Ref"]] for layer in props["Layers"])
    return sizes


def test_every_function_fits_its_unzipped_budget(default: Synth) -> None:
    assert UNZIPPED_BUDGET_MIB <= UNZIPPED_LIMIT_MIB - 50
    for name, total in function_sizes(default).items():
        assert total <= UNZIPPED_BUDGET_MIB * MIB, f"{name}: {total / MIB:.0f} MiB unzipped"


def test_docs_record_each_functions_unzipped_size(default: Synth) -> None:
    """One row per set of layers; a function's size is its row's (its code is the same asset)."""
    page = DEPLOY_DOC.read_text()
    for spec in FUNCTIONS:
        total = function_sizes(default)[spec.name]
        row = r"`core` \+ `pyarrow`" if spec.pyarrow else r"`core`"
        match = re.search(rf"^\| {row} \| (\d+) MiB \|", page, re.MULTILINE)
        assert match, f"docs/deploy.md has no size row for {row}"
        assert abs(int(match.group(1)) - total / MIB) <= 3, f"{spec.name}: {total / MIB:.0f} MiB, doc says {match[1]}"


def test_the_pyarrow_layer_is_trimmed(default: Synth) -> None:
    (arrow,) = [path for path in layers(default).values() if (path / "python" / "pyarrow").exists()]
    assert not list((arrow / "python" / "pyarrow").glob("libarrow_flight.so*"))
    assert (arrow / "python" / "pyarrow" / "libparquet.so.2600").exists()


@pytest.fixture(scope="module")
def trimmed_pyarrow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This venv's pyarrow (same version, this machine's platform), trimmed like the layer."""
    import pyarrow

    root = tmp_path_factory.mktemp("trimmed")
    shutil.copytree(Path(pyarrow.__file__).parent, root / "pyarrow")
    before = size(root)
    trim(root, PYARROW_TRIM)
    assert size(root) < before - 20 * MIB  # the patterns match this wheel too
    return root


def test_what_the_functions_use_of_pyarrow_survives_the_trim(trimmed_pyarrow: Path) -> None:
    program = """
import pyarrow, pyarrow.compute, pyarrow.json, pyarrow.parquet as pq, pyarrow.fs, io
assert pyarrow.__file__.startswith(ROOT), pyarrow.__file__
import mlaudit.writer, mlaudit.parquet, mlaudit.leaf_columns, mlaudit.pack, mlaudit.integrity.services.sink
import mlaudit.adapters.subject_lake, mlaudit.imports.readers
table = pyarrow.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
sink = io.BytesIO()
pq.write_table(table, sink, compression="zstd")
assert pq.read_table(io.BytesIO(sink.getvalue())).equals(table)
assert pyarrow.compute.sum(table["a"]).as_py() == 6
print("ok")
""".replace("ROOT", repr(str(trimmed_pyarrow)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(trimmed_pyarrow), "lambdas", "client", "."])}
    result = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def function_assets(synth: Synth) -> set[Path]:
    """The staged code of every mlaudit function (they share one asset today)."""
    return {asset_dir(synth, logical_id) for logical_id, resource in synth.of_type("AWS::Lambda::Function").items()
            if resource["Properties"]["Handler"].startswith("mlaudit.handlers.")}


def test_the_function_asset_is_lambdas_without_the_offline_verifier(default: Synth) -> None:
    """The verifier (mlaudit.integrity.verifier) is for auditors, installed with the CLI; no
    function imports it (tests/unit/test_import_cycles.py walks every import, deferred ones
    included), and no function ships it. Everything else in lambdas/ is there, and every
    module of the asset imports from the asset alone."""
    lambdas = REPO_ROOT / "lambdas"
    verifier = Path("mlaudit", "integrity", "verifier")
    source = {p.relative_to(lambdas) for p in lambdas.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert any(p.is_relative_to(verifier) for p in source)
    expected = {p for p in source if not p.is_relative_to(verifier)}
    assets = function_assets(default)
    assert assets
    for asset in assets:
        shipped = {p.relative_to(asset) for p in asset.rglob("*") if p.is_file()}
        assert not [p for p in shipped if p.is_relative_to(verifier)], asset
        assert shipped == expected, sorted(shipped ^ expected)
        modules = sorted(".".join(p.with_suffix("").parts).removesuffix(".__init__")
                         for p in shipped if p.suffix == ".py")
        program = (f"import sys, importlib; sys.path.insert(0, {str(asset)!r}); import mlaudit; "
                   f"assert mlaudit.__file__.startswith({str(asset)!r}), mlaudit.__file__; "
                   f"[importlib.import_module(m) for m in {modules!r}]; print('ok')")
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                              env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, cwd=asset)
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
