"""CustomResourceDefinitions generated from the pydantic models, the single source of truth.

`tenant-operator crds --out crds/` rewrites the committed manifests; a test fails when they are stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict

from .api import GROUP, VERSION

JsonSchema = dict[str, Any]

# JSON-schema keys that a Kubernetes structural schema does not accept.
_DROPPED_KEYS = {"title", "examples", "$schema"}


class SpecModel(BaseModel):
    """Base of every spec model: unknown fields are errors, as the apiserver's strict field validation has them."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0

    def render(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class CelRule:
    """A CEL validation rule evaluated by the apiserver at admission (x-kubernetes-validations)."""

    rule: str
    message: str
    field_path: str = ""

    def render(self) -> dict[str, str]:
        rendered = {"rule": self.rule, "message": self.message}
        if self.field_path:
            rendered["fieldPath"] = self.field_path
        return rendered


@dataclass(frozen=True)
class CustomResourceKind:
    kind: str
    plural: str
    singular: str
    scope: Literal["Cluster", "Namespaced"]
    description: str
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("tenancy",)
    printer_columns: tuple[PrinterColumn, ...] = ()
    root_rules: tuple[CelRule, ...] = field(default=())
    spec_rules: tuple[CelRule, ...] = field(default=())

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The model's JSON schema rewritten as a Kubernetes structural OpenAPI v3 schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _to_structural(raw, definitions)


def _to_structural(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    node = _inline_reference(_collapse_optional(node), definitions)
    result: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "properties":
            result[key] = {name: _to_structural(sub, definitions) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key] = _to_structural(value, definitions)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = [_to_structural(sub, definitions) for sub in value]
        else:
            result[key] = value
    return _kubernetes_dialect(result)


def _inline_reference(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    if "$ref" not in node:
        return node
    outer = {key: value for key, value in node.items() if key != "$ref"}
    target = definitions[node["$ref"].rsplit("/", 1)[-1]]
    return {**_inline_reference(target, definitions), **outer}


def _collapse_optional(node: JsonSchema) -> JsonSchema:
    """`X | None` becomes X: absence, not null, is how a manifest leaves a field unset."""
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if not options:
            continue
        present = [option for option in options if option.get("type") != "null"]
        if len(present) == 1 and len(present) < len(options):
            outer = {k: v for k, v in node.items() if k != key}
            return {**present[0], **outer}
    return node


def _kubernetes_dialect(node: JsonSchema) -> JsonSchema:
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("exclusiveMinimum"), (int, float)) and not isinstance(node["exclusiveMinimum"], bool):
        node["minimum"], node["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if isinstance(node.get("exclusiveMaximum"), (int, float)) and not isinstance(node["exclusiveMaximum"], bool):
        node["maximum"], node["exclusiveMaximum"] = node["exclusiveMaximum"], True
    if node.pop("uniqueItems", False):
        node["x-kubernetes-list-type"] = "set"
    if node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    if node.get("additionalProperties") is True:  # free-form object: a structural schema says it this way
        node.pop("additionalProperties")
        node["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("type") == "object" and "properties" not in node and "additionalProperties" not in node:
        node["x-kubernetes-preserve-unknown-fields"] = True
    return node


def render_crd(resource: CustomResourceKind) -> dict[str, Any]:
    spec = structural_schema(resource.spec_model)
    if resource.spec_rules:
        spec["x-kubernetes-validations"] = [rule.render() for rule in resource.spec_rules]
    root: JsonSchema = {
        "type": "object",
        "description": resource.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object: tenancy.io/v1alpha1."},
            "kind": {"type": "string", "description": f"Kind of this object: {resource.kind}."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": structural_schema(resource.status_model),
        },
    }
    if resource.root_rules:
        root["x-kubernetes-validations"] = [rule.render() for rule in resource.root_rules]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.crd_name,
            "labels": {"app.kubernetes.io/name": "tenant-operator", "app.kubernetes.io/part-of": "tenant-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": resource.scope,
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": list(resource.short_names),
                "categories": list(resource.categories),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [column.render() for column in resource.printer_columns],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def all_kinds() -> list[CustomResourceKind]:
    from .fleet.model import FLEET_UPDATE
    from .iprestriction.model import IP_RESTRICTION
    from .rollout.model import UPDATE_ROLLOUT
    from .securitypolicy.model import SECURITY_POLICY
    from .tenant.model import TENANT
    from .versions.model import VERSION_POLICY

    return [TENANT, SECURITY_POLICY, IP_RESTRICTION, UPDATE_ROLLOUT, VERSION_POLICY, FLEET_UPDATE]


def crd_filename(resource: CustomResourceKind) -> str:
    return f"{GROUP}_{resource.plural}.yaml"


class _NoAliasDumper(yaml.SafeDumper):
    """Shared sub-schemas are written out in full: kubectl and Argo CD users read these files."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


HEADER = "# Generated by `tenant-operator crds` from the pydantic models. Do not edit.\n"
POLICIES_FILE = f"{GROUP}_admission-policies.yaml"


def _dump(*documents: dict[str, Any]) -> str:
    return HEADER + yaml.dump_all(documents, Dumper=_NoAliasDumper, sort_keys=False, width=120)


def render_crd_files() -> dict[str, str]:
    """File name -> YAML text for every CRD, exactly as committed under crds/ and the chart's crds/."""
    return {crd_filename(kind): _dump(render_crd(kind)) for kind in all_kinds()}


def render_policy_files() -> dict[str, str]:
    """The admission policies, committed under crds/ and as a chart template."""
    from .policies import prevent_deletion_policy

    return {POLICIES_FILE: _dump(*prevent_deletion_policy())}


def render_peering_files() -> dict[str, str]:
    from .peering import PEERINGS_FILE, peering_crds

    return {PEERINGS_FILE: _dump(*peering_crds())}


def generated_files() -> dict[str, str]:
    """Repository path -> text of everything generated from the models."""
    files = {}
    for name, text in {**render_crd_files(), **render_peering_files()}.items():
        files[f"crds/{name}"] = text
        files[f"charts/tenant-operator/crds/{name}"] = text
    for name, text in render_policy_files().items():
        files[f"crds/{name}"] = text
        files[f"charts/tenant-operator/templates/{name}"] = text
    return files


def write_generated(repo: Path) -> list[Path]:
    written = []
    for relative, text in generated_files().items():
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
