"""FleetUpdate planning: targets, waves, the concurrency limit, the failure threshold, progress."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tenant_operator.fleet import plan
from tenant_operator.fleet.model import FleetUpdateSpec, TargetStatus
from tenant_operator.fleet.plan import Endpoint


def spec(**fields: object) -> FleetUpdateSpec:
    return FleetUpdateSpec.model_validate({"product": "web", "version": "2.0.0", "image": "web:2.0.0", **fields})


def deployment(namespace: str, name: str, version: str, replicas: int = 3, created: str = "2026-01-01T00:00:00Z",
               product: str = "web") -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": created,
                         "labels": {"tenancy.io/product": product, "app.kubernetes.io/version": version}},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {}}}}}


def endpoints(*tenants: str, version: str = "1.0.0") -> list[Endpoint]:
    return [Endpoint(tenant, tenant, version) for tenant in tenants]


def targets_in(waves: list[TargetStatus]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for target in waves:
        grouped.setdefault(target.wave, []).append(target.tenant)
    return grouped


def with_phases(targets: list[TargetStatus], **phases: str) -> list[TargetStatus]:
    return [t.model_copy(update={"phase": phases.get(t.tenant, t.phase)}) for t in targets]


# --- targets --------------------------------------------------------------------------------------------------
def test_an_endpoint_is_a_tenant_namespace_with_a_live_deployment_and_its_version() -> None:
    deployments = [
        deployment("acme-prod", "web", "1.0.0", replicas=0),  # the old blue, scaled down
        deployment("acme-prod", "web-1-1-0-abcde", "1.1.0", created="2026-02-01T00:00:00Z"),
        deployment("acme-dev", "web", "1.0.0"),
        deployment("kube-system", "web", "1.0.0"),  # no tenant's namespace
        deployment("globex", "web", "1.0.0", replicas=0),  # nothing live
    ]
    tenant_of = {"acme-prod": "acme", "acme-dev": "acme", "globex": "globex"}
    assert plan.endpoints(deployments, tenant_of) == [Endpoint("acme", "acme-dev", "1.0.0"),
                                                      Endpoint("acme", "acme-prod", "1.1.0")]


def test_the_version_is_read_from_the_deployment_or_its_pod_template() -> None:
    templated = deployment("a", "web", "ignored")
    templated["metadata"]["labels"].pop("app.kubernetes.io/version")
    templated["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] = "1.4.0"
    assert plan.deployment_version(templated) == "1.4.0"


def test_named_tenants_are_the_targets_and_those_on_the_version_are_skipped() -> None:
    found = [*endpoints("a", "b", "c"), Endpoint("d", "d", "2.0.0")]
    assert plan.select_targets(found, [], "2.0.0") == (endpoints("a", "b", "c"), 1)
    assert plan.select_targets(found, ["b", "d", "zz"], "2.0.0") == (endpoints("b"), 1)


# --- waves ----------------------------------------------------------------------------------------------------
def test_waves_take_named_tenants_then_percents_of_what_is_left_rounded_up() -> None:
    waves = [{"name": "canary", "tenants": ["e"]}, {"name": "early", "percent": 25}, {"name": "rest", "percent": 100}]
    targets, _ = plan.plan_targets("fu", spec(waves=waves), endpoints(*"abcdefg"))
    assert targets_in(targets) == {"canary": ["e"], "early": ["a", "b"], "rest": ["c", "d", "f", "g"]}


def test_priorities_go_first_into_percent_waves_and_within_a_wave() -> None:
    waves = [{"name": "first", "percent": 40}, {"name": "rest", "percent": 100}]
    targets, _ = plan.plan_targets("fu", spec(waves=waves, priorities={"d": 10, "c": 5, "a": -1}),
                                   endpoints(*"abcde"))
    assert targets_in(targets) == {"first": ["d", "c"], "rest": ["b", "e", "a"]}


def test_the_last_wave_takes_every_target_left_so_all_are_updated() -> None:
    waves = [{"name": "one", "tenants": ["a"]}, {"name": "half", "percent": 50}]
    targets, _ = plan.plan_targets("fu", spec(waves=waves), endpoints(*"abcd"))
    assert targets_in(targets) == {"one": ["a"], "half": ["b", "c", "d"]}
    default, _ = plan.plan_targets("fu", spec(), endpoints(*"ab"))
    assert targets_in(default) == {"all": ["a", "b"]}


def test_every_namespace_of_a_tenant_is_a_target_with_its_own_rollout() -> None:
    found = [Endpoint("acme", "acme-eu", "1.0.0"), Endpoint("acme", "acme-us", "1.0.0"), *endpoints("b")]
    waves = [{"name": "acme", "tenants": ["acme"]}, {"name": "rest", "percent": 100}]
    targets, _ = plan.plan_targets("fleet", spec(waves=waves), found)
    assert [(t.wave, t.namespace, t.rollout) for t in targets] == [
        ("acme", "acme-eu", "fleet-acme"), ("acme", "acme-us", "fleet-acme"), ("rest", "b", "fleet-b")]
    assert all(t.phase == "Waiting" and t.fromVersion == "1.0.0" for t in targets)


def test_rollout_names_fit_in_63_characters_and_end_alphanumeric() -> None:
    name = plan.rollout_name("f" * 40, "tenant-" + "x" * 15 + "-y")
    assert len(name) <= 63 and not name.endswith("-")
    assert plan.rollout_name("w" * 55, "abcdef-ghi") == "w" * 55 + "-abcdef"


# --- observing and deciding -----------------------------------------------------------------------------------
def two_waves(*tenants: str, canary: int = 1, **fields: object) -> tuple[list[TargetStatus], list[str],
                                                                          FleetUpdateSpec]:
    fleet = spec(waves=[{"name": "canary", "tenants": list(tenants[:canary])}, {"name": "rest", "percent": 100}],
                 **fields)
    targets, _ = plan.plan_targets("fu", fleet, endpoints(*tenants))
    return targets, ["canary", "rest"], fleet


def test_phases_come_from_the_rollouts_and_a_vanished_running_one_counts_as_failed() -> None:
    targets, _, _ = two_waves("a", "b", "c", "d")
    targets = with_phases(targets, a="Completed", b="Validation", c="Failed")
    observed = plan.observe(targets, {("a", "fu-a"): "Completed", ("d", "fu-d"): None})
    assert [(t.tenant, t.phase) for t in observed] == [("a", "Completed"), ("b", "Failed"), ("c", "Failed"),
                                                       ("d", "Pending")]
    assert observed[1].message == plan.DELETED_MESSAGE and observed[2].message is None


def test_the_first_wave_starts_up_to_the_limit_and_the_next_waits_for_it() -> None:
    targets, waves, fleet = two_waves("a", "b", "c", "d", canary=2, maxConcurrent=1)
    first = plan.decide(targets, waves, fleet)
    assert (first.phase, first.wave, [t.tenant for t in first.start]) == ("Progressing", "canary", ["a"])
    targets = with_phases(targets, a="Monitoring")
    assert plan.decide(targets, waves, fleet).start == []  # the limit is full
    targets = with_phases(targets, a="Completed")
    assert [t.tenant for t in plan.decide(targets, waves, fleet).start] == ["b"]
    targets = with_phases(targets, b="Pending")
    held = plan.decide(targets, waves, fleet.model_copy(update={"maxConcurrent": 5}))
    assert (held.wave, held.start) == ("canary", [])  # rest waits until canary finished
    targets = with_phases(targets, b="Completed")
    rest = plan.decide(targets, waves, fleet.model_copy(update={"maxConcurrent": 5}))
    assert (rest.wave, [t.tenant for t in rest.start]) == ("rest", ["c", "d"])


def test_the_limit_counts_every_unfinished_rollout_of_the_fleet() -> None:
    targets, _, _ = two_waves("a", "b", "c", "d", "e")
    targets = with_phases(targets, a="Pending", b="TrafficSwitch", c="RolledBack")
    assert [t.tenant for t in plan.next_to_start(targets, "rest", 3)] == ["d"]


def test_a_wave_over_the_failure_threshold_stops_the_fleet_at_once() -> None:
    targets, waves, fleet = two_waves("a", "b", "c", "d", canary=2, failureThreshold=30)
    targets = with_phases(targets, a="RolledBack", b="Validation")
    decision = plan.decide(targets, waves, fleet)
    assert (decision.phase, decision.reason, decision.wave, decision.start) == ("Stopped", "FailureThreshold",
                                                                                "canary", [])
    assert "1 of 2 rollouts failed (50%, more than the 30% allowed)" in decision.message


def test_failures_up_to_the_threshold_let_the_fleet_go_on() -> None:
    targets, waves, fleet = two_waves("a", "b", "c", "d", "e", canary=5, failureThreshold=20)
    targets = with_phases(targets, a="Failed", b="Completed", c="Completed", d="Completed", e="Completed")
    assert plan.decide(targets, waves, fleet).phase == "Completed"
    assert plan.decide(targets, waves, fleet.model_copy(update={"failureThreshold": 19})).phase == "Stopped"


def test_paused_starts_nothing_but_keeps_its_wave() -> None:
    targets, waves, fleet = two_waves("a", "b", paused=True)
    decision = plan.decide(targets, waves, fleet)
    assert (decision.phase, decision.reason, decision.wave, decision.start) == ("Progressing", "Paused", "canary",
                                                                                [])


def test_the_fleet_completes_when_every_wave_finished_and_empty_waves_are_skipped() -> None:
    fleet = spec(waves=[{"name": "gone", "tenants": ["nobody"]}, {"name": "all", "percent": 100}])
    targets, _ = plan.plan_targets("fu", fleet, endpoints("a"))
    decision = plan.decide(targets, ["gone", "all"], fleet)
    assert (decision.wave, [t.tenant for t in decision.start]) == ("all", ["a"])
    done = plan.decide(with_phases(targets, a="Completed"), ["gone", "all"], fleet)
    assert (done.phase, done.message) == ("Completed", "1 of 1 updated to 2.0.0")
    nothing = plan.decide([], ["all"], spec())
    assert (nothing.phase, nothing.message) == ("Completed", "nothing to update to 2.0.0")


def test_progress_per_wave_and_across_the_fleet() -> None:
    targets, waves, _ = two_waves("a", "b", "c", "d")
    targets = with_phases(targets, a="Completed", b="RolledBack", c="Monitoring")
    canary, rest = plan.wave_progress(targets, waves)
    assert canary.model_dump() == {"name": "canary", "targets": 1, "completed": 1, "failed": 0, "running": 0,
                                   "waiting": 0}
    assert rest.model_dump() == {"name": "rest", "targets": 3, "completed": 0, "failed": 1, "running": 1,
                                 "waiting": 1}
    assert plan.summary(plan.count(targets)) == "1/4 completed, 1 failed, 1 running"
    assert plan.failure_rate(rest) == pytest.approx(100 / 3)


def test_created_targets_replace_their_waiting_entries() -> None:
    targets, _, _ = two_waves("a", "b")
    created = {("b", "fu-b"): targets[1].model_copy(update={"phase": "Pending"})}
    assert [t.phase for t in plan.started(targets, created)] == ["Waiting", "Pending"]


# --- the model ------------------------------------------------------------------------------------------------
def test_the_spec_defaults_and_passthrough() -> None:
    fleet = spec()
    assert (fleet.maxConcurrent, fleet.failureThreshold, fleet.paused, fleet.active_service) == (5, 20, False, "web")
    assert [w.model_dump() for w in fleet.waves] == [{"name": "all", "tenants": [], "percent": 100}]
    assert spec(activeService="shop").active_service == "shop"


@pytest.mark.parametrize("fields", [{"maxConcurrent": 0}, {"failureThreshold": 101}, {"product": "Web"},
                                    {"waves": []}, {"waves": [{"name": "w", "percent": 0}]}, {"unknown": 1}])
def test_bad_specs_are_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        spec(**fields)
