from tenant_operator.rollout.model import UpdateRolloutSpec
from tenant_operator.rollout.render import available, green_deployment, green_name, selector_patch

BLUE = {
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "web:1"}, {"name": "proxy", "image": "p:1"}]}},
    },
}


def spec(**fields) -> UpdateRolloutSpec:
    return UpdateRolloutSpec.model_validate({"product": "web", "version": "1.2.0", "deploymentRef": "web",
                                             "image": "web:1.2.0", "activeService": "web", **fields})


def test_green_copies_blue_with_the_new_image_version_and_its_own_selector() -> None:
    green = green_deployment(BLUE, spec(podLabels={"tier": "canary"}), "web-1-2-0", "3f9a2c1d-0000",
                             {"kind": "UpdateRollout"})
    assert green["metadata"]["name"] == green_name(spec(), "3f9a2c1d-0000") == "web-1-2-0-3f9a2"
    assert green["metadata"]["labels"]["tenancy.io/product"] == "web"
    assert green["spec"]["replicas"] == 3
    assert green["spec"]["selector"]["matchLabels"] == {"app": "web", "tenancy.io/rollout": "web-1-2-0"}
    labels = green["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == "1.2.0" and labels["tier"] == "canary"
    assert [c["image"] for c in green["spec"]["template"]["spec"]["containers"]] == ["web:1.2.0", "p:1"]
    assert BLUE["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"  # blue untouched


def test_named_container_gets_the_image() -> None:
    green = green_deployment(BLUE, spec(container="proxy", image="p:2"), "r", "u", {})
    assert [c["image"] for c in green["spec"]["template"]["spec"]["containers"]] == ["web:1", "p:2"]


def test_selector_is_narrowed_to_one_replicaset() -> None:
    service = {"spec": {"selector": {"app": "web", "pod-template-hash": "old"}}}
    assert selector_patch(service, "new") == {"spec": {"selector": {"app": "web", "pod-template-hash": "new"}}}


def test_available_needs_every_replica_of_the_current_generation() -> None:
    deployment = {"metadata": {"generation": 2}, "spec": {"replicas": 3},
                  "status": {"observedGeneration": 2, "updatedReplicas": 3, "availableReplicas": 3, "readyReplicas": 3}}
    assert available(deployment)
    assert not available({**deployment, "status": {**deployment["status"], "readyReplicas": 2}})
    assert not available({**deployment, "status": {**deployment["status"], "observedGeneration": 1}})
    assert not available(None)


ROUTE = {
    "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"},
    "spec": {"rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
         "backendRefs": [{"name": "web", "port": 80}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}], "backendRefs": [{"name": "docs", "port": 80}]},
    ]},
}


def test_http_route_weights_split_the_active_rule_and_leave_other_rules_alone() -> None:
    from tenant_operator.rollout.render import http_route_rules, route_weight

    rules = http_route_rules(ROUTE, "web", "web-preview", 10)
    assert rules[0]["backendRefs"] == [{"name": "web", "port": 80, "weight": 90},
                                       {"name": "web-preview", "port": 80, "weight": 10}]
    assert rules[1] == ROUTE["spec"]["rules"][1]
    assert route_weight({"spec": {"rules": rules}}, "web-preview") == 10
    again = http_route_rules({"metadata": ROUTE["metadata"], "spec": {"rules": rules}}, "web", "web-preview", 50)
    assert [ref["weight"] for ref in again[0]["backendRefs"]] == [50, 50]  # one preview ref, not two
    restored = http_route_rules({"metadata": ROUTE["metadata"], "spec": {"rules": again}}, "web", "web-preview", None)
    assert restored == ROUTE["spec"]["rules"]


def test_a_route_without_the_active_service_is_a_configuration_error() -> None:
    import pytest

    from tenant_operator.rollout.render import http_route_rules

    with pytest.raises(ValueError, match="no backendRef to Service shop"):
        http_route_rules(ROUTE, "shop", "shop-preview", 10)


