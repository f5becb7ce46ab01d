"""The SecurityPolicy API: the pydantic models are the single source of truth for the CRD and for validation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..conditions import Condition, conditions_field, last_handled_field
from ..crdgen import CustomResourceKind, PrinterColumn, SpecModel

PodSecurityLevel = Literal["privileged", "baseline", "restricted"]
OAuthProvider = Literal["google", "github", "microsoft", "apple", "gitlab", "okta"]


class PasswordPolicy(SpecModel):
    """Password rules for the tenant's users; unset fields come from the plan."""

    minLength: int | None = Field(default=None, ge=8, le=128, description="Minimum length, 8-128.")
    requireUppercase: bool | None = Field(default=None, description="Require an uppercase letter.")
    requireLowercase: bool | None = Field(default=None, description="Require a lowercase letter.")
    requireNumbers: bool | None = Field(default=None, description="Require a digit.")
    requireSpecialChars: bool | None = Field(default=None, description="Require a special character.")
    preventPasswordReuse: int | None = Field(default=None, ge=0, le=24, description="Passwords remembered, 0-24.")
    expiryDays: int | None = Field(default=None, ge=0, le=365, description="Days before expiry, 0 (never)-365.")


class SessionPolicy(SpecModel):
    """Session rules for the tenant's users; unset fields come from the plan."""

    timeoutSeconds: int | None = Field(
        default=None, ge=3600, le=86400, description="Session timeout in seconds, 1-24 hours."
    )
    maxConcurrentSessions: int | None = Field(default=None, ge=1, le=10, description="Concurrent sessions, 1-10.")
    rememberDeviceDays: int | None = Field(default=None, ge=0, le=30, description="Days a device is remembered.")
    extendOnActivity: bool | None = Field(default=None, description="Extend the session on activity.")
    requireMFA: bool | None = Field(default=None, description="Require multi-factor authentication.")


class AuthMethods(SpecModel):
    """Which sign-in methods the tenant's users may use."""

    password: bool | None = Field(default=None, description="Password sign-in.")
    twoFactor: bool | None = Field(default=None, description="Second factor (TOTP) after the password.")
    passkey: bool | None = Field(default=None, description="Passkeys (WebAuthn).")
    oauthProviders: list[OAuthProvider] | None = Field(
        default=None,
        max_length=6,
        json_schema_extra={"uniqueItems": True},
        description="OAuth providers users may sign in with: google, github, microsoft, apple, gitlab, okta.",
    )


class SecuritySettings(SpecModel):
    """Password, session, sign-in and pod-security settings; every field optional, merged field by field."""

    podSecurity: PodSecurityLevel | None = Field(
        default=None,
        description="Pod Security Standard enforced in the tenant's namespaces: privileged, baseline (default) "
        "or restricted.",
    )
    password: PasswordPolicy | None = Field(default=None, description="Password policy.")
    session: SessionPolicy | None = Field(default=None, description="Session policy.")
    authMethods: AuthMethods | None = Field(default=None, description="Allowed sign-in methods.")


class SecurityPolicySpec(SecuritySettings):
    """A security policy shared by tenants; tenants reference it with spec.securityPolicyRef."""


class SecurityPolicyStatus(BaseModel):
    """Observed state of a security policy."""

    observedGeneration: int | None = Field(default=None, description="The .metadata.generation last handled.")
    tenants: list[str] | None = Field(default=None, description="Tenants that use the policy.")
    conditions: list[Condition] | None = conditions_field("Ready once every tenant using the policy has been told of its last change.")
    lastHandledConfiguration: str | None = last_handled_field()


SECURITY_POLICY = CustomResourceKind(
    kind="SecurityPolicy",
    plural="securitypolicies",
    singular="securitypolicy",
    scope="Cluster",
    short_names=("secpol",),
    description="Password, session, sign-in and pod-security policy shared by the tenants that reference it.",
    spec_model=SecurityPolicySpec,
    status_model=SecurityPolicyStatus,
    printer_columns=(
        PrinterColumn("Pod Security", "string", ".spec.podSecurity"),
        PrinterColumn("Min Password", "integer", ".spec.password.minLength"),
        PrinterColumn("MFA", "boolean", ".spec.session.requireMFA"),
        PrinterColumn("Tenants", "string", ".status.tenants"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
