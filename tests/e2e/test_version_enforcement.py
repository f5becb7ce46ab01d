"""Version enforcement on the real cluster with a simulated calendar: inventory in the Tenant's status, a tenant
walking from compliant through the notices into grace and a forced upgrade in its maintenance window, notices sent
once (also across a restart) on every channel, and end-of-life Deployments refused at admission."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
from datetime import UTC, datetime

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import apply, audit_lines, delete_tenant, eventually, get_json, tenant_manifest, wait_ready
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.receivers import MailSink, WebhookSink
from tests.e2e.test_update_rollout import run_kubectl_tenant

pytestmark = pytest.mark.e2e

TENANT = "verco"
HMAC_KEY = "version-notices-key"

SHOP = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: verco
  labels: {tenancy.io/product: shop, app.kubernetes.io/version: "1.5.0"}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop, app.kubernetes.io/version: "1.5.0"}}
    spec: {containers: [{name: shop, image: "example.invalid/shop:1.5.0"}]}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: verco}
spec: {selector: {app: shop}, ports: [{port: 80}]}
"""

POLICY = {
    "apiVersion": "tenancy.io/v1alpha1", "kind": "VersionPolicy", "metadata": {"name": "shop-support"},
    "spec": {
        "product": "shop", "tenants": [TENANT], "minimumVersion": "1.2.0",
        "endOfLife": [{"version": "1", "date": "2027-06-30"}], "gracePeriodDays": 30,
        "enforcement": {"action": "ForceUpgrade", "targetVersion": "2.0.0", "image": "example.invalid/shop:{version}"},
    },
}


def versions_of(cluster: ClusterHandle, tenant: str) -> dict:
    return ((get_json(cluster, "tenant", tenant) or {}).get("status") or {}).get("versions") or {}


def versions(cluster: ClusterHandle) -> dict:
    return versions_of(cluster, TENANT)


def shop_entry(cluster: ClusterHandle) -> dict:
    return next((p for p in versions(cluster).get("products", []) if p["product"] == "shop"), {})


def notices_received(smtp_server: MailSink) -> list[str]:
    subjects = [" ".join(str(mail["Subject"]).split()) for mail in smtp_server.messages]  # unfolded
    return [subject for subject in subjects if subject.startswith("[Version Co]")]


def at(operator: OperatorProcess, instant: str) -> None:
    operator.set_clock(datetime.fromisoformat(instant).replace(tzinfo=UTC))