def test_canary_ingress_sends_the_weight_to_the_preview_service() -> None:
    from tenant_operator.rollout.render import canary_ingress

    ingress = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {
        "ingressClassName": "nginx",
        "rules": [{"host": "shop.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}],
    }}
    canary = canary_ingress(ingress, "web", "web-preview", 50, "web-2", {"kind": "UpdateRollout"})
    assert canary["metadata"]["name"] == "web-canary"
    assert canary["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/canary": "true",
                                                 "nginx.ingress.kubernetes.io/canary-weight": "50"}
    backend = canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "web-preview", "port": {"number": 80}}
    assert canary["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "web"


def test_prometheus_answers_and_threshold_ranges() -> None:
    from tenant_operator.rollout.checks import describe_range, first_value, within
    from tenant_operator.rollout.model import ThresholdRange

    vector = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.2"]}]}}
    assert first_value(vector) == 0.2
    assert first_value({"data": {"resultType": "scalar", "result": [1, "3"]}}) == 3.0
    assert first_value({"data": {"resultType": "vector", "result": []}}) is None
    assert within(0.01, ThresholdRange(max=0.05)) and not within(0.2, ThresholdRange(max=0.05))
    assert not within(float("nan"), ThresholdRange(max=1))
    assert within(5, ThresholdRange(min=1, max=5)) and not within(0.5, ThresholdRange(min=1))
    assert describe_range(ThresholdRange(max=0.05)) == "<= 0.05"


def test_without_traffic_routing_there_is_one_switch_and_steps_default_to_10_50_100() -> None:
    assert [step.weight for step in spec().steps] == [10, 50, 100]


def queue_entry(name: str, product: str, created: str, phase: str, namespace: str = "shop"):
    from tenant_operator.rollout.gates import IndexedRollout

    return IndexedRollout(namespace, name, product, created, phase)


def test_one_rollout_per_product_oldest_first_and_a_tenant_concurrency_limit() -> None:
    from tenant_operator.rollout.gates import TenantScope, queue_gate
    from tenant_operator.schedule import UpdatePreferences

    scope = TenantScope("shop", ("shop",), UpdatePreferences(maxConcurrentRollouts=2))
    web_old = queue_entry("web-1", "web", "2026-11-23T10:00:00Z", "Monitoring")
    web_new = queue_entry("web-2", "web", "2026-11-23T10:05:00Z", "Pending")
    api = queue_entry("api-1", "api", "2026-11-23T10:06:00Z", "Pending")
    gate = queue_gate(web_new, scope, [web_old, web_new, api])
    assert not gate.open and gate.reason == "Queued" and "shop/web-1" in gate.message
    assert queue_gate(api, scope, [web_old, web_new, api]).open
    busy = [web_old, queue_entry("db-1", "db", "2026-11-23T09:00:00Z", "TrafficSwitch"), api]
    closed = queue_gate(api, scope, busy)
    assert not closed.open and "limit 2" in closed.message
    finished = [queue_entry("web-0", "web", "2026-11-23T09:00:00Z", "RolledBack"), web_new]
    assert queue_gate(web_new, scope, finished).open


def test_the_live_deployment_is_the_newest_with_replicas() -> None:
    from tenant_operator.rollout.render import live_deployment

    def deployment(name: str, replicas: int, created: str) -> dict:
        return {"metadata": {"name": name, "creationTimestamp": created}, "spec": {"replicas": replicas}}

    old = deployment("web", 0, "2026-11-01T00:00:00Z")
    current = deployment("web-1-1-0-ab12c", 3, "2026-11-20T00:00:00Z")
    assert live_deployment([old, current])["metadata"]["name"] == "web-1-1-0-ab12c"
    assert live_deployment([old]) is None


def test_a_pod_template_in_the_rollout_replaces_blues_but_keeps_its_selector_labels() -> None:
    template = {"metadata": {"labels": {"tier": "web"}},
                "spec": {"containers": [{"name": "web", "image": "old", "env": [{"name": "MODE", "value": "v2"}]}]}}
    green = green_deployment(BLUE, spec(template=template), "web-2", "u", {})
    labels = green["spec"]["template"]["metadata"]["labels"]
    assert labels["app"] == "web" and labels["tier"] == "web"
    container = green["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "web:1.2.0" and container["env"] == [{"name": "MODE", "value": "v2"}]
    assert template["spec"]["containers"][0]["image"] == "old"  # the spec itself untouched
