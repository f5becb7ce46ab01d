from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tenant_operator.schedule import (
    Blackout,
    MaintenanceWindow,
    UpdatePreferences,
    blackout_gate,
    needs_approval,
    start_gate,
    window_gate,
)

MONDAY_0159 = datetime(2026, 11, 23, 1, 59, 50, tzinfo=UTC)  # 2026-11-23 is a Monday


def test_no_windows_means_any_time() -> None:
    assert window_gate(MONDAY_0159, []).open


def test_a_window_opens_and_closes_on_its_days() -> None:
    windows = [MaintenanceWindow(days=["Mon", "Thu"], start="02:00", durationMinutes=120)]
    before = window_gate(MONDAY_0159, windows)
    assert not before.open and before.reason == "WaitingForMaintenanceWindow"
    assert before.opens_at == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert window_gate(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), windows).open
    after = window_gate(datetime(2026, 11, 23, 4, 0, tzinfo=UTC), windows)
    assert not after.open and after.opens_at == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # Thursday


def test_a_window_in_a_time_zone_and_one_past_midnight() -> None:
    berlin = [MaintenanceWindow(days=["Mon"], start="03:00", durationMinutes=60, timeZone="Europe/Berlin")]
    assert window_gate(datetime(2026, 11, 23, 2, 30, tzinfo=UTC), berlin).open  # 03:30 in Berlin (CET)
    late = [MaintenanceWindow(days=["Sun"], start="23:00", durationMinutes=180)]
    assert window_gate(MONDAY_0159, late).open  # Sunday 23:00 + 3 h covers Monday 01:59


def test_blackouts_override_windows() -> None:
    preferences = UpdatePreferences(
        maintenanceWindows=[MaintenanceWindow(start="00:00", durationMinutes=1440)],
        blackouts=[Blackout(start=datetime(2026, 11, 20, tzinfo=UTC), end=datetime(2026, 11, 30, tzinfo=UTC),
                            reason="Black Friday")],
    )
    gate = start_gate(MONDAY_0159, preferences)
    assert not gate.open and gate.reason == "Blackout" and "Black Friday" in gate.message
    assert gate.opens_at == datetime(2026, 11, 30, tzinfo=UTC)
    assert blackout_gate(datetime(2026, 12, 1, tzinfo=UTC), preferences.blackouts).open


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        MaintenanceWindow(start="02:00", durationMinutes=60, timeZone="Mars/Olympus")


@pytest.mark.parametrize(
    ("approval", "current", "target", "expected"),
    [
        ("auto", "1.0.0", "2.0.0", False),
        ("manual", "1.0.0", "1.0.1", True),
        ("majorOnly", "1.0.0", "1.9.0", False),
        ("majorOnly", "1.9.0", "2.0.0", True),
        ("majorOnly", "v1.2", "v2.0", True),
        ("majorOnly", None, "1.0.0", True),  # blue's version unknown: ask
    ],
)
def test_approval(approval: str, current: str | None, target: str, expected: bool) -> None:
    assert needs_approval(approval, current, target) is expected  # type: ignore[arg-type]
