"""Gateway API CRDs (standard channel) for the test cluster, read from the pinned gateway-api module.

The CRDs are read from the Go module cache (build.sh downloads the module) rather than copied into this
repository, so GATEWAY_API_VERSION in versions.env is the one place that says which ones are installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from .localcluster import read_versions

MODULE = "sigs.k8s.io/gateway-api"
CRD_FILE_PATTERN = "gateway.networking.k8s.io_*.yaml"
# Top-level `kind:` lines of a manifest file; a CRD's nested `names.kind` is indented.
_TOP_LEVEL_KIND = re.compile(r"^kind:\s*(\S+)\s*$", re.MULTILINE)


def gateway_api_version() -> str:
    return read_versions()["GATEWAY_API_VERSION"]


def gateway_api_crd_dir() -> Path:
    """config/crd/standard of the pinned gateway-api module, downloaded through the Go module proxy."""
    output = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{gateway_api_version()}"],
        check=True,
        capture_output=True,
        text=True,
        env=_go_env(),
    ).stdout
    return Path(json.loads(output)["Dir"]) / "config" / "crd" / "standard"


def gateway_api_crd_files(crd_dir: Path | None = None) -> list[Path]:
    """The folder's gateway.networking.k8s.io_*.yaml files that hold only CRDs, sorted by name.

    The standard folder also ships a ValidatingAdmissionPolicy and its binding (..._vap_safeupgrades.yaml):
    not a CRD, so it is left out.
    """
    crd_dir = gateway_api_crd_dir() if crd_dir is None else crd_dir
    files = [path for path in sorted(crd_dir.glob(CRD_FILE_PATTERN)) if _holds_only_crds(path)]
    if not files:
        raise FileNotFoundError(f"no Gateway API CRD files ({CRD_FILE_PATTERN}) in {crd_dir}")
    return files


def _holds_only_crds(path: Path) -> bool:
    kinds = _TOP_LEVEL_KIND.findall(path.read_text())
    return bool(kinds) and all(kind == "CustomResourceDefinition" for kind in kinds)


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
