from tenant_operator.conditions import condition_status, set_condition


def test_transition_time_moves_only_when_status_changes() -> None:
    conditions = set_condition([], "Ready", "False", "Provisioning", "", 1, now="2026-01-01T00:00:00Z")
    conditions = set_condition(conditions, "Ready", "False", "Still", "again", 2, now="2026-01-02T00:00:00Z")
    assert conditions[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert conditions[0]["observedGeneration"] == 2
    assert conditions[0]["reason"] == "Still"
    conditions = set_condition(conditions, "Ready", "True", "Provisioned", "", 3, now="2026-01-03T00:00:00Z")
    assert conditions[0]["lastTransitionTime"] == "2026-01-03T00:00:00Z"


def test_conditions_are_kept_per_type() -> None:
    conditions = set_condition([], "NamespacesReady", "True", "Provisioned", "", 1)
    conditions = set_condition(conditions, "Ready", "False", "Waiting", "", 1)
    assert condition_status(conditions, "NamespacesReady") == "True"
    assert condition_status(conditions, "Ready") == "False"
    assert condition_status(conditions, "Missing") is None
