"""`kubectl explain` on the real apiserver describes every spec field of every kind (from the models' docs)."""

from __future__ import annotations

import re

import pytest

from tenant_operator.crdgen import all_kinds, render_crd
from tests.cluster.plugin import ClusterHandle
from tests.unit.test_crds import walk

pytestmark = pytest.mark.e2e


def spec_field_paths(kind) -> list[str]:  # type: ignore[no-untyped-def]
    root = render_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return [path.replace("[]", "") for path, _ in walk(root) if path and not path.endswith("{}") and "{}" not in path]


@pytest.mark.parametrize("kind", all_kinds(), ids=lambda kind: kind.kind)
def test_kubectl_explain_describes_every_spec_field(crds_installed: ClusterHandle, kind) -> None:  # type: ignore[no-untyped-def]
    undocumented = []
    for path in spec_field_paths(kind):
        output = crds_installed.kubectl("explain", f"{kind.plural}.spec{path}").stdout
        description = output.split("DESCRIPTION:", 1)[1].split("FIELDS:", 1)[0] if "DESCRIPTION:" in output else ""
        if not re.sub(r"\s+|<empty>", "", description):
            undocumented.append(path)
    assert not undocumented, f"kubectl explain shows no description for {kind.plural}.spec{undocumented}"
