"""Validation of IP restriction lists with the stdlib's ipaddress. Pure.

Errors follow the IP-restriction process's response: {"error": "IP_VALIDATION_ERROR", "message", "details"}.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ERROR_CODE = "IP_VALIDATION_ERROR"
LISTS = ("allowedIPs", "allowedRanges", "blockList")


@dataclass
class ValidationResult:
    problems: list[tuple[str, str, Any]] = field(default_factory=list)  # (detail key, message, offending)

    def add(self, key: str, message: str, offending: Any) -> None:
        self.problems.append((key, message, offending))

    @property
    def ok(self) -> bool:
        return not self.problems

    def response(self) -> dict[str, Any]:
        details: dict[str, list[Any]] = {}
        for key, _, offending in self.problems:
            details.setdefault(key, []).append(offending)
        messages = list(dict.fromkeys(message for _, message, _ in self.problems))
        return {"error": ERROR_CODE, "message": "; ".join(messages), "details": details}


def parse_entry(entry: str) -> Network:
    """An address ('1.2.3.4', '2001:db8::1') or a CIDR with no host bits set ('10.0.0.0/8')."""
    if "/" in entry:
        return ipaddress.ip_network(entry, strict=True)
    return ipaddress.ip_network(ipaddress.ip_address(entry))


def classify_invalid(entry: str) -> tuple[str, str]:
    if "/" in entry:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return "invalidCIDRs", "Invalid CIDR range"
        return "hostBitsSet", "CIDR range has host bits set (use the network address)"
    return "invalidIPs", "Invalid IP address format"


def parse_lists(spec: dict[str, Any], result: ValidationResult) -> dict[str, list[tuple[str, Network]]]:
    parsed: dict[str, list[tuple[str, Network]]] = {}
    for name in LISTS:
        entries = spec.get(name) or []
        parsed[name] = []
        seen: dict[Network, str] = {}
        for entry in entries:
            try:
                network = parse_entry(str(entry))
            except ValueError:
                key, message = classify_invalid(str(entry))
                result.add(key, message, entry)
                continue
            if network in seen:
                result.add("duplicates", f"Duplicate entries in {name}", [seen[network], entry])
                continue
            seen[network] = entry
            parsed[name].append((entry, network))
    return parsed


def check_overlaps(allowed: list[tuple[str, Network]], result: ValidationResult) -> None:
    for (entry_a, a), (entry_b, b) in combinations(allowed, 2):
        if a.version == b.version and a.overlaps(b):
            result.add("overlaps", "Allowed entries overlap", [entry_a, entry_b])


def check_block_list(
    allowed: list[tuple[str, Network]], blocked: list[tuple[str, Network]], result: ValidationResult
) -> None:
    """A block covering an allowed entry entirely contradicts it; one inside an allowed range is an exception."""
    for block_entry, block in blocked:
        for allow_entry, allow in allowed:
            if block.version == allow.version and allow.subnet_of(block):  # type: ignore[arg-type]
                result.add("conflicts", "A blocked entry covers an allowed entry entirely", [block_entry, allow_entry])


def validate(spec: dict[str, Any]) -> ValidationResult:
    result = ValidationResult()
    parsed = parse_lists(spec, result)
    allowed = parsed["allowedIPs"] + parsed["allowedRanges"]
    check_overlaps(allowed, result)
    check_block_list(allowed, parsed["blockList"], result)
    return result


def normalized(entries: list[str] | None) -> list[str]:
    """Canonical text of each entry ('2001:DB8::1' -> '2001:db8::1/128'), for diffs and rules."""
    return [str(parse_entry(entry)) for entry in entries or []]


def list_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per list, what an update added and removed (the process's response body)."""
    changes = {}
    for name in LISTS:
        old, new = normalized(before.get(name)), normalized(after.get(name))
        changes[name] = {
            "added": [entry for entry in new if entry not in old],
            "removed": [entry for entry in old if entry not in new],
        }
    return changes