def test_a_tenant_walks_from_compliant_through_the_notices_into_grace_and_a_forced_upgrade(
    cluster: ClusterHandle, operator: OperatorProcess, smtp_server: MailSink, webhook_receiver: WebhookSink
) -> None:
    extra = f"""  plan: premium
  notifications:
    emails: [ops@verco.example]
    webhook: {{url: "{webhook_receiver.url}/versions", secretName: notify-key}}
  updates:
    maintenanceWindows: [{{days: [Mon], start: "02:00", durationMinutes: 60}}]
"""
    at(operator, "2027-03-01T12:00:00")
    apply(cluster, tenant_manifest(TENANT, "Version Co", extra))
    wait_ready(cluster, TENANT)
    cluster.kubectl("create", "secret", "generic", "notify-key", "-n", TENANT, f"--from-literal=hmac-key={HMAC_KEY}")
    try:
        apply(cluster, SHOP)
        apply(cluster, json.dumps(POLICY))
        entry = eventually(lambda: shop_entry(cluster).get("endOfLife") and shop_entry(cluster), timeout=30,
                           what="inventory with the policy's verdict")
        assert entry["version"] == "1.5.0" and entry["compliance"] == "Compliant" and entry["deployment"] == "shop"
        assert entry["endOfLife"] == "2027-06-30" and entry["policy"] == "shop-support"
        eventually(lambda: (get_json(cluster, "versionpolicy", "shop-support").get("status") or {}).get("tenants")
                   == 1, what="policy status")
        time.sleep(2)
        assert notices_received(smtp_server) == []  # more than 90 days before end of life

        at(operator, "2027-04-02T09:00:00")  # 89 days before: the 90-day notice
        eventually(lambda: len(notices_received(smtp_server)) == 1, timeout=20, what="90-day notice")
        assert "reaches end of life on 2027-06-30 (in 90 days)" in notices_received(smtp_server)[0]
        hook = eventually(lambda: [r for r in webhook_receiver.requests if r.path == "/versions"], what="webhook")[0]
        expected = "sha256=" + hmac.new(HMAC_KEY.encode(), hook.body, hashlib.sha256).hexdigest()
        assert hook.headers["X-Tenant-Operator-Signature"] == expected
        assert json.loads(hook.body)["kind"] == "eol-90"

        operator.stop(signal.SIGKILL)  # notices survive restarts: none is sent twice
        operator.start()
        time.sleep(4)
        assert len(notices_received(smtp_server)) == 1

        at(operator, "2027-06-01T09:00:00")
        eventually(lambda: len(notices_received(smtp_server)) == 2, timeout=20, what="30-day notice")
        assert "(in 30 days)" in notices_received(smtp_server)[1]

        at(operator, "2027-07-10T09:00:00")  # in grace: the end-of-life notice (the latest due), 20 days left
        eventually(lambda: shop_entry(cluster).get("compliance") == "InGracePeriod", timeout=20, what="grace")
        assert shop_entry(cluster)["graceDaysRemaining"] == 20 and shop_entry(cluster)["graceEnds"] == "2027-07-30"
        assert versions(cluster)["compliance"] == "InGracePeriod"
        eventually(lambda: len(notices_received(smtp_server)) == 3, timeout=20, what="end-of-life notice")
        assert "reached end of life today" in notices_received(smtp_server)[2]
        assert 'tenant_operator_tenant_products{compliance="InGracePeriod",product="shop"} 1.0' in operator.metrics()
        code, report = run_kubectl_tenant(cluster, "report", "--product", "shop")
        row = next(line.split() for line in report.splitlines() if line.startswith(f"{TENANT} "))
        assert code == 0 and row[:6] == [TENANT, "shop", "1.5.0", "InGracePeriod", "20", "2027-06-30"], report

        at(operator, "2027-07-23T09:00:00")
        eventually(lambda: len(notices_received(smtp_server)) == 4, timeout=20, what="7 days before the upgrade")
        assert "will be upgraded from 1.5.0 to 2.0.0" in notices_received(smtp_server)[3]
        for count, day, left in ((5, "24", 6), (6, "25", 5)):  # daily in the final week
            at(operator, f"2027-07-{day}T09:00:00")
            eventually(lambda: len(notices_received(smtp_server)) == count, timeout=20, what=f"reminder on the {day}th")
            assert f"{left} day(s) left in the grace period" in notices_received(smtp_server)[-1]

        at(operator, "2027-07-30T09:00:00")  # a Friday: grace over, the upgrade waits for Monday's window
        rollout = eventually(lambda: get_json(cluster, "updaterollout", "shop-forced-2-0-0", "-n", TENANT),
                             timeout=20, what="forced UpdateRollout")
        assert rollout["spec"]["version"] == "2.0.0" and rollout["spec"]["image"] == "example.invalid/shop:2.0.0"
        assert shop_entry(cluster)["compliance"] == "NonCompliant"
        eventually(lambda: "waiting for the maintenance window at 2027-08-02T02:00:00+00:00" in (
            (get_json(cluster, "updaterollout", "shop-forced-2-0-0", "-n", TENANT).get("status") or {})
            .get("message", "")), timeout=20, what="held until the window")
        pending = versions(cluster)["pendingUpdates"]
        assert pending == [{"product": "shop", "version": "2.0.0", "rollout": f"{TENANT}/shop-forced-2-0-0",
                            "phase": "Pending"}]

        at(operator, "2027-08-02T02:00:05")  # Monday, in the window
        eventually(lambda: shop_entry(cluster).get("version") == "2.0.0", timeout=90, what="upgraded")
        eventually(lambda: versions(cluster).get("compliance") == "Compliant", timeout=20, what="compliant again")
        # (the forced rollout completes once blue is scaled down, after the default 30 s delay)
        history = eventually(lambda: versions(cluster)["updateHistory"], timeout=90, what="update history")
        assert history[0]["fromVersion"] == "1.5.0" and history[0]["toVersion"] == "2.0.0"
        assert history[0]["outcome"] == "Completed" and versions(cluster)["updateSuccessRate"] == 1.0
        sent = [r for r in audit_lines(operator.logs()) if r["event"] == "VERSION_NOTICE_SENT"]
        assert [r["notice"] for r in sent] == ["eol-90", "eol-30", "end-of-life", "forced-upgrade-7", "final-week",
                                               "final-week"], sent
        assert any(r["event"] == "FORCED_UPGRADE_SCHEDULED" for r in audit_lines(operator.logs()))
    finally:
        operator.real_clock()
        cluster.kubectl("delete", "versionpolicy", "shop-support", "--ignore-not-found")
        delete_tenant(cluster, TENANT)


