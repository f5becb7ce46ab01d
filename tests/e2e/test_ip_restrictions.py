"""IpRestriction on the real apiserver: admission webhook, NetworkPolicies, ingress annotations, status, notices."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import (
    apply,
    audit_lines,
    condition,
    delete_tenant,
    eventually,
    get_json,
    tenant_manifest,
    wait_for_event,
    wait_ready,
)
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.receivers import MailSink, WebhookSink

pytestmark = pytest.mark.e2e

TENANT = "iprt"
HMAC_KEY = "webhook-signing-key"
VALID = {
    "allowedIPs": ["203.0.113.7", "2001:db8::7"],
    "allowedRanges": ["10.0.0.0/8", "2001:db8:1::/48"],
    "blockList": ["10.1.2.3", "2001:db8:1::dead"],
}


def restriction(enabled: bool = True, **lists: list[str]) -> str:
    spec = {"tenantRef": TENANT, "enabled": enabled, **VALID, **lists}
    document = {"apiVersion": "tenancy.io/v1alpha1", "kind": "IpRestriction", "metadata": {"name": TENANT},
                "spec": spec}
    return json.dumps(document)


def policy(cluster: ClusterHandle, namespace: str) -> dict | None:
    return get_json(cluster, "networkpolicy", "tenant-ip-restrictions", "-n", namespace)


@pytest.fixture(scope="module")
def restricted_tenant(
    cluster: ClusterHandle, operator: OperatorProcess, webhook_receiver: WebhookSink, smtp_server: MailSink
) -> Iterator[str]:
    extra = f"""  namespaces: [web, api]
  notifications:
    emails: [admin@iprt.example]
    webhook: {{url: "{webhook_receiver.url}/hooks", secretName: notify-key}}"""
    apply(cluster, tenant_manifest(TENANT, "IP Restricted", extra))
    wait_ready(cluster, TENANT)
    cluster.kubectl("create", "secret", "generic", "notify-key", "-n", "iprt-web", f"--from-literal=hmac-key={HMAC_KEY}")
    apply(cluster, restriction())
    eventually(lambda: (r := get_json(cluster, "iprestriction", TENANT)) and condition(r, "Ready")
               and condition(r, "Ready")["status"] == "True", what="restrictions enforced")
    yield TENANT
    cluster.kubectl("delete", "iprestriction", TENANT, "--ignore-not-found", "--timeout=60s")
    delete_tenant(cluster, TENANT)


def test_restrictions_become_network_policies_with_the_block_list_as_exceptions(
    cluster: ClusterHandle, restricted_tenant: str
) -> None:
    for namespace in ("iprt-web", "iprt-api"):
        blocks = [peer["ipBlock"] for peer in policy(cluster, namespace)["spec"]["ingress"][0]["from"]]
        assert blocks == [
            {"cidr": "203.0.113.7/32"},
            {"cidr": "2001:db8::7/128"},
            {"cidr": "10.0.0.0/8", "except": ["10.1.2.3/32"]},
            {"cidr": "2001:db8:1::/48", "except": ["2001:db8:1::dead/128"]},
        ]
    status = get_json(cluster, "iprestriction", restricted_tenant)["status"]
    assert status["namespaces"] == ["iprt-web", "iprt-api"]
    assert status["changes"]["allowedRanges"] == {"added": ["10.0.0.0/8", "2001:db8:1::/48"], "removed": []}
    assert status["updatedAt"]


def test_an_update_reports_what_was_added_and_removed_and_notifies_the_admins(
    cluster: ClusterHandle,
    operator: OperatorProcess,
    restricted_tenant: str,
    smtp_server: MailSink,
    webhook_receiver: WebhookSink,
) -> None:
    mails_before, hooks_before = len(smtp_server.messages), len(webhook_receiver.requests)
    apply(cluster, restriction(allowedIPs=["203.0.113.7", "198.51.100.9"], blockList=["10.1.2.3", "10.9.0.0/16"]))
    status = eventually(
        lambda: (s := get_json(cluster, "iprestriction", restricted_tenant)["status"])
        and s["changes"]["blockList"]["added"] == ["10.9.0.0/16"] and s,
        what="status.changes updated",
    )
    assert status["changes"]["allowedIPs"] == {"added": ["198.51.100.9/32"], "removed": ["2001:db8::7/128"]}
    assert status["changes"]["blockList"] == {"added": ["10.9.0.0/16"], "removed": ["2001:db8:1::dead/128"]}
    assert status["changes"]["allowedRanges"] == {"added": [], "removed": []}
    wait_for_event(cluster, "IpRestriction", restricted_tenant, "IpRestrictionsUpdated", "allowedIPs +1/-1")
    record = [r for r in audit_lines(operator.logs()) if r["event"] == "IP_RESTRICTIONS_UPDATED"][-1]
    assert record["severity"] == "high" and record["tenant"] == "iprt" and record["changes"] == status["changes"]

    mail = eventually(lambda: smtp_server.messages[mails_before:], what="notification e-mail")[-1]
    assert mail["To"] == "admin@iprt.example" and mail["Subject"] == "IP restrictions updated for IP Restricted"
    text = mail.get_payload(decode=True).decode()
    assert "added:   198.51.100.9/32" in text and "removed: 2001:db8::7/128" in text

    hook = eventually(lambda: webhook_receiver.requests[hooks_before:], what="notification webhook")[-1]
    assert hook.path == "/hooks"
    expected = "sha256=" + hmac.new(HMAC_KEY.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Tenant-Operator-Signature"] == expected
    payload = json.loads(hook.body)
    assert payload["event"] == "IP_RESTRICTIONS_UPDATED" and payload["changes"] == status["changes"]
    restriction_now = get_json(cluster, "iprestriction", restricted_tenant)
    assert condition(restriction_now, "NotificationsSent")["status"] == "True"
    apply(cluster, restriction())  # back to the module's baseline


INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: site
  namespace: iprt-api
  annotations: {example.com/owner: team-a}
spec:
  rules: [{host: site.example, http: {paths: [{path: /, pathType: Prefix,
    backend: {service: {name: site, port: {number: 80}}}}]}}]
"""


