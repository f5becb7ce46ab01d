"""The Helm chart, checked with the real helm CLI and installed on the real apiserver."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tenant_operator.crdgen import POLICIES_FILE
from tenant_operator.policies import PREVENT_DELETION
from tests.cluster.plugin import ClusterHandle

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tenant-operator"
RELEASE_NAMESPACE = "tenant-operator-system"


def helm(cluster: ClusterHandle, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([cluster.tool("helm"), *args], env=cluster.env(), capture_output=True, text=True)
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_chart_lints(cluster: ClusterHandle) -> None:
    helm(cluster, "lint", str(CHART), "--strict")


def test_chart_renders_objects_the_apiserver_accepts(crds_installed: ClusterHandle) -> None:
    rendered = helm(crds_installed, "template", "tenant-operator", str(CHART), "-n", RELEASE_NAMESPACE).stdout
    crds_installed.kubectl("create", "namespace", RELEASE_NAMESPACE, check=False)
    crds_installed.kubectl("apply", "--dry-run=server", "-f", "-", input_text=rendered)


def test_chart_installs_upgrades_and_uninstalls(crds_installed: ClusterHandle) -> None:
    args = ["-n", RELEASE_NAMESPACE, "--create-namespace", "--wait", "--timeout", "120s"]
    # The chart owns the admission policy that `kubectl apply -f crds/` also installs: hand it over to Helm.
    policies = str(REPO / "crds" / POLICIES_FILE)
    crds_installed.kubectl("delete", "-f", policies, "--ignore-not-found")
    try:
        helm(crds_installed, "install", "tenant-operator", str(CHART), *args)
        deployment = crds_installed.kubectl(
            "get", "deployment", "tenant-operator", "-n", RELEASE_NAMESPACE,
            "-o", "jsonpath={.status.readyReplicas}",
        ).stdout
        assert deployment == "2"  # two replicas by default, electing a leader through kopf's peering
        helm(crds_installed, "upgrade", "tenant-operator", str(CHART), *args, "--set", "logLevel=debug")
        template_args = crds_installed.kubectl(
            "get", "deployment", "tenant-operator", "-n", RELEASE_NAMESPACE,
            "-o", "jsonpath={.spec.template.spec.containers[0].args}",
        ).stdout
        assert "--verbose" in template_args
        policy = crds_installed.kubectl("get", "validatingadmissionpolicy", PREVENT_DELETION, "-o", "json").stdout
        assert '"meta.helm.sh/release-name": "tenant-operator"' in policy
    finally:
        helm(crds_installed, "uninstall", "tenant-operator", "-n", RELEASE_NAMESPACE, "--wait")
        crds_installed.kubectl("apply", "--server-side", "-f", policies)
    crds = crds_installed.kubectl("get", "crd", "tenants.tenancy.io", check=False)
    assert crds.returncode == 0, "helm keeps CRDs on uninstall, so tenants survive"


def rendered_documents(cluster: ClusterHandle, *values: str) -> list[dict]:
    import yaml

    text = helm(cluster, "template", "tenant-operator", str(CHART), "-n", RELEASE_NAMESPACE, *values).stdout
    return [document for document in yaml.safe_load_all(text) if document]


def test_replicas_elect_a_leader_and_serve_the_webhooks_behind_a_service(cluster: ClusterHandle) -> None:
    import base64

    from cryptography import x509

    documents = {(d["kind"], d["metadata"]["name"]): d for d in rendered_documents(cluster)}
    deployment = documents[("Deployment", "tenant-operator")]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--peering=tenant-operator" in args and deployment["spec"]["replicas"] == 2
    assert ("ClusterKopfPeering", "tenant-operator") in documents
    host = f"tenant-operator-webhook.{RELEASE_NAMESPACE}.svc"
    assert f"--webhook-host={host}" in args and "--webhook-port=9443" in args
    service = documents[("Service", "tenant-operator-webhook")]
    assert service["spec"]["ports"] == [{"name": "webhook", "port": 9443, "targetPort": "webhook"}]
    secret = documents[("Secret", "tenant-operator-webhook-tls")]
    certificate = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert host in names
    single = {(d["kind"], d["metadata"]["name"]): d for d in rendered_documents(
        cluster, "--set", "leaderElection.enabled=false", "--set", "replicaCount=1")}
    assert ("ClusterKopfPeering", "tenant-operator") not in single
    assert single[("Deployment", "tenant-operator")]["spec"]["strategy"]["type"] == "Recreate"


def test_values_are_checked_by_the_schema_and_optional_parts_render(cluster: ClusterHandle) -> None:
    bad = subprocess.run([cluster.tool("helm"), "template", "t", str(CHART), "--set", "replicaCount=0"],
                         env=cluster.env(), capture_output=True, text=True)
    assert bad.returncode != 0 and "/replicaCount" in bad.stderr
    typo = subprocess.run([cluster.tool("helm"), "template", "t", str(CHART), "--set", "webhok.port=1"],
                          env=cluster.env(), capture_output=True, text=True)
    assert typo.returncode != 0 and "'webhok' not allowed" in typo.stderr
    kinds = {d["kind"] for d in rendered_documents(
        cluster, "--set", "metrics.serviceMonitor.enabled=true", "--set", "dashboard.enabled=true",
        "--set", "notifications.smtpHost=mail.example.com", "--set", "rollouts.prometheusUrl=http://prom:9090")}
    assert {"ServiceMonitor", "ConfigMap"} <= kinds
    args = next(d for d in rendered_documents(cluster, "--set", "notifications.smtpHost=mail.example.com")
                if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--smtp-host=mail.example.com" in args


def test_cert_manager_issues_the_webhook_certificate_when_the_cluster_has_it(cluster: ClusterHandle) -> None:
    with_cert_manager = {(d["kind"], d["metadata"]["name"]): d
                         for d in rendered_documents(cluster, "--api-versions", "cert-manager.io/v1")}
    certificate = with_cert_manager[("Certificate", "tenant-operator-webhook")]
    assert certificate["spec"]["secretName"] == "tenant-operator-webhook-tls"
    assert f"tenant-operator-webhook.{RELEASE_NAMESPACE}.svc" in certificate["spec"]["dnsNames"]
    assert ("Secret", "tenant-operator-webhook-tls") not in with_cert_manager  # cert-manager writes it
    without = {(d["kind"], d["metadata"]["name"]) for d in rendered_documents(cluster)}
    assert ("Secret", "tenant-operator-webhook-tls") in without and ("Certificate", "tenant-operator-webhook") not in without


def test_database_servers_from_values_become_the_labelled_secrets_the_operator_reads(cluster: ClusterHandle) -> None:
    server = ["--set", "database.servers[0].name=postgres", "--set", "database.servers[0].host=pg.example.com",
              "--set", "database.servers[0].user=tenant_admin", "--set", "database.servers[0].sslmode=require"]
    secret = next(d for d in rendered_documents(cluster, *server, "--set", "database.servers[0].password=s3cret")
                  if d["kind"] == "Secret" and d["metadata"]["name"] == "postgres")
    assert secret["metadata"]["labels"]["tenancy.io/database-server"] == "true"
    assert secret["stringData"] == {"host": "pg.example.com", "port": "5432", "user": "tenant_admin",
                                    "password": "s3cret", "sslmode": "require"}
    missing = subprocess.run([cluster.tool("helm"), "template", "t", str(CHART), *server], env=cluster.env(),
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "password" in missing.stderr
