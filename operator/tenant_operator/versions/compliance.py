"""Judging a running version against a VersionPolicy on a given day, and the notices due by then. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from .inventory import Compliance
from .model import VersionPolicySpec


def version_key(version: str) -> tuple[int, ...]:
    """1.4.2 -> (1, 4, 2); a leading v and a pre-release or build suffix are ignored."""
    core = re.split(r"[-+]", version.lstrip("vV"), maxsplit=1)[0]
    return tuple(int(part) for part in core.split(".") if part.isdigit())


def compare(left: str, right: str) -> int:
    a, b = version_key(left), version_key(right)
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def covers(prefix: str, version: str) -> bool:
    wanted = version_key(prefix)
    return version_key(version)[: len(wanted)] == wanted


def end_of_life(policy: VersionPolicySpec, version: str) -> date | None:
    """The date of the most specific end-of-life entry covering the version."""
    matching = [entry for entry in policy.endOfLife if covers(entry.version, version)]
    if not matching:
        return None
    return max(matching, key=lambda entry: len(version_key(entry.version))).date


def grace_end(policy: VersionPolicySpec, tenant: str, eol: date) -> date:
    """The day enforcement starts: end of life plus the tenant's grace period (its override or the policy's),
    or the day after an approved extension's last day when that is later."""
    days = next((o.gracePeriodDays for o in policy.graceOverrides if o.tenant == tenant), policy.gracePeriodDays)
    extended = [e.until + timedelta(days=1) for e in policy.extensions if e.tenant == tenant]
    return max([eol + timedelta(days=days), *extended])


@dataclass(frozen=True)
class Verdict:
    compliance: Compliance
    reason: str | None = None
    end_of_life: date | None = None
    grace_ends: date | None = None
    grace_days_remaining: int | None = None

    @property
    def enforce(self) -> bool:
        """The grace period is over (or there never was one): the policy's action applies."""
        return self.compliance == "NonCompliant"


def judge(policy: VersionPolicySpec, tenant: str, version: str | None, today: date) -> Verdict:
    if not version or not version_key(version):
        return Verdict("NonCompliant", "running version unknown (label app.kubernetes.io/version)")
    if policy.minimumVersion and compare(version, policy.minimumVersion) < 0:
        return Verdict("NonCompliant", f"{version} is below the minimum {policy.minimumVersion}")
    if policy.maximumVersion and compare(version, policy.maximumVersion) > 0:
        return Verdict("NonCompliant", f"{version} is above the maximum {policy.maximumVersion}")
    eol = end_of_life(policy, version)
    if eol is None or today < eol:
        return Verdict("Compliant", None, eol)
    ends = grace_end(policy, tenant, eol)
    if today < ends:
        return Verdict("InGracePeriod", f"{version} reached end of life on {eol}; grace ends {ends}", eol, ends,
                       (ends - today).days)
    return Verdict("NonCompliant", f"{version} reached end of life on {eol}; grace ended {ends}", eol, ends, 0)


@dataclass(frozen=True)
class Notice:
    key: str
    kind: str  # eol-<days>, end-of-life, forced-upgrade-<days>, final-week
    due: date
    message: str
    expires: date  # from this day on it is stale: recorded as handled, never sent


def notice_schedule(policy: VersionPolicySpec, policy_name: str, tenant: str, version: str) -> list[Notice]:
    """Every notice the tenant gets for this version, in date order (the process's schedule)."""
    eol = end_of_life(policy, version)
    if eol is None:
        return []
    product, prefix = policy.product, f"{policy_name}/{policy.product}/{version}"
    ends = grace_end(policy, tenant, eol)
    notices = [
        Notice(f"{prefix}/eol-{days}", f"eol-{days}", eol - timedelta(days=days),
               f"{product} {version} reaches end of life on {eol} (in {days} days); grace ends {ends}", eol)
        for days in sorted(set(policy.notices.daysBeforeEndOfLife), reverse=True)
    ]
    notices.append(Notice(f"{prefix}/end-of-life", "end-of-life", eol,
                          f"{product} {version} reached end of life today; grace ends {ends}", ends))
    forced = policy.enforcement.action == "ForceUpgrade"
    final_week_start = ends - timedelta(days=7)
    if forced:
        days = policy.notices.daysBeforeForcedUpgrade
        upgrade_notice = ends - timedelta(days=days)
        notices.append(Notice(f"{prefix}/forced-upgrade-{days}", f"forced-upgrade-{days}", upgrade_notice,
                              f"{product} will be upgraded from {version} to {policy.enforcement.targetVersion} "
                              f"in your first maintenance window from {ends} (in {days} days)", ends))
        final_week_start = max(final_week_start, upgrade_notice + timedelta(days=1))
    if policy.notices.dailyInFinalWeek:
        day = max(final_week_start, eol + timedelta(days=1))
        while day < ends:
            left = (ends - day).days
            action = f"upgrade to {policy.enforcement.targetVersion} is forced" if forced else "enforcement starts"
            notices.append(Notice(f"{prefix}/final-week-{day}", "final-week", day,
                                  f"{product} {version}: {left} day(s) left in the grace period; then {action}",
                                  day + timedelta(days=1)))
            day += timedelta(days=1)
    return sorted(notices, key=lambda notice: notice.due)


def notices_to_send(schedule: list[Notice], sent: set[str], today: date) -> tuple[list[Notice], list[str]]:
    """The notices to send today and every key to record as handled.

    Only the latest due date that has not expired is sent: after an outage (or a calendar jump) a tenant gets
    today's notice, not a burst of stale ones (a reminder of "1 day left" after the deadline); the stale ones are
    recorded as handled so they never go out later.
    """
    due = [notice for notice in schedule if notice.due <= today and notice.key not in sent]
    current = [notice for notice in due if today < notice.expires]
    if not current:
        return [], [notice.key for notice in due]
    latest = max(notice.due for notice in current)
    return [notice for notice in current if notice.due == latest], [notice.key for notice in due]


def next_boundary(schedule: list[Notice], verdict: Verdict, today: date) -> date | None:
    """The next day something changes for this tenant: a notice, end of life, or the end of grace."""
    candidates = [notice.due for notice in schedule if notice.due > today]
    if verdict.end_of_life and verdict.end_of_life > today:
        candidates.append(verdict.end_of_life)
    if verdict.grace_ends and verdict.grace_ends > today:
        candidates.append(verdict.grace_ends)
    return min(candidates, default=None)


EXTENSION_REQUEST = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*(?::\s*(.*))?$", re.S)


def extension_request(policy: VersionPolicySpec, tenant: str, value: str) -> dict[str, str]:
    """A tenant's request as the policy's status shows it: Approved when an extension covers the day asked for."""
    match = EXTENSION_REQUEST.match(value)
    if not match:
        return {"tenant": tenant, "until": value[:40], "reason": "expected 'YYYY-MM-DD: reason'", "state": "Invalid"}
    try:
        until = date.fromisoformat(match.group(1))
    except ValueError:
        return {"tenant": tenant, "until": match.group(1), "reason": "not a date", "state": "Invalid"}
    approved = any(e.tenant == tenant and e.until >= until for e in policy.extensions)
    return {"tenant": tenant, "until": until.isoformat(), "reason": (match.group(2) or "").strip()[:512],
            "state": "Approved" if approved else "Pending"}
