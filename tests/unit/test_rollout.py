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
    green = green_deployment(BLUE, spec(podLabels={"tier": "canary"}), "web-1-2-0", {"kind": "UpdateRollout"})
    assert green["metadata"]["name"] == green_name(spec()) == "web-1-2-0"
    assert green["spec"]["replicas"] == 3
    assert green["spec"]["selector"]["matchLabels"] == {"app": "web", "tenancy.io/rollout": "web-1-2-0"}
    labels = green["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == "1.2.0" and labels["tier"] == "canary"
    assert [c["image"] for c in green["spec"]["template"]["spec"]["containers"]] == ["web:1.2.0", "p:1"]
    assert BLUE["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"  # blue untouched


def test_named_container_gets_the_image() -> None:
    green = green_deployment(BLUE, spec(container="proxy", image="p:2"), "r", {})
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