def test_ingresses_get_source_ranges_and_disabling_removes_only_ours(
    cluster: ClusterHandle, restricted_tenant: str
) -> None:
    apply(cluster, INGRESS)
    try:
        annotations = eventually(
            lambda: (a := get_json(cluster, "ingress", "site", "-n", "iprt-api")["metadata"]["annotations"])
            and "nginx.ingress.kubernetes.io/whitelist-source-range" in a and a,
            what="new Ingress annotated",
        )
        assert annotations["nginx.ingress.kubernetes.io/whitelist-source-range"] == (
            "203.0.113.7/32,2001:db8::7/128,10.0.0.0/8,2001:db8:1::/48")
        assert annotations["nginx.ingress.kubernetes.io/denylist-source-range"] == "10.1.2.3/32,2001:db8:1::dead/128"

        apply(cluster, restriction(enabled=False))
        eventually(lambda: policy(cluster, "iprt-web") is None and policy(cluster, "iprt-api") is None,
                   what="NetworkPolicies removed")
        annotations = eventually(
            lambda: (a := get_json(cluster, "ingress", "site", "-n", "iprt-api")["metadata"]["annotations"])
            and "nginx.ingress.kubernetes.io/whitelist-source-range" not in a and a,
            what="annotations removed",
        )
        others = {key: value for key, value in annotations.items() if not key.startswith("kubectl.kubernetes.io/")}
        assert others == {"example.com/owner": "team-a"}  # the user's annotation stays, nothing of ours is left
        assert get_json(cluster, "networkpolicy", "tenant-isolation", "-n", "iprt-web") is not None  # not ours
    finally:
        apply(cluster, restriction())
        cluster.kubectl("delete", "ingress", "site", "-n", "iprt-api", "--ignore-not-found")
    eventually(lambda: policy(cluster, "iprt-web") is not None, what="re-enabled")


def test_a_namespace_added_to_the_tenant_is_restricted_too(
    cluster: ClusterHandle, webhook_receiver: WebhookSink, restricted_tenant: str
) -> None:
    extra = f"""  namespaces: [web, api, extra]
  notifications:
    emails: [admin@iprt.example]
    webhook: {{url: "{webhook_receiver.url}/hooks", secretName: notify-key}}"""
    apply(cluster, tenant_manifest(TENANT, "IP Restricted", extra))
    try:

        eventually(lambda: policy(cluster, "iprt-extra"), timeout=60, what="policy in the new namespace")
        eventually(
            lambda: get_json(cluster, "iprestriction", TENANT)["status"]["namespaces"]
            == ["iprt-web", "iprt-api", "iprt-extra"],
            what="status lists the new namespace",
        )
    finally:
        apply(cluster, tenant_manifest(TENANT, "IP Restricted", extra.replace(", extra", "")))


