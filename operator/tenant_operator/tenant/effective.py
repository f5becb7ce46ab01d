"""The tenant's effective configuration: the plan's defaults with the spec merged over them. Pure."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from ..securitypolicy.model import SecuritySettings
from .model import TenantSpec
from .plans import CUSTOM_BASE, PLANS, ComputeQuota, Plan

DEFAULT_POD_SECURITY = "baseline"
DEFAULT_SESSION = {"maxConcurrentSessions": 3, "rememberDeviceDays": 0, "extendOnActivity": True, "requireMFA": False}
DEFAULT_PASSWORD_EXTRA = {"preventPasswordReuse": 3, "expiryDays": 90}
_BINARY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}


@dataclass(frozen=True)
class EffectiveConfig:
    plan: str
    maxUsers: int
    storage: str
    apiRequestsPerDay: int
    password: dict[str, Any]
    session: dict[str, Any]
    features: dict[str, bool]
    authMethods: dict[str, Any]
    podSecurity: str
    compute: ComputeQuota

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantity_bytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|Pi)", quantity)
    if match is None:
        raise ValueError(f"not a binary quantity: {quantity}")
    return int(match.group(1)) * _BINARY_UNITS[match.group(2)]


def merge_set_fields(defaults: dict[str, Any], overrides: Any) -> dict[str, Any]:
    """Fields the spec sets win; unset (None) ones keep the default. The tenant-update merge rule."""
    if overrides is None:
        return dict(defaults)
    return {**defaults, **overrides.model_dump(exclude_none=True)}


def base_plan(spec: TenantSpec) -> Plan:
    return PLANS.get(spec.plan, CUSTOM_BASE)


def effective_compute(plan: Plan, spec: TenantSpec) -> ComputeQuota:
    limits = spec.limits
    compute = plan.compute
    if limits is None:
        return compute
    return ComputeQuota(
        pods=limits.pods or compute.pods,
        requestsCpu=limits.cpu or compute.requestsCpu,
        requestsMemory=limits.memory or compute.requestsMemory,
        limitsCpu=_at_least(limits.cpu, compute.limitsCpu, cpu=True),
        limitsMemory=_at_least(limits.memory, compute.limitsMemory, cpu=False),
        persistentVolumeClaims=compute.persistentVolumeClaims,
        databaseConnections=limits.databaseConnections or compute.databaseConnections,
    )


def _at_least(requested: str | None, default: str, cpu: bool) -> str:
    """Limits follow raised requests so a quota never allows more requests than limits."""
    if requested is None:
        return default
    measure = _millicores if cpu else quantity_bytes
    return requested if measure(requested) > measure(default) else default


def _millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(quantity) * 1000


def merge_layers(defaults: dict[str, Any], *layers: Any) -> dict[str, Any]:
    """Each layer's set fields win over the ones below: plan defaults, then the SecurityPolicy, then the tenant."""
    merged = dict(defaults)
    for layer in layers:
        merged = merge_set_fields(merged, layer)
    return merged


def default_auth_methods(plan: Plan) -> dict[str, Any]:
    return {"password": True, "twoFactor": True, "passkey": plan.name != "basic", "oauthProviders": []}


def effective_config(spec: TenantSpec, policy: SecuritySettings | None = None) -> EffectiveConfig:
    plan = base_plan(spec)
    layers = [layer for layer in (policy, spec.security) if layer is not None]
    limits = spec.limits
    password = merge_layers(
        {**asdict(plan.password), **DEFAULT_PASSWORD_EXTRA}, *(layer.password for layer in layers)
    )
    session = merge_layers(
        {"timeoutSeconds": plan.sessionTimeoutSeconds, **DEFAULT_SESSION}, *(layer.session for layer in layers)
    )
    auth_methods = merge_layers(default_auth_methods(plan), *(layer.authMethods for layer in layers))
    pod_security = next(
        (layer.podSecurity for layer in reversed(layers) if layer.podSecurity), DEFAULT_POD_SECURITY
    )
    features = merge_set_fields(
        plan.features if spec.plan != "custom" else {name: False for name in plan.features}, spec.features
    )
    return EffectiveConfig(
        plan=spec.plan,
        maxUsers=(limits and limits.maxUsers) or plan.maxUsers,
        storage=(limits and limits.storage) or plan.storage,
        apiRequestsPerDay=(limits and limits.apiRequestsPerDay) or plan.apiRequestsPerDay,
        password=password,
        session=session,
        features=features,
        authMethods=auth_methods,
        podSecurity=pod_security,
        compute=effective_compute(plan, spec),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def config_map_data(slug: str, spec: TenantSpec, config: EffectiveConfig) -> dict[str, str]:
    """The keys the tenant's apps read from ConfigMap tenant-config (as the architecture process names them)."""
    data = {
        "tenant.slug": slug,
        "tenant.display_name": spec.displayName,
        "tenant.status": spec.status,
        "plan": config.plan,
        "users.max": str(config.maxUsers),
        "security.password_policy": json.dumps(config.password, sort_keys=True),
        "security.pod_security": config.podSecurity,
        "session.timeout": str(config.session["timeoutSeconds"]),
        "session.policy": json.dumps(config.session, sort_keys=True),
        "api.rate_limit": str(config.apiRequestsPerDay),
        "file_upload.max_size": str(quantity_bytes(config.storage)),
    }
    data.update({f"features.{_snake(name)}": str(enabled).lower() for name, enabled in config.features.items()})
    return data


def security_policy_data(config: EffectiveConfig, policy_name: str | None) -> dict[str, str]:
    """ConfigMap tenant-security-policy: the effective security policy, for the tenant's apps."""
    return {
        "policy": policy_name or "",
        "password_policy": json.dumps(config.password, sort_keys=True),
        "session_policy": json.dumps(config.session, sort_keys=True),
        "auth_methods": json.dumps(config.authMethods, sort_keys=True),
        "mfa_required": str(bool(config.session.get("requireMFA"))).lower(),
        "pod_security": config.podSecurity,
    }
