"""Local, Docker-free bundling of the shared domain package (Lambda layer and Glue `--extra-py-files`).

`cdk synth` must work offline and without Docker, so assets are staged by a Python class CDK calls
in-process (`ILocalBundling`). It copies `lakewatch/__init__.py` and `lakewatch/domain/**` and, for the
Lambda layer, the arm64 wheels `make bootstrap` unpacked into `.build/lambda-deps-py<version>/python/` for
the Lambda Python version (`stacks/lambda_runtime.py`; a new version gets a new folder, so stale wheels are
never shipped, and synth refuses compiled wheels tagged for another Python or CPU). Hashes are taken from the
output (`AssetHashType.OUTPUT`), so a byte-identical bundle never triggers a deploy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from stacks.lambda_runtime import LAMBDA_PYTHON_VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / "lakewatch"
LAMBDA_DEPS_DIR = REPO_ROOT / ".build" / f"lambda-deps-py{LAMBDA_PYTHON_VERSION}"
LAMBDA_DEPS_STAMP = LAMBDA_DEPS_DIR / ".installed"
LAMBDA_CODE_DIR = REPO_ROOT / "lambdas"
LAYER_PYTHON_DIR = "python"
#: Never shipped: byte code is rebuilt by the runtime and would make the output hash machine-dependent.
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
#: Never used: Docker is not needed because the local bundler always succeeds or raises.
_UNUSED_IMAGE = DockerImage.from_registry("lakewatch-local-bundling-only")


class MissingBuildArtifactError(RuntimeError):
    """A file `make bootstrap` produces is missing; synth cannot stage the Lambda layer without it."""


def require_lambda_deps() -> None:
    if not LAMBDA_DEPS_STAMP.is_file():
        raise MissingBuildArtifactError(
            f"Lambda dependencies are missing ({LAMBDA_DEPS_STAMP} not found): run `make bootstrap` first."
        )
    foreign = sorted(tag for tag in wheel_tags(LAMBDA_DEPS_DIR / LAYER_PYTHON_DIR) if not runs_on_lambda(tag))
    if foreign:
        raise MissingBuildArtifactError(
            f"wheels in {LAMBDA_DEPS_DIR} do not run on Lambda python{LAMBDA_PYTHON_VERSION} arm64 "
            f"({', '.join(foreign)}): run `make bootstrap`."
        )


def wheel_tags(site_packages: Path) -> set[str]:
    """The `Tag:` lines of every installed wheel's WHEEL file (`cp313-cp313-manylinux2014_aarch64`)."""
    return {
        line.removeprefix("Tag:").strip()
        for wheel in site_packages.glob("*.dist-info/WHEEL")
        for line in wheel.read_text(encoding="utf-8").splitlines()
        if line.startswith("Tag:")
    }


def runs_on_lambda(tag: str) -> bool:
    """Pure-Python wheels run anywhere; compiled ones must be for this CPython (or its stable ABI) on aarch64."""
    interpreter, abi, platform = tag.split("-")
    if abi == "none" and platform == "any":
        return True
    cpython = f"cp{LAMBDA_PYTHON_VERSION.replace('.', '')}"
    return platform.endswith("aarch64") and (interpreter == cpython or abi == "abi3")


@jsii.implements(ILocalBundling)
class DomainPackageBundler:
    """Copies the domain package (and optionally the Lambda wheels) into `<output>/<target_dir>/`."""

    def __init__(self, *, target_dir: str, include_lambda_deps: bool) -> None:
        self._target_dir = target_dir
        self._include_lambda_deps = include_lambda_deps

    def try_bundle(self, output_dir: str, *, image: Any = None) -> bool:
        target = Path(output_dir) / self._target_dir
        package = target / PACKAGE_DIR.name
        package.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACKAGE_DIR / "__init__.py", package / "__init__.py")
        shutil.copytree(PACKAGE_DIR / "domain", package / "domain", ignore=_IGNORED, dirs_exist_ok=True)
        if self._include_lambda_deps:
            require_lambda_deps()
            shutil.copytree(LAMBDA_DEPS_DIR / LAYER_PYTHON_DIR, target, ignore=_IGNORED, dirs_exist_ok=True)
        return True


def _bundling(*, target_dir: str, include_lambda_deps: bool) -> BundlingOptions:
    return BundlingOptions(
        image=_UNUSED_IMAGE,
        local=DomainPackageBundler(target_dir=target_dir, include_lambda_deps=include_lambda_deps),
    )


def shared_layer_code() -> lambda_.Code:
    """Layer content: `python/lakewatch/{__init__.py,domain/}` plus msgspec & co. under `python/`."""
    require_lambda_deps()
    return lambda_.Code.from_asset(
        str(PACKAGE_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=_bundling(target_dir=LAYER_PYTHON_DIR, include_lambda_deps=True),
    )


def domain_package_asset(scope: Construct, construct_id: str) -> s3_assets.Asset:
    """A zip with `lakewatch/` at its root: what Glue puts on the job's PYTHONPATH via `--extra-py-files`."""
    return s3_assets.Asset(
        scope,
        construct_id,
        path=str(PACKAGE_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=_bundling(target_dir="", include_lambda_deps=False),
    )


def lambda_code() -> lambda_.Code:
    """The whole `lambdas/` folder, so handlers are `<function>.handler.handler` and share `lambda_common`."""
    return lambda_.Code.from_asset(
        str(LAMBDA_CODE_DIR),
        exclude=["**/__pycache__", "**/*.pyc", "requirements.txt", "**/tests", "**/.pytest_cache"],
    )
