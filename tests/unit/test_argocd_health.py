"""Argo CD health checks (charts/tenant-operator/argocd/health/*.lua), run in Lua the way Argo CD runs them.

Argo CD turns the live object into a Lua table, sets it as the global `obj`, runs the script and reads the table
it returns. Custom checks from argocd-cm run in gopher-lua (Lua 5.1) with only the base, table and package
libraries and a reduced os: no string, no math. The scripts run here under Lua 5.1 and 5.4 with the same narrow
set (the string metatable gone too, so ("x"):format fails as it would in Argo CD). The objects are built from the
operator's own status models and set_condition, so renaming a status field breaks these tests.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from tenant_operator.api import API_VERSION, GROUP
from tenant_operator.conditions import set_condition
from tenant_operator.crdgen import all_kinds
from tenant_operator.fleet import model as fleet
from tenant_operator.iprestriction.model import IpRestrictionStatus
from tenant_operator.rollout import model as rollout
from tenant_operator.securitypolicy.model import SecurityPolicyStatus
from tenant_operator.tenant import model as tenant
from tenant_operator.versions.model import VersionPolicyStatus

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "charts/tenant-operator/argocd"
RUNTIMES = ("lua51", "lua54")
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
# Globals a custom check cannot count on in Argo CD (debug goes last: it removes the string metatable first).
NOT_IN_ARGOCD_VM = ("string", "math", "io", "os", "coroutine", "utf8", "bit32", "dofile", "loadfile", "require",
                    "package", "debug")
NOW = "2026-01-05T10:00:00Z"


# --- running a script like Argo CD --------------------------------------------------------------------------


def script_path(kind: str) -> Path:
    return ARGOCD / "health" / f"{kind.lower()}.lua"


def lua_runtime(runtime: str) -> Any:
    lua = importlib.import_module(f"lupa.{runtime}").LuaRuntime(unpack_returned_tuples=False)
    lua.execute('debug.setmetatable("", nil)')
    for name in NOT_IN_ARGOCD_VM:
        lua.execute(f"{name} = nil")
    return lua


def to_lua(lua: Any, value: Any) -> Any:
    """JSON values as Argo CD hands them to Lua: objects and arrays become tables (arrays indexed from 1)."""
    if isinstance(value, dict):
        return lua.table_from({key: to_lua(lua, item) for key, item in value.items() if item is not None})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, item) for item in value])
    return value


def health(kind: str, obj: dict[str, Any], runtime: str = "lua51") -> dict[str, str]:
    lua = lua_runtime(runtime)
    lua.globals().obj = to_lua(lua, json.loads(json.dumps(obj)))
    hs = lua.execute(script_path(kind).read_text())
    assert hs is not None, f"{kind}: the script returned nothing"
    result = {"status": hs["status"], "message": hs["message"]}
    assert result["status"] in HEALTH_STATUSES, f"{kind}: {result['status']!r} is not an Argo CD health status"
    assert isinstance(result["message"], str) and result["message"], f"{kind}: no message"
    return result


# --- objects built from the status models -------------------------------------------------------------------


def condition(type_: str, status: str, reason: str, message: str = "", generation: int = 1) -> dict[str, Any]:
    return set_condition([], type_, status, reason, message, generation, now=NOW)[0]  # type: ignore[arg-type]


def resource(kind: str, status: BaseModel | None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": API_VERSION, "kind": kind,
        "metadata": {"name": "acme", "generation": generation, "uid": "0b9d3c1e-7f2a-4e55-9c61-2f0d8a1b7c3e"},
        "spec": {},
    }
    if status is not None:
        obj["status"] = status.model_dump(mode="json", exclude_none=True)
    return obj


@dataclass(frozen=True)
class Case:
    name: str
    obj: dict[str, Any]
    status: str
    message: str = ""  # a part of the expected message

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])


def tenant_status(phase: str | None, ready: dict[str, Any] | None, observed: int | None = 1) -> tenant.TenantStatus:
    return tenant.TenantStatus(
        phase=phase, observedGeneration=observed, slug="acme", namespaces=["acme", "acme-apps"],
        primaryNamespace="acme", conditions=[condition("NamespacesReady", "True", "Provisioned", "2 namespace(s)")]
        + ([ready] if ready else []),
    )


TENANT_CASES = [
    Case("no status yet", resource("Tenant", None), "Progressing", "Waiting for the operator"),
    Case("Provisioning", resource("Tenant", tenant.TenantStatus(phase="Provisioning", conditions=[
        condition("Ready", "False", "Provisioning", "provisioning 2 namespace(s)")])), "Progressing",
        "provisioning 2 namespace(s)"),
    Case("Active and Ready", resource("Tenant", tenant_status("Active", condition(
        "Ready", "True", "Provisioned", "tenant acme is active")), 1), "Healthy", "tenant acme is active"),
    Case("Active, generation not reconciled yet", resource("Tenant", tenant_status("Active", condition(
        "Ready", "True", "Provisioned", "tenant acme is active")), 2), "Progressing", "generation 2"),
    Case("Active without a Ready condition", resource("Tenant", tenant_status("Active", None)), "Progressing"),
    Case("Failed", resource("Tenant", tenant_status("Failed", condition(
        "Ready", "False", "NamespaceConflict", "NamespacesReady: namespace acme already exists")), 1), "Degraded",
        "namespace acme already exists"),
    Case("Ready=False with a failure reason", resource("Tenant", tenant_status("Active", condition(
        "Ready", "False", "ApplyFailed", "QuotaReady: quota: forbidden")), 1), "Degraded", "quota: forbidden"),
    Case("Suspended", resource("Tenant", tenant_status("Suspended", condition(
        "Ready", "True", "Suspended", "tenant acme is suspended")), 1), "Suspended", "suspended"),
    Case("Decommissioning", resource("Tenant", tenant_status("Decommissioning", condition(
        "Ready", "False", "Decommissioning", "removing what the tenant owns"))), "Progressing", "removing"),
]


def policy_status(ready: dict[str, Any] | None, observed: int = 3) -> SecurityPolicyStatus:
    return SecurityPolicyStatus(observedGeneration=observed, tenants=["acme", "globex"],
                                conditions=[ready] if ready else None)


PROPAGATED = condition("Ready", "True", "Propagated", "applied to 2 tenant(s)", 3)
SECURITY_POLICY_CASES = [
    Case("no status yet", resource("SecurityPolicy", None), "Progressing", "Waiting for the operator"),
    Case("propagated", resource("SecurityPolicy", policy_status(PROPAGATED), 3), "Healthy", "applied to 2"),
    Case("generation not propagated yet", resource("SecurityPolicy", policy_status(PROPAGATED), 4), "Progressing",
         "generation 4"),
    Case("no Ready condition", resource("SecurityPolicy", policy_status(None), 3), "Progressing"),
    Case("Ready=False", resource("SecurityPolicy", policy_status(condition(
        "Ready", "False", "NotifyFailed", "tenant acme not told", 3)), 3), "Degraded", "tenant acme not told"),
]


def restriction_status(*conditions: dict[str, Any], observed: int | None = 2) -> IpRestrictionStatus:
    return IpRestrictionStatus(observedGeneration=observed, namespaces=["acme"], ingresses=1,
                               updatedAt=NOW, conditions=list(conditions))


ENFORCED = condition("Ready", "True", "Enforced", "enforced in 1 namespace(s), 1 ingress(es)", 2)
IP_RESTRICTION_CASES = [
    Case("no status yet", resource("IpRestriction", None), "Progressing", "Waiting for the operator"),
    Case("enforced", resource("IpRestriction", restriction_status(
        ENFORCED, condition("NotificationsSent", "True", "Delivered", "{}", 2)), 2), "Healthy", "enforced in 1"),
    Case("disabled", resource("IpRestriction", restriction_status(condition(
        "Ready", "True", "Disabled", "disabled in 1 namespace(s), 0 ingress(es)", 2)), 2), "Healthy", "disabled"),
    Case("tenant not there yet", resource("IpRestriction", restriction_status(condition(
        "Ready", "False", "TenantNotReady", "tenant acme or its namespaces not found yet", 1), observed=None), 1),
        "Progressing", "not found yet"),
    Case("notifications failed", resource("IpRestriction", restriction_status(ENFORCED, condition(
        "NotificationsSent", "False", "DeliveryFailed", '{"email": "failed"}', 2)), 2), "Healthy",
        "notifications not delivered"),
    Case("generation not enforced yet", resource("IpRestriction", restriction_status(ENFORCED), 3), "Progressing",
         "generation 3"),
    Case("Ready=False with a failure reason", resource("IpRestriction", restriction_status(condition(
        "Ready", "False", "EnforceFailed", "networkpolicies is forbidden", 2)), 2), "Degraded", "forbidden"),
]


def version_policy_status(ready: dict[str, Any] | None, observed: int = 1) -> VersionPolicyStatus:
    return VersionPolicyStatus(observedGeneration=observed, tenants=3, compliant=1, inGracePeriod=1,
                               nonCompliant=1, evaluatedAt=NOW, conditions=[ready] if ready else None)


EVALUATED = condition("Ready", "True", "Evaluated", "3 tenant(s) run shop")
VERSION_POLICY_CASES = [
    Case("no status yet", resource("VersionPolicy", None), "Progressing", "Waiting for the operator"),
    Case("evaluated, with tenants out of compliance", resource("VersionPolicy", version_policy_status(EVALUATED)),
         "Healthy", "3 tenant(s): 1 compliant, 1 in grace period, 1 non-compliant"),
    Case("generation not evaluated yet", resource("VersionPolicy", version_policy_status(EVALUATED), 2),
         "Progressing", "generation 2"),
    Case("Ready=False", resource("VersionPolicy", version_policy_status(condition(
        "Ready", "False", "InventoryFailed", "tenants unreadable"))), "Degraded", "tenants unreadable"),
]


def rollout_status(phase: str, message: str, *conditions: dict[str, Any],
                   **fields: Any) -> rollout.UpdateRolloutStatus:
    return rollout.UpdateRolloutStatus(phase=phase, message=message, tenant="acme", blueDeployment="shop",
                                       conditions=list(conditions) or None, **fields)


def waiting(reason: str, message: str) -> dict[str, Any]:
    return condition("Progressing", "False", reason, message)


def finished(reason: str, message: str) -> list[dict[str, Any]]:
    return [condition("Ready", "True", reason, message), condition("Progressing", "False", reason, message)]


STARTED = condition("Progressing", "True", "Started", "rollout started")
ROLLOUT_CASES = [
    Case("no status yet", resource("UpdateRollout", None), "Progressing", "Waiting for the operator"),
    Case("Pending, queued", resource("UpdateRollout", rollout_status("Pending", "queued behind acme/shop-1", waiting(
        "Queued", "queued behind acme/shop-1 for product shop")), 1), "Progressing", "queued"),
    Case("Pending, maintenance window", resource("UpdateRollout", rollout_status(
        "Pending", "waiting for the maintenance window at 2026-01-06T02:00:00+00:00", waiting(
            "WaitingForMaintenanceWindow", "waiting for the maintenance window at 2026-01-06T02:00:00+00:00"))),
        "Suspended", "maintenance window"),
    Case("Pending, blackout", resource("UpdateRollout", rollout_status("Pending", "blackout period until 2026-01-07",
                                                                       waiting("Blackout", "blackout period"))),
         "Suspended", "blackout"),
    Case("Preparation", resource("UpdateRollout", rollout_status("Preparation", "deploying green beside blue",
                                                                 STARTED)), "Progressing", "deploying green"),
    Case("Validation", resource("UpdateRollout", rollout_status(
        "Validation", "green is available; running checks", STARTED, greenDeployment="shop-green")), "Progressing",
        "Validation"),
    Case("Paused for approval", resource("UpdateRollout", rollout_status(
        "Paused", "awaiting approval: kubectl tenant rollout promote shop-1 -n acme", STARTED, waiting(
            "AwaitingApproval", "awaiting approval"))), "Suspended", "kubectl tenant rollout promote"),
    Case("TrafficSwitch", resource("UpdateRollout", rollout_status(
        "TrafficSwitch", "50% of traffic on green", STARTED, currentStep=1, currentWeight=50)), "Progressing", "50%"),
    Case("Monitoring", resource("UpdateRollout", rollout_status("Monitoring", "watching green after the switch",
                                                                STARTED)), "Progressing", "Monitoring"),
    Case("Completed, edited afterwards", resource("UpdateRollout", rollout_status(
        "Completed", "shop 1.2.0 is live", *finished("Promoted", "shop 1.2.0 is live"), observedGeneration=1), 2),
        "Healthy", "1.2.0 is live"),
    Case("RolledBack", resource("UpdateRollout", rollout_status(
        "RolledBack", "http errors: 3 failures", *finished("RolledBack", "http errors: 3 failures"),
        failedCheck="errors", observedGeneration=1)), "Degraded", "RolledBack: http errors"),
    Case("Failed", resource("UpdateRollout", rollout_status("Failed", "blue deployment not found",
                                                            observedGeneration=1)), "Degraded", "not found"),
]


def fleet_status(phase: str, message: str, ready: str, progressing: str, reason: str,
                 observed: int = 1) -> fleet.FleetUpdateStatus:
    totals = fleet.Totals(targets=10, completed=3, failed=1, running=2, waiting=4)
    return fleet.FleetUpdateStatus(
        phase=phase, observedGeneration=observed, currentWave="canary", message=message,
        progress="3/10 completed, 1 failed, 2 running", totals=totals,
        waves=[fleet.WaveProgress(name="canary", targets=10, completed=3, failed=1, running=2, waiting=4)],
        conditions=[condition("Ready", ready, reason, message), condition("Progressing", progressing, reason,
                                                                          message)],
    )


FLEET_CASES = [
    Case("no status yet", resource("FleetUpdate", None), "Progressing", "Waiting for the operator"),
    Case("Pending, paused", resource("FleetUpdate", fleet_status(
        "Pending", "paused before it started", "False", "False", "Paused")), "Suspended", "paused before"),
    Case("Pending, unpaused, not acted on yet", resource("FleetUpdate", fleet_status(
        "Pending", "paused before it started", "False", "False", "Paused"), 2), "Progressing", "generation 2"),
    Case("Progressing", resource("FleetUpdate", fleet_status(
        "Progressing", "wave canary: 3/10 completed", "False", "True", "WaveInProgress")), "Progressing", "canary"),
    Case("Progressing, paused", resource("FleetUpdate", fleet_status(
        "Progressing", "paused in wave canary", "False", "False", "Paused")), "Suspended", "paused in wave"),
    Case("Completed, edited afterwards", resource("FleetUpdate", fleet_status(
        "Completed", "9 of 10 updated to 1.2.0; 1 rolled back or failed", "True", "False", "Completed"), 2),
        "Healthy", "9 of 10"),
    Case("Stopped", resource("FleetUpdate", fleet_status(
        "Stopped", "wave canary: 3 of 10 failed (threshold 20%)", "False", "False", "FailureThreshold")),
        "Degraded", "threshold"),
]

CASES = (TENANT_CASES + SECURITY_POLICY_CASES + IP_RESTRICTION_CASES + VERSION_POLICY_CASES + ROLLOUT_CASES
         + FLEET_CASES)


# --- tests --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.kind}: {case.name}")
def test_health(case: Case, runtime: str) -> None:
    result = health(case.kind, case.obj, runtime)
    assert result["status"] == case.status, f"{case.kind} {case.name}: {result}"
    assert case.message in result["message"], f"{case.kind} {case.name}: {result}"


def test_every_kind_has_a_script_and_is_documented() -> None:
    readme = (ARGOCD / "README.md").read_text()
    kinds = {kind.kind for kind in all_kinds()}
    for kind in kinds:
        assert script_path(kind).is_file(), f"no Argo CD health check for {kind}"
        assert f"resource.customizations.health.{GROUP}_{kind}" in readme, f"README does not install {kind}'s"
    scripts = {path.stem for path in (ARGOCD / "health").glob("*.lua")}
    assert scripts == {kind.lower() for kind in kinds}, "health/ holds scripts for kinds the operator does not serve"


@pytest.mark.parametrize(("kind", "phases", "cases"), [
    ("Tenant", get_args(tenant.Phase), TENANT_CASES),
    ("UpdateRollout", get_args(rollout.Phase), ROLLOUT_CASES),
    ("FleetUpdate", get_args(fleet.FleetPhase), FLEET_CASES),
])
def test_every_phase_is_mapped(kind: str, phases: tuple[str, ...], cases: list[Case]) -> None:
    """A phase added to a model needs a case here, and the script must know it (not answer Unknown)."""
    covered = {case.obj.get("status", {}).get("phase") for case in cases}
    assert set(phases) <= covered, f"{kind} phases without a case: {sorted(set(phases) - covered)}"
    for case in cases:
        assert health(kind, case.obj)["status"] != "Unknown", f"{kind} {case.name}"


def test_an_unknown_phase_is_unknown_not_healthy() -> None:
    obj = resource("UpdateRollout", None)
    obj["status"] = {"phase": "Teleporting"}
    assert health("UpdateRollout", obj)["status"] == "Unknown"


def test_rollout_wait_reasons_are_the_models() -> None:
    """The reasons the UpdateRollout script treats as held are the ones its model documents."""
    documented = rollout.UpdateRolloutStatus.model_fields["conditions"].description or ""
    script = script_path("UpdateRollout").read_text()
    for reason in ("AwaitingApproval", "WaitingForMaintenanceWindow", "Blackout", "Queued"):
        assert reason in documented and reason in script, reason


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_vm_is_as_narrow_as_argo_cds(runtime: str) -> None:
    lua = lua_runtime(runtime)
    assert lua.execute("return string == nil and math == nil and io == nil and os == nil and debug == nil")
    assert lua.execute("return ipairs ~= nil and tostring ~= nil and table.insert ~= nil")
    with pytest.raises(importlib.import_module(f"lupa.{runtime}").LuaError):
        lua.execute('return ("generation %d"):format(2)')