BAD_INPUTS = [
    ({"allowedIPs": ["1.2.3.256"]}, "Invalid IP address format", "1.2.3.256"),
    ({"allowedIPs": ["garbage"]}, "Invalid IP address format", "garbage"),
    ({"allowedIPs": ["1.2.3"]}, "Invalid IP address format", "1.2.3"),
    ({"allowedIPs": ["01.2.3.4"]}, "Invalid IP address format", "01.2.3.4"),
    ({"allowedIPs": ["2001:db8::g"]}, "Invalid IP address format", "2001:db8::g"),
    ({"allowedIPs": ["2001:db8:::1"]}, "Invalid IP address format", "2001:db8:::1"),
    ({"allowedIPs": ["1.2.3.4 "]}, "Invalid IP address format", "1.2.3.4 "),
    ({"allowedRanges": ["10.0.0.0/33"]}, "Invalid CIDR range", "10.0.0.0/33"),
    ({"allowedRanges": ["2001:db8::/129"]}, "Invalid CIDR range", "2001:db8::/129"),
    ({"allowedRanges": ["10.0.0.0/-1"]}, "Invalid CIDR range", "10.0.0.0/-1"),
    ({"allowedRanges": ["10.0.0.0/"]}, "Invalid CIDR range", "10.0.0.0/"),
    ({"allowedRanges": ["10.0.0.1/8"]}, "CIDR range has host bits set", "10.0.0.1/8"),
    ({"allowedRanges": ["2001:db8::1/32"]}, "CIDR range has host bits set", "2001:db8::1/32"),
    ({"blockList": ["300.1.1.1"]}, "Invalid IP address format", "300.1.1.1"),
    ({"allowedIPs": ["203.0.113.7", "203.0.113.7"]}, "Duplicate entries in allowedIPs", "203.0.113.7"),
    ({"allowedIPs": ["203.0.113.7", "203.0.113.7/32"]}, "Duplicate entries in allowedIPs", "203.0.113.7/32"),
    ({"allowedIPs": ["2001:db8::7", "2001:DB8:0::7"]}, "Duplicate entries in allowedIPs", "2001:DB8:0::7"),
    ({"allowedRanges": ["10.0.0.0/8", "10.0.0.0/8"]}, "Duplicate entries in allowedRanges", "10.0.0.0/8"),
    ({"blockList": ["10.1.2.3", "10.1.2.3"]}, "Duplicate entries in blockList", "10.1.2.3"),
    ({"allowedRanges": ["10.0.0.0/8", "10.1.0.0/16"]}, "Allowed entries overlap", "10.1.0.0/16"),
    ({"allowedRanges": ["2001:db8:1::/48", "2001:db8:1:2::/64"]}, "Allowed entries overlap", "2001:db8:1:2::/64"),
    ({"allowedIPs": ["10.5.5.5"]}, "Allowed entries overlap", "10.5.5.5"),
    ({"allowedIPs": ["2001:db8:1::5"]}, "Allowed entries overlap", "2001:db8:1::5"),
    ({"blockList": ["10.0.0.0/8"]}, "A blocked entry covers an allowed entry entirely", "10.0.0.0/8"),
    ({"blockList": ["0.0.0.0/0"]}, "A blocked entry covers an allowed entry entirely", "0.0.0.0/0"),
    ({"blockList": ["::/0"]}, "A blocked entry covers an allowed entry entirely", "::/0"),
    ({"blockList": ["203.0.113.7"]}, "A blocked entry covers an allowed entry entirely", "203.0.113.7"),
    ({"blockList": ["2001:db8::/32"]}, "A blocked entry covers an allowed entry entirely", "2001:db8::/32"),
]


@pytest.mark.parametrize(("lists", "message", "offending"), BAD_INPUTS,
                         ids=[f"{i:02d}-{case[1][:24]}" for i, case in enumerate(BAD_INPUTS)])
def test_bad_input_is_refused_at_admission_and_nothing_changes(
    cluster: ClusterHandle, restricted_tenant: str, lists: dict, message: str, offending: str
) -> None:
    before = get_json(cluster, "iprestriction", restricted_tenant)
    policy_before = policy(cluster, "iprt-web")["spec"]
    result = apply(cluster, restriction(**lists), check=False)
    assert result.returncode != 0
    assert "IP_VALIDATION_ERROR" in result.stderr and message in result.stderr, result.stderr
    assert json.dumps(offending)[1:-1] in result.stderr, result.stderr
    after = get_json(cluster, "iprestriction", restricted_tenant)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert policy(cluster, "iprt-web")["spec"] == policy_before


def test_one_restriction_per_tenant_named_after_it(crds_installed: ClusterHandle) -> None:
    document = {"apiVersion": "tenancy.io/v1alpha1", "kind": "IpRestriction", "metadata": {"name": "other"},
                "spec": {"tenantRef": "iprt"}}
    result = apply(crds_installed, json.dumps(document), check=False)
    assert result.returncode != 0 and "metadata.name must equal spec.tenantRef" in result.stderr
