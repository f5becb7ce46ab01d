from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenant_operator.clock import Clock, set_simulated


def test_real_time_without_a_file(tmp_path: Path) -> None:
    clock = Clock(tmp_path / "clock")
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
    assert not clock.is_simulated()
    assert clock.wait_cap(30) == 1.0  # a file may appear at any time
    assert Clock().wait_cap(30) == 30


def test_a_simulated_instant_runs_on_and_can_jump(tmp_path: Path) -> None:
    clock = Clock(tmp_path / "clock")
    set_simulated(clock.path, datetime(2027, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert clock.is_simulated()
    assert datetime(2027, 1, 1, tzinfo=UTC) <= clock.now() < datetime(2027, 1, 1, 0, 0, 2, tzinfo=UTC)
    set_simulated(clock.path, datetime(2028, 6, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert clock.now().year == 2028
