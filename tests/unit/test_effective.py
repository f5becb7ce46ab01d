import json

import pytest
from pydantic import ValidationError

from tenant_operator.tenant.effective import config_map_data, effective_config, quantity_bytes
from tenant_operator.tenant.model import TenantSpec


def spec(**fields) -> TenantSpec:
    return TenantSpec.model_validate({"displayName": "Acme", **fields})


@pytest.mark.parametrize(
    ("plan", "users", "storage", "requests", "timeout", "min_length"),
    [
        ("basic", 100, "10Gi", 1_000, 3600, 8),
        ("premium", 1_000, "100Gi", 10_000, 7200, 10),
        ("enterprise", 10_000, "1Ti", 100_000, 14400, 12),
    ],
)
def test_plan_defaults_match_the_plan_table(plan, users, storage, requests, timeout, min_length) -> None:
    config = effective_config(spec(plan=plan))
    assert (config.maxUsers, config.storage, config.apiRequestsPerDay) == (users, storage, requests)
    assert config.session["timeoutSeconds"] == timeout
    assert config.password["minLength"] == min_length


def test_plan_features() -> None:
    assert not any(effective_config(spec(plan="basic")).features.values())
    premium = effective_config(spec(plan="premium")).features
    assert premium["biometricAuth"] and premium["customBranding"] and not premium["aiVerification"]
    assert all(effective_config(spec(plan="enterprise")).features.values())


def test_security_and_features_merge_over_the_plan_field_by_field() -> None:
    config = effective_config(
        spec(
            plan="premium",
            features={"customBranding": False},
            security={"password": {"minLength": 14}, "session": {"requireMFA": True}},
        )
    )
    assert config.features["customBranding"] is False
    assert config.features["biometricAuth"] is True  # kept from the plan
    assert config.password["minLength"] == 14
    assert config.password["requireSpecialChars"] is True  # kept from the plan
    assert config.session == {
        "timeoutSeconds": 7200,
        "maxConcurrentSessions": 3,
        "rememberDeviceDays": 0,
        "extendOnActivity": True,
        "requireMFA": True,
    }


def test_custom_plan_takes_limits_from_the_spec() -> None:
    config = effective_config(
        spec(
            plan="custom",
            limits={"maxUsers": 250_000, "storage": "20Ti", "apiRequestsPerDay": 5_000_000},
            security={"session": {"timeoutSeconds": 3600}, "password": {"minLength": 16}},
            features={"aiVerification": True},
        )
    )
    assert (config.maxUsers, config.storage, config.apiRequestsPerDay) == (250_000, "20Ti", 5_000_000)
    assert config.features["aiVerification"] and not config.features["prioritySupport"]


def test_config_map_has_the_keys_apps_read() -> None:
    data = config_map_data("acme", spec(plan="basic"), effective_config(spec(plan="basic")))
    assert json.loads(data["security.password_policy"])["minLength"] == 8
    assert data["session.timeout"] == "3600"
    assert data["api.rate_limit"] == "1000"
    assert data["file_upload.max_size"] == "10737418240"
    assert data["features.biometric_auth"] == "false"
    assert data["plan"] == "basic"


def test_quantity_bytes() -> None:
    assert quantity_bytes("1Ti") == 1_099_511_627_776
    with pytest.raises(ValueError):
        quantity_bytes("10GB")


@pytest.mark.parametrize(
    "fields",
    [
        {"limits": {"maxUsers": -5}},
        {"limits": {"storage": "lots"}},
        {"security": {"password": {"minLength": 4}}},
        {"security": {"session": {"timeoutSeconds": 100}}},
        {"features": {"teleportation": True}},
        {"plan": "gold"},
    ],
)
def test_model_rejects_bad_input(fields) -> None:
    with pytest.raises(ValidationError):
        spec(**fields)
