from tenant_operator.api import LABEL_MANAGED_BY, LABEL_TENANT
from tenant_operator.tenant.model import TenantSpec
from tenant_operator.tenant.render import desired_namespaces, namespace_names, stale_namespaces


def test_one_namespace_named_after_the_slug_by_default() -> None:
    assert namespace_names("acme", TenantSpec(displayName="Acme")) == ["acme"]


def test_namespace_entries_are_prefixed_with_the_slug_primary_first() -> None:
    spec = TenantSpec(displayName="Acme", namespaces=["prod", "dev"])
    assert namespace_names("acme", spec) == ["acme-prod", "acme-dev"]


def test_namespaces_carry_tenant_labels_and_owner() -> None:
    spec = TenantSpec(displayName="Acme", namespaces=["prod", "dev"])
    prod, dev = desired_namespaces("acme", "uid-1", spec)
    assert prod["metadata"]["labels"][LABEL_TENANT] == "acme"
    assert prod["metadata"]["labels"][LABEL_MANAGED_BY] == "tenant-operator"
    assert prod["metadata"]["labels"]["tenancy.io/primary"] == "true"
    assert dev["metadata"]["labels"]["tenancy.io/primary"] == "false"
    owner = prod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("Tenant", "acme", "uid-1", True)


def test_stale_namespaces_are_those_no_longer_listed() -> None:
    assert stale_namespaces(["acme-a", "acme-b", "acme-c"], ["acme-b"]) == ["acme-a", "acme-c"]
    assert stale_namespaces(["acme"], ["acme"]) == []
