#!/usr/bin/env bash
# Runs the operator against the current kubeconfig; when no cluster answers, starts the local one
# (tests/cluster) first. Installs the CRDs and applies examples/tenant-basic.yaml.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_venv
if ! command -v kubectl >/dev/null || ! kubectl cluster-info >/dev/null 2>&1; then
  ensure_cluster_binaries
  KUBECONFIG="$(python -m tests.cluster.localcluster up tenant-operator)"
  export KUBECONFIG
  echo "local cluster up; use it with: export KUBECONFIG=$KUBECONFIG" >&2
  echo "stop it with: .venv/bin/python -m tests.cluster.localcluster down tenant-operator" >&2
fi
kubectl apply --server-side -f crds/
kubectl wait --for=condition=Established crd --all --timeout=60s
kubectl apply -f examples/tenant-basic.yaml
exec tenant-operator run --bind 127.0.0.1 "$@"
