"""crds/ and the chart's copy are generated from the models; a stale copy fails here."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tenant_operator.crdgen import all_kinds, generated_files, render_crd, render_crd_files

REPO = Path(__file__).resolve().parents[2]
REGENERATE = "run `tenant-operator crds` to regenerate"


@pytest.mark.parametrize("relative", sorted(generated_files()))
def test_committed_manifests_match_the_models(relative: str) -> None:
    path = REPO / relative
    assert path.exists() and path.read_text() == generated_files()[relative], f"{relative} is stale: {REGENERATE}"


def test_crds_folders_hold_nothing_else() -> None:
    for folder in ("crds", "charts/tenant-operator/crds"):
        committed = {f"{folder}/{path.name}" for path in (REPO / folder).glob("*")}
        assert committed <= set(generated_files()), f"{folder}/ has files the models do not generate"


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        nodes += walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        nodes += walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += walk(schema["additionalProperties"], f"{path}{{}}")
    return nodes


@pytest.mark.parametrize("kind", all_kinds(), ids=lambda kind: kind.kind)
def test_schema_is_structural_and_documented(kind) -> None:
    root = render_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in walk(root):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
    for path, node in walk(root["properties"]["spec"]):
        if path.endswith(("[]", "{}")):
            continue  # list items and map values are explained by their field
        assert node.get("description"), f"spec{path} has no description for kubectl explain"


def test_generated_yaml_parses_back() -> None:
    for text in render_crd_files().values():
        assert yaml.safe_load(text)["kind"] == "CustomResourceDefinition"
