"""A tenant's update preferences: approval, maintenance windows and blackout periods (model and pure logic).

Rollouts start only inside a maintenance window (any time when the tenant has none) and never inside a blackout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator

from .crdgen import SpecModel

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Approval = Literal["auto", "manual", "majorOnly"]


class MaintenanceWindow(SpecModel):
    """A weekly window in which updates may start, e.g. Tue and Thu 02:00 for 120 minutes, Europe/Berlin."""

    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS), min_length=1, max_length=7,
        json_schema_extra={"uniqueItems": True}, description="Days the window opens on; default every day.",
    )
    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="Opening time, HH:MM (24 h).")
    durationMinutes: int = Field(ge=1, le=1440, description="How long the window stays open.")
    timeZone: str = Field(default="UTC", max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$",
                          description="IANA time zone of start, e.g. Europe/Berlin.")

    @field_validator("timeZone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value


class Blackout(SpecModel):
    """A period in which no update starts (a sales event, a freeze)."""

    start: datetime = Field(description="Start, RFC 3339 (e.g. 2026-12-20T00:00:00Z).")
    end: datetime = Field(description="End, RFC 3339; after start.")
    reason: str = Field(default="", max_length=256, description="Why, shown while a rollout waits.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"x-kubernetes-validations": [
            {"rule": "timestamp(self.end) > timestamp(self.start)", "message": "a blackout's end must be after its start"}
        ]},
    )


class UpdatePreferences(SpecModel):
    """How the tenant takes product updates."""

    approval: Approval = Field(
        default="auto",
        description="auto: rollouts proceed; manual: every rollout waits for promotion before traffic moves; "
                    "majorOnly: only a new major version waits.",
    )
    maintenanceWindows: list[MaintenanceWindow] = Field(
        default_factory=list, max_length=14, description="Weekly windows in which rollouts may start; none: any time."
    )
    blackouts: list[Blackout] = Field(default_factory=list, max_length=32, description="Periods with no rollouts.")
    maxConcurrentRollouts: int = Field(default=2, ge=1, le=50,
                                       description="Rollouts of the tenant that may run at once.")


@dataclass(frozen=True)
class Gate:
    """Whether a rollout may start now; when not, why and when to look again."""

    open: bool
    reason: str = ""
    message: str = ""
    opens_at: datetime | None = None


def _occurrences(window: MaintenanceWindow, around: datetime) -> list[tuple[datetime, datetime]]:
    """The window's openings from the day before `around` to a week after, as aware datetimes."""
    zone = ZoneInfo(window.timeZone)
    local = around.astimezone(zone)
    hour, minute = (int(part) for part in window.start.split(":"))
    found = []
    for offset in range(-1, 8):
        day = (local + timedelta(days=offset)).date()
        if WEEKDAYS[day.weekday()] in window.days:
            opening = datetime.combine(day, time(hour, minute), zone)
            found.append((opening, opening + timedelta(minutes=window.durationMinutes)))
    return found


def window_gate(now: datetime, windows: list[MaintenanceWindow]) -> Gate:
    if not windows:
        return Gate(True)
    spans = [span for window in windows for span in _occurrences(window, now)]
    current = [end for start, end in spans if start <= now < end]
    if current:
        return Gate(True, "InWindow", f"maintenance window open until {max(current).isoformat()}")
    upcoming = min(start for start, _ in spans if start > now)
    return Gate(False, "WaitingForMaintenanceWindow", f"waiting for the maintenance window at {upcoming.isoformat()}",
                upcoming)


def blackout_gate(now: datetime, blackouts: list[Blackout]) -> Gate:
    active = [blackout for blackout in blackouts if blackout.start <= now < blackout.end]
    if not active:
        return Gate(True)
    until = max(blackout.end for blackout in active)
    reasons = "; ".join(blackout.reason for blackout in active if blackout.reason)
    detail = f" ({reasons})" if reasons else ""
    return Gate(False, "Blackout", f"blackout period until {until.isoformat()}{detail}", until)


def start_gate(now: datetime, preferences: UpdatePreferences) -> Gate:
    """Blackouts first (they override windows), then windows."""
    blackout = blackout_gate(now, preferences.blackouts)
    if not blackout.open:
        return blackout
    return window_gate(now, preferences.maintenanceWindows)


def major(version: str | None) -> int | None:
    if not version:
        return None
    head = version.lstrip("vV").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def needs_approval(approval: Approval, current_version: str | None, target_version: str) -> bool:
    if approval == "manual":
        return True
    if approval == "majorOnly":
        current, target = major(current_version), major(target_version)
        return current is None or target is None or target > current
    return False
