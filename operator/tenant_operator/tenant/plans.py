"""Plans and their defaults, from the multi-tenant architecture process. Pure data and lookups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PlanName = Literal["basic", "premium", "enterprise", "custom"]

FEATURES = ("biometricAuth", "aiVerification", "advancedAnalytics", "customBranding", "prioritySupport")


@dataclass(frozen=True)
class PasswordDefaults:
    minLength: int
    requireUppercase: bool = True
    requireLowercase: bool = True
    requireNumbers: bool = True
    requireSpecialChars: bool = True


@dataclass(frozen=True)
class ComputeQuota:
    """What one tenant namespace may use (ResourceQuota), and per-container defaults (LimitRange)."""

    pods: int
    requestsCpu: str
    requestsMemory: str
    limitsCpu: str
    limitsMemory: str
    persistentVolumeClaims: int
    databaseConnections: int


@dataclass(frozen=True)
class Plan:
    name: PlanName
    maxUsers: int
    storage: str
    apiRequestsPerDay: int
    sessionTimeoutSeconds: int
    password: PasswordDefaults
    compute: ComputeQuota
    features: dict[str, bool] = field(default_factory=dict)
    # Features a tenant may switch on under this plan (the "license restrictions").
    allowedFeatures: tuple[str, ...] = ()


def _features(*enabled: str) -> dict[str, bool]:
    return {name: name in enabled for name in FEATURES}


PLANS: dict[str, Plan] = {
    "basic": Plan(
        name="basic",
        maxUsers=100,
        storage="10Gi",
        apiRequestsPerDay=1_000,
        sessionTimeoutSeconds=3600,
        password=PasswordDefaults(minLength=8, requireSpecialChars=False),
        compute=ComputeQuota(20, "2", "4Gi", "4", "8Gi", 10, databaseConnections=10),
        features=_features(),
        allowedFeatures=(),
    ),
    "premium": Plan(
        name="premium",
        maxUsers=1_000,
        storage="100Gi",
        apiRequestsPerDay=10_000,
        sessionTimeoutSeconds=7200,
        password=PasswordDefaults(minLength=10),
        compute=ComputeQuota(100, "8", "16Gi", "16", "32Gi", 50, databaseConnections=25),
        features=_features("biometricAuth", "customBranding"),
        allowedFeatures=("biometricAuth", "customBranding"),
    ),
    "enterprise": Plan(
        name="enterprise",
        maxUsers=10_000,
        storage="1Ti",
        apiRequestsPerDay=100_000,
        sessionTimeoutSeconds=14400,
        password=PasswordDefaults(minLength=12),
        compute=ComputeQuota(500, "32", "64Gi", "64", "128Gi", 200, databaseConnections=100),
        features=_features(*FEATURES),
        allowedFeatures=FEATURES,
    ),
}

# The custom plan takes its limits from the spec; these fill only what a custom spec cannot express.
CUSTOM_BASE = PLANS["enterprise"]
CUSTOM_REQUIRED_LIMITS = ("maxUsers", "storage", "apiRequestsPerDay", "sessionTimeoutSeconds", "passwordMinLength")


def plans_allowing(feature: str) -> list[str]:
    return [name for name, plan in PLANS.items() if feature in plan.allowedFeatures] + ["custom"]
