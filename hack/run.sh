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
database_namespace=tenant-operator-system
kubectl create namespace "$database_namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
if ! kubectl get secret postgres -n "$database_namespace" >/dev/null 2>&1; then
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    read -r host port user password < <(python -m tests.cluster.postgres up /tmp/tenant-operator-postgres)
    kubectl create secret generic postgres -n "$database_namespace" \
      --from-literal=host="$host" --from-literal=port="$port" --from-literal=user="$user" \
      --from-literal=password="$password" --from-literal=sslmode=disable >/dev/null
    kubectl label secret postgres -n "$database_namespace" tenancy.io/database-server=true >/dev/null
    echo "local PostgreSQL on $host:$port is the default database server" >&2
  else
    echo "no PostgreSQL server configured and none installed (apt-get install postgresql): tenant databases will wait" >&2
  fi
fi
kubectl apply -f examples/tenant-basic.yaml
exec tenant-operator run --bind 127.0.0.1 --database-namespace "$database_namespace" \
  --database-archive-dir "$HOME/.cache/tenant-operator/archives" "$@"
