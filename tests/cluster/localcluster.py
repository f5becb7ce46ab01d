"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (simulated nodes and pods), built from pinned sources and run by kwokctl.

    python -m tests.cluster.localcluster up NAME      # prints the kubeconfig path
    python -m tests.cluster.localcluster down NAME
"""

from __future__ import annotations

import argparse
import os
import socket
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .stages import kwok_stage_dir, render_stages

HERE = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"


def read_versions() -> dict[str, str]:
    versions = {}
    for line in (HERE / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            versions[key] = value
    return versions


def cache_root() -> Path:
    return Path(os.environ.get("TENANT_OPERATOR_CACHE", Path.home() / ".cache" / "tenant-operator"))


def build_binaries() -> Path:
    """Runs build.sh (a no-op when the cache is warm) and returns the folder of the built binaries."""
    result = subprocess.run(["bash", str(HERE / "build.sh")], check=True, stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def fake_node(name: str) -> dict:
    """A node that kwok's controller keeps Ready and whose pods it simulates."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "250"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "250"},
        },
    }


@dataclass
class LocalCluster:
    name: str
    bin_dir: Path
    workdir: Path = field(default_factory=lambda: cache_root() / "clusters")

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / self.name / "kubeconfig"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "KWOK_WORKDIR": str(self.workdir),
            "KUBECONFIG": str(self.kubeconfig),
        }

    def kwokctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin_dir / "kwokctl"), "--name", self.name, *args],
            env=self.env(),
            check=check,
            capture_output=True,
            text=True,
        )

    def run_kubectl(self, *args: str, input_text: str | None = None) -> str:
        result = subprocess.run(
            [str(self.kubectl), *args], env=self.env(), input=input_text, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def loopback_arguments(self) -> list[str]:
        """Every port bound to 127.0.0.1 (kwokctl binds 0.0.0.0 by default)."""
        etcd, peer, controller = free_port(), free_port(), free_port()
        extra = {
            "etcd": {
                "listen-client-urls": f"http://{LOOPBACK}:{etcd}",
                "advertise-client-urls": f"http://{LOOPBACK}:{etcd}",
                "listen-peer-urls": f"http://{LOOPBACK}:{peer}",
                "initial-advertise-peer-urls": f"http://{LOOPBACK}:{peer}",
                "initial-cluster": f"node0=http://{LOOPBACK}:{peer}",
            },
            "kube-apiserver": {"bind-address": LOOPBACK},
            "kube-controller-manager": {"bind-address": LOOPBACK},
            "kube-scheduler": {"bind-address": LOOPBACK},
            "kwok-controller": {"server-address": f"{LOOPBACK}:{controller}"},
        }
        arguments = [
            "--etcd-port", str(etcd),
            "--kube-apiserver-port", str(free_port()),
            "--controller-port", str(controller),
            "--kube-controller-manager-port", str(free_port()),
            "--kube-scheduler-port", str(free_port()),
        ]
        for component, flags in extra.items():
            for key, value in flags.items():
                arguments += ["--extra-args", f"{component}={key}={value}"]
        return arguments

    @property
    def audit_log(self) -> Path:
        return self.workdir / "clusters" / self.name / "logs" / "audit.log"

    def create(self, nodes: int = 2, timeout: float = 180, audit_policy: Path | None = None) -> None:
        """Starts the control plane; with `audit_policy` the apiserver writes an audit log (audit_log)."""
        versions = read_versions()
        config = self.workdir / f"{self.name}-stages.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(render_stages(kwok_stage_dir(versions["KWOK_VERSION"])))
        self.kwokctl("delete", "cluster", check=False)
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        result = self.kwokctl(
            "--config", str(config),
            "create", "cluster",
            "--runtime", "binary",
            "--kubeconfig", str(self.kubeconfig),
            "--kube-apiserver-binary", str(self.bin_dir / "kube-apiserver"),
            "--kube-controller-manager-binary", str(self.bin_dir / "kube-controller-manager"),
            "--kube-scheduler-binary", str(self.bin_dir / "kube-scheduler"),
            "--kwok-controller-binary", str(self.bin_dir / "kwok"),
            "--etcd-binary", str(self.bin_dir / "etcd"),
            "--wait", f"{int(timeout)}s",
            *self.loopback_arguments(),
            *(["--kube-audit-policy", str(audit_policy)] if audit_policy else []),
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kwokctl create cluster failed:\n{result.stdout}\n{result.stderr}\n{self.logs()}")
        self.add_nodes(nodes)
        self.wait_until_usable(timeout)

    def add_nodes(self, count: int) -> None:
        nodes = [fake_node(f"kwok-node-{index}") for index in range(count)]
        self.run_kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(nodes))

    def wait_until_usable(self, timeout: float) -> None:
        """Nodes Ready and the default ServiceAccount present, so pods can be scheduled."""
        deadline = time.monotonic() + timeout
        self.run_kubectl("wait", "--for=condition=Ready", "node", "--all", f"--timeout={int(timeout)}s")
        while time.monotonic() < deadline:
            try:
                self.run_kubectl("get", "serviceaccount", "default", "-n", "default")
                return
            except RuntimeError:
                time.sleep(0.5)
        raise TimeoutError("the default ServiceAccount never appeared: is kube-controller-manager running?")

    def logs(self) -> str:
        folder = self.workdir / "clusters" / self.name / "logs"
        if not folder.is_dir():
            return ""
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted(folder.glob("*.log")))

    def delete(self) -> None:
        """Stops the cluster and removes what it kept on disk (each test run names its own cluster)."""
        self.kwokctl("delete", "cluster", check=False)
        shutil.rmtree(self.workdir / self.name, ignore_errors=True)
        (self.workdir / f"{self.name}-stages.yaml").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("name", nargs="?", default="tenant-operator")
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args(argv)
    cluster = LocalCluster(args.name, build_binaries())
    if args.action == "up":
        started = time.monotonic()
        cluster.create(nodes=args.nodes)
        print(f"cluster {args.name} ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
        print(cluster.kubeconfig)
    else:
        cluster.delete()


if __name__ == "__main__":
    main()
