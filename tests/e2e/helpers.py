"""Small helpers for e2e tests: polling and JSON reads through the real kubectl."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.cluster.plugin import ClusterHandle

T = TypeVar("T")


def eventually(probe: Callable[[], T], timeout: float = 60, interval: float = 0.5, what: str = "condition") -> T:
    """Returns the first truthy result of probe, or fails with the last result or error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except AssertionError as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s; last: {last}")


def get_json(cluster: ClusterHandle, *args: str) -> dict[str, Any] | None:
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return None
        raise AssertionError(result.stderr)
    return json.loads(result.stdout)


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return item
    return None


def events_for(cluster: ClusterHandle, kind: str, name: str, namespace: str = "default") -> list[dict[str, Any]]:
    selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    listed = get_json(cluster, "events", "-n", namespace, "--field-selector", selector) or {}
    return listed.get("items", [])


def audit_lines(logs: str) -> list[dict[str, Any]]:
    """The operator's JSON audit lines (kopf's JSON log format wraps our message)."""
    records = []
    for line in logs.splitlines():
        try:
            outer = json.loads(line)
        except ValueError:
            continue
        message = outer.get("message") if isinstance(outer, dict) else None
        if isinstance(message, str) and message.startswith("{"):
            try:
                inner = json.loads(message)
            except ValueError:
                continue
            if inner.get("audit"):
                records.append(inner)
    return records
