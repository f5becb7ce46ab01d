"""The operator's async Kubernetes client: server-side apply and a few reads, shared by all handlers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Iterable
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.dynamic import DynamicClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.dynamic.exceptions import ConflictError, NotFoundError, api_exception

from .api import MANAGER

API_CONCURRENCY = 64  # in flight at once across all handlers; the apiserver's priority and fairness queues the rest

_dynamic: DynamicClient | None = None
_api_slots = asyncio.Semaphore(API_CONCURRENCY)
_api_client: client.ApiClient | None = None


async def connect() -> DynamicClient:
    """Loads in-cluster credentials when running in a pod, else the current kubeconfig."""
    global _dynamic, _api_client
    if _dynamic is None:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
        else:
            await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
        _api_client = client.ApiClient()
        _ignore_proxy_environment(_api_client)
        _dynamic = await DynamicClient(_api_client)
    return _dynamic


def _ignore_proxy_environment(api_client: client.ApiClient) -> None:
    """As kopf's own client does (settings.networking.trust_env is False): no $HTTPS_PROXY or ~/.netrc lookups.

    With trust_env aiohttp reads both in a worker thread on every request, two thread hops per API call that
    showed as a tenth of the operator's CPU in the fleet benchmark's profile. A proxy in the kubeconfig still applies.
    """
    api_client.rest_client.pool_manager._trust_env = False


async def close() -> None:
    global _dynamic, _api_client
    if _api_client is not None:
        await _api_client.close()
    _dynamic = _api_client = None
    _resources.clear()


def _checked(result: Any) -> dict[str, Any]:
    """The dynamic client returns failures as Status objects instead of raising: raise them here."""
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    if data.get("kind") == "Status" and data.get("status") == "Failure":
        error = ApiException(status=data.get("code") or 500, reason=data.get("reason") or "Failure")
        error.body = data.get("message", "")
        raise api_exception(error)
    return data


_resources: dict[tuple[str, str], Any] = {}
_discovery = asyncio.Lock()


async def _resource(api_version: str, kind: str) -> Any:
    """The API resource of a kind, discovered once: concurrent first lookups would each re-read discovery."""
    key = (api_version, kind)
    if key not in _resources:
        async with _discovery:
            if key not in _resources:
                dynamic = await connect()
                _resources[key] = await dynamic.resources.get(api_version=api_version, kind=kind)
    return _resources[key]


async def apply(obj: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply as the operator's field manager; idempotent, so safe on every reconcile."""
    dynamic = await connect()
    resource = await _resource(obj["apiVersion"], obj["kind"])
    result = await dynamic.server_side_apply(
        resource,
        body=obj,
        namespace=obj["metadata"].get("namespace"),
        field_manager=MANAGER,
        force_conflicts=True,
    )
    return _checked(result)


async def get(api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    dynamic = await connect()
    resource = await _resource(api_version, kind)
    try:
        result = await dynamic.get(resource, name=name, namespace=namespace)
        return _checked(result)
    except NotFoundError:
        return None


async def create(obj: dict[str, Any]) -> dict[str, Any]:
    dynamic = await connect()
    resource = await _resource(obj["apiVersion"], obj["kind"])
    result = await dynamic.create(
        resource, body=obj, namespace=obj.get("metadata", {}).get("namespace"), field_manager=MANAGER
    )
    return _checked(result)


async def list_objects(
    api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
) -> list[dict[str, Any]]:
    dynamic = await connect()
    resource = await _resource(api_version, kind)
    result = await dynamic.get(resource, namespace=namespace, label_selector=label_selector)
    return list(_checked(result).get("items", []))


async def list_names(api_version: str, kind: str, label_selector: str, namespace: str | None = None) -> list[str]:
    items = await list_objects(api_version, kind, namespace=namespace, label_selector=label_selector)
    return [item["metadata"]["name"] for item in items]


async def merge_patch(
    api_version: str,
    kind: str,
    name: str,
    body: dict[str, Any],
    namespace: str | None = None,
    subresource: str | None = None,
) -> dict[str, Any]:
    """A JSON merge patch; `None` values remove fields."""
    dynamic = await connect()
    resource = await _resource(api_version, kind)
    target = getattr(resource, subresource) if subresource else resource
    result = await dynamic.patch(
        target, body=body, name=name, namespace=namespace, content_type="application/merge-patch+json",
        field_manager=MANAGER,
    )
    return _checked(result)


async def merge_patch_status(
    api_version: str, kind: str, name: str, status: dict[str, Any], namespace: str | None = None
) -> dict[str, Any]:
    return await merge_patch(api_version, kind, name, {"status": status}, namespace, subresource="status")


async def nudge(
    api_version: str, kind: str, name: str, annotation: str, value: str, namespace: str | None = None
) -> dict[str, Any]:
    """A metadata-only change that makes the object's own handlers run now (spec is never written)."""
    return await merge_patch(api_version, kind, name, {"metadata": {"annotations": {annotation: value}}}, namespace)


async def delete(api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
    """Deletes in the background; False when it was already gone."""
    dynamic = await connect()
    resource = await _resource(api_version, kind)
    try:
        _checked(await dynamic.delete(resource, name=name, namespace=namespace, propagation_policy="Background"))
    except NotFoundError:
        return False
    return True


async def own_username() -> str | None:
    """Who the caller is to the apiserver (SelfSubjectReview: every authenticated user may ask), or None."""
    try:
        review = await create({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    except Exception:  # noqa: BLE001  (an older apiserver or no permission: callers do without)
        return None
    return str(((review.get("status") or {}).get("userInfo") or {}).get("username") or "") or None


async def own_subject() -> dict[str, str] | None:
    """The caller as an RBAC subject, or None."""
    username = await own_username() or ""
    if username.startswith("system:serviceaccount:"):
        namespace, _, name = username.removeprefix("system:serviceaccount:").partition(":")
        return {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": username} if username else None


async def _limited(call: Awaitable[Any]) -> Any:
    async with _api_slots:
        return await call


async def gather_limited(calls: Iterable[Awaitable[Any]]) -> list[Any]:
    """Runs API calls concurrently, at most API_CONCURRENCY at a time across all handlers."""
    return await asyncio.gather(*(_limited(call) for call in calls))


async def together(*calls: Awaitable[Any]) -> list[Any]:
    """Runs independent steps concurrently and waits for every one of them, then raises the first failure.

    Unlike a bare gather, no step is left running after a failure, so nothing lands after the handler's own patch.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


__all__ = [
    "gather_limited",
    "together",
    "ConflictError",
    "NotFoundError",
    "apply",
    "close",
    "connect",
    "create",
    "delete",
    "get",
    "list_names",
    "list_objects",
    "merge_patch",
    "merge_patch_status",
    "nudge",
]
