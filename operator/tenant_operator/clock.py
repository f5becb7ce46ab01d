"""The operator's calendar clock: real time, or a simulated time that tests set through a file.

Only calendar decisions (maintenance windows, blackouts, end-of-life schedules) read this clock; timeouts and
intervals use real time. A simulated clock file holds an ISO-8601 instant; time runs on from it at normal speed
since the file was written, so a test can jump to "Monday 01:59:50" and watch a window open.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

SIMULATED_POLL_SECONDS = 1.0


class Clock:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._cached: tuple[tuple[int, int], float, datetime] | None = None  # (file identity, mtime, instant)

    def _simulated(self) -> tuple[float, datetime] | None:
        if self.path is None:
            return None
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        identity = (stat.st_ino, stat.st_mtime_ns)  # set_simulated replaces the file, so the inode changes
        if self._cached is None or self._cached[0] != identity:
            instant = datetime.fromisoformat(self.path.read_text().strip())
            self._cached = (identity, stat.st_mtime, instant if instant.tzinfo else instant.replace(tzinfo=UTC))
        return self._cached[1], self._cached[2]

    def now(self) -> datetime:
        simulated = self._simulated()
        if simulated is None:
            return datetime.now(UTC)
        mtime, instant = simulated
        return datetime.fromtimestamp(instant.timestamp() + max(0.0, time.time() - mtime), UTC)

    def is_simulated(self) -> bool:
        return self._simulated() is not None

    def wait_cap(self, seconds: float) -> float:
        """How long to sleep before looking at the calendar again: a simulated clock may jump at any moment."""
        return min(seconds, SIMULATED_POLL_SECONDS) if self.path is not None else seconds


CLOCK = Clock()


def set_simulated(path: Path, instant: datetime) -> None:
    """Used by tests and benchmarks: make every operator reading `path` see `instant` now."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(instant.isoformat())
    os.replace(tmp, path)
