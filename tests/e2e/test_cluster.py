"""The test cluster itself: a real control plane, with pods simulated by kwok."""

import json

import pytest

from tests.cluster.localcluster import read_versions
from tests.cluster.plugin import ClusterHandle

pytestmark = pytest.mark.e2e

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {labels}
    spec:
      containers:
        - name: app
          image: example.invalid/app:1.0.0
"""

HTTP_ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: {namespace}
spec:
  hostnames: [app.example.com]
  rules:
    - backendRefs:
        - {{name: app-stable, port: 8080, weight: {stable_weight}}}
        - {{name: app-canary, port: 8080, weight: {canary_weight}}}
"""

GATEWAY_API_CRDS = (
    "httproutes.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "gatewayclasses.gateway.networking.k8s.io",
    "referencegrants.gateway.networking.k8s.io",
)


def test_apiserver_reports_the_pinned_version(cluster: ClusterHandle, request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--cluster") != "local":
        pytest.fail("this test checks the locally built control plane; run it with --cluster=local")
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    expected = read_versions()["KUBERNETES_VERSION"]
    assert version["serverVersion"]["gitVersion"] == expected
    assert version["clientVersion"]["gitVersion"] == expected


def test_control_plane_listens_on_loopback(cluster: ClusterHandle) -> None:
    server = cluster.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}").stdout
    assert server.startswith("https://127.0.0.1:")


def test_deployment_pods_become_ready_and_rollout_completes(cluster: ClusterHandle) -> None:
    manifest = DEPLOYMENT.format(name="ready-app", labels="{app: ready-app}")
    cluster.kubectl("apply", "-f", "-", input_text=manifest)
    try:
        cluster.kubectl("rollout", "status", "deployment/ready-app", "-n", "default", "--timeout=120s")
        pods = json.loads(cluster.kubectl("get", "pods", "-n", "default", "-l", "app=ready-app", "-o", "json").stdout)
        assert len(pods["items"]) == 3
        for pod in pods["items"]:
            assert pod["status"]["phase"] == "Running"
            ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "True"
            assert pod["spec"]["nodeName"].startswith("kwok-node-")
    finally:
        cluster.kubectl("delete", "deployment", "ready-app", "-n", "default", "--wait=false", check=False)


def test_pods_labelled_as_a_bad_version_run_but_never_become_ready(cluster: ClusterHandle) -> None:
    manifest = DEPLOYMENT.format(name="bad-app", labels="{app: bad-app, tenancy.io/simulate: not-ready}")
    cluster.kubectl("apply", "-f", "-", input_text=manifest)
    try:
        cluster.kubectl(
            "wait", "pods", "-n", "default", "-l", "app=bad-app",
            "--for=jsonpath={.status.phase}=Running", "--timeout=60s",
        )
        result = cluster.kubectl("rollout", "status", "deployment/bad-app", "-n", "default", "--timeout=5s", check=False)
        assert result.returncode != 0
        pods = json.loads(cluster.kubectl("get", "pods", "-n", "default", "-l", "app=bad-app", "-o", "json").stdout)
        assert len(pods["items"]) == 3
        for pod in pods["items"]:
            ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
            assert (pod["status"]["phase"], ready["status"]) == ("Running", "False")
    finally:
        cluster.kubectl("delete", "deployment", "bad-app", "-n", "default", "--wait=false", check=False)


def test_helm_cli_is_the_pinned_build(cluster: ClusterHandle) -> None:
    import subprocess

    output = subprocess.run(
        [cluster.tool("helm"), "version", "--short"], env=cluster.env(), capture_output=True, text=True, check=True
    ).stdout
    assert output.startswith(read_versions()["HELM_VERSION"])


def test_gateway_api_crds_are_the_pinned_standard_channel(crds_installed: ClusterHandle) -> None:
    for name in GATEWAY_API_CRDS:
        crd = json.loads(crds_installed.kubectl("get", "crd", name, "-o", "json").stdout)
        annotations = crd["metadata"]["annotations"]
        assert annotations["gateway.networking.k8s.io/bundle-version"] == read_versions()["GATEWAY_API_VERSION"]
        assert annotations["gateway.networking.k8s.io/channel"] == "standard"
        established = next(c for c in crd["status"]["conditions"] if c["type"] == "Established")
        assert established["status"] == "True"


def test_weighted_http_route_is_stored_and_a_negative_weight_is_refused(crds_installed: ClusterHandle) -> None:
    namespace = "gateway-api-routes"
    crds_installed.kubectl("create", "namespace", namespace)
    try:
        crds_installed.kubectl(
            "apply", "-f", "-",
            input_text=HTTP_ROUTE.format(name="canary", namespace=namespace, stable_weight=90, canary_weight=10),
        )
        route = json.loads(crds_installed.kubectl("get", "httproute", "canary", "-n", namespace, "-o", "json").stdout)
        backends = [(ref["name"], ref["weight"]) for ref in route["spec"]["rules"][0]["backendRefs"]]
        assert backends == [("app-stable", 90), ("app-canary", 10)]

        refused = crds_installed.kubectl(
            "apply", "-f", "-", check=False,
            input_text=HTTP_ROUTE.format(name="negative", namespace=namespace, stable_weight=90, canary_weight=-1),
        )
        assert refused.returncode != 0
        assert "backendRefs[1].weight" in refused.stderr
        assert "greater than or equal to 0" in refused.stderr
        missing = crds_installed.kubectl("get", "httproute", "negative", "-n", namespace, check=False)
        assert missing.returncode != 0 and "NotFound" in missing.stderr
    finally:
        crds_installed.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