def test_new_deployments_of_end_of_life_versions_are_refused(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    policy = {"apiVersion": "tenancy.io/v1alpha1", "kind": "VersionPolicy", "metadata": {"name": "api-support"},
              "spec": {"product": "api", "endOfLife": [{"version": "1", "date": "2027-01-01"}],
                       "enforcement": {"action": "BlockDeployments"}}}
    at(operator, "2027-02-01T12:00:00")
    apply(cluster, tenant_manifest("blockco", "Block Co"))
    wait_ready(cluster, "blockco")
    try:
        apply(cluster, json.dumps(policy))
        time.sleep(2)  # the index has seen the policy

        def deployment(name: str, version: str) -> str:
            return SHOP.split("---")[0].replace("name: shop", f"name: {name}").replace("namespace: verco",
                   "namespace: blockco").replace("product: shop", "product: api").replace("1.5.0", version)

        refused = apply(cluster, deployment("api-old", "1.9.0"), check=False)
        assert refused.returncode != 0
        assert "api 1.9.0 reached end of life on 2027-01-01 (VersionPolicy api-support)" in refused.stderr
        assert get_json(cluster, "deployment", "api-old", "-n", "blockco") is None
        apply(cluster, deployment("api-new", "2.1.0"))
        assert get_json(cluster, "deployment", "api-new", "-n", "blockco") is not None
    finally:
        operator.real_clock()
        cluster.kubectl("delete", "versionpolicy", "api-support", "--ignore-not-found")
        delete_tenant(cluster, "blockco")


def test_restrict_access_stops_ingress_to_a_non_compliant_product_until_it_complies(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    policy = {"apiVersion": "tenancy.io/v1alpha1", "kind": "VersionPolicy", "metadata": {"name": "db-support"},
              "spec": {"product": "db", "minimumVersion": "4.0.0", "enforcement": {"action": "RestrictAccess"}}}
    apply(cluster, tenant_manifest("restrictco", "Restrict Co"))
    wait_ready(cluster, "restrictco")
    try:
        db = SHOP.split("---")[0].replace("name: shop", "name: db").replace("namespace: verco", "namespace: restrictco")
        apply(cluster, db.replace("product: shop", "product: db").replace("app: shop", "app: db").replace("1.5.0",
                                                                                                         "3.2.0"))
        apply(cluster, json.dumps(policy))
        restriction = eventually(lambda: get_json(cluster, "networkpolicy", "version-restricted-db", "-n",
                                                  "restrictco"), timeout=20, what="access restricted")
        assert restriction["spec"] == {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}
        assert "3.2.0 is below the minimum 4.0.0" in restriction["metadata"]["annotations"]["tenancy.io/reason"]
        cluster.kubectl("label", "deployment", "db", "-n", "restrictco", "app.kubernetes.io/version=4.1.0",
                        "--overwrite")
        eventually(lambda: get_json(cluster, "networkpolicy", "version-restricted-db", "-n", "restrictco") is None,
                   timeout=20, what="access restored")
        events = [r["event"] for r in audit_lines(operator.logs()) if r.get("product") == "db"]
        assert events[-2:] == ["ACCESS_RESTRICTED", "ACCESS_RESTORED"]
    finally:
        cluster.kubectl("delete", "versionpolicy", "db-support", "--ignore-not-found")
        delete_tenant(cluster, "restrictco")


def test_a_daily_digest_gathers_a_days_notices_into_one_message(
    cluster: ClusterHandle, operator: OperatorProcess, smtp_server: MailSink
) -> None:
    at(operator, "2027-06-01T10:00:00")
    extra = "  plan: premium\n  notifications: {emails: [ops@digest.example], digest: daily}\n"
    apply(cluster, tenant_manifest("digestco", "Digest Co", extra))
    wait_ready(cluster, "digestco")
    policies = [("shop", "2027-07-01"), ("api", "2027-08-30")]  # both notices fall due on 2027-06-01
    try:
        for product, eol in policies:
            deployment = SHOP.split("---")[0].replace("name: shop", f"name: {product}").replace(
                "namespace: verco", "namespace: digestco").replace("product: shop", f"product: {product}").replace(
                "app: shop", f"app: {product}")
            apply(cluster, deployment)
            apply(cluster, json.dumps({"apiVersion": "tenancy.io/v1alpha1", "kind": "VersionPolicy",
                                       "metadata": {"name": f"{product}-digest"},
                                       "spec": {"product": product, "tenants": ["digestco"],
                                                "endOfLife": [{"version": "1", "date": eol}]}}))
        queued = eventually(lambda: len(versions_of(cluster, "digestco").get("digest") or []) == 2
                            and versions_of(cluster, "digestco")["digest"], timeout=30, what="two queued notices")
        assert sorted(n["kind"] for n in queued) == ["eol-30", "eol-90"]
        time.sleep(2)
        assert not [m for m in smtp_server.messages if "Digest Co" in str(m["Subject"])]  # not before tomorrow
        at(operator, "2027-06-02T08:00:00")
        mail = eventually(lambda: [m for m in smtp_server.messages if "Digest Co" in str(m["Subject"])],
                          timeout=20, what="the digest")
        assert len(mail) == 1 and " ".join(str(mail[0]["Subject"]).split()) == "[Digest Co] 2 version notices"
        text = mail[0].get_payload(decode=True).decode()
        assert "shop 1.5.0 (eol-30, due 2027-06-01)" in text and "api 1.5.0 (eol-90, due 2027-06-01)" in text
        eventually(lambda: not versions_of(cluster, "digestco").get("digest"), timeout=20, what="queue emptied")
        time.sleep(2)
        assert len([m for m in smtp_server.messages if "Digest Co" in str(m["Subject"])]) == 1
    finally:
        operator.real_clock()
        for product, _ in policies:
            cluster.kubectl("delete", "versionpolicy", f"{product}-digest", "--ignore-not-found")
        delete_tenant(cluster, "digestco")


def test_a_tenants_extension_request_is_shown_and_an_admins_approval_moves_its_grace(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    policy = {"apiVersion": "tenancy.io/v1alpha1", "kind": "VersionPolicy", "metadata": {"name": "crm-support"},
              "spec": {"product": "crm", "endOfLife": [{"version": "1", "date": "2027-01-01"}], "gracePeriodDays": 30}}
    at(operator, "2027-01-10T12:00:00")
    apply(cluster, tenant_manifest("extco", "Ext Co"))
    wait_ready(cluster, "extco")
    try:
        crm = SHOP.split("---")[0].replace("name: shop", "name: crm").replace("namespace: verco", "namespace: extco")
        apply(cluster, crm.replace("product: shop", "product: crm").replace("app: shop", "app: crm"))
        apply(cluster, json.dumps(policy))

        def crm_entry() -> dict:
            return next((p for p in versions_of(cluster, "extco").get("products", []) if p["product"] == "crm"), {})

        eventually(lambda: crm_entry().get("graceEnds") == "2027-01-31", timeout=20, what="in grace")
        cluster.kubectl("annotate", "tenant", "extco",
                        "tenancy.io/extension-request.crm=2027-03-31: the new CRM is not certified yet")

        def requests() -> list:
            return (get_json(cluster, "versionpolicy", "crm-support").get("status") or {}).get("extensionRequests")

        eventually(lambda: requests() == [{"tenant": "extco", "until": "2027-03-31", "state": "Pending",
                                           "reason": "the new CRM is not certified yet"}], timeout=20,
                   what="request shown as pending")
        assert any(r["event"] == "EXTENSION_REQUESTED" and r["tenant"] == "extco" for r in audit_lines(operator.logs()))
        cluster.kubectl("patch", "versionpolicy", "crm-support", "--type=merge", "-p", json.dumps(
            {"spec": {"extensions": [{"tenant": "extco", "until": "2027-03-31", "approvedBy": "platform-admin"}]}}))
        eventually(lambda: (requests() or [{}])[0].get("state") == "Approved", timeout=20, what="approved")
        eventually(lambda: crm_entry().get("graceEnds") == "2027-04-01", timeout=20, what="grace extended")
        assert crm_entry()["compliance"] == "InGracePeriod" and crm_entry()["graceDaysRemaining"] == 81
    finally:
        operator.real_clock()
        cluster.kubectl("delete", "versionpolicy", "crm-support", "--ignore-not-found")
        delete_tenant(cluster, "extco")
