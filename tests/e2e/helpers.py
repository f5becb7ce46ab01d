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


def apply(cluster: ClusterHandle, manifest: str, check: bool = True):
    return cluster.kubectl("apply", "-f", "-", input_text=manifest, check=check)


def tenant_manifest(name: str, display_name: str, extra: str = "") -> str:
    return f"""
apiVersion: tenancy.io/v1alpha1
kind: Tenant
metadata:
  name: {name}
spec:
  displayName: {display_name}
{extra}"""


def wait_ready(cluster: ClusterHandle, name: str) -> dict:
    cluster.kubectl("wait", "--for=condition=Ready", f"tenant/{name}", "--timeout=60s")
    tenant = get_json(cluster, "tenant", name)
    assert tenant is not None
    return tenant


def delete_tenant(cluster: ClusterHandle, name: str) -> None:
    cluster.kubectl("delete", "tenant", name, "--ignore-not-found", "--timeout=60s")


def namespace_gone(cluster: ClusterHandle, name: str) -> bool:
    return get_json(cluster, "namespace", name) is None


def can_i(cluster: ClusterHandle, verb: str, resource: str, namespace: str, user: str, *groups: str) -> bool:
    """Asks the real apiserver's authorizer, impersonating the user (and groups)."""
    args = ["auth", "can-i", verb, resource, "-n", namespace, "--as", user]
    for group in groups:
        args += ["--as-group", group]
    return cluster.kubectl(*args, check=False).stdout.strip() == "yes"


def tenant_phase(cluster: ClusterHandle, name: str) -> str | None:
    tenant = get_json(cluster, "tenant", name)
    return ((tenant or {}).get("status") or {}).get("phase")


class PhaseWatch:
    """Records every status.phase a Tenant goes through, from a real `kubectl get --watch`."""

    def __init__(self, cluster: ClusterHandle, name: str) -> None:
        import subprocess

        self.process = subprocess.Popen(
            [cluster.tool("kubectl"), "get", "tenants", "--watch", "--output-watch-events", "-o", "json",
             "--field-selector", f"metadata.name={name}"],
            env=cluster.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def phases(self) -> list[str]:
        self.process.terminate()
        output, _ = self.process.communicate(timeout=10)
        decoder = json.JSONDecoder()
        seen: list[str] = []
        position = 0
        while position < len(output):
            while position < len(output) and output[position].isspace():
                position += 1
            if position >= len(output):
                break
            event, position = decoder.raw_decode(output, position)
            phase = ((event.get("object") or {}).get("status") or {}).get("phase")
            if phase and (not seen or seen[-1] != phase):
                seen.append(phase)
        return seen


def wait_for_event(
    cluster: ClusterHandle,
    kind: str,
    name: str,
    reason: str,
    containing: str = "",
    timeout: float = 30,
    namespace: str = "default",
) -> dict[str, Any]:
    """An Event with the reason (and text); kopf posts Events asynchronously, so they are waited for.

    Events of cluster-scoped objects live in the default namespace, those of namespaced objects beside them.
    """

    def matching() -> dict[str, Any] | None:
        found = [
            event for event in events_for(cluster, kind, name, namespace)
            if event["reason"] == reason and containing in event.get("message", "")
        ]
        return found[-1] if found else None

    return eventually(matching, timeout=timeout, what=f"{reason} event on {kind} {name} with {containing!r}")


def wait_for_condition(
    cluster: ClusterHandle, resource: str, name: str, type_: str, status: str = "False", timeout: float = 60
) -> dict[str, Any]:
    """The object once its condition has the status; returns the whole object."""

    def reached() -> dict[str, Any] | None:
        obj = get_json(cluster, resource, name)
        found = condition(obj, type_)
        return obj if found and found["status"] == status else None

    return eventually(reached, timeout=timeout, what=f"{resource}/{name} {type_}={status}")
