"""kwok Stages for the local cluster: kwok's own defaults, read from the pinned kwok module, plus ours.

Passing any Stage to kwokctl drops its defaults, so the defaults are read from the module cache (the same
files kwokctl embeds) rather than copied into this repository.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

# kwokctl's defaults for the binary runtime (pkg/kwokctl/runtime/cluster.go).
DEFAULT_STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)

# Pods carrying this label run but never become Ready: later tests use it to make health checks fail.
NOT_READY_LABEL = "tenancy.io/simulate"
NOT_READY_VALUE = "not-ready"

POD_RUNNING_NOT_READY = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1",
    "kind": "Stage",
    "metadata": {"name": "pod-running-not-ready"},
    "spec": {
        "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
        "selector": {
            "matchExpressions": [
                {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
                {"key": f'.metadata.labels["{NOT_READY_LABEL}"]', "operator": "In", "values": [NOT_READY_VALUE]},
            ]
        },
        "next": {
            "statusTemplate": """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
"""
        },
    },
}


def kwok_stage_dir(kwok_version: str) -> Path:
    """The kustomize/stage folder of the pinned kwok module, downloaded through the Go module proxy."""
    output = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{kwok_version}"],
        check=True,
        capture_output=True,
        text=True,
        env={**_go_env(), "GOFLAGS": "-mod=mod"},
    ).stdout
    return Path(json.loads(output)["Dir"]) / "kustomize" / "stage"


def _go_env() -> dict[str, str]:
    import os

    return {**os.environ, "GOTOOLCHAIN": "local"}


def exclude_not_ready_pods(stage: dict[str, Any]) -> dict[str, Any]:
    """kwok picks among matching stages at random, so the default pod-ready stage must skip our pods."""
    if stage["metadata"]["name"] == "pod-ready":
        stage["spec"]["selector"]["matchExpressions"].append(
            {"key": f'.metadata.labels["{NOT_READY_LABEL}"]', "operator": "NotIn", "values": [NOT_READY_VALUE]}
        )
    return stage


def render_stages(stage_dir: Path) -> str:
    stages = [exclude_not_ready_pods(yaml.safe_load((stage_dir / name).read_text())) for name in DEFAULT_STAGE_FILES]
    stages.append(POD_RUNNING_NOT_READY)
    return yaml.safe_dump_all(stages, sort_keys=False)
