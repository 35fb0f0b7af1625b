"""The functions' code asset: what `cdk synth` stages for the mlaudit functions (one asset,
shared by all), its files and bytes unzipped and zipped. `python -m bench.assets`.

Synthesizes the app with cdk.json's defaults into a temporary directory (no Docker, no
credentials; the layers come from the per-machine cache) and zips the asset as Lambda
receives it (deflate, every file). The layers are not counted: docs/deploy.md gives them.
"""

from __future__ import annotations

import io
import sys
import tempfile
import zipfile
from pathlib import Path

from app import build_app


def zipped_size(root: Path, files: list[Path]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.write(path, path.relative_to(root))
    return len(buffer.getvalue())


def function_assets(outdir: Path) -> dict[str, Path]:
    """Asset directory -> path, for every mlaudit function's code."""
    app, stack = build_app(None, outdir=str(outdir))
    template = app.synth().get_stack_by_name(stack.stack_name).template
    found = {}
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function" and props.get("Handler", "").startswith("mlaudit.handlers."):
            name = "asset." + props["Code"]["S3Key"].removesuffix(".zip")
            found[name] = outdir / name
    return found


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlaudit-assets-") as tmp:
        print("| asset | files | unzipped bytes | zipped bytes |")
        print("|---|---|---|---|")
        for name, root in sorted(function_assets(Path(tmp)).items()):
            files = [p for p in root.rglob("*") if p.is_file()]
            unzipped = sum(p.stat().st_size for p in files)
            print(f"| `{name[:18]}…` | {len(files)} | {unzipped:,} | {zipped_size(root, files):,} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
